// Package cgobackendtest holds the tests that the backends over a native C
// library (runtime/ort, runtime/tflite) run the same way: conformance
// cases, checks against the native engine, the export cache, argument
// errors and the ViT-B/32 benchmark.
package cgobackendtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/convert"
	"github.com/edgeclip/edgeclip/models/modelstest"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/backendtest"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// Precisions are those both backends run.
var Precisions = []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8}

// Cases is one conformance case of w per precision; tune, when set,
// adjusts each (a backend's own tolerances).
func Cases(name string, w runtime.Weights, tune func(*backendtest.Case), precs ...runtime.Precision) []backendtest.Case {
	var cs []backendtest.Case
	for _, p := range precs {
		c := backendtest.Case{Name: name, Weights: w, Precision: p}
		if tune != nil {
			tune(&c)
		}
		cs = append(cs, c)
	}
	return cs
}

// RandomCases are small random models with both activations, with float
// and with int8-stored weights.
func RandomCases(tune func(*backendtest.Case)) []backendtest.Case {
	var cs []backendtest.Case
	for _, act := range []arch.Activation{arch.QuickGELU, arch.GELU} {
		w := exporttest.Random(exporttest.Tiny(act), 5, 0.2)
		cs = append(cs, Cases("tiny-"+string(act), w, tune, Precisions...)...)
		cs = append(cs, Cases("tiny-i8-"+string(act), exporttest.Int8(w), tune, runtime.W8, runtime.W8A8)...)
	}
	return cs
}

// FixtureCases are the parity fixtures (OpenAI, Hugging Face and OpenCLIP
// layouts) converted to model files.
func FixtureCases(t *testing.T, tune func(*backendtest.Case)) []backendtest.Case {
	t.Helper()
	var cs []backendtest.Case
	for _, layout := range []string{"openai", "hf", "openclip"} {
		cs = append(cs, Cases(layout, FixtureModel(t, layout), tune, Precisions...)...)
	}
	return cs
}

