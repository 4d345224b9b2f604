package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkGemmCold cycles through twelve layers' weights (85 MB in fp32),
// more than any cache holds, as a model does at batch 1.
func BenchmarkGemmCold(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, n, k := 50, 2304, 768
	a, c := randF(rng, m*k), make([]float32, m*n)
	w := randF(rng, n*k)
	var f32 []*PackedF32
	var i8 []*PackedI8
	q, s := randI8(rng, n*k), randF(rng, n)
	for range 12 {
		f32 = append(f32, PackF32(w, nil, n, k))
		i8 = append(i8, PackI8(q, s, nil, n, k))
	}
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			for _, p := range f32 {
				GemmF32(m, a, k, p, 0, p.Panels(), c, n)
			}
		}
		gops(b, 12*m, n, k, "GFLOP/s")
	})
	b.Run("i8", func(b *testing.B) {
		a8, za := actRows(rng, i8[0], actI8(rng, m*k), m, k, i8[0].ActBytes())
		for b.Loop() {
			for _, p := range i8 {
				GemmI8(m, a8, p.ActBytes(), s, za, p, 0, p.Panels(), c, n)
			}
		}
		gops(b, 12*m, n, k, "GOP/s")
	})
}
