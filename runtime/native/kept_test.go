package native_test

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/modelstest"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

func open(t *testing.T, w runtime.Weights, p runtime.Precision) runtime.Session {
	t.Helper()
	s, err := native.Backend{}.Open(context.Background(), w, runtime.Options{Precision: p, Threads: 2})
	if err != nil {
		t.Fatalf("open at %s: %v", p, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestKeptLayerRunsF32 quantizes a model with the real quantizer, its layer
// threshold set so that the most sensitive layer stays F32, and checks that
// an int8 session of that file runs that layer in fp32 (what the quantizer
// measured) and every other layer in int8 from the stored codes.
func TestKeptLayerRunsF32(t *testing.T) {
	ctx := context.Background()
	src := models.RandomContents(models.TinyConfig(), 3)
	src.Name = "tiny-f32"
	base := modelstest.WriteOpen(t, src, "tiny-f32")
	tok, err := base.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := quantize.WorldCalibration("world:seed=9,n=4", base.Config(), tok)
	if err != nil {
		t.Fatal(err)
	}
	quantized := func(minCos float64) (*models.File, *quantize.Report) {
		c, r, err := quantize.Quantize(ctx, base.Contents(), quantize.Options{Mode: quantize.W8A8, Calib: cal,
			Budget: quantize.Budget{MinCosLayer: minCos}, SensitivityImages: 4, SensitivityTexts: 8, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Attach(c); err != nil {
			t.Fatal(err)
		}
		return modelstest.WriteOpen(t, c, "tiny-int8"), r
	}
	// All layers int8 (a threshold no cosine is under), then the most
	// sensitive layer kept: the threshold halfway to the next one.
	all, r0 := quantized(-1)
	if len(r0.KeptF32) != 0 {
		t.Fatalf("threshold -1 kept %v", r0.KeptF32)
	}
	cos := make([]float64, len(r0.Layers))
	for i, l := range r0.Layers {
		cos[i] = l.CosMean
	}
	slices.Sort(cos)
	if len(cos) < 2 || cos[0] == cos[1] {
		t.Fatalf("layer cosines %v: no single most sensitive layer", cos)
	}
	mixed, r := quantized((cos[0] + cos[1]) / 2)
	if len(r.KeptF32) != 1 {
		t.Fatalf("kept %v, want one layer", r.KeptF32)
	}
	kept := r.KeptF32[0]
	if tn, _ := mixed.Tensor(kept); tn.DType != runtime.F32 {
		t.Fatalf("kept layer %s stored as %s", kept, tn.DType)
	}
	if p, ok := quantize.IntendedPrecision(mixed.Metadata()); !ok || p != runtime.W8A8 {
		t.Fatalf("intended precision %q, %v", p, ok)
	}

	// Packing: the kept layer is fp32 in every precision; the others follow
	// the session; an fp32 file is still quantized at load.
	for _, tc := range []struct {
		name       string
		w          runtime.Weights
		prec       runtime.Precision
		keptKind   string
		othersKind string
	}{
		{"mixed w8a8", mixed, runtime.W8A8, "f32", "w8a8"},
		{"mixed w8", mixed, runtime.W8, "f32", "w8"},
		{"mixed f32", mixed, runtime.FP32, "f32", "f32"},
		{"all-int8 w8a8", all, runtime.W8A8, "w8a8", "w8a8"},
		{"fp32 file w8a8", base, runtime.W8A8, "w8a8", "w8a8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kinds := native.PackedKinds(open(t, tc.w, tc.prec))
			if len(kinds) != len(r.Layers) {
				t.Fatalf("%d packed layers, report has %d", len(kinds), len(r.Layers))
			}
			for name, k := range kinds {
				want := tc.othersKind
				if name == kept {
					want = tc.keptKind
				}
				if k != want {
					t.Errorf("%s packed %s, want %s", name, k, want)
				}
			}
		})
	}

	// The kept layer's output in the w8a8 session matches an fp64 product
	// of its stored weights to fp32 rounding; the same layer of the all-int8
	// file does not (so the check can tell the two apart).
	sm, sa := open(t, mixed, runtime.W8A8), open(t, all, runtime.W8A8)
	wt, _ := mixed.Tensor(kept)
	out, in := wt.Shape[0], wt.Shape[1]
	w := f32s(wt.Data)
	var b []float32
	if bn, ok := biasName(kept); ok {
		bt, _ := mixed.Tensor(bn)
		b = f32s(bt.Data)
	}
	const rows = 7
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, rows*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	ref := make([]float64, rows*out)
	scale := 0.0
	for i := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = float64(b[o])
			}
			for k := range in {
				s += float64(x[i*in+k]) * float64(w[o*in+k])
			}
			ref[i*out+o] = s
			scale = max(scale, math.Abs(s))
		}
	}
	maxErr := func(s runtime.Session) float64 {
		y, err := native.LinearForward(s, kept, x, rows)
		if err != nil {
			t.Fatal(err)
		}
		e := 0.0
		for i := range y {
			e = max(e, math.Abs(float64(y[i])-ref[i]))
		}
		return e / scale
	}
	t.Logf("layer %s: max error of the output range %.3g in the mixed w8a8 session, %.3g in the all-int8 one", kept, maxErr(sm), maxErr(sa))
	if e := maxErr(sm); e > 1e-5 {
		t.Errorf("kept layer %s in the w8a8 session: max error %.3g of the output range, want fp32 rounding (≤ 1e-5)", kept, e)
	}
	if e := maxErr(sa); e < 1e-3 {
		t.Errorf("layer %s of the all-int8 file: max error %.3g, want int8-sized (≥ 1e-3)", kept, e)
	}

	// Whole encoders: the mixed file's w8a8 session is exactly the all-int8
	// session with the kept layer swapped for its fp32 weights, and differs
	// from the all-int8 session.
	swapped := open(t, all, runtime.W8A8)
	if err := native.RepackF32(swapped, mixed, kept); err != nil {
		t.Fatal(err)
	}
	d := base.Config().EmbedDim
	enc := func(s runtime.Session) []float32 {
		img := make([]float32, cal.Images*d)
		if err := s.EncodeImages(ctx, cal.Pixels, cal.Images, img); err != nil {
			t.Fatal(err)
		}
		txt := make([]float32, len(cal.Texts)*d)
		if err := s.EncodeTexts(ctx, cal.Texts, txt); err != nil {
			t.Fatal(err)
		}
		return append(img, txt...)
	}
	em, ea, es := enc(sm), enc(sa), enc(swapped)
	if !slices.Equal(em, es) {
		t.Errorf("mixed w8a8 session differs from the all-int8 session with %s in fp32", kept)
	}
	if slices.Equal(em, ea) {
		t.Errorf("mixed w8a8 session equals the all-int8 session: %s was quantized", kept)
	}
}

// biasName is the bias of a block's linear weight; the patch embedding and
// the projections have none.
func biasName(weight string) (string, bool) {
	if weight == arch.VisPatch || weight == arch.VisProj || weight == arch.TxtProj {
		return "", false
	}
	return weight[:len(weight)-len("weight")] + "bias", true
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
