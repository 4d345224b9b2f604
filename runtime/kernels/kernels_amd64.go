package kernels

import "golang.org/x/sys/cpu"

// hasAVX2 selects the AVX2+FMA kernels at run time.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot4x2(a *float32, lda int, b *float32, ldb int, k int, out *[8]float32)

// vecLanes is the float32 width of the AVX2 vector kernels.
const vecLanes = 8

func init() {
	if hasAVX2 {
		sgemmNT = sgemmNTAVX2
		dot = dotAsm
		useAsm = true
		quadLayout = true
	}
}

// The AVX2 int8 kernel is ugemm6x16 on the quad layout; the pair layout
// only serves the pure-Go path here.
func tileI8Asm(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
	tileI8Go(kp, a, lda, b, c, ldc, sa, sb, bias, mr, Panel)
}

//go:noescape
func ugemm6x16(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, sa *float32, za *int32, sb *float32, cs *int32, bias *float32, mr int)

func tileU8Asm(kq int, a []byte, lda int, b []int8, c []float32, ldc int, sa []float32, za []int32, sb []float32, cs []int32, bias []float32, mr int) {
	ugemm6x16(kq, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &za[0], &sb[0], &cs[0], &bias[0], mr)
}

//go:noescape
func minMaxV(x *float32, n int) (lo, hi float32)

//go:noescape
func quantU8V(x *float32, n int, inv float32, zero int32, q *uint8)

func minMaxAsm(x []float32) (lo, hi float32) {
	n := len(x) &^ (vecLanes - 1)
	if n > 0 {
		lo, hi = minMaxV(&x[0], n)
	}
	l, h := minMaxGo(x[n:])
	return min(lo, l), max(hi, h)
}

func quantU8Asm(x []float32, inv float32, zero int32, q []byte) {
	n := len(x) &^ (vecLanes - 1)
	if n > 0 {
		_ = q[n-1]
		quantU8V(&x[0], n, inv, zero, &q[0])
	}
	quantU8Go(x[n:], inv, zero, q[n:])
}

// sgemmNTAVX2 tiles C into 4×2 blocks whose dot products run in assembly
// over k rounded down to a multiple of 8; the k tail and edge rows and
// columns fall back to Go.
func sgemmNTAVX2(m, k, n0, n1 int, a, b, c []float32, ldc int, bias []float32) {
	if m == 0 || n0 >= n1 {
		return
	}
	kk := k &^ 7
	if kk == 0 {
		sgemmNTGo(m, k, n0, n1, a, b, c, ldc, bias)
		return
	}
	_ = a[m*k-1]
	_ = b[n1*k-1]
	var out [8]float32
	i := 0
	for ; i+4 <= m; i += 4 {
		j := n0
		for ; j+2 <= n1; j += 2 {
			dot4x2(&a[i*k], k, &b[j*k], k, kk, &out)
			for r := range 4 {
				for q := range 2 {
					s := out[2*r+q]
					ar, bq := a[(i+r)*k:(i+r+1)*k], b[(j+q)*k:(j+q+1)*k]
					for p := kk; p < k; p++ {
						s += ar[p] * bq[p]
					}
					if bias != nil {
						s += bias[j+q]
					}
					c[(i+r)*ldc+j+q] = s
				}
			}
		}
		if j < n1 {
			dotRows(i, i+4, k, j, n1, a, b, c, ldc, bias)
		}
	}
	dotRows(i, m, k, n0, n1, a, b, c, ldc, bias)
}

// dotRows fills the edge of a tiling one vector dot product at a time.
func dotRows(i0, i1, k, n0, n1 int, a, b, c []float32, ldc int, bias []float32) {
	for i := i0; i < i1; i++ {
		ai := a[i*k : (i+1)*k]
		for j := n0; j < n1; j++ {
			s := dotAsm(ai, b[j*k:(j+1)*k])
			if bias != nil {
				s += bias[j]
			}
			c[i*ldc+j] = s
		}
	}
}

// rows4: the amd64 tiles run tiles of up to four rows in a four-row loop.
const rows4 = true
