package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// tinyModel writes a random TinyConfig model to a file and opens it with
// the native engine, as `edgeclip eval` does.
func tinyModel(t *testing.T) Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := models.Write(path, models.RandomContents(models.TinyConfig(), 7)); err != nil {
		t.Fatal(err)
	}
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tok, err := f.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := native.Backend{}.Open(context.Background(), f, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return Model{Session: sess, Tokenizer: tok, Config: f.Config(), Name: f.Name(), Hash: f.Hash()}
}

func TestRunTinyModel(t *testing.T) {
	m := tinyModel(t)
	opts := &Options{N: 24, Videos: 1, VideoSeconds: 20, VideoSize: 64}
	var last Progress
	opts.Progress = func(p Progress) { last = p }
	r, err := Run(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4*24 + 101; last.Done != want || last.Total != want {
		t.Errorf("last progress %d/%d, want %d/%d", last.Done, last.Total, want, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// The documented headline fields (docs/eval.md) exist and are fractions.
	for _, path := range []string{
		"zero_shot.shape.accuracy", "zero_shot.color.accuracy", "zero_shot.count.accuracy",
		"zero_shot.shape.held_out.accuracy", "zero_shot.color.seen.macro_f1",
		"retrieval.t2i.r1", "retrieval.i2t.r1", "retrieval.t2i.r10", "retrieval.held_out.i2t.r5",
		"video.mean_iou", "video.iou_0_7", "video.f1", "video.alerts.detected",
	} {
		v, ok := lookup(doc, path)
		if !ok {
			t.Errorf("JSON has no %s", path)
			continue
		}
		if f, ok := v.(float64); !ok || f < 0 || f > 1 {
			t.Errorf("%s = %v, want a number in [0, 1]", path, v)
		}
	}
	for name, v := range r.Metrics() {
		if v < 0 || v > 1 {
			t.Errorf("metric %s = %v, want [0, 1]", name, v)
		}
	}
	if n := len(r.ZeroShot.Shape.Seen.Classes); n != 8 {
		t.Errorf("shape report has %d classes, want 8", n)
	}
	if got := r.ZeroShot.Shape.Seen.N; got != 24 {
		t.Errorf("shape seen n = %d, want 24", got)
	}
	if r.Video == nil || r.Video.Events == 0 || r.Video.Frames != 101 {
		t.Fatalf("video = %+v, want 101 frames and some events", r.Video)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"zero-shot shape, seen", "zero-shot count, held-out", "retrieval", "video: 1 ×"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	// The same model and options give the same result.
	r2, err := Run(context.Background(), m, &Options{N: 24, Videos: 1, VideoSeconds: 20, VideoSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, r2); diff != "" {
		t.Errorf("second run differs (-first +second):\n%s", diff)
	}
}

func lookup(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestOptionsRejected(t *testing.T) {
	m := tinyModel(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"n too small", Options{N: 3}, "n = 3"},
		{"n too large", Options{N: MaxN + 1}, "n = "},
		{"negative videos", Options{Videos: -1}, "videos = -1"},
		{"video too long", Options{Videos: 1, VideoSeconds: 1e6}, "video seconds"},
		{"fps", Options{FPS: -5}, "fps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), m, &tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Run(context.Background(), Model{Config: m.Config}, nil); err == nil {
		t.Error("Run without a session succeeded")
	}
}

func TestReport(t *testing.T) {
	labels := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name        string
		pred, truth []int
		want        Classification
	}{
		{"perfect", []int{0, 1, 2}, []int{0, 1, 2}, Classification{N: 3, Accuracy: 1, MacroF1: 1, Classes: []ClassScore{
			{"a", 1, 1, 1, 1}, {"b", 1, 1, 1, 1}, {"c", 1, 1, 1, 1}}}},
		{"all predicted a", []int{0, 0, 0, 0}, []int{0, 0, 1, 2}, Classification{N: 4, Accuracy: 0.5, MacroF1: 2.0 / 9,
			Classes: []ClassScore{{"a", 0.5, 1, 2.0 / 3, 2}, {"b", 0, 0, 0, 1}, {"c", 0, 0, 0, 1}}}},
		{"empty", nil, nil, Classification{Classes: []ClassScore{{Label: "a"}, {Label: "b"}, {Label: "c"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := report(tc.pred, tc.truth, labels)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y float64) bool { return x-y < 1e-12 && y-x < 1e-12 })); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecall(t *testing.T) {
	// Unit vectors in 4 dimensions.
	e := func(k int) []float32 { v := make([]float32, 4); v[k] = 1; return v }
	cat := func(vs ...[]float32) []float32 {
		var out []float32
		for _, v := range vs {
			out = append(out, v...)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		img, txt []float32
		capID    []int
		t2i, i2t Recall
	}{
		{"aligned", cat(e(0), e(1), e(2)), cat(e(0), e(1), e(2)), []int{0, 1, 2},
			Recall{1, 1, 1}, Recall{1, 1, 1}},
		// Images 0 and 1 share caption 0: either is a correct answer.
		{"shared caption", cat(e(0), e(0), e(1)), cat(e(0), e(1)), []int{0, 0, 1},
			Recall{1, 1, 1}, Recall{1, 1, 1}},
		// Image 1 looks like caption 0 but is paired with caption 1: it
		// ties image 0 for caption 0, which counts against caption 0 too.
		{"one swapped", cat(e(0), e(0), e(2)), cat(e(0), e(1), e(2)), []int{0, 1, 2},
			Recall{1.0 / 3, 1, 1}, Recall{2.0 / 3, 1, 1}},
		// All embeddings equal: every tie counts against the model.
		{"collapsed", cat(e(0), e(0), e(0)), cat(e(0), e(0), e(0)), []int{0, 1, 2},
			Recall{0, 1, 1}, Recall{0, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t2i, i2t := recall(tc.img, tc.txt, 4, tc.capID)
			if diff := cmp.Diff(tc.t2i, t2i); diff != "" {
				t.Errorf("t2i (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.i2t, i2t); diff != "" {
				t.Errorf("i2t (-want +got):\n%s", diff)
			}
		})
	}
}
