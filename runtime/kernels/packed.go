package kernels

// Packed weights: a linear layer's [n, k] weight is rearranged once at load
// into panels of Panel output columns stored k-major, so the micro-kernels
// read each panel front to back and broadcast activations against it. The
// last panel is padded with zero columns (and zero bias).

// Panel is the number of output columns in one packed panel.
const Panel = 16

// mr is the number of rows of A one micro-kernel call covers.
const mr = 6

// tileRows is the height of the next row tile when left rows remain: six,
// except that seven or eight left split into fours where the kernels have a
// four-row loop (rows4), so ViT-B/32's 50 tokens run as 6·7 + 4 + 4 rows
// instead of 6·9 with four computed and dropped.
func tileRows(left int) int {
	if rows4 && useAsm && (left == 7 || left == 8) {
		return 4
	}
	return min(mr, left)
}

// useAsm is true where the architecture's micro-kernels run; tests clear it
// to exercise the pure-Go tiles.
var useAsm = false

// zeros is the bias of products without one.
var zeros [Panel]float32

func panels(n int) int { return (n + Panel - 1) / Panel }

// padBias returns bias (or zeros) padded to a whole number of panels.
func padBias(bias []float32, n int) []float32 {
	out := make([]float32, panels(n)*Panel)
	copy(out, bias[:min(len(bias), n)])
	return out
}

// PackedF32 is a float32 [N, K] weight with its bias, in panels.
type PackedF32 struct {
	N, K int
	w    []float32 // [panel][K][Panel]
	bias []float32
}

// PackF32 packs w [n, k] and bias [n] (nil for none).
func PackF32(w, bias []float32, n, k int) *PackedF32 {
	return &PackedF32{N: n, K: k, w: packPanels(w, n, k), bias: padBias(bias, n)}
}

// packPanels lays w [n, k] out as [panel][k][Panel], zero-padding the last
// panel, so a tile streams Panel columns of one k step contiguously.
func packPanels[T float32 | int8](w []T, n, k int) []T {
	out := make([]T, panels(n)*k*Panel)
	for j := range n {
		dst := out[(j/Panel)*k*Panel+j%Panel:]
		for q, v := range w[j*k : (j+1)*k] {
			dst[q*Panel] = v
		}
	}
	return out
}

// Panels is the number of column panels, the unit of work splitting.
func (p *PackedF32) Panels() int { return panels(p.N) }

// GemmF32 computes C[m, ldc] = A[m, lda]·Wᵀ + bias for the columns of
// panels [p0, p1); A's rows hold K values.
func GemmF32(m int, a []float32, lda int, p *PackedF32, p0, p1 int, c []float32, ldc int) {
	if m == 0 || p0 >= p1 {
		return
	}
	k := p.K
	_ = a[(m-1)*lda+k-1]
	_ = c[(m-1)*ldc+min(p1*Panel, p.N)-1]
	for pn := p0; pn < p1; pn++ {
		j0 := pn * Panel
		nc := min(Panel, p.N-j0)
		b := p.w[pn*k*Panel : (pn+1)*k*Panel]
		bias := p.bias[j0 : j0+Panel]
		for i, r := 0, 0; i < m; i += r {
			r = tileRows(m - i)
			switch {
			case !useAsm:
				tileF32Go(k, a[i*lda:], lda, b, Panel, c[i*ldc+j0:], ldc, bias, r, nc)
			case nc == Panel:
				tileF32Asm(k, a[i*lda:], lda, b, Panel, c[i*ldc+j0:], ldc, bias, r)
			default:
				var t [mr * Panel]float32
				tileF32Asm(k, a[i*lda:], lda, b, Panel, t[:], Panel, bias, r)
				for q := range r {
					copy(c[(i+q)*ldc+j0:(i+q)*ldc+j0+nc], t[q*Panel:])
				}
			}
		}
	}
}

