//go:build ort

package ort

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/backendtest"
	"github.com/edgeclip/edgeclip/runtime/cgobackend/cgobackendtest"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// memBackend exports in memory and finds the library fetched by
// scripts/fetch-ort.sh from the working directory (or $EDGECLIP_ORT_LIB).
func memBackend() *Backend { return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary)}} }

func TestMain(m *testing.M) {
	cgobackendtest.Main(m, "ort tests", "ONNX Runtime", func() (string, error) { return Version(Config{Library: os.Getenv(EnvLibrary)}) })
}

// cacheBackend exports through an on-disk cache in dir.
func cacheBackend(dir string) runtime.Backend {
	return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary), CacheDir: dir}}
}

// TestConformanceRandom runs the suite on small random models with both
// activations, float and int8-stored weights.
func TestConformanceRandom(t *testing.T) {
	backendtest.Run(t, memBackend(), cgobackendtest.RandomCases(nil))
}

// TestConformanceFixtures converts the parity fixtures (OpenAI, Hugging
// Face and OpenCLIP layouts) to model files and runs the suite on them,
// through the on-disk export cache.
func TestConformanceFixtures(t *testing.T) {
	backendtest.Run(t, cacheBackend(t.TempDir()), cgobackendtest.FixtureCases(t, nil))
}

// TestMatchesNativeInt8 holds the int8 graphs to the native engine's int8
// arithmetic, far tighter than the 0.99 against fp32 of the suite. The
// graphs quantize activations symmetrically per token, as native does on
// NEON and in pure Go. Native's AVX2 kernel uses its own activation grid
// (kernels.AsymmetricU8), so there w8a8 is held to 0.998 and the exact
// check reruns this test in a child process with AVX2 off.
func TestMatchesNativeInt8(t *testing.T) {
	ctx := context.Background()
	backendtest.LogInt8(t)
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 9, 0.2)
	for _, prec := range []runtime.Precision{runtime.W8, runtime.W8A8} {
		t.Run(string(prec), func(t *testing.T) {
			got, err := memBackend().Open(ctx, w, runtime.Options{Precision: prec, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			min := 0.9999
			if prec == runtime.W8A8 && !backendtest.SymmetricInt8() {
				min = 0.998
			}
			cgobackendtest.MatchesNative(t, got, w, prec, 4, 8, min)
		})
	}
	if !backendtest.SymmetricInt8() {
		t.Run("symmetric", func(t *testing.T) { backendtest.RerunSymmetric(t, "TestMatchesNativeInt8") })
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
	cgobackendtest.MatchesNative(t, s, cgobackendtest.FixtureModel(t, "hf"), "", 3, 2, 0.9999)
}

// TestOpenDirOwnExport runs edgeclip's own exported pair through OpenDir
// and checks that a padded batch of texts encodes like texts one by one.
func TestOpenDirOwnExport(t *testing.T) {
	ctx := context.Background()
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 3, 0.2)
	cfg := w.Config()
	dir := t.TempDir()
	if err := onnx.Format.WriteDir(dir, w, runtime.FP32, nil); err != nil {
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
	cgobackendtest.CacheReused(t, cacheBackend, cgobackendtest.FixtureModel(t, "openai"), cacheFormat, ".onnx")
}

// TestErrors: this ONNX Runtime build has no CUDA, so "cuda" must fall
// back to the CPU.
func TestErrors(t *testing.T) {
	cgobackendtest.Errors(t, memBackend(), "cuda")
	if _, err := memBackend().OpenDir(context.Background(), t.TempDir(), runtime.Options{}); err == nil {
		t.Error("OpenDir of an empty folder: want error")
	}
}
