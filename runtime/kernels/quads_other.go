//go:build !amd64

package kernels

// The quad layout and its uint8 activations are AVX2's (ugemm6x16); on
// other architectures they run only in Go, when tests select the layout.

func tileU8Asm(kq int, a []byte, lda int, b []int8, c []float32, ldc int, sa []float32, za []int32, sb []float32, cs []int32, bias []float32, mr int) {
	tileU8Go(kq, a, lda, b, c, ldc, sa, za, sb, cs, bias, mr, Panel)
}

func minMaxAsm(x []float32) (lo, hi float32)                    { return minMaxGo(x) }
func quantU8Asm(x []float32, inv float32, zero int32, q []byte) { quantU8Go(x, inv, zero, q) }