// FixtureModel converts the parity fixture of layout
// (models/testdata/parity/<layout>) to a model file and opens it; the file
// is closed when the test ends.
func FixtureModel(t *testing.T, layout string) *models.File {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "models", "testdata", "parity", layout)
	var fx struct {
		Convert struct {
			From, Src, BPE string
			VisionHeads    int `json:"vision_heads"`
			TextHeads      int `json:"text_heads"`
		} `json:"convert"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err == nil {
		err = json.Unmarshal(data, &fx)
	}
	if err != nil {
		t.Fatalf("fixture %s: %v", layout, err)
	}
	cv := fx.Convert
	o := convert.Options{From: cv.From, Src: filepath.Join(dir, cv.Src), VisionHeads: cv.VisionHeads, TextHeads: cv.TextHeads}
	if cv.BPE != "" {
		o.BPE = filepath.Join(dir, cv.BPE)
	}
	c, err := convert.Convert(context.Background(), o)
	if err != nil {
		t.Fatalf("convert %s: %v", layout, err)
	}
	return modelstest.WriteOpen(t, c, layout)
}

// moduleRoot is the folder of go.mod above the test's working directory
// (its package folder).
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// MatchesNative encodes the same images (n of them, drawn with seed) and
// texts (seed) with got and with the native engine on w at prec, and fails
// every embedding whose cosine to native's is below min.
func MatchesNative(t *testing.T, got runtime.Session, w runtime.Weights, prec runtime.Precision, n int, seed uint64, min float64) {
	t.Helper()
	ctx := context.Background()
	ref, err := native.Backend{}.Open(ctx, w, runtime.Options{Precision: prec, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	cfg := w.Config()
	e := cfg.EmbedDim
	px := backendtest.Images(cfg.ImageSize, n, seed)
	texts := backendtest.Texts(cfg.VocabSize, cfg.ContextLen, seed)
	var outs [2][]float32
	for i, s := range []runtime.Session{got, ref} {
		img, txt := make([]float32, n*e), make([]float32, len(texts)*e)
		if err := s.EncodeImages(ctx, px, n, img); err != nil {
			t.Fatal(err)
		}
		if err := s.EncodeTexts(ctx, texts, txt); err != nil {
			t.Fatal(err)
		}
		outs[i] = append(img, txt...)
	}
	a, r := outs[0], outs[1]
	for i := range len(a) / e {
		c := backendtest.Cosine(a[i*e:(i+1)*e], r[i*e:(i+1)*e])
		t.Logf("embedding %d: cosine %.7f against native %s", i, c, prec)
		if !(c >= min) {
			t.Errorf("embedding %d (images first): cosine %.7f against native %s, want ≥ %g", i, c, prec, min)
		}
	}
}

// CacheReused opens w twice at w8 with a backend caching under a fresh
// folder (newBackend makes it) and checks that the first open writes the
// pair <hash>/<version>/w8/*<ext> and the second reuses it unwritten.
func CacheReused(t *testing.T, newBackend func(cacheDir string) runtime.Backend, w runtime.Weights, version, ext string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	b := newBackend(dir)
	someTime := time.Unix(1e9, 0)
	for i := range 2 {
		s, err := b.Open(ctx, w, runtime.Options{Precision: runtime.W8})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "*", version, "w8", "*"+ext))
		if len(files) != 2 {
			t.Fatalf("open %d: cache holds %v, want image%s and text%s", i, files, ext, ext)
		}
		if i == 0 {
			for _, p := range files { // a reused cache is not rewritten
				if err := os.Chtimes(p, someTime, someTime); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for _, p := range files {
			st, err := os.Stat(p)
			if err != nil || !st.ModTime().Equal(someTime) {
				t.Errorf("%s was rewritten on the second open", p)
			}
		}
	}
}

// Errors checks what b must refuse (an unknown device or precision, bad
// texts and pixels, a closed session) and that fallbackDevice, a device b
// lists but this machine or library lacks, runs on the CPU instead.
func Errors(t *testing.T, b runtime.Backend, fallbackDevice string) {
	t.Helper()
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 1, 0.2)
	cfg := w.Config()
	if _, err := b.Open(ctx, w, runtime.Options{Device: "npu"}); !errors.Is(err, runtime.ErrNotSupported) {
		t.Errorf("unknown device: err = %v, want ErrNotSupported", err)
	}
	if _, err := b.Open(ctx, w, runtime.Options{Precision: "f64"}); !errors.Is(err, runtime.ErrNotSupported) {
		t.Errorf("unknown precision: err = %v, want ErrNotSupported", err)
	}
	s, err := b.Open(ctx, w, runtime.Options{Device: fallbackDevice})
	if err != nil {
		t.Fatalf("%s without the hardware or library: %v, want CPU fallback", fallbackDevice, err)
	}
	out := make([]float32, cfg.EmbedDim)
	for name, ids := range map[string][][]int32{
		"empty": {{}}, "too long": {make([]int32, cfg.ContextLen+1)}, "negative": {{-1}}, "past vocab": {{int32(cfg.VocabSize)}},
	} {
		if err := s.EncodeTexts(ctx, ids, out); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if err := s.EncodeImages(ctx, make([]float32, 5), 1, out); err == nil {
		t.Error("short pixels: want error")
	}
	if err := s.EncodeImages(ctx, backendtest.Images(cfg.ImageSize, 1, 1), 1, out); err != nil {
		t.Errorf("%s fallback session: %v", fallbackDevice, err)
	}
	s.Close()
	if err := s.EncodeImages(ctx, backendtest.Images(cfg.ImageSize, 1, 1), 1, out); err == nil {
		t.Error("closed session: want error")
	}
}

// Main runs a backend's tests once version has loaded its library, and
// exits 1 saying why when it cannot: without the library no test means
// anything. name prefixes the lines ("ort tests"), product names the
// library in the version line.
func Main(m *testing.M, name, product string, version func() (string, error)) {
	v, err := version()
	if err != nil {
		println(name + ": " + err.Error())
		os.Exit(1)
	}
	println(name + ": " + product + " " + v)
	os.Exit(m.Run())
}
