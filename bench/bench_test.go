package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/board"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// f32Only is a registered backend that runs only fp32, to see a run skipped
// by capability and a backend other than native picked by name.
type f32Only struct{ native.Backend }

func (f32Only) Name() string { return "benchtest-f32" }
func (f32Only) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Precisions: []runtime.Precision{runtime.FP32}, Devices: []string{"cpu"}}
}

func init() { runtime.Register(f32Only{}) }

// fakePipeline encodes one frame per call so that the hook is exercised.
type fakePipeline struct{ calls int }

func (p *fakePipeline) Measure(ctx context.Context, t PipelineTarget, d time.Duration) (PipelineResult, error) {
	p.calls++
	size := t.Config.ImageSize
	out := make([]float32, t.Config.EmbedDim)
	start := time.Now()
	if err := t.Session.EncodeImages(ctx, make([]float32, 3*size*size), 1, out); err != nil {
		return PipelineResult{}, err
	}
	wall := time.Since(start).Seconds()
	return PipelineResult{Source: "fake://", Frames: 1, WallS: wall, FPS: 1 / wall}, nil
}

func emptyBoard(t *testing.T) *board.Board {
	t.Helper()
	b, err := board.New(board.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tinyOptions(t *testing.T) Options {
	return Options{
		Models:        []ModelSpec{{Arch: "tiny"}},
		Backends:      []string{"native", "benchtest-f32"},
		Precisions:    []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8},
		Batches:       []int{1, 3},
		Iters:         3,
		HistoryFrames: 300,
		TempDir:       t.TempDir(),
		Board:         emptyBoard(t),
	}
}

func TestRunTiny(t *testing.T) {
	o := tinyOptions(t)
	var steps []Progress
	o.Progress = func(p Progress) { steps = append(steps, p) }
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Schema != Schema || rep.PipelineNote != noPipeline {
		t.Errorf("schema %q, pipeline note %q", rep.Schema, rep.PipelineNote)
	}
	if len(rep.Models) != 1 {
		t.Fatalf("%d models, want 1", len(rep.Models))
	}
	m := rep.Models[0]
	if m.Name != "tiny" || m.Source != "arch:tiny" || !strings.HasPrefix(m.Hash, "sha256:") {
		t.Errorf("model %q from %q hash %q", m.Name, m.Source, m.Hash)
	}
	positive(t, "model", map[string]float64{"params": float64(m.Params), "file_bytes": float64(m.FileBytes),
		"open_ms": m.OpenMS, "image_flops": float64(m.ImageFLOPs)})
	if len(m.Runs) != 6 {
		t.Fatalf("%d runs, want 6 (2 backends × 3 precisions)", len(m.Runs))
	}
	for _, run := range m.Runs {
		name := run.Backend + "/" + run.Precision
		if run.Backend == "benchtest-f32" && run.Precision != "f32" {
			if !strings.Contains(run.Skipped, "not supported") || run.Image != nil {
				t.Errorf("%s: skipped %q with %d image timings, want a skip for the precision", name, run.Skipped, len(run.Image))
			}
			continue
		}
		if run.Skipped != "" {
			t.Errorf("%s: skipped: %s", name, run.Skipped)
			continue
		}
		checkRun(t, name, run)
	}
	q := m.History
	if q == nil {
		t.Fatal("no history query")
	}
	if q.Frames != 300 || q.Dim != 16 || q.Iters != 3 {
		t.Errorf("history: %d frames × %d, %d iters", q.Frames, q.Dim, q.Iters)
	}
	ordered(t, "history", q.Latency)
	positive(t, "history", map[string]float64{"fill_s": q.FillS, "ns_per_frame": q.NSPerFrame})

	if len(steps) == 0 || steps[len(steps)-1].Done != steps[len(steps)-1].Total {
		t.Fatalf("progress ended at %+v", steps[len(steps)-1])
	}
	for i := 1; i < len(steps); i++ {
		if steps[i].Done < steps[i-1].Done || steps[i].Total != steps[0].Total {
			t.Errorf("progress step %d: %+v after %+v", i, steps[i], steps[i-1])
		}
	}
	checkJSON(t, rep)
	checkDocumented(t, rep)
}

// TestRounds: with Rounds, every timing pools the calls of each round, the
// skipped run stays skipped, the rest of a run is measured once, and the
// progress still ends at its total.
func TestRounds(t *testing.T) {
	o := tinyOptions(t)
	o.Rounds, o.HistoryFrames, o.Iters = 3, 0, 1
	var steps []Progress
	o.Progress = func(p Progress) { steps = append(steps, p) }
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settings.Rounds != 3 {
		t.Errorf("settings.rounds %d, want 3", rep.Settings.Rounds)
	}
	for _, run := range rep.Models[0].Runs {
		name := run.Backend + "/" + run.Precision
		if run.Skipped != "" {
			if run.Backend != "benchtest-f32" || len(run.Image)+len(run.Text) != 0 {
				t.Errorf("%s: skipped %q with %d timings", name, run.Skipped, len(run.Image)+len(run.Text))
			}
			continue
		}
		checkRun(t, name, run)
		if len(run.Image) != 2 {
			t.Fatalf("%s: %d image timings, want 2", name, len(run.Image))
		}
		for _, tm := range append(run.Image, run.Text...) {
			if tm.Iters != 3 {
				t.Errorf("%s: batch %d tokens %d: %d calls, want 3 rounds × 1", name, tm.Batch, tm.Tokens, tm.Iters)
			}
		}
	}
	last := steps[len(steps)-1]
	if last.Done != last.Total {
		t.Errorf("progress ended at %+v", last)
	}
	var out strings.Builder
	if err := WriteTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pooled over 3 rounds") {
		t.Errorf("table does not say the rounds:\n%s", out.String())
	}
}

