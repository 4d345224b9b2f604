// Package backendtest is the conformance suite every backend runs: the same
// deterministic images and texts go through the backend under test and the
// native engine, and the embeddings must agree within per-case tolerances.
package backendtest

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// Case is one model and precision to check.
type Case struct {
	Name      string
	Weights   runtime.Weights
	Precision runtime.Precision
	// MinCosine is the per-embedding cosine floor against the native
	// engine at fp32; 0 picks 0.9999 for fp32 and 0.99 otherwise.
	MinCosine float64
	// MinTextCosine overrides MinCosine for texts when non-zero
	// (int8 text towers are usually a little less exact).
	MinTextCosine float64
	Images        int // default 3
}

// Run checks backend b on every case. Precisions the backend does not
// support are skipped with a log line, as callers fall back in production.
func Run(t *testing.T, b runtime.Backend, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name+"/"+string(c.Precision), func(t *testing.T) {
			if !b.Capabilities().Supports(c.Precision) {
				t.Skipf("%s does not support %s", b.Name(), c.Precision)
			}
			runCase(t, b, c)
		})
	}
}

func runCase(t *testing.T, b runtime.Backend, c Case) {
	ctx := context.Background()
	cfg := c.Weights.Config()
	minImg := c.MinCosine
	if minImg == 0 {
		minImg = 0.99
		if c.Precision == runtime.FP32 || c.Precision == "" {
			minImg = 0.9999
		}
	}
	minTxt := c.MinTextCosine
	if minTxt == 0 {
		minTxt = minImg
	}
	got, err := b.Open(ctx, c.Weights, runtime.Options{Precision: c.Precision})
	if errors.Is(err, runtime.ErrNotSupported) {
		t.Skipf("%s: %v", b.Name(), err)
	}
	if err != nil {
		t.Fatalf("%s: open: %v", b.Name(), err)
	}
	defer got.Close()
	ref, err := native.Backend{}.Open(ctx, c.Weights, runtime.Options{Precision: runtime.FP32})
	if err != nil {
		t.Fatalf("native: open: %v", err)
	}
	defer ref.Close()

	n := c.Images
	if n == 0 {
		n = 3
	}
	pixels := Images(cfg.ImageSize, n, 1)
	e := cfg.EmbedDim
	a, r := make([]float32, n*e), make([]float32, n*e)
	if err := got.EncodeImages(ctx, pixels, n, a); err != nil {
		t.Fatalf("%s: EncodeImages: %v", b.Name(), err)
	}
	if err := ref.EncodeImages(ctx, pixels, n, r); err != nil {
		t.Fatalf("native: EncodeImages: %v", err)
	}
	for i := range n {
		compare(t, "image", i, a[i*e:(i+1)*e], r[i*e:(i+1)*e], minImg)
	}

	texts := Texts(cfg.VocabSize, cfg.ContextLen, 2)
	a, r = make([]float32, len(texts)*e), make([]float32, len(texts)*e)
	if err := got.EncodeTexts(ctx, texts, a); err != nil {
		t.Fatalf("%s: EncodeTexts: %v", b.Name(), err)
	}
	if err := ref.EncodeTexts(ctx, texts, r); err != nil {
		t.Fatalf("native: EncodeTexts: %v", err)
	}
	for i := range texts {
		compare(t, "text", i, a[i*e:(i+1)*e], r[i*e:(i+1)*e], minTxt)
	}
}

func compare(t *testing.T, what string, i int, got, want []float32, minCos float64) {
	t.Helper()
	c := Cosine(got, want)
	t.Logf("%s %d: cosine %.6f", what, i, c)
	if !(c >= minCos) {
		t.Errorf("%s %d: cosine %.6f against native fp32, want ≥ %v", what, i, c, minCos)
	}
}

// Cosine is the cosine similarity of two vectors (NaN-safe: NaN fails any ≥).
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// Images returns n deterministic normalised CHW images: smooth gradients
// plus noise, so patches differ the way real pictures do.
func Images(size, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x1a6e5))
	px := make([]float32, n*3*size*size)
	for img := range n {
		fx, fy := rng.Float64()*6, rng.Float64()*6
		for c := range 3 {
			for y := range size {
				for x := range size {
					v := math.Sin(fx*float64(x)/float64(size)+float64(c)) + math.Cos(fy*float64(y)/float64(size))
					px[((img*3+c)*size+y)*size+x] = float32(v + 0.3*rng.NormFloat64())
				}
			}
		}
	}
	return px
}

// Texts returns deterministic token sequences of several lengths that start
// with vocab-2 and end with vocab-1 (CLIP's start and end tokens).
func Texts(vocab, ctxLen int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 0x7e47))
	var out [][]int32
	for _, n := range []int{2, 5, 12, ctxLen} {
		if n > ctxLen {
			continue
		}
		ids := make([]int32, n)
		ids[0] = int32(vocab - 2)
		for i := 1; i < n-1; i++ {
			ids[i] = int32(rng.IntN(vocab - 2))
		}
		ids[n-1] = int32(vocab - 1)
		out = append(out, ids)
	}
	return out
}
