package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are ViT-B/32's layers at batch 1 (50 tokens): m, n, k.
var benchShapes = [][3]int{{50, 2304, 768}, {50, 768, 3072}}

func gops(b *testing.B, m, n, k int, unit string) {
	b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, unit)
}

// BenchmarkGemm measures the packed micro-kernels on one core:
// go test -run x -bench Gemm ./runtime/kernels/
func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range benchShapes {
		m, n, k := sh[0], sh[1], sh[2]
		a, w, c := randF(rng, m*k), randF(rng, n*k), make([]float32, m*n)
		q, s := randI8(rng, n*k), randF(rng, n)
		name := fmt.Sprintf("%dx%dx%d", m, n, k)
		b.Run("f32/"+name, func(b *testing.B) {
			p := PackF32(w, nil, n, k)
			for b.Loop() {
				GemmF32(m, a, k, p, 0, p.Panels(), c, n)
			}
			gops(b, m, n, k, "GFLOP/s")
		})
		b.Run("w8/"+name, func(b *testing.B) {
			p := PackW8(q, s, nil, n, k)
			for b.Loop() {
				GemmW8(m, a, k, p, 0, p.Panels(), c, n)
			}
			gops(b, m, n, k, "GFLOP/s")
		})
		b.Run("i8/"+name, func(b *testing.B) {
			p := PackI8(q, s, nil, n, k)
			a8, za := actRows(rng, p, actI8(rng, m*k), m, k, p.ActBytes())
			for b.Loop() {
				GemmI8(m, a8, p.ActBytes(), s, za, p, 0, p.Panels(), c, n)
			}
			gops(b, m, n, k, "GOP/s")
		})
	}
}

// BenchmarkTileL1 measures the f32 micro-kernel alone, operands in L1: the
// ceiling the packed products approach when memory keeps up.
func BenchmarkTileL1(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	k := 256
	a, w, c := randF(rng, mr*k), randF(rng, Panel*k), make([]float32, mr*Panel)
	p := PackF32(w, nil, Panel, k)
	for b.Loop() {
		GemmF32(mr, a, k, p, 0, 1, c, Panel)
	}
	gops(b, mr, Panel, k, "GFLOP/s")
}

// BenchmarkTileL1I8 is BenchmarkTileL1 for the int8 micro-kernel.
func BenchmarkTileL1I8(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	k := 512
	q, s := randI8(rng, Panel*k), randF(rng, Panel)
	p := PackI8(q, s, nil, Panel, k)
	a, za := actRows(rng, p, actI8(rng, mr*k), mr, k, p.ActBytes())
	c := make([]float32, mr*Panel)
	for b.Loop() {
		GemmI8(mr, a, p.ActBytes(), s, za, p, 0, 1, c, Panel)
	}
	gops(b, mr, Panel, k, "GOP/s")
}
