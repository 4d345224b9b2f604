//go:build tflite

package tflite

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/export/exporttest"
	tfl "github.com/edgeclip/edgeclip/export/tflite"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/convert"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/backendtest"
	"github.com/edgeclip/edgeclip/runtime/native"
)

var precisions = []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8}

// memBackend exports in memory and finds the library fetched by
// scripts/fetch-tflite.sh from the working directory (or $EDGECLIP_TFLITE_LIB).
func memBackend() *Backend { return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary)}} }

func TestMain(m *testing.M) {
	if v, err := Version(Config{Library: os.Getenv(EnvLibrary)}); err != nil {
		println("tflite tests: " + err.Error())
		os.Exit(1)
	} else {
		println("tflite tests: TensorFlow Lite " + v)
	}
	os.Exit(m.Run())
}

// cases builds conformance cases with the floors: 0.9999 for fp32,
// 0.99 for int8 images and 0.98 for int8 texts.
func cases(name string, w runtime.Weights, precs ...runtime.Precision) []backendtest.Case {
	var cs []backendtest.Case
	for _, p := range precs {
		c := backendtest.Case{Name: name, Weights: w, Precision: p}
		if p != runtime.FP32 {
			c.MinCosine, c.MinTextCosine = 0.99, 0.98
		}
		cs = append(cs, c)
	}
	return cs
}

// TestConformanceRandom runs the suite on small random models with both
// activations, float and int8-stored weights.
func TestConformanceRandom(t *testing.T) {
	var cs []backendtest.Case
	for _, act := range []arch.Activation{arch.QuickGELU, arch.GELU} {
		w := exporttest.Random(exporttest.Tiny(act), 5, 0.2)
		cs = append(cs, cases("tiny-"+string(act), w, precisions...)...)
		cs = append(cs, cases("tiny-i8-"+string(act), exporttest.Int8(w), runtime.W8, runtime.W8A8)...)
	}
	backendtest.Run(t, memBackend(), cs)
}

// TestConformanceFixtures converts the parity fixtures (OpenAI, Hugging
// Face and OpenCLIP layouts) to model files and runs the suite on them,
// through the on-disk export cache.
func TestConformanceFixtures(t *testing.T) {
	b := &Backend{Config: &Config{Library: os.Getenv(EnvLibrary), CacheDir: t.TempDir()}}
	var cs []backendtest.Case
	for _, layout := range []string{"openai", "hf", "openclip"} {
		cs = append(cs, cases(layout, fixtureModel(t, layout), precisions...)...)
	}
	backendtest.Run(t, b, cs)
}

// TestW8MatchesNative holds the w8 graphs to the native engine's w8
// arithmetic (the same int8 codes and per-channel scales, fp32
// activations), far tighter than the suite's 0.99 against fp32.
func TestW8MatchesNative(t *testing.T) {
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 9, 0.2)
	cfg := w.Config()
	got, err := memBackend().Open(ctx, w, runtime.Options{Precision: runtime.W8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	ref, err := native.Backend{}.Open(ctx, w, runtime.Options{Precision: runtime.W8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	a, r := encodeBoth(t, got, ref, cfg)
	e := cfg.EmbedDim
	for i := range len(a) / e {
		c := backendtest.Cosine(a[i*e:(i+1)*e], r[i*e:(i+1)*e])
		t.Logf("embedding %d: cosine %.7f against native w8", i, c)
		if !(c >= 0.99999) {
			t.Errorf("embedding %d: cosine %.7f against native w8, want ≥ 0.99999", i, c)
		}
	}
}

// encodeBoth encodes the same images and texts with two sessions and
// returns the embeddings, images first.
func encodeBoth(t *testing.T, a, b runtime.Session, cfg arch.Config) ([]float32, []float32) {
	t.Helper()
	ctx := context.Background()
	e := cfg.EmbedDim
	px := backendtest.Images(cfg.ImageSize, 3, 8)
	texts := backendtest.Texts(cfg.VocabSize, cfg.ContextLen, 8)
	var outs [2][]float32
	for i, s := range []runtime.Session{a, b} {
		img, txt := make([]float32, 3*e), make([]float32, len(texts)*e)
		if err := s.EncodeImages(ctx, px, 3, img); err != nil {
			t.Fatal(err)
		}
		if err := s.EncodeTexts(ctx, texts, txt); err != nil {
			t.Fatal(err)
		}
		outs[i] = append(img, txt...)
	}
	return outs[0], outs[1]
}

// TestOwnExportFiles runs the files `edgeclip export --format tflite`
// writes (tflite.WriteDir) through the interpreter, from disk.
func TestOwnExportFiles(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 3, 0.2)
	dir := t.TempDir()
	if err := tfl.WriteDir(dir, w, runtime.FP32, nil); err != nil {
		t.Fatal(err)
	}
	lib, err := loadLibrary(findLibrary(Config{Library: os.Getenv(EnvLibrary)}), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tfl.ImageFile, tfl.TextFile} {
		it, err := lib.newInterpreter(filepath.Join(dir, f), nil, 1, true, false)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Logf("%s: inputs %+v, output %+v", f, it.inputs, it.output)
		it.close()
	}
}

func TestCacheReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := &Backend{Config: &Config{Library: os.Getenv(EnvLibrary), CacheDir: dir}}
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 2, 0.2)
	someTime := time.Unix(1e9, 0)
	for i := range 2 {
		s, err := b.Open(ctx, w, runtime.Options{Precision: runtime.W8})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "*", cacheFormat, "w8", "*.tflite"))
		if len(files) != 2 {
			t.Fatalf("open %d: cache holds %v, want image.tflite and text.tflite", i, files)
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

func TestErrors(t *testing.T) {
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 1, 0.2)
	cfg := w.Config()
	b := memBackend()
	if _, err := b.Open(ctx, w, runtime.Options{Device: "npu"}); !errors.Is(err, runtime.ErrNotSupported) {
		t.Errorf("unknown device: err = %v, want ErrNotSupported", err)
	}
	if _, err := b.Open(ctx, w, runtime.Options{Precision: "f64"}); !errors.Is(err, runtime.ErrNotSupported) {
		t.Errorf("unknown precision: err = %v, want ErrNotSupported", err)
	}
	bad := &Backend{Config: &Config{Library: filepath.Join(t.TempDir(), "missing.so")}}
	if _, err := bad.Open(ctx, w, runtime.Options{}); err == nil {
		t.Error("missing library: want error")
	}
	// The npm build has no GPU delegate: the session must fall back to the CPU.
	s, err := b.Open(ctx, w, runtime.Options{Device: "gpu"})
	if err != nil {
		t.Fatalf("gpu without a GPU delegate: %v, want CPU fallback", err)
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
		t.Errorf("gpu fallback session: %v", err)
	}
	s.Close()
	if err := s.EncodeImages(ctx, backendtest.Images(cfg.ImageSize, 1, 1), 1, out); err == nil {
		t.Error("closed session: want error")
	}
	lib, err := loadLibrary(findLibrary(Config{Library: os.Getenv(EnvLibrary)}), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lib.newInterpreter("", []byte("not a flatbuffer at all"), 1, true, false); err == nil {
		t.Error("garbage model: want error")
	}
}

// fixtureModel converts a parity fixture to a model file and opens it.
func fixtureModel(t *testing.T, layout string) *models.File {
	t.Helper()
	dir := filepath.Join("..", "..", "models", "testdata", "parity", layout)
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
	path := filepath.Join(t.TempDir(), layout+".safetensors")
	if err := models.Write(path, c); err != nil {
		t.Fatal(err)
	}
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
