package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tileShape draws one micro-kernel call: k around the kernels' unrolling
// (0 and odd included), mr 1..6, strides with room to spare.
type tileShape struct{ k, mr, lda, ldb, ldc int }

func randTileShape(rng *rand.Rand, maxK int) tileShape {
	s := tileShape{k: rng.IntN(maxK + 1), mr: 1 + rng.IntN(mr)}
	s.lda = s.k + rng.IntN(3)
	s.ldb = Panel + rng.IntN(2)*(1+rng.IntN(5))
	s.ldc = Panel + rng.IntN(3)
	return s
}

func (s tileShape) String() string {
	return fmt.Sprintf("k=%d mr=%d lda=%d ldb=%d ldc=%d", s.k, s.mr, s.lda, s.ldb, s.ldc)
}

// poisonF fills x with NaN: a kernel that reads it into a stored result
// fails the comparison.
func poisonF(x []float32) {
	for i := range x {
		x[i] = float32(math.NaN())
	}
}

// tileA returns mr rows of lda values whose first k are random and whose
// padding is poison; rows past mr are absent.
func tileA(rng *rand.Rand, s tileShape) []float32 {
	a := make([]float32, (s.mr-1)*s.lda+max(s.k, 1))
	poisonF(a)
	for r := range s.mr {
		copy(a[r*s.lda:], randF(rng, s.k))
	}
	return a
}

// checkTile compares the mr×16 tile of got with want within tol(r, j) and
// checks that the rest of each row of ldc kept its sentinel.
func checkTile(t *testing.T, s tileShape, got, want []float32, tol func(r, j int) float64) {
	t.Helper()
	for r := range s.mr {
		for j := range s.ldc {
			g := got[r*s.ldc+j]
			if j >= Panel {
				if g != -7 {
					t.Fatalf("%v: c[%d,%d] = %v written past the tile", s, r, j, g)
				}
				continue
			}
			w := want[r*s.ldc+j]
			if d := math.Abs(float64(g) - float64(w)); !(d <= tol(r, j)) {
				t.Fatalf("%v: c[%d,%d] = %v, pure Go %v", s, r, j, g, w)
			}
		}
	}
}

// sumAbs is Σ_p |A[r, p]·B[p, j]|, which bounds the rounding error of a
// float32 sum of k products by about k·2⁻²³ of it.
func sumAbs(k int, a func(p int) float64, b func(p int) float64) float64 {
	var s float64
	for p := range k {
		s += math.Abs(a(p) * b(p))
	}
	return s
}

const eps32 = 1.0 / (1 << 23)

