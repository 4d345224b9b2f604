package quantize

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/modelstest"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// tiny returns a random TinyConfig model read back from a real file, and
// calibration inputs for it.
func tiny(t *testing.T) (*models.File, *Calibration) {
	t.Helper()
	c := models.RandomContents(models.TinyConfig(), 3)
	c.Name = "tiny-f32"
	f := modelstest.WriteOpen(t, c, c.Name)
	tok, err := f.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := WorldCalibration("world:seed=9,n=12", f.Config(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return f, cal
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		mode  Mode
		dtype runtime.DType
		prec  runtime.Precision
	}{
		{W8, runtime.I8, runtime.W8},
		{W8A8, runtime.I8, runtime.W8A8},
		{F16, runtime.F16, runtime.FP32},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			f, cal := tiny(t)
			c, r, err := Quantize(context.Background(), f.Contents(), Options{Mode: tc.mode, Calib: cal})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Pass || r.Err() != nil {
				t.Fatalf("default budget failed on a random model: %v", r.Err())
			}
			if err := r.Attach(c); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "out.safetensors")
			if err := models.Write(path, c); err != nil {
				t.Fatal(err)
			}
			g, err := models.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if want := "tiny-" + map[Mode]string{W8: "int8", W8A8: "int8", F16: "f16"}[tc.mode]; g.Name() != want {
				t.Errorf("name %q, want %q", g.Name(), want)
			}
			layers := 0
			for _, tn := range g.Tensors() {
				want := runtime.F32
				if arch.Quantizable(tn.Name) {
					want = tc.dtype
					layers++
				}
				if tn.DType != want {
					t.Errorf("tensor %s is %s, want %s", tn.Name, tn.DType, want)
				}
				if tn.DType == runtime.I8 && len(tn.Scales) != tn.Shape[0] {
					t.Errorf("tensor %s has %d scales for %d rows", tn.Name, len(tn.Scales), tn.Shape[0])
				}
			}
			back, ok, err := ReadReport(g.Metadata())
			if !ok || err != nil {
				t.Fatalf("ReadReport: ok %v, err %v", ok, err)
			}
			if len(back.Layers) != layers || layers == 0 {
				t.Errorf("report has %d layers, file %d quantizable tensors", len(back.Layers), layers)
			}
			for _, l := range back.Layers {
				if !(l.CosMean > 0.99 && l.CosMean <= 1+1e-9 && l.CosMin <= l.CosMean+1e-12 && l.Rows > 0) {
					t.Errorf("layer %+v: implausible cosines", l)
				}
			}
			for name, c := range map[string]Cosine{"image": back.ImageCosine, "text": back.TextCosine} {
				if !(c.Mean > 0.9 && c.Mean <= 1+1e-9 && c.N > 0) {
					t.Errorf("%s cosine %+v", name, c)
				}
			}
			if back.ImageCosine.N != 12 || back.Source.Hash != f.Hash() {
				t.Errorf("report: %d images, source %s; want 12 and %s", back.ImageCosine.N, back.Source.Hash, f.Hash())
			}
			if p, ok := IntendedPrecision(g.Metadata()); !ok || p != tc.prec {
				t.Errorf("IntendedPrecision = %q, %v; want %q", p, ok, tc.prec)
			}
		})
	}
}

func TestGate(t *testing.T) {
	f, cal := tiny(t)
	drop := func(_ context.Context, _ runtime.Weights, p runtime.Precision) (map[string]float64, error) {
		if p == runtime.FP32 {
			return map[string]float64{"a": 0.8, "b": 0.5, "c": 0.3}, nil
		}
		return map[string]float64{"a": 0.79, "b": 0.47, "c": 0.4}, nil
	}
	for _, tc := range []struct {
		name    string
		budget  Budget
		metrics MetricsFunc
		fails   []string // substrings, one per expected failure
	}{
		{"default", Budget{}, nil, nil},
		{"impossible image cosine", Budget{MinCosImage: 1}, nil, []string{"image embedding cosine"}},
		{"impossible text cosine", Budget{MinCosText: 1}, nil, []string{"text embedding cosine"}},
		// a drops exactly one point (within budget), b three points.
		{"metric drop", Budget{}, drop, []string{"b dropped 3.0 points (0.5000 → 0.4700), budget 1.0"}},
		{"looser budget", Budget{MaxDrop: 0.05}, drop, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, err := Quantize(context.Background(), f.Contents(), Options{Mode: W8A8, Calib: cal, Budget: tc.budget, Metrics: tc.metrics})
			if err != nil {
				t.Fatal(err)
			}
			if r.Pass != (len(tc.fails) == 0) || len(r.Failures) != len(tc.fails) {
				t.Fatalf("pass %v, failures %q; want %d failures", r.Pass, r.Failures, len(tc.fails))
			}
			for i, want := range tc.fails {
				if !strings.Contains(r.Failures[i], want) {
					t.Errorf("failure %q, want it to contain %q", r.Failures[i], want)
				}
			}
			if len(tc.fails) > 0 && !errors.Is(r.Err(), ErrBudget) {
				t.Errorf("Err() = %v, want ErrBudget", r.Err())
			}
			if tc.metrics != nil && len(r.Metrics) != 3 {
				t.Errorf("report has %d metrics, want 3", len(r.Metrics))
			}
		})
	}
}

