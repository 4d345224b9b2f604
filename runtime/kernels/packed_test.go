package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// impls runs f once with the pure-Go tiles and, where the CPU has them,
// once with the assembly kernels.
func impls(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAsm
	defer func() { useAsm = saved }()
	names := []string{"go"}
	if saved {
		names = append(names, "asm")
	}
	for _, name := range names {
		useAsm = name == "asm"
		t.Run(name, f)
	}
}

func randI8(rng *rand.Rand, n int) []int8 {
	x := make([]int8, n)
	for i := range x {
		x[i] = int8(rng.IntN(256) - 128) // −128 included: files may hold it
	}
	return x
}

// shape draws odd sizes and tails around the 6-row and 16-column tiles.
type shape struct{ m, n, k, lda, ldc, p0, p1 int }

func randShape(rng *rand.Rand, maxK int) shape {
	s := shape{m: 1 + rng.IntN(20), n: 1 + rng.IntN(50), k: 1 + rng.IntN(maxK)}
	s.lda, s.ldc = s.k+rng.IntN(3), s.n+rng.IntN(3)
	np := panels(s.n)
	s.p0 = rng.IntN(np)
	s.p1 = s.p0 + 1 + rng.IntN(np-s.p0)
	return s
}

func (s shape) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d lda=%d ldc=%d panels [%d,%d)", s.m, s.n, s.k, s.lda, s.ldc, s.p0, s.p1)
}

// checkCols compares the columns of panels [p0, p1) with want and checks
// that every other element of c kept its sentinel.
func checkCols(t *testing.T, s shape, c []float32, want func(i, j int) float64, tol float64) {
	t.Helper()
	for i := range s.m {
		for j := range s.ldc {
			got := float64(c[i*s.ldc+j])
			if j < s.n && j >= s.p0*Panel && j < s.p1*Panel {
				w := want(i, j)
				if math.Abs(got-w) > tol*(1+math.Abs(w)) {
					t.Fatalf("%v: c[%d,%d] = %v, want %v", s, i, j, got, w)
				}
			} else if got != -7 {
				t.Fatalf("%v: c[%d,%d] = %v outside the product was written", s, i, j, got)
			}
		}
	}
}

func sentinel(n int) []float32 {
	c := make([]float32, n)
	for i := range c {
		c[i] = -7
	}
	return c
}

func TestGemmF32(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for trial := range 300 {
			s := randShape(rng, 90)
			a, w := randF(rng, s.m*s.lda), randF(rng, s.n*s.k)
			var bias []float32
			if trial%2 == 0 {
				bias = randF(rng, s.n)
			}
			c := sentinel(s.m * s.ldc)
			GemmF32(s.m, a, s.lda, PackF32(w, bias, s.n, s.k), s.p0, s.p1, c, s.ldc)
			checkCols(t, s, c, func(i, j int) float64 {
				var v float64
				for p := range s.k {
					v += float64(a[i*s.lda+p]) * float64(w[j*s.k+p])
				}
				if bias != nil {
					v += float64(bias[j])
				}
				return v
			}, 1e-5*math.Sqrt(float64(s.k)))
		}
	})
}

func TestGemmW8(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for trial := range 300 {
			s := randShape(rng, 90)
			a, q, sc := randF(rng, s.m*s.lda), randI8(rng, s.n*s.k), randF(rng, s.n)
			var bias []float32
			if trial%2 == 1 {
				bias = randF(rng, s.n)
			}
			c := sentinel(s.m * s.ldc)
			GemmW8(s.m, a, s.lda, PackW8(q, sc, bias, s.n, s.k), s.p0, s.p1, c, s.ldc)
			checkCols(t, s, c, func(i, j int) float64 {
				var v float64
				for p := range s.k {
					v += float64(a[i*s.lda+p]) * float64(q[j*s.k+p])
				}
				v *= float64(sc[j])
				if bias != nil {
					v += float64(bias[j])
				}
				return v
			}, 1e-5*math.Sqrt(float64(s.k))*128)
		}
	})
}

// layouts runs f for both int8 weight layouts, each with every tile
// implementation (impls).
func layouts(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := quadLayout
	defer func() { quadLayout = saved }()
	for _, quads := range []bool{false, true} {
		quadLayout = quads
		name := "pairs"
		if quads {
			name = "quads"
		}
		t.Run(name, func(t *testing.T) { impls(t, f) })
	}
}

// actRows lays the int8 activations a8 [m, k] out as p's rows of lda bytes
// with their zero points, exactly: pairs widen to int16; quads, whose codes
// span [0, actTop], shift a8 (which must lie in [−64, 64]) by 64. Padding
// and the bytes past each row are random: they must not matter.
func actRows(rng *rand.Rand, p *PackedI8, a8 []int8, m, k, lda int) ([]byte, []int32) {
	a := make([]byte, m*lda)
	for i := range a {
		a[i] = byte(rng.IntN(256))
	}
	za := make([]int32, m)
	for i := range m {
		row, src := a[i*lda:], a8[i*k:(i+1)*k]
		if p.quads {
			for x, v := range src {
				row[x] = byte(int(v) + actTop/2)
			}
			za[i] = actTop / 2
			continue
		}
		widenI8(i16(row[:2*PairLen(k)]), src)
	}
	return a, za
}

// unpack returns the weights p holds, from its panels.
func (p *PackedI8) unpack() []int8 {
	step, kl := p.group()
	q := make([]int8, p.N*p.K)
	for j := range p.N {
		src := p.q[(j/Panel)*kl*Panel+(j%Panel)*step:]
		for x := range p.K {
			q[j*p.K+x] = src[(x/step)*step*Panel+x%step]
		}
	}
	return q
}

