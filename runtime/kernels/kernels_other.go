//go:build !amd64 && !arm64

package kernels

// Off amd64 and arm64 the pure-Go loops serve.
const hasAVX2 = false

func tileF32Asm(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32, mr int) {
	tileF32Go(k, a, lda, b, ldb, c, ldc, bias, mr, Panel)
}

func tileW8Asm(k int, a []float32, lda int, b []int8, c []float32, ldc int, scale, bias []float32, mr int) {
	tileW8Go(k, a, lda, b, c, ldc, scale, bias, mr, Panel)
}

func tileI8Asm(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
	tileI8Go(kp, a, lda, b, c, ldc, sa, sb, bias, mr, Panel)
}

func expShiftAsm(x []float32, m float32) float32 { return expShiftGo(x, m) }
func quickGELUAsm(x []float32)                   { quickGELUGo(x) }

func maxAbsAsm(x []float32) float32                { return maxAbsGo(x) }
func quantAsm(x []float32, inv float32, q []int16) { quantGo(x, inv, q) }

const rows4 = false
