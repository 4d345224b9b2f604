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

// vecLanes is the float32 width of the NEON vector kernels.
const vecLanes = 4

//go:noescape
func igemm6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)

//go:noescape
func sdot6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)

func init() {
	if hasNEON {
		useAsm = true
		dot = dotAsm
	}
}

func tileI8Asm(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
	if hasSDOT {
		sdot6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
		return
	}
	igemm6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
}

// rows4: the NEON tiles always compute six rows.
const rows4 = false
