//go:build ort

package ort

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/convert"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/backendtest"
	"github.com/edgeclip/edgeclip/runtime/native"
)

var precisions = []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8}

// memBackend exports in memory and finds the library fetched by
// scripts/fetch-ort.sh from the working directory (or $EDGECLIP_ORT_LIB).
func memBackend() *Backend { return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary)}} }

func TestMain(m *testing.M) {
	if v, err := Version(Config{Library: os.Getenv(EnvLibrary)}); err != nil {
		println("ort tests: " + err.Error())
		os.Exit(1)
	} else {
		println("ort tests: ONNX Runtime " + v)
	}
	os.Exit(m.Run())
}

func cases(name string, w runtime.Weights, precs ...runtime.Precision) []backendtest.Case {
	var cs []backendtest.Case
	for _, p := range precs {
		cs = append(cs, backendtest.Case{Name: name, Weights: w, Precision: p})
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

// TestMatchesNativeInt8 holds the int8 graphs to the native engine's int8
// arithmetic, far tighter than the 0.99 against fp32 of the suite.
func TestMatchesNativeInt8(t *testing.T) {
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 9, 0.2)
	cfg := w.Config()
	for _, prec := range []runtime.Precision{runtime.W8, runtime.W8A8} {
		t.Run(string(prec), func(t *testing.T) {
			got, err := memBackend().Open(ctx, w, runtime.Options{Precision: prec, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			ref, err := native.Backend{}.Open(ctx, w, runtime.Options{Precision: prec, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			e := cfg.EmbedDim
			px := backendtest.Images(cfg.ImageSize, 4, 8)
			a, r := make([]float32, 4*e), make([]float32, 4*e)
			if err := got.EncodeImages(ctx, px, 4, a); err != nil {
				t.Fatal(err)
			}
			if err := ref.EncodeImages(ctx, px, 4, r); err != nil {
				t.Fatal(err)
			}
			texts := backendtest.Texts(cfg.VocabSize, cfg.ContextLen, 8)
			ta, tr := make([]float32, len(texts)*e), make([]float32, len(texts)*e)
			if err := got.EncodeTexts(ctx, texts, ta); err != nil {
				t.Fatal(err)
			}
			if err := ref.EncodeTexts(ctx, texts, tr); err != nil {
				t.Fatal(err)
			}
			a, r = append(a, ta...), append(r, tr...)
			for i := range len(a) / e {
				c := backendtest.Cosine(a[i*e:(i+1)*e], r[i*e:(i+1)*e])
				t.Logf("embedding %d: cosine %.7f against native %s", i, c, prec)
				if !(c >= 0.9999) {
					t.Errorf("embedding %d: cosine %.7f against native %s, want ≥ 0.9999", i, c, prec)
				}
			}
		})
	}
}

// TestOptimumPair exports the Hugging Face fixture with torch the way
// Optimum does (tools/reference/export_optimum.py), loads the pair with
// OpenDir and compares it with the native engine on the converted model.
func TestOptimumPair(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, onnx").Run(); err != nil {
		t.Skipf("Debian's python3-torch and python3-onnx are needed: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(py, "../../tools/reference/export_optimum.py", "../../models/testdata/parity/hf/model", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export_optimum.py: %v\n%s", err, out)
	}
	ctx := context.Background()
	s, err := memBackend().OpenDir(ctx, dir, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := fixtureModel(t, "hf")
	ref, err := native.Backend{}.Open(ctx, f, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	cfg := f.Config()
	e := cfg.EmbedDim
	px := backendtest.Images(cfg.ImageSize, 3, 2)
	a, r := make([]float32, 3*e), make([]float32, 3*e)
	if err := s.EncodeImages(ctx, px, 3, a); err != nil {
		t.Fatal(err)
	}
	if err := ref.EncodeImages(ctx, px, 3, r); err != nil {
		t.Fatal(err)
	}
	texts := backendtest.Texts(cfg.VocabSize, cfg.ContextLen, 2)
	ta, tr := make([]float32, len(texts)*e), make([]float32, len(texts)*e)
	if err := s.EncodeTexts(ctx, texts, ta); err != nil {
		t.Fatal(err)
	}
	if err := ref.EncodeTexts(ctx, texts, tr); err != nil {
		t.Fatal(err)
	}
	a, r = append(a, ta...), append(r, tr...)
	for i := range len(a) / e {
		c := backendtest.Cosine(a[i*e:(i+1)*e], r[i*e:(i+1)*e])
		t.Logf("embedding %d: cosine %.7f", i, c)
		if !(c >= 0.9999) {
			t.Errorf("embedding %d: Optimum-style pair vs native: cosine %.7f, want ≥ 0.9999", i, c)
		}
	}
}

// TestOpenDirOwnExport runs edgeclip's own exported pair through OpenDir
// and checks that a padded batch of texts encodes like texts one by one.
func TestOpenDirOwnExport(t *testing.T) {
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 3, 0.2)
	cfg := w.Config()
	dir := t.TempDir()
	if err := onnx.WriteDir(dir, w, runtime.FP32, nil); err != nil {
		t.Fatal(err)
	}
	s, err := memBackend().OpenDir(ctx, dir, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref, err := native.Backend{}.Open(ctx, w, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	e := cfg.EmbedDim
	texts := backendtest.Texts(cfg.VocabSize, cfg.ContextLen, 6)
	batch := make([]float32, len(texts)*e)
	if err := s.EncodeTexts(ctx, texts, batch); err != nil {
		t.Fatal(err)
	}
	for i, ids := range texts {
		one, want := make([]float32, e), make([]float32, e)
		if err := s.EncodeTexts(ctx, [][]int32{ids}, one); err != nil {
			t.Fatal(err)
		}
		if err := ref.EncodeTexts(ctx, [][]int32{ids}, want); err != nil {
			t.Fatal(err)
		}
		if c := backendtest.Cosine(batch[i*e:(i+1)*e], one); !(c >= 0.999999) {
			t.Errorf("text %d (%d tokens): padded batch vs alone: cosine %.7f", i, len(ids), c)
		}
		if c := backendtest.Cosine(one, want); !(c >= 0.9999) {
			t.Errorf("text %d: OpenDir vs native: cosine %.7f", i, c)
		}
	}
}

func TestCacheReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := &Backend{Config: &Config{Library: os.Getenv(EnvLibrary), CacheDir: dir}}
	f := fixtureModel(t, "openai")
	someTime := time.Unix(1e9, 0)
	for i := range 2 {
		s, err := b.Open(ctx, f, runtime.Options{Precision: runtime.W8})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "*", cacheFormat, "w8", "*.onnx"))
		if len(files) != 2 {
			t.Fatalf("open %d: cache holds %v, want image.onnx and text.onnx", i, files)
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
	// This ONNX Runtime build has no CUDA: the session must fall back to the CPU.
	s, err := b.Open(ctx, w, runtime.Options{Device: "cuda"})
	if err != nil {
		t.Fatalf("cuda without a GPU build: %v, want CPU fallback", err)
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
		t.Errorf("cuda fallback session: %v", err)
	}
	s.Close()
	if err := s.EncodeImages(ctx, backendtest.Images(cfg.ImageSize, 1, 1), 1, out); err == nil {
		t.Error("closed session: want error")
	}
	if _, err := b.OpenDir(ctx, t.TempDir(), runtime.Options{}); err == nil {
		t.Error("OpenDir of an empty folder: want error")
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
