//go:build tflite

package tflite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeclip/edgeclip/export/exporttest"
	tfl "github.com/edgeclip/edgeclip/export/tflite"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/backendtest"
	"github.com/edgeclip/edgeclip/runtime/cgobackend/cgobackendtest"
)

// memBackend exports in memory and finds the library fetched by
// scripts/fetch-tflite.sh from the working directory (or $EDGECLIP_TFLITE_LIB).
func memBackend() *Backend { return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary)}} }

func TestMain(m *testing.M) {
	cgobackendtest.Main(m, "tflite tests", "TensorFlow Lite", func() (string, error) { return Version(Config{Library: os.Getenv(EnvLibrary)}) })
}

// cacheBackend exports through an on-disk cache in dir.
func cacheBackend(dir string) runtime.Backend {
	return &Backend{Config: &Config{Library: os.Getenv(EnvLibrary), CacheDir: dir}}
}

// floors are the issue's: 0.9999 for fp32 (the suite's default), 0.99 for
// int8 images and 0.98 for int8 texts.
func floors(c *backendtest.Case) {
	if c.Precision != runtime.FP32 {
		c.MinCosine, c.MinTextCosine = 0.99, 0.98
	}
}

// TestConformanceRandom runs the suite on small random models with both
// activations, float and int8-stored weights.
func TestConformanceRandom(t *testing.T) {
	backendtest.Run(t, memBackend(), cgobackendtest.RandomCases(floors))
}

// TestConformanceFixtures converts the parity fixtures (OpenAI, Hugging
// Face and OpenCLIP layouts) to model files and runs the suite on them,
// through the on-disk export cache.
func TestConformanceFixtures(t *testing.T) {
	backendtest.Run(t, cacheBackend(t.TempDir()), cgobackendtest.FixtureCases(t, floors))
}

// TestW8MatchesNative holds the w8 graphs to the native engine's w8
// arithmetic (the same int8 codes and per-channel scales, fp32
// activations), far tighter than the suite's 0.99 against fp32.
func TestW8MatchesNative(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 9, 0.2)
	got, err := memBackend().Open(context.Background(), w, runtime.Options{Precision: runtime.W8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	cgobackendtest.MatchesNative(t, got, w, runtime.W8, 3, 8, 0.99999)
}

// TestOwnExportFiles runs the files `edgeclip export --format tflite`
// writes (tflite.Format.WriteDir) through the interpreter, from disk.
func TestOwnExportFiles(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 3, 0.2)
	dir := t.TempDir()
	if err := tfl.Format.WriteDir(dir, w, runtime.FP32, nil); err != nil {
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
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 2, 0.2)
	cgobackendtest.CacheReused(t, cacheBackend, w, cacheFormat, ".tflite")
}

// TestErrors: the npm build has no GPU delegate, so "gpu" must fall back
// to the CPU.
func TestErrors(t *testing.T) {
	cgobackendtest.Errors(t, memBackend(), "gpu")
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 1, 0.2)
	bad := &Backend{Config: &Config{Library: filepath.Join(t.TempDir(), "missing.so")}}
	if _, err := bad.Open(context.Background(), w, runtime.Options{}); err == nil {
		t.Error("missing library: want error")
	}
	lib, err := loadLibrary(findLibrary(Config{Library: os.Getenv(EnvLibrary)}), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lib.newInterpreter("", []byte("not a flatbuffer at all"), 1, true, false); err == nil {
		t.Error("garbage model: want error")
	}
}