// TestKeptLayers forces some layers to stay F32 and checks that the mixed
// file is valid and runs in every precision of the native engine.
func TestKeptLayers(t *testing.T) {
	f, cal := tiny(t)
	_, r0, err := Quantize(context.Background(), f.Contents(), Options{Mode: W8A8, Calib: cal})
	if err != nil {
		t.Fatal(err)
	}
	// A threshold at the median layer cosine keeps about half the layers.
	cos := make([]float64, len(r0.Layers))
	for i, l := range r0.Layers {
		cos[i] = l.CosMean
	}
	thr := median(cos)
	c, r, err := Quantize(context.Background(), f.Contents(), Options{Mode: W8A8, Calib: cal, Budget: Budget{MinCosLayer: thr}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.KeptF32) == 0 || len(r.KeptF32) == len(r.Layers) {
		t.Fatalf("kept %d of %d layers at threshold %v, want some", len(r.KeptF32), len(r.Layers), thr)
	}
	kept := map[string]bool{}
	for _, n := range r.KeptF32 {
		kept[n] = true
	}
	w := newWeights(c)
	for n, tn := range w.t {
		if arch.Quantizable(n) && (tn.DType == runtime.F32) != kept[n] {
			t.Errorf("tensor %s is %s, kept %v", n, tn.DType, kept[n])
		}
	}
	for _, p := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		s, err := native.Backend{}.Open(context.Background(), w, runtime.Options{Precision: p})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out := make([]float32, cal.Images*c.Config.EmbedDim)
		if err := s.EncodeImages(context.Background(), cal.Pixels, cal.Images, out); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		s.Close()
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestRejects(t *testing.T) {
	f, cal := tiny(t)
	q, _, err := Quantize(context.Background(), f.Contents(), Options{Mode: W8, Calib: cal})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  *models.Contents
		o    Options
		want string
	}{
		{"already int8", q, Options{Mode: W8, Calib: cal}, "quantize the fp32 model"},
		{"unknown mode", f.Contents(), Options{Mode: "int4", Calib: cal}, `unknown mode "int4"`},
		{"no calibration", f.Contents(), Options{Mode: W8}, "calibration needs"},
		{"bad budget", f.Contents(), Options{Mode: W8, Calib: cal, Budget: Budget{MaxDrop: 2}}, "max_drop = 2"},
		{"wrong image size", f.Contents(), Options{Mode: W8, Calib: &Calibration{Images: 1, Pixels: make([]float32, 5), Texts: cal.Texts}}, "pixel values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Quantize(context.Background(), tc.src, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestWorldCalibrationSpec(t *testing.T) {
	cfg := models.TinyConfig()
	tok, err := models.RandomContents(cfg, 1).Tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec   string
		images int
		err    string
	}{
		{"world:seed=9", defaultImages, ""},
		{"world:seed=4,n=3,split=heldout", 3, ""},
		{"world:n=2&split=seen", 2, ""},
		{"images/", 0, "want world:seed=S"},
		{"world:seed=x", 0, "seed=x"},
		{"world:n=0", 0, "want 1..10000"},
		{"world:split=test", 0, `unknown split "test"`},
		{"world:colour=red", 0, "unknown key"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			c, err := WorldCalibration(tc.spec, cfg, tok)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Images != tc.images || len(c.Pixels) != tc.images*3*cfg.ImageSize*cfg.ImageSize || len(c.Texts) < tc.images {
				t.Errorf("%d images, %d pixels, %d texts", c.Images, len(c.Pixels), len(c.Texts))
			}
		})
	}
}

func TestCosine(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float32
		want float64
	}{
		{"same", []float32{1, 2}, []float32{2, 4}, 1},
		{"opposite", []float32{1, 0}, []float32{-1, 0}, -1},
		{"orthogonal", []float32{1, 0}, []float32{0, 3}, 0},
		{"both zero", []float32{0, 0}, []float32{0, 0}, 1},
		{"one zero", []float32{0, 0}, []float32{1, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cosine(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("cosine = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResolvePrecision(t *testing.T) {
	meta := func(p runtime.Precision) map[string]string {
		c := &models.Contents{}
		if err := (&Report{Mode: W8A8, Precision: p}).Attach(c); err != nil {
			t.Fatal(err)
		}
		return c.Extra
	}
	w8a8, w8 := meta(runtime.W8A8), meta(runtime.W8)
	corrupt := map[string]string{models.KeyQuant: "{not json"}
	for _, tc := range []struct {
		name      string
		requested string
		meta      map[string]string
		want      runtime.Precision
		auto      bool
		err       string
	}{
		{"empty on fp32 file", "", nil, runtime.FP32, true, ""},
		{"auto on fp32 file", "auto", map[string]string{"edgeclip.card": "x"}, runtime.FP32, true, ""},
		{"auto on w8a8 file", "auto", w8a8, runtime.W8A8, true, ""},
		{"empty on w8 file", "", w8, runtime.W8, true, ""},
		{"AUTO", "AUTO", w8a8, runtime.W8A8, true, ""},
		{"corrupt report", "auto", corrupt, runtime.FP32, true, ""},
		{"explicit wins", "f32", w8a8, runtime.FP32, false, ""},
		{"explicit w8", "W8", nil, runtime.W8, false, ""},
		{"unknown", "f8", w8a8, "", false, `unknown precision "f8" (want auto, f32, w8 or w8a8)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, auto, err := ResolvePrecision(tc.requested, tc.meta)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p != tc.want || auto != tc.auto {
				t.Errorf("ResolvePrecision(%q) = %q, %v, %v; want %q, %v", tc.requested, p, auto, err, tc.want, tc.auto)
			}
		})
	}
}
