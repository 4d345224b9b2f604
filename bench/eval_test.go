package bench

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
)

// fakeEval stands in for package eval: it encodes a caption and an image
// with the target's tokenizer and session, so that a missing tokenizer or an
// unusable session fails, and returns figures set by the precision, so that
// the deltas are known.
type fakeEval struct {
	calls []EvalTarget
	err   error
}

var fakeFigures = map[runtime.Precision]float64{runtime.FP32: 0.5, runtime.W8: 0.25, runtime.W8A8: 0.75}

func (f *fakeEval) Evaluate(ctx context.Context, t EvalTarget) (EvalResult, error) {
	f.calls = append(f.calls, t)
	if f.err != nil {
		return EvalResult{}, f.err
	}
	dim, size := t.Config.EmbedDim, t.Config.ImageSize
	out := make([]float32, dim)
	if err := t.Session.EncodeTexts(ctx, [][]int32{t.Tokenizer.Encode("a red circle", t.Config.ContextLen)}, out); err != nil {
		return EvalResult{}, err
	}
	if err := t.Session.EncodeImages(ctx, make([]float32, 3*size*size), 1, out); err != nil {
		return EvalResult{}, err
	}
	v := fakeFigures[t.Precision]
	return EvalResult{N: 10, Seed: 7, Metrics: EvalMetrics{ZeroShotShape: v, ZeroShotColor: 1 - v, ZeroShotCount: v,
		T2IR1Seen: v, T2IR1HeldOut: v / 2, I2TR1Seen: v, I2TR1HeldOut: v / 2}}, nil
}

// tinyFile writes the tiny preset with random weights as a model file: a
// file, unlike an arch preset, is evaluated.
func tinyFile(t *testing.T) string {
	t.Helper()
	cfg, err := Arch("tiny")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tinyfile.safetensors")
	if err := models.Write(path, models.RandomContents(cfg, 3)); err != nil {
		t.Fatal(err)
	}
	return path
}

func evalOptions(t *testing.T, ev Evaluator) Options {
	o := tinyOptions(t)
	o.Models = []ModelSpec{{Path: tinyFile(t)}, {Arch: "tiny"}}
	// w8a8 first: the delta must not depend on the f32 run coming first.
	o.Precisions = []runtime.Precision{runtime.W8A8, runtime.FP32}
	o.Threads = []int{1, 2}
	o.Batches, o.TextTokens, o.Iters, o.HistoryFrames = []int{1}, []int{}, 1, 0
	o.Evaluator = ev
	return o
}

func TestEvalRuns(t *testing.T) {
	ev := &fakeEval{}
	o := evalOptions(t, ev)
	var last Progress
	o.Progress = func(p Progress) { last = p }
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settings.Eval || rep.Schema != "edgeclip.bench/v1.3" {
		t.Errorf("settings.eval %v, schema %q", rep.Settings.Eval, rep.Schema)
	}
	if last.Done != last.Total {
		t.Errorf("progress ended at %d/%d", last.Done, last.Total)
	}
	file, preset := rep.Models[0], rep.Models[1]
	if preset.EvalNote != evalNotApplicable || file.EvalNote != "" {
		t.Errorf("eval notes: file %q, preset %q", file.EvalNote, preset.EvalNote)
	}
	for _, run := range preset.Runs {
		if run.Eval != nil {
			t.Errorf("preset %s/%s evaluated", run.Backend, run.Precision)
		}
	}
	// native w8a8 and f32, benchtest-f32 f32 (its w8a8 is skipped), each
	// at the first thread count only.
	var got []string
	for _, c := range ev.calls {
		if c.Model != "tinyfile" || c.Tokenizer == nil || c.ModelHash != file.Hash {
			t.Errorf("target %+v", c)
		}
		got = append(got, string(c.Precision))
	}
	if strings.Join(got, ",") != "w8a8,f32,f32" {
		t.Errorf("evaluated precisions %v, want w8a8, f32, f32", got)
	}
	for _, run := range file.Runs {
		name := run.Backend + "/" + run.Precision + "/" + threadStr(run.Threads)
		want := run.Skipped == "" && run.Threads == 1
		if (run.Eval != nil) != want {
			t.Errorf("%s: eval %+v, want one: %v", name, run.Eval, want)
			continue
		}
		if run.Eval == nil {
			continue
		}
		e := run.Eval
		if e.N != 10 || e.Seed != 7 || e.WallS <= 0 || e.ZeroShotShape != fakeFigures[runtime.Precision(run.Precision)] {
			t.Errorf("%s: eval %+v", name, e)
		}
		if run.Precision == "f32" {
			if e.Delta != nil {
				t.Errorf("%s: delta %+v against itself", name, e.Delta)
			}
			continue
		}
		// 0.75 against 0.5 at f32.
		if d := e.Delta; d == nil || d.Reference != "native/f32" || d.ZeroShotShape != 0.25 || d.ZeroShotColor != -0.25 || d.I2TR1HeldOut != 0.125 {
			t.Errorf("%s: delta %+v, want +0.25 shape, −0.25 colour, +0.125 i2t held-out vs native/f32", name, e.Delta)
		}
	}
	checkDocumented(t, rep)
}

