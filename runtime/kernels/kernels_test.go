package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func refNT(m, n, k int, a, b, bias []float32) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[j*k+p])
			}
			if bias != nil {
				s += float64(bias[j])
			}
			c[i*n+j] = s
		}
	}
	return c
}

func randF(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// Property test on random shapes, odd sizes and tails included.
func TestSgemmNT(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		m, n, k := 1+rng.IntN(13), 1+rng.IntN(17), 1+rng.IntN(70)
		a, b := randF(rng, m*k), randF(rng, n*k)
		var bias []float32
		if trial%2 == 0 {
			bias = randF(rng, n)
		}
		want := refNT(m, n, k, a, b, bias)
		for name, f := range map[string]func(m, k, n0, n1 int, a, b, c []float32, ldc int, bias []float32){
			"dispatch": SgemmNT, "go": sgemmNTGo,
		} {
			c := make([]float32, m*n)
			n0 := rng.IntN(n)
			f(m, k, 0, n0, a, b, c, n, bias)
			f(m, k, n0, n, a, b, c, n, bias)
			for i := range c {
				if d := math.Abs(float64(c[i]) - want[i]); d > 1e-4*(1+math.Abs(want[i]))*math.Sqrt(float64(k)) {
					t.Fatalf("%s m=%d n=%d k=%d: c[%d] = %v, want %v", name, m, n, k, i, c[i], want[i])
				}
			}
		}
		if d, g := float64(Dot(a[:k], b[:k])), float64(dotGo(a[:k], b[:k])); math.Abs(d-g) > 1e-4*(1+math.Abs(g))*math.Sqrt(float64(k)) {
			t.Fatalf("Dot k=%d: %v, pure Go %v", k, d, g)
		}
	}
}

func TestGemmI8NT(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200 {
		m, n, k := 1+rng.IntN(9), 1+rng.IntN(11), 1+rng.IntN(300)
		a, b := make([]int8, m*k), make([]int8, n*k)
		for i := range a {
			a[i] = int8(rng.IntN(255) - 127)
		}
		for i := range b {
			b[i] = int8(rng.IntN(255) - 127)
		}
		sa, sb, bias := randF(rng, m), randF(rng, n), randF(rng, n)
		c := make([]float32, m*n)
		GemmI8NT(m, k, 0, n, a, sa, b, sb, c, n, bias)
		for i := range m {
			for j := range n {
				var s int64
				for p := range k {
					s += int64(a[i*k+p]) * int64(b[j*k+p])
				}
				want := float64(s)*float64(sa[i])*float64(sb[j]) + float64(bias[j])
				if d := math.Abs(float64(c[i*n+j]) - want); d > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("m=%d n=%d k=%d (%d,%d): got %v want %v", m, n, k, i, j, c[i*n+j], want)
				}
			}
		}
	}
}

func BenchmarkSgemmNT768(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, n, k := 50, 768, 768
	a, w, c := randF(rng, m*k), randF(rng, n*k), make([]float32, m*n)
	b.SetBytes(0)
	for b.Loop() {
		SgemmNT(m, k, 0, n, a, w, c, n, nil)
	}
	b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemmI8NT768(b *testing.B) {
	m, n, k := 50, 768, 768
	a, w, c := make([]int8, m*k), make([]int8, n*k), make([]float32, m*n)
	sa, sb := make([]float32, m), make([]float32, n)
	for b.Loop() {
		GemmI8NT(m, k, 0, n, a, sa, w, sb, c, n, nil)
	}
	b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
}
