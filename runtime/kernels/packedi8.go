package kernels

import (
	"math"
	"unsafe"
)

// PackedI8 is an int8 [N, K] weight with per-row scales and a bias, packed
// for int8×int8 products with exact int32 sums, in one of two layouts fixed
// when it is packed:
//
//   - pairs (NEON and the pure-Go path): K is split into pairs and each panel
//     stores, per pair, Panel columns × 2 values, the operand layout of
//     SDOT/SMLAL-style pairwise products. Activations are symmetric int8
//     widened to int16 pairs (QuantizeI16).
//   - quads (AVX2): K is split into fours, Panel columns × 4 values per quad,
//     the operand layout of VPMADDUBSW. Activations are unsigned with a zero
//     point (asymmetric) in [0, 128], so that VPMADDUBSW's int16 pair sums
//     (at most 2·128·128) cannot saturate with any int8 weight. Those 129
//     levels span [min, max] of the row rather than ±max|x|, so one-sided
//     rows (GELU outputs) keep the resolution of symmetric int8, and weights
//     stay exactly as stored. (Holding the weights in 7 bits instead, as ONNX
//     Runtime's reduce_range does, measured 1.5–2× further from fp32 on the
//     shipped models; docs/architecture.md has the figures.)
//
// Callers quantize activation rows with QuantizeAct and size them with
// ActBytes, so they never depend on the layout.
type PackedI8 struct {
	N, K   int
	quads  bool
	q      []int8 // [panel][PairLen(K)/2][Panel][2] or [panel][QuadLen(K)/4][Panel][4]
	scale  []float32
	bias   []float32
	colsum []int32 // quads: Σ_k q[j, k] per column, for the zero point
}

// quadLayout selects the quad layout for weights packed from now on: set
// where the AVX2 kernels run; tests flip it to cover both layouts.
var quadLayout = false

// Int8Activations names the w8a8 activation arithmetic of weights packed
// now: SymmetricInt8 (NEON, pure Go) or AsymmetricU8 (AVX2). GODEBUG=
// cpu.avx2=off selects the symmetric one on amd64.
func Int8Activations() string {
	if quadLayout {
		return AsymmetricU8
	}
	return SymmetricInt8
}

// The activation arithmetics of Int8Activations.
const (
	SymmetricInt8 = "int8 symmetric per token (max|x|/127)"
	AsymmetricU8  = "uint8 [0,128] per token with zero point"
)

// PairLen is K rounded up to even: the row length of widened activations.
func PairLen(k int) int { return (k + 1) &^ 1 }

// QuadLen is K rounded up to a multiple of four: the row length of uint8
// activations in the quad layout.
func QuadLen(k int) int { return (k + 3) &^ 3 }

// PackI8 packs q [n, k] with scales [n] and bias [n] (nil for none).
func PackI8(q []int8, scale, bias []float32, n, k int) *PackedI8 {
	p := &PackedI8{N: n, K: k, quads: quadLayout, scale: padBias(scale, n), bias: padBias(bias, n)}
	step, kl := p.group()
	p.q = make([]int8, panels(n)*kl*Panel)
	if p.quads {
		p.colsum = make([]int32, panels(n)*Panel)
	}
	for j := range n {
		dst := p.q[(j/Panel)*kl*Panel+(j%Panel)*step:]
		var sum int32
		for x, v := range q[j*k : (j+1)*k] {
			dst[(x/step)*step*Panel+x%step] = v
			sum += int32(v)
		}
		if p.quads {
			p.colsum[j] = sum
		}
	}
	return p
}

// group is the number of consecutive k values a column stores together in
// p's layout (2 or 4), and K rounded up to a multiple of it.
func (p *PackedI8) group() (step, kl int) {
	if p.quads {
		return 4, QuadLen(p.K)
	}
	return 2, PairLen(p.K)
}

// Panels is the number of column panels.
func (p *PackedI8) Panels() int { return panels(p.N) }

// ActBytes is the length in bytes of one activation row for this weight.
func (p *PackedI8) ActBytes() int {
	if p.quads {
		return QuadLen(p.K)
	}
	return 2 * PairLen(p.K)
}