// TestTileF32 checks the architecture's fp32 micro-kernel against
// tileF32Go call by call, bias zero or not.
func TestTileF32(t *testing.T) {
	if !useAsm {
		t.Skip("no micro-kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := range 2000 {
		s := randTileShape(rng, 40)
		a := tileA(rng, s)
		b := randF(rng, max(s.k, 1)*s.ldb)
		for p := range s.k { // columns past the tile are poison
			poisonF(b[p*s.ldb+Panel : (p+1)*s.ldb])
		}
		bias := zeros[:]
		if trial%2 == 1 {
			bias = randF(rng, Panel)
		}
		got, want := sentinel(s.mr*s.ldc), sentinel(s.mr*s.ldc)
		tileF32Asm(s.k, a, s.lda, b, s.ldb, got, s.ldc, bias, s.mr)
		tileF32Go(s.k, a, s.lda, b, s.ldb, want, s.ldc, bias, s.mr, Panel)
		checkTile(t, s, got, want, func(r, j int) float64 {
			sa := sumAbs(s.k, func(p int) float64 { return float64(a[r*s.lda+p]) }, func(p int) float64 { return float64(b[p*s.ldb+j]) })
			return 2 * float64(s.k+1) * eps32 * (sa + math.Abs(float64(bias[j])))
		})
	}
}

// TestTileW8 checks the weight-only int8 micro-kernel against tileW8Go.
func TestTileW8(t *testing.T) {
	if !useAsm {
		t.Skip("no micro-kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for trial := range 2000 {
		s := randTileShape(rng, 40)
		a := tileA(rng, s)
		b := randI8(rng, max(s.k, 1)*Panel)
		scale, bias := randF(rng, Panel), zeros[:]
		if trial%2 == 1 {
			bias = randF(rng, Panel)
		}
		got, want := sentinel(s.mr*s.ldc), sentinel(s.mr*s.ldc)
		tileW8Asm(s.k, a, s.lda, b, got, s.ldc, scale, bias, s.mr)
		tileW8Go(s.k, a, s.lda, b, want, s.ldc, scale, bias, s.mr, Panel)
		checkTile(t, s, got, want, func(r, j int) float64 {
			sa := sumAbs(s.k, func(p int) float64 { return float64(a[r*s.lda+p]) }, func(p int) float64 { return float64(b[p*Panel+j]) })
			return 2 * float64(s.k+2) * eps32 * (sa*math.Abs(float64(scale[j])) + math.Abs(float64(bias[j])))
		})
	}
}

// tileI8Case is one int8 micro-kernel call: A widened from int8 with
// poison (int16 values no int8 row holds) in its padding, B packed pairs.
func tileI8Case(rng *rand.Rand, kp, mr, lda int, extreme bool) (a []int16, b []int8) {
	a = make([]int16, (mr-1)*lda+max(2*kp, 1))
	for i := range a {
		a[i] = 30000
	}
	for r := range mr {
		for x := range 2 * kp {
			v := int16(rng.IntN(256) - 128)
			if extreme {
				v = -128
			}
			a[r*lda+x] = v
		}
	}
	b = randI8(rng, max(2*kp, 1)*Panel)
	if extreme { // products of ±2¹⁴: sums past 2²⁴, rounded when scaled
		for i := range b {
			b[i] = int8(-128 + min(i%3, 1)*255)
		}
	}
	return a, b
}

// TestTileI8 checks the int8 micro-kernel against tileI8Go bit for bit:
// the sums are exact and the scaling is the same operations.
func TestTileI8(t *testing.T) {
	if !useAsm {
		t.Skip("no micro-kernels on this CPU")
	}
	testTileI8(t, tileI8Asm)
}

func testTileI8(t *testing.T, tile func(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(25, 26))
	for trial := range 2000 {
		s := randTileShape(rng, 40)
		kp := s.k
		if trial%100 == 0 {
			kp = 2000 + rng.IntN(100)
		}
		s.k = 2 * kp
		s.lda = 2*kp + rng.IntN(3)
		a, b := tileI8Case(rng, kp, s.mr, s.lda, trial%3 == 0)
		sa, sb, bias := randF(rng, s.mr), randF(rng, Panel), zeros[:]
		if trial%2 == 1 {
			bias = randF(rng, Panel)
		}
		got, want := sentinel(s.mr*s.ldc), sentinel(s.mr*s.ldc)
		tile(kp, a, s.lda, b, got, s.ldc, sa, sb, bias, s.mr)
		tileI8Go(kp, a, s.lda, b, want, s.ldc, sa, sb, bias, s.mr, Panel)
		checkTile(t, s, got, want, func(r, j int) float64 { return 0 })
	}
}

// TestQuantBoundaries checks the activation quantizer's kernels against
// quantGo bit for bit where rounding is closest to going either way: x·inv
// within a few ulps of a half-integer, both signs, any inv.
func TestQuantBoundaries(t *testing.T) {
	if !useAsm {
		t.Skip("no vector kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(29, 30))
	for trial := range 3000 {
		inv := float32(math.Exp(rng.NormFloat64() * 3))
		x := make([]float32, 4+rng.IntN(40))
		for i := range x {
			h := float32(rng.IntN(256)-128) + 0.5
			v := h / inv
			for range rng.IntN(4) {
				v = math.Nextafter32(v, float32(math.Inf(2*rng.IntN(2)-1)))
			}
			x[i] = v
		}
		got, want := make([]int16, len(x)), make([]int16, len(x))
		quantAsm(x, inv, got)
		quantGo(x, inv, want)
		for i := range x {
			if got[i] != want[i] {
				t.Fatalf("trial %d: x = %v, inv = %v: q = %d, pure Go %d", trial, x[i], inv, got[i], want[i])
			}
		}
		if g, w := maxAbsAsm(x), maxAbsGo(x); g != w {
			t.Fatalf("trial %d: max |x| = %v, pure Go %v", trial, g, w)
		}
	}
}