// GemmNN computes C[m, n] = A[m, k]·B[k, n] for row-major operands with
// leading dimensions lda, ldb, ldc (the attention products).
func GemmNN(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	_ = a[(m-1)*lda+k-1]
	_ = b[(k-1)*ldb+n-1]
	_ = c[(m-1)*ldc+n-1]
	full := n &^ (Panel - 1)
	if !useAsm {
		full = 0
	}
	for j0 := 0; j0 < full; j0 += Panel {
		for i, r := 0, 0; i < m; i += r {
			r = tileRows(m - i)
			tileF32Asm(k, a[i*lda:], lda, b[j0:], ldb, c[i*ldc+j0:], ldc, zeros[:], r)
		}
	}
	for j0 := full; j0 < n; j0 += Panel {
		for i := 0; i < m; i += mr {
			tileF32Go(k, a[i*lda:], lda, b[j0:], ldb, c[i*ldc+j0:], ldc, zeros[:], min(mr, m-i), min(Panel, n-j0))
		}
	}
}

// tileF32Go is the pure-Go micro-kernel: rows r < mr, columns < nc.
func tileF32Go(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32, mr, nc int) {
	for r := range mr {
		var acc [Panel]float32
		s := acc[:nc]
		for q, av := range a[r*lda : r*lda+k] {
			for j, bv := range b[q*ldb : q*ldb+nc] {
				s[j] += av * bv
			}
		}
		for j, v := range s {
			c[r*ldc+j] = v + bias[j]
		}
	}
}

// PackedW8 is an int8 [N, K] weight with per-row (output column) scales
// and a bias, in panels, for float activations (weight-only int8).
type PackedW8 struct {
	N, K  int
	q     []int8 // [panel][K][Panel]
	scale []float32
	bias  []float32
}

// PackW8 packs q [n, k] with scales [n] and bias [n] (nil for none).
func PackW8(q []int8, scale, bias []float32, n, k int) *PackedW8 {
	return &PackedW8{N: n, K: k, q: packPanels(q, n, k), scale: padBias(scale, n), bias: padBias(bias, n)}
}

// Panels is the number of column panels.
func (p *PackedW8) Panels() int { return panels(p.N) }

// GemmW8 computes C[m, ldc] = A[m, lda]·(scale ⊙ Q)ᵀ + bias for the
// columns of panels [p0, p1): the int8 weights widen to float in registers
// and the column scale applies once to each sum.
func GemmW8(m int, a []float32, lda int, p *PackedW8, p0, p1 int, c []float32, ldc int) {
	if m == 0 || p0 >= p1 {
		return
	}
	k := p.K
	_ = a[(m-1)*lda+k-1]
	_ = c[(m-1)*ldc+min(p1*Panel, p.N)-1]
	for pn := p0; pn < p1; pn++ {
		j0 := pn * Panel
		nc := min(Panel, p.N-j0)
		b := p.q[pn*k*Panel : (pn+1)*k*Panel]
		sc, bias := p.scale[j0:j0+Panel], p.bias[j0:j0+Panel]
		for i, r := 0, 0; i < m; i += r {
			r = tileRows(m - i)
			switch {
			case !useAsm:
				tileW8Go(k, a[i*lda:], lda, b, c[i*ldc+j0:], ldc, sc, bias, r, nc)
			case nc == Panel:
				tileW8Asm(k, a[i*lda:], lda, b, c[i*ldc+j0:], ldc, sc, bias, r)
			default:
				var t [mr * Panel]float32
				tileW8Asm(k, a[i*lda:], lda, b, t[:], Panel, sc, bias, r)
				for q := range r {
					copy(c[(i+q)*ldc+j0:(i+q)*ldc+j0+nc], t[q*Panel:])
				}
			}
		}
	}
}

func tileW8Go(k int, a []float32, lda int, b []int8, c []float32, ldc int, scale, bias []float32, mr, nc int) {
	for r := range mr {
		var acc [Panel]float32
		s := acc[:nc]
		for q, av := range a[r*lda : r*lda+k] {
			for j, bv := range b[q*Panel : q*Panel+nc] {
				s[j] += av * float32(bv)
			}
		}
		for j, v := range s {
			c[r*ldc+j] = v*scale[j] + bias[j]
		}
	}
}
