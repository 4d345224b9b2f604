//go:build amd64 || arm64

package kernels

// The SIMD kernels both architectures implement in assembly with the same
// signatures: 6×16 GEMM tiles over packed panels, and vector routines over
// whole groups of vecLanes floats (8 with AVX2, 4 with NEON); the rest of
// a vector runs in Go.

//go:noescape
func sgemm6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, mr int)

//go:noescape
func wgemm6x16(k int, a *float32, lda int, b *int8, c *float32, ldc int, scale *float32, bias *float32, mr int)

//go:noescape
func expShiftV(x *float32, n int, m float32) float32

//go:noescape
func quickGELUV(x *float32, n int)

//go:noescape
func dotV(a, b *float32, n int) float32

//go:noescape
func maxAbsV(x *float32, n int) float32

//go:noescape
func quantV(x *float32, n int, inv float32, q *int16)

func tileF32Asm(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32, mr int) {
	sgemm6x16(k, &a[0], lda, &b[0], ldb, &c[0], ldc, &bias[0], mr)
}

func tileW8Asm(k int, a []float32, lda int, b []int8, c []float32, ldc int, scale, bias []float32, mr int) {
	wgemm6x16(k, &a[0], lda, &b[0], &c[0], ldc, &scale[0], &bias[0], mr)
}

func expShiftAsm(x []float32, m float32) float32 {
	n := len(x) &^ (vecLanes - 1)
	var s float32
	if n > 0 {
		s = expShiftV(&x[0], n, m)
	}
	return s + expShiftGo(x[n:], m)
}

func quickGELUAsm(x []float32) {
	n := len(x) &^ (vecLanes - 1)
	if n > 0 {
		quickGELUV(&x[0], n)
	}
	quickGELUGo(x[n:])
}

func dotAsm(a, b []float32) float32 {
	b = b[:len(a)]
	n := len(a) &^ (vecLanes - 1)
	var s float32
	if n > 0 {
		s = dotV(&a[0], &b[0], n)
	}
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

func maxAbsAsm(x []float32) float32 {
	n := len(x) &^ (vecLanes - 1)
	var m float32
	if n > 0 {
		m = maxAbsV(&x[0], n)
	}
	return max(m, maxAbsGo(x[n:]))
}

func quantAsm(x []float32, inv float32, q []int16) {
	n := len(x) &^ (vecLanes - 1)
	if n > 0 {
		_ = q[n-1]
		quantV(&x[0], n, inv, &q[0])
	}
	quantGo(x[n:], inv, q[n:])
}