func checkRun(t *testing.T, name string, run RunReport) {
	t.Helper()
	positive(t, name, map[string]float64{"load_ms": run.LoadMS})
	if len(run.Image) != 2 || run.Image[0].Batch != 1 || run.Image[1].Batch != 3 {
		t.Errorf("%s: image timings %+v, want batches 1 and 3", name, run.Image)
	}
	// tiny's context is 16: 20 is dropped, the full pass added.
	var lengths []int
	for _, tm := range run.Text {
		lengths = append(lengths, tm.Tokens)
		if tm.Full != (tm.Tokens == 16) {
			t.Errorf("%s: text %d tokens marked full=%v", name, tm.Tokens, tm.Full)
		}
	}
	if want := []int{5, 12, 16}; !slices.Equal(lengths, want) {
		t.Errorf("%s: text lengths %v, want %v", name, lengths, want)
	}
	for _, tm := range append(append([]Timing(nil), run.Image...), run.Text...) {
		label := fmt.Sprintf("%s batch=%d tokens=%d", name, tm.Batch, tm.Tokens)
		if tm.Iters != 3 {
			t.Errorf("%s: %d iters, want 3", label, tm.Iters)
		}
		ordered(t, label, tm.Latency)
		positive(t, label, map[string]float64{"flops": float64(tm.FLOPs), "per_second": tm.PerSecond, "gflops": tm.GFLOPS})
	}
	if run.Image[1].FLOPs != 3*run.Image[0].FLOPs {
		t.Errorf("%s: batch 3 flops %d, want 3 × %d", name, run.Image[1].FLOPs, run.Image[0].FLOPs)
	}
	a := run.Accuracy
	if a == nil {
		t.Fatalf("%s: no accuracy", name)
	}
	floor := 0.99
	if run.Precision == "f32" {
		floor = 0.9999 // the reference itself, or a backend that must match it
	}
	if a.ImageCosMin < floor || a.TextCosMin < floor || a.ImageCosMean < a.ImageCosMin || a.TextCosMean < a.TextCosMin {
		t.Errorf("%s: accuracy %+v, want minima ≥ %v", name, a, floor)
	}
	if run.CPU == nil || run.CPU.WallS <= 0 || run.CPU.Cores < 0 {
		t.Errorf("%s: cpu %+v", name, run.CPU)
	}
	if mem := run.Memory; mem == nil || mem.PeakBytes <= 0 || mem.BaselineBytes <= 0 || (mem.Scope != "run" && mem.Scope != "process") {
		t.Errorf("%s: memory %+v", name, mem)
	}
}

func ordered(t *testing.T, name string, l Latency) {
	t.Helper()
	v := []float64{l.MinMS, l.P50MS, l.P90MS, l.P99MS, l.MaxMS}
	for i := range v {
		if v[i] <= 0 || i > 0 && v[i] < v[i-1] {
			t.Errorf("%s: latency %+v: want 0 < min ≤ p50 ≤ p90 ≤ p99 ≤ max", name, l)
			return
		}
	}
	if l.MeanMS < l.MinMS || l.MeanMS > l.MaxMS {
		t.Errorf("%s: mean %v outside [%v, %v]", name, l.MeanMS, l.MinMS, l.MaxMS)
	}
}

func positive(t *testing.T, name string, vals map[string]float64) {
	t.Helper()
	for k, v := range vals {
		if !(v > 0) {
			t.Errorf("%s: %s = %v, want > 0", name, k, v)
		}
	}
}