// QuantizeAct quantizes the activation row x (length K) into row
// (ActBytes() long, 2-byte aligned) and returns its scale and zero point:
// x ≈ (q − zero)·scale.
func (p *PackedI8) QuantizeAct(x []float32, row []byte) (scale float32, zero int32) {
	if !p.quads {
		return QuantizeI16(x, i16(row[:2*PairLen(len(x))])), 0
	}
	return QuantizeU8(x, row[:QuadLen(len(x))])
}

// i16 views an even-length byte slice as int16 values.
func i16(b []byte) []int16 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// GemmI8 computes C = ((A − za)·Qᵀ) ⊙ (sa ⊗ scale) + bias for the columns of
// panels [p0, p1) with exact int32 sums: A is m rows of lda ≥ p.ActBytes()
// bytes from p.QuantizeAct, with its per-row scales sa and zero points za.
func GemmI8(m int, a []byte, lda int, sa []float32, za []int32, p *PackedI8, p0, p1 int, c []float32, ldc int) {
	if m == 0 || p0 >= p1 {
		return
	}
	if p.K == 0 {
		// An empty product: only the bias remains.
		for i := range m {
			for j := p0 * Panel; j < min(p1*Panel, p.N); j++ {
				c[i*ldc+j] = p.bias[j]
			}
		}
		return
	}
	kb := p.ActBytes()
	_ = a[(m-1)*lda+kb-1]
	_ = sa[m-1]
	_ = za[m-1]
	_ = c[(m-1)*ldc+min(p1*Panel, p.N)-1]
	for pn := p0; pn < p1; pn++ {
		j0 := pn * Panel
		nc := min(Panel, p.N-j0)
		for i, r := 0, 0; i < m; i += r {
			r = tileRows(m - i)
			if nc == Panel || !useAsm {
				p.tile(pn, a[i*lda:], lda, sa[i:], za[i:], c[i*ldc+j0:], ldc, r, nc)
				continue
			}
			// The kernels store whole panels: the last, partial one goes
			// through a scratch tile.
			var t [mr * Panel]float32
			p.tile(pn, a[i*lda:], lda, sa[i:], za[i:], t[:], Panel, r, Panel)
			for q := range r {
				copy(c[(i+q)*ldc+j0:(i+q)*ldc+j0+nc], t[q*Panel:])
			}
		}
	}
}

// tile computes rows [0, r) and columns [0, nc) of panel pn into c.
func (p *PackedI8) tile(pn int, a []byte, lda int, sa []float32, za []int32, c []float32, ldc, r, nc int) {
	j0 := pn * Panel
	sb, bias := p.scale[j0:j0+Panel], p.bias[j0:j0+Panel]
	step, kl := p.group()
	b := p.q[pn*kl*Panel : (pn+1)*kl*Panel]
	if p.quads {
		cs := p.colsum[j0 : j0+Panel]
		if useAsm {
			tileU8Asm(kl/step, a, lda, b, c, ldc, sa, za, sb, cs, bias, r)
		} else {
			tileU8Go(kl/step, a, lda, b, c, ldc, sa, za, sb, cs, bias, r, nc)
		}
		return
	}
	a16 := i16(a[:(r-1)*lda+2*kl])
	if useAsm {
		tileI8Asm(kl/step, a16, lda/2, b, c, ldc, sa, sb, bias, r)
	} else {
		tileI8Go(kl/step, a16, lda/2, b, c, ldc, sa, sb, bias, r, nc)
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

// tileU8Go is the reference of ugemm6x16: uint8 rows with zero points za
// against the quad layout.
func tileU8Go(kq int, a []byte, lda int, b []int8, c []float32, ldc int, sa []float32, za []int32, sb []float32, cs []int32, bias []float32, mr, nc int) {
	for r := range mr {
		var acc [Panel]int32
		s := acc[:nc]
		row := a[r*lda : r*lda+4*kq]
		for x := range kq {
			a0, a1, a2, a3 := int32(row[4*x]), int32(row[4*x+1]), int32(row[4*x+2]), int32(row[4*x+3])
			bp := b[x*4*Panel : x*4*Panel+4*nc]
			for j := range s {
				s[j] += a0*int32(bp[4*j]) + a1*int32(bp[4*j+1]) + a2*int32(bp[4*j+2]) + a3*int32(bp[4*j+3])
			}
		}
		for j, v := range s {
			c[r*ldc+j] = float32(v-za[r]*cs[j])*sa[r]*sb[j] + bias[j]
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
