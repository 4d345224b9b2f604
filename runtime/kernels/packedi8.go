package kernels

import "math"

// PackedI8 is an int8 [N, K] weight with per-row scales and a bias, packed
// for int8×int8 products: K is split into pairs and each panel stores, per
// pair, Panel columns × 2 values, the operand layout of VPMADDWD and SDOT-
// style pairwise multiply-adds.
type PackedI8 struct {
	N, K  int
	q     []int8 // [panel][PairLen(K)/2][Panel][2]
	scale []float32
	bias  []float32
}

// PairLen is K rounded up to even: the row length of widened activations.
func PairLen(k int) int { return (k + 1) &^ 1 }

// PackI8 packs q [n, k] with scales [n] and bias [n] (nil for none).
func PackI8(q []int8, scale, bias []float32, n, k int) *PackedI8 {
	kp := PairLen(k)
	p := &PackedI8{N: n, K: k, q: make([]int8, panels(n)*kp*Panel), scale: padBias(scale, n), bias: padBias(bias, n)}
	for j := range n {
		dst := p.q[(j/Panel)*kp*Panel+(j%Panel)*2:]
		for x, v := range q[j*k : (j+1)*k] {
			dst[(x/2)*2*Panel+x%2] = v
		}
	}
	return p
}

// Panels is the number of column panels.
func (p *PackedI8) Panels() int { return panels(p.N) }

// WidenI8 copies int8 activations into an int16 row of PairLen(len(src))
// values, zero-padded.
func WidenI8(dst []int16, src []int8) {
	dst = dst[:PairLen(len(src))]
	for i, v := range src {
		dst[i] = int16(v)
	}
	if len(src)%2 == 1 {
		dst[len(src)] = 0
	}
}

// GemmI8 computes C = (A·Qᵀ) ⊙ (sa ⊗ scale) + bias for the columns of panels
// [p0, p1) with exact int32 sums: A is [m, lda] int16 holding int8 values
// (WidenI8), PairLen(K) ≤ lda, with per-row scales sa.
func GemmI8(m int, a []int16, lda int, sa []float32, p *PackedI8, p0, p1 int, c []float32, ldc int) {
	if m == 0 || p0 >= p1 {
		return
	}
	kp := PairLen(p.K)
	if kp == 0 {
		// An empty product: only the bias remains.
		for i := range m {
			for j := p0 * Panel; j < min(p1*Panel, p.N); j++ {
				c[i*ldc+j] = p.bias[j]
			}
		}
		return
	}
	_ = a[(m-1)*lda+kp-1]
	_ = sa[m-1]
	_ = c[(m-1)*ldc+min(p1*Panel, p.N)-1]
	for pn := p0; pn < p1; pn++ {
		j0 := pn * Panel
		nc := min(Panel, p.N-j0)
		b := p.q[pn*kp*Panel : (pn+1)*kp*Panel]
		sb, bias := p.scale[j0:j0+Panel], p.bias[j0:j0+Panel]
		for i, r := 0, 0; i < m; i += r {
			r = tileRows(m - i)
			switch {
			case !useAsm:
				tileI8Go(kp/2, a[i*lda:], lda, b, c[i*ldc+j0:], ldc, sa[i:], sb, bias, r, nc)
			case nc == Panel:
				tileI8Asm(kp/2, a[i*lda:], lda, b, c[i*ldc+j0:], ldc, sa[i:], sb, bias, r)
			default:
				var t [mr * Panel]float32
				tileI8Asm(kp/2, a[i*lda:], lda, b, t[:], Panel, sa[i:], sb, bias, r)
				for q := range r {
					copy(c[(i+q)*ldc+j0:(i+q)*ldc+j0+nc], t[q*Panel:])
				}
			}
		}
	}
}

func tileI8Go(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr, nc int) {
	for r := range mr {
		var acc [Panel]int32
		s := acc[:nc]
		row := a[r*lda : r*lda+2*kp]
		for x := range kp {
			a0, a1 := int32(row[2*x]), int32(row[2*x+1])
			bp := b[x*2*Panel : x*2*Panel+2*nc]
			for j := range s {
				s[j] += a0*int32(bp[2*j]) + a1*int32(bp[2*j+1])
			}
		}
		for j, v := range s {
			c[r*ldc+j] = float32(v)*sa[r]*sb[j] + bias[j]
		}
	}
}

// ExpShift sets x[i] = exp(x[i] − m) and returns the sum: the exponentials
// of a softmax, whose max m keeps every argument ≤ 0. The vector kernels are
// accurate to about 1e-7 relative for arguments ≥ −87 and flush below.
func ExpShift(x []float32, m float32) float32 {
	if useAsm {
		return expShiftAsm(x, m)
	}
	return expShiftGo(x, m)
}

func expShiftGo(x []float32, m float32) float32 {
	var s float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		s += e
	}
	return s
}

// QuickGELU sets x[i] = x[i]·σ(1.702·x[i]), CLIP's activation.
func QuickGELU(x []float32) {
	if useAsm {
		quickGELUAsm(x)
		return
	}
	quickGELUGo(x)
}

func quickGELUGo(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + float32(math.Exp(float64(-1.702*v))))
	}
}
