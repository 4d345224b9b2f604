package kernels

import "golang.org/x/sys/cpu"

// hasNEON selects the NEON micro-kernels at run time; hasSDOT (ARMv8.2
// DotProd, as on the Jetson Orin's Cortex-A78AE) the int8 one built on
// SDOT instead of SMLAL. GODEBUG=cpu.asimddp=off or cpu.asimd=off turns
// them off.
var (
	hasNEON = cpu.ARM64.HasASIMD
	hasSDOT = cpu.ARM64.HasASIMD && cpu.ARM64.HasASIMDDP
)

//go:noescape
func sgemm6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, mr int)

//go:noescape
func wgemm6x16(k int, a *float32, lda int, b *int8, c *float32, ldc int, scale *float32, bias *float32, mr int)

//go:noescape
func igemm6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)

//go:noescape
func sdot6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)

//go:noescape
func expShift4(x *float32, n int, m float32) float32

//go:noescape
func quickGELU4(x *float32, n int)

//go:noescape
func dot4(a, b *float32, n int) float32

//go:noescape
func maxAbs4(x *float32, n int) float32

//go:noescape
func quant4(x *float32, n int, inv float32, q *int16)

func init() {
	if hasNEON {
		useAsm = true
		dot = dotAsm
	}
}

func tileF32Asm(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32, mr int) {
	sgemm6x16(k, &a[0], lda, &b[0], ldb, &c[0], ldc, &bias[0], mr)
}

func tileW8Asm(k int, a []float32, lda int, b []int8, c []float32, ldc int, scale, bias []float32, mr int) {
	wgemm6x16(k, &a[0], lda, &b[0], &c[0], ldc, &scale[0], &bias[0], mr)
}

func tileI8Asm(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
	if hasSDOT {
		sdot6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
		return
	}
	igemm6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
}

// The vector kernels below run whole groups of four in assembly and the
// rest in Go.

func expShiftAsm(x []float32, m float32) float32 {
	n := len(x) &^ 3
	var s float32
	if n > 0 {
		s = expShift4(&x[0], n, m)
	}
	return s + expShiftGo(x[n:], m)
}

func quickGELUAsm(x []float32) {
	n := len(x) &^ 3
	if n > 0 {
		quickGELU4(&x[0], n)
	}
	quickGELUGo(x[n:])
}

func dotAsm(a, b []float32) float32 {
	b = b[:len(a)]
	n := len(a) &^ 3
	var s float32
	if n > 0 {
		s = dot4(&a[0], &b[0], n)
	}
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

func maxAbsAsm(x []float32) float32 {
	n := len(x) &^ 3
	var m float32
	if n > 0 {
		m = maxAbs4(&x[0], n)
	}
	return max(m, maxAbsGo(x[n:]))
}

func quantAsm(x []float32, inv float32, q []int16) {
	n := len(x) &^ 3
	if n > 0 {
		_ = q[n-1]
		quant4(&x[0], n, inv, &q[0])
	}
	quantGo(x[n:], inv, q[n:])
}
