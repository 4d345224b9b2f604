package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// f32Only is the native engine behind a backend that runs fp32 only, as a
// backend without int8 kernels would; it records the precisions asked of it.
type f32Only struct {
	mu    *sync.Mutex
	asked *[]runtime.Precision
}

func (f32Only) Name() string { return "test-f32-only" }
func (f32Only) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Precisions: []runtime.Precision{runtime.FP32}, Devices: []string{"cpu"}}
}
func (b f32Only) Open(ctx context.Context, w runtime.Weights, o runtime.Options) (runtime.Session, error) {
	b.mu.Lock()
	*b.asked = append(*b.asked, o.Precision)
	b.mu.Unlock()
	if !b.Capabilities().Supports(o.Precision) {
		return nil, fmt.Errorf("test-f32-only: precision %q: %w", o.Precision, runtime.ErrNotSupported)
	}
	return native.Backend{}.Open(ctx, w, o)
}

var f32OnlyAsked struct {
	sync.Mutex
	p []runtime.Precision
}

func init() { runtime.Register(f32Only{mu: &f32OnlyAsked.Mutex, asked: &f32OnlyAsked.p}) }

// int8Model quantizes a tiny random model in w8a8 with the real quantizer,
// as the shipped int8 model was made, and writes it with its report.
func int8Model(t *testing.T, fp32 string) string {
	t.Helper()
	f, err := models.Open(fp32)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := f.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := quantize.WorldCalibration("world:seed=9,n=4", f.Config(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c, r, err := quantize.Quantize(context.Background(), f.Contents(), quantize.Options{Mode: quantize.W8A8, Calib: cal,
		SensitivityImages: 4, SensitivityTexts: 8, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Attach(c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny-int8.safetensors")
	if err := models.Write(p, c); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDaemonPrecision: an automatic precision is the one the quantizer
// recorded, an explicit one wins, and a backend that cannot run the
// recorded precision runs f32 with a warning.
func TestDaemonPrecision(t *testing.T) {
	ctx := context.Background()
	fp32 := tinyModel(t)
	i8 := int8Model(t, fp32)
	for _, tc := range []struct {
		name, model, backend string
		prec                 runtime.Precision
		wantPrec, wantBack   string
		asked                []runtime.Precision // of test-f32-only
		log                  []string            // substrings of the log
	}{
		{name: "int8 file, empty", model: i8, wantPrec: "w8a8", wantBack: "native",
			log: []string{`msg="model loaded"`, "precision=w8a8 precision_from=\"model file\""}},
		{name: "int8 file, auto", model: i8, prec: "auto", wantPrec: "w8a8", wantBack: "native"},
		{name: "int8 file, explicit f32", model: i8, prec: "f32", wantPrec: "f32", wantBack: "native",
			log: []string{"precision=f32 precision_from=requested"}},
		{name: "int8 file, explicit w8", model: i8, prec: "w8", wantPrec: "w8", wantBack: "native"},
		{name: "fp32 file, empty", model: fp32, wantPrec: "f32", wantBack: "native",
			log: []string{"precision=f32 precision_from=default"}},
		{name: "auto on an f32-only backend", model: i8, backend: "test-f32-only", wantPrec: "f32", wantBack: "test-f32-only",
			asked: []runtime.Precision{"w8a8", "f32"},
			log:   []string{"level=WARN msg=\"backend cannot run the model file's precision; running f32\"", "precision_from=fallback"}},
		{name: "explicit on an f32-only backend", model: i8, backend: "test-f32-only", prec: "w8a8", wantPrec: "w8a8", wantBack: "native",
			asked: []runtime.Precision{"w8a8"},
			log:   []string{"falling back to native"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f32OnlyAsked.Lock()
			f32OnlyAsked.p = nil
			f32OnlyAsked.Unlock()
			var logs bytes.Buffer
			d, err := New(ctx, Options{ModelPath: tc.model, DataDir: t.TempDir(), Backend: tc.backend, Precision: tc.prec,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if st := d.Status(); st.Precision != tc.wantPrec || st.Backend != tc.wantBack {
				t.Errorf("status precision %q backend %q, want %q and %q", st.Precision, st.Backend, tc.wantPrec, tc.wantBack)
			}
			f32OnlyAsked.Lock()
			asked := f32OnlyAsked.p
			f32OnlyAsked.Unlock()
			if fmt.Sprint(asked) != fmt.Sprint(tc.asked) {
				t.Errorf("test-f32-only was asked for %v, want %v", asked, tc.asked)
			}
			for _, w := range tc.log {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, &logs)
				}
			}
		})
	}

	t.Run("unknown precision", func(t *testing.T) {
		d, err := New(ctx, Options{ModelPath: i8, DataDir: t.TempDir(), Precision: "f8"})
		if err == nil {
			d.Close()
			t.Fatal("want an error")
		}
		if want := `daemon: model precision: unknown precision "f8"`; !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
}