// TestGemmI8 checks the int8 product against GemmI8NT, the pure-Go
// reference, and against exact int64 sums; k reaches past 4096 so that the
// int32 sums grow large.
func TestGemmI8(t *testing.T) {
	layouts(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for trial := range 200 {
			s := randShape(rng, 300)
			if trial%50 == 0 {
				s.k = 4000 + rng.IntN(200)
			}
			a8, q := randI8(rng, s.m*s.k), randI8(rng, s.n*s.k)
			if trial%3 == 0 { // extremes: each pair of k at the largest products
				for i := range a8 {
					a8[i] = -128
				}
				for i := range q {
					q[i] = int8(-128 + ((i%s.k)/2%2)*255)
				}
			}
			if quadLayout { // quad codes span [0, 128]: a8 in [−64, 64]
				for i, v := range a8 {
					a8[i] = int8(-int(v) * 64 / 128)
				}
			}
			sa, sb, bias := randF(rng, s.m), randF(rng, s.n), randF(rng, s.n)
			p := PackI8(q, sb, bias, s.n, s.k)
			lda := p.ActBytes() + 2*rng.IntN(3)
			a, za := actRows(rng, p, a8, s.m, s.k, lda)
			if trial%3 == 0 && quadLayout && a[0] != actTop {
				t.Fatalf("extreme trial: code %d, want %d", a[0], actTop)
			}
			c := sentinel(s.m * s.ldc)
			GemmI8(s.m, a, lda, sa, za, p, s.p0, s.p1, c, s.ldc)
			if string(i8bytes(p.unpack())) != string(i8bytes(q)) {
				t.Fatalf("%v: packed weights differ from the given ones", s)
			}
			ref := make([]float32, s.m*s.n)
			GemmI8NT(s.m, s.k, 0, s.n, a8, sa, q, sb, ref, s.n, bias)
			checkCols(t, s, c, func(i, j int) float64 {
				var v int64
				for p := range s.k {
					v += int64(a8[i*s.k+p]) * int64(q[j*s.k+p])
				}
				if got, ref := c[i*s.ldc+j], ref[i*s.n+j]; got != ref {
					t.Fatalf("%v: c[%d,%d] = %v, GemmI8NT %v", s, i, j, got, ref)
				}
				return float64(v)*float64(sa[i])*float64(sb[j]) + float64(bias[j])
			}, 1e-5)
		}
	})
}

func TestGemmNN(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for range 300 {
			m, n, k := 1+rng.IntN(20), 1+rng.IntN(70), 1+rng.IntN(80)
			lda, ldb, ldc := k+rng.IntN(3), n+rng.IntN(3), n+rng.IntN(3)
			a, b := randF(rng, m*lda), randF(rng, k*ldb)
			c := sentinel(m * ldc)
			GemmNN(m, n, k, a, lda, b, ldb, c, ldc)
			s := shape{m: m, n: n, k: k, lda: lda, ldc: ldc, p0: 0, p1: panels(n)}
			checkCols(t, s, c, func(i, j int) float64 {
				var v float64
				for p := range k {
					v += float64(a[i*lda+p]) * float64(b[p*ldb+j])
				}
				return v
			}, 1e-5*math.Sqrt(float64(k)))
		}
	})
}

func TestExpShift(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for range 200 {
			x := randF(rng, rng.IntN(70))
			for i := range x {
				x[i] *= 20
			}
			m := float32(rng.NormFloat64() * 5)
			orig := append([]float32(nil), x...)
			sum := ExpShift(x, m)
			var want float64
			for i, v := range orig {
				e := math.Exp(float64(v - m)) // the kernels subtract in float32
				want += e
				if float64(v-m) < -87 {
					continue // flushed
				}
				if d := math.Abs(float64(x[i]) - e); d > 1e-6*e {
					t.Fatalf("exp(%v) = %v, want %v", v-m, x[i], e)
				}
			}
			if d := math.Abs(float64(sum) - want); d > 1e-5*want+1e-30 {
				t.Fatalf("sum %v, want %v", sum, want)
			}
		}
	})
}

func TestQuickGELU(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		for range 200 {
			x := randF(rng, rng.IntN(70))
			for i := range x {
				x[i] *= float32(1 + rng.IntN(40))
			}
			orig := append([]float32(nil), x...)
			QuickGELU(x)
			for i, v := range orig {
				want := float64(v) / (1 + math.Exp(float64(-1.702*v))) // float32 argument, as the kernels
				if d := math.Abs(float64(x[i]) - want); d > 1e-6*math.Abs(want)+1e-30 {
					t.Fatalf("QuickGELU(%v) = %v, want %v", v, x[i], want)
				}
			}
		}
	})
}

func i8bytes(q []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(q))), len(q))
}

// actI8 draws activations in [−64, 64], which both layouts represent.
func actI8(rng *rand.Rand, n int) []int8 {
	x := make([]int8, n)
	for i := range x {
		x[i] = int8(rng.IntN(129) - 64)
	}
	return x
}

// widenI8 copies int8 activations into an int16 row of PairLen(len(src))
// values, zero-padded.
func widenI8(dst []int16, src []int8) {
	dst = dst[:PairLen(len(src))]
	for i, v := range src {
		dst[i] = int16(v)
	}
	if len(src)%2 == 1 {
		dst[len(src)] = 0
	}
}