func TestEvalDeltaFallback(t *testing.T) {
	ev := func(v float64) *Eval { return &Eval{EvalMetrics: EvalMetrics{ZeroShotShape: v, T2IR1Seen: 1 - v}} }
	m := &Model{Runs: []RunReport{
		{Backend: "ort", Precision: "w8", Eval: ev(0.9)},
		{Backend: "native", Precision: "f32", Threads: 2}, // not evaluated: no reference
		{Backend: "native", Precision: "f32", Eval: ev(0.8)},
		{Backend: "native", Precision: "w8a8", Eval: ev(0.7)},
	}}
	evalDeltas(m)
	if d := m.Runs[0].Eval.Delta; d == nil || d.Reference != "native/f32" || d.ZeroShotShape != 0.1 || d.T2IR1Seen != -0.1 {
		t.Errorf("ort w8 delta %+v, want +0.1/−0.1 vs native/f32 (no ort f32 run)", d)
	}
	if d := m.Runs[3].Eval.Delta; d == nil || d.ZeroShotShape != -0.1 {
		t.Errorf("native w8a8 delta %+v, want −0.1", d)
	}
	if m.Runs[2].Eval.Delta != nil {
		t.Errorf("f32 run has a delta against itself")
	}

	w8 := &Model{Runs: []RunReport{{Backend: "native", Precision: "w8", Eval: ev(0.5)}}}
	evalDeltas(w8)
	if w8.Runs[0].Eval.Delta != nil {
		t.Errorf("delta %+v without an f32 run", w8.Runs[0].Eval.Delta)
	}
}

func TestEvalError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(context.Background(), evalOptions(t, &fakeEval{err: boom}))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "tinyfile: native/w8a8: eval: boom") {
		t.Fatalf("error %v, want the evaluator's, with model, run and step", err)
	}
}

func TestEvalTable(t *testing.T) {
	rep, err := Run(context.Background(), evalOptions(t, &fakeEval{}))
	if err != nil {
		t.Fatal(err)
	}
	var tab, bs strings.Builder
	if err := WriteTable(&tab, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"eval on the world: 10 images per set, seed 7",
		"0.750 (+0.250)  0.250 (-0.250)",
		"0.750/0.375 (+0.250/+0.125)",
		"native/f32",
		"eval: not applicable: random weights (arch preset)",
	} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	if err := WriteBenchstat(&bs, rep); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(bs.String(), "BenchmarkEval/model=tinyfile/"); n != 3 {
		t.Errorf("%d eval benchmark lines, want 3:\n%s", n, bs.String())
	}
	for _, line := range strings.Split(bs.String(), "\n") {
		if strings.HasPrefix(line, "Benchmark") && !benchLine.MatchString(line) {
			t.Errorf("not a benchmark line: %q", line)
		}
	}
}