// checkJSON encodes the report and checks the documented top-level fields.
func checkJSON(t *testing.T, rep *Report) {
	t.Helper()
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != "edgeclip.bench/v1.3" {
		t.Errorf("schema %v", doc["schema"])
	}
	keys := []string{"started", "finished", "host", "board", "settings", "models", "pipeline_note"}
	imgKeys := []string{"batch", "iters", "flops", "latency", "per_second", "gflops", "cpu_cores"}
	if goruntime.GOARCH == "amd64" || goruntime.GOARCH == "arm64" {
		// The peak loops exist where the assembly kernels do.
		keys, imgKeys = append(keys, "peak"), append(imgKeys, "peak_pct")
	}
	for _, k := range keys {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	run := doc["models"].([]any)[0].(map[string]any)["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"backend", "precision", "threads", "load_ms", "image", "text", "accuracy", "memory", "cpu"} {
		if _, ok := run[k]; !ok {
			t.Errorf("JSON run lacks %q", k)
		}
	}
	img := run["image"].([]any)[0].(map[string]any)
	for _, k := range imgKeys {
		if _, ok := img[k]; !ok {
			t.Errorf("JSON image timing lacks %q", k)
		}
	}
}

// checkDocumented fails for each JSON key of rep that docs/bench.md does
// not name in backquotes. Board samples and the architecture config are
// documented by their own packages.
func checkDocumented(t *testing.T, rep *Report) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if !seen[k] && !bytes.Contains(doc, []byte("`"+k+"`")) {
					t.Errorf("docs/bench.md does not document JSON field %q", k)
				}
				seen[k] = true
				if k != "info" && k != "before" && k != "after" && k != "config" {
					walk(c)
				}
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
}

func TestPipelineHook(t *testing.T) {
	o := tinyOptions(t)
	o.Backends, o.Precisions, o.Batches, o.TextTokens, o.HistoryFrames = []string{"native"}, nil, nil, []int{}, 0
	p := &fakePipeline{}
	o.Pipeline = p
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	run := rep.Models[0].Runs[0]
	checkDocumented(t, rep)
	if p.calls != 1 || run.Pipeline == nil || run.Pipeline.FPS <= 0 || rep.PipelineNote != "" {
		t.Errorf("pipeline called %d times, result %+v, note %q", p.calls, run.Pipeline, rep.PipelineNote)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no models", func(o *Options) { o.Models = nil }, "no models"},
		{"unknown arch", func(o *Options) { o.Models = []ModelSpec{{Arch: "vit-z"}} }, `unknown arch "vit-z" (known: tiny, vit-b-16`},
		{"path and arch", func(o *Options) { o.Models = []ModelSpec{{Arch: "tiny", Path: "x"}} }, "exactly one of Path and Arch"},
		{"unknown backend", func(o *Options) { o.Backends = []string{"tpu"} }, `unknown backend "tpu" (known: `},
		{"zero batch", func(o *Options) { o.Batches = []int{0} }, "batch size 0"},
		{"short text", func(o *Options) { o.TextTokens = []int{1} }, "text length 1"},
		{"negative iters", func(o *Options) { o.Iters = -1 }, "negative"},
		{"missing file", func(o *Options) { o.Models = []ModelSpec{{Path: "/nonexistent/m.safetensors"}} }, "/nonexistent/m.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tinyOptions(t)
			o.HistoryFrames = 0
			tc.edit(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	o := tinyOptions(t)
	o.Iters, o.Duration = 0, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

var benchLine = regexp.MustCompile(`^Benchmark[A-Za-z]+/\S+\t\d+(\t-?[0-9.]+ \S+)+$`)

func TestWriters(t *testing.T) {
	o := tinyOptions(t)
	o.Backends, o.HistoryFrames = []string{"native"}, 50
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var tab, bs bytes.Buffer
	if err := WriteTable(&tab, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"model tiny (arch:tiny)", "image batch=3", "text 16 tok (full)", "history query: 50 frames", "pipeline: not measured (no --source)"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	if err := WriteBenchstat(&bs, rep); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(bs.String()), "\n") {
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		n++
		if !benchLine.MatchString(line) {
			t.Errorf("not a benchmark line: %q", line)
		}
	}
	// Per precision: load, 2 image, 3 text, accuracy, memory; plus the query.
	if want := 3*8 + 1; n != want {
		t.Errorf("%d benchmark lines, want %d:\n%s", n, want, bs.String())
	}
	if !strings.Contains(bs.String(), "BenchmarkImage/model=tiny/backend=native/prec=w8a8/batch=3-") {
		t.Errorf("no w8a8 batch 3 image line:\n%s", bs.String())
	}
}
