// Package kernels holds the engine's numeric inner loops. Each exported
// function has a pure-Go implementation that is the reference for any
// architecture-specific version.
//
// Matrices are row-major. The "NT" products multiply A [m, k] by the
// transpose of B [n, k] (a linear layer's [out, in] weight), so both
// operands are read along contiguous rows.
package kernels

// SgemmNT computes rows of C = A·Bᵀ + bias for output columns [n0, n1).
// a is [m, k], b is [n, k] (only rows n0..n1 are read), c is [m, ldc].
// bias may be nil. It dispatches to the fastest kernel the CPU supports.
func SgemmNT(m, k, n0, n1 int, a, b, c []float32, ldc int, bias []float32) {
	sgemmNT(m, k, n0, n1, a, b, c, ldc, bias)
}

// Dot is the float32 inner product of equal-length vectors.
func Dot(a, b []float32) float32 { return dot(a, b) }

// Implementations chosen at init by CPU features.
var (
	sgemmNT = sgemmNTGo
	dot     = dotGo
)

// sgemmNTGo is the pure-Go reference of SgemmNT.
func sgemmNTGo(m, k, n0, n1 int, a, b, c []float32, ldc int, bias []float32) {
	i := 0
	for ; i+4 <= m; i += 4 {
		a0, a1, a2, a3 := a[i*k:i*k+k], a[(i+1)*k:(i+1)*k+k], a[(i+2)*k:(i+2)*k+k], a[(i+3)*k:(i+3)*k+k]
		for j := n0; j < n1; j++ {
			bj := b[j*k : j*k+k]
			var s0, s1, s2, s3 float32
			for p, bv := range bj {
				s0 += a0[p] * bv
				s1 += a1[p] * bv
				s2 += a2[p] * bv
				s3 += a3[p] * bv
			}
			if bias != nil {
				bb := bias[j]
				s0, s1, s2, s3 = s0+bb, s1+bb, s2+bb, s3+bb
			}
			c[i*ldc+j], c[(i+1)*ldc+j], c[(i+2)*ldc+j], c[(i+3)*ldc+j] = s0, s1, s2, s3
		}
	}
	for ; i < m; i++ {
		ai := a[i*k : i*k+k]
		for j := n0; j < n1; j++ {
			s := dotGo(ai, b[j*k:j*k+k])
			if bias != nil {
				s += bias[j]
			}
			c[i*ldc+j] = s
		}
	}
}

// dotGo is the pure-Go reference of Dot.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy computes y += alpha·x.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// GemmI8NT computes C = (A·Bᵀ) ⊙ (sa ⊗ sb) + bias for columns [n0, n1) with
// int8 operands and exact int32 accumulation: a is [m, k] int8 with per-row
// scales sa, b is [n, k] int8 with per-row scales sb.
func GemmI8NT(m, k, n0, n1 int, a []int8, sa []float32, b []int8, sb []float32, c []float32, ldc int, bias []float32) {
	i := 0
	for ; i+2 <= m; i += 2 {
		a0, a1 := a[i*k:i*k+k], a[(i+1)*k:(i+1)*k+k]
		for j := n0; j < n1; j++ {
			bj := b[j*k : j*k+k]
			var s0, s1 int32
			for p, bv := range bj {
				w := int32(bv)
				s0 += int32(a0[p]) * w
				s1 += int32(a1[p]) * w
			}
			var bb float32
			if bias != nil {
				bb = bias[j]
			}
			c[i*ldc+j] = float32(s0)*sa[i]*sb[j] + bb
			c[(i+1)*ldc+j] = float32(s1)*sa[i+1]*sb[j] + bb
		}
	}
	for ; i < m; i++ {
		ai := a[i*k : i*k+k]
		for j := n0; j < n1; j++ {
			s := DotI8(ai, b[j*k:j*k+k])
			var bb float32
			if bias != nil {
				bb = bias[j]
			}
			c[i*ldc+j] = float32(s)*sa[i]*sb[j] + bb
		}
	}
}

// DotI8 is the exact int32 inner product of two int8 vectors.
func DotI8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1 int32
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1
}
