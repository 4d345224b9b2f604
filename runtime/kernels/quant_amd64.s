#include "textflag.h"

// Constants of the activation quantizer, each replicated eight times.
DATA qc<>+0(SB)/4, $0x7fffffff
DATA qc<>+4(SB)/4, $0x7fffffff
DATA qc<>+8(SB)/4, $0x7fffffff
DATA qc<>+12(SB)/4, $0x7fffffff
DATA qc<>+16(SB)/4, $0x7fffffff
DATA qc<>+20(SB)/4, $0x7fffffff
DATA qc<>+24(SB)/4, $0x7fffffff
DATA qc<>+28(SB)/4, $0x7fffffff
DATA qc<>+32(SB)/4, $0x3f000000
DATA qc<>+36(SB)/4, $0x3f000000
DATA qc<>+40(SB)/4, $0x3f000000
DATA qc<>+44(SB)/4, $0x3f000000
DATA qc<>+48(SB)/4, $0x3f000000
DATA qc<>+52(SB)/4, $0x3f000000
DATA qc<>+56(SB)/4, $0x3f000000
DATA qc<>+60(SB)/4, $0x3f000000
DATA qc<>+64(SB)/4, $0x80000000
DATA qc<>+68(SB)/4, $0x80000000
DATA qc<>+72(SB)/4, $0x80000000
DATA qc<>+76(SB)/4, $0x80000000
DATA qc<>+80(SB)/4, $0x80000000
DATA qc<>+84(SB)/4, $0x80000000
DATA qc<>+88(SB)/4, $0x80000000
DATA qc<>+92(SB)/4, $0x80000000
DATA qc<>+96(SB)/4, $0x0000007f
DATA qc<>+100(SB)/4, $0x0000007f
DATA qc<>+104(SB)/4, $0x0000007f
DATA qc<>+108(SB)/4, $0x0000007f
DATA qc<>+112(SB)/4, $0x0000007f
DATA qc<>+116(SB)/4, $0x0000007f
DATA qc<>+120(SB)/4, $0x0000007f
DATA qc<>+124(SB)/4, $0x0000007f
DATA qc<>+128(SB)/4, $0xffffff81
DATA qc<>+132(SB)/4, $0xffffff81
DATA qc<>+136(SB)/4, $0xffffff81
DATA qc<>+140(SB)/4, $0xffffff81
DATA qc<>+144(SB)/4, $0xffffff81
DATA qc<>+148(SB)/4, $0xffffff81
DATA qc<>+152(SB)/4, $0xffffff81
DATA qc<>+156(SB)/4, $0xffffff81
GLOBL qc<>(SB), RODATA|NOPTR, $160

// QARGS loads the quantizers' common arguments: x in SI, n/8 in CX, inv in
// Y5, and the rounding constants (0.5 in Y2, the sign mask in Y3).
#define QARGS \
	MOVQ x+0(FP), SI; MOVQ n+8(FP), CX; SHRQ $3, CX; VBROADCASTSS inv+16(FP), Y5; \
	VMOVUPS qc<>+32(SB), Y2; VMOVUPS qc<>+64(SB), Y3

// ROUND sets Y0 to trunc(x·inv ± 0.5) of the eight floats at (SI) as int32:
// round half away from zero (Y1 is scratch).
#define ROUND \
	VMULPS (SI), Y5, Y0; VANDPS Y3, Y0, Y1; VORPS Y2, Y1, Y1; VADDPS Y1, Y0, Y0; VCVTTPS2DQ Y0, Y0

// func maxAbsV(x *float32, n int) float32
// max |x[i]| for i < n, n % 8 == 0, n > 0; NaNs are skipped.
TEXT ·maxAbsV(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VXORPS Y0, Y0, Y0
	VMOVUPS qc<>+0(SB), Y2

mloop:
	VANDPS (SI), Y2, Y1
	VMAXPS Y0, Y1, Y0 // a NaN in Y1 keeps Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  mloop
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func quantV(x *float32, n int, inv float32, q *int16)
// q[i] = clamp(trunc(x[i]·inv ± 0.5), −127, 127) for i < n, n % 8 == 0,
// n > 0: round half away from zero, as quant.QuantizeRow.
TEXT ·quantV(SB), NOSPLIT, $0-32
	QARGS
	MOVQ q+24(FP), DI
	VMOVUPS qc<>+96(SB), Y6
	VMOVUPS qc<>+128(SB), Y7

qloop:
	ROUND
	VPMINSD Y6, Y0, Y0
	VPMAXSD Y7, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKSSDW X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ $32, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  qloop
	VZEROUPPER
	RET

// func minMaxV(x *float32, n int) (lo, hi float32)
// min(0, x[i]) and max(0, x[i]) for i < n, n % 8 == 0, n > 0; NaNs are skipped.
TEXT ·minMaxV(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

mmloop:
	VMOVUPS (SI), Y2
	VMINPS Y0, Y2, Y0 // a NaN in Y2 keeps Y0
	VMAXPS Y1, Y2, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ  mmloop
	VEXTRACTF128 $1, Y0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0x4e, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0xb1, X0, X2
	VMINPS X2, X0, X0
	VEXTRACTF128 $1, Y1, X2
	VMAXPS X2, X1, X1
	VPERMILPS $0x4e, X1, X2
	VMAXPS X2, X1, X1
	VPERMILPS $0xb1, X1, X2
	VMAXPS X2, X1, X1
	VZEROUPPER
	MOVSS X0, lo+16(FP)
	MOVSS X1, hi+20(FP)
	RET

// func quantU8V(x *float32, n int, inv float32, zero int32, q *uint8)
// q[i] = clamp(trunc(x[i]·inv ± 0.5) + zero, 0, 128) for i < n, n % 8 == 0,
// n > 0: round half away from zero, as quantU8Go.
TEXT ·quantU8V(SB), NOSPLIT, $0-32
	QARGS
	MOVL zero+20(FP), AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4
	MOVQ q+24(FP), DI
	VPCMPEQD Y6, Y6, Y6
	VPSRLD $31, Y6, Y6
	VPSLLD $7, Y6, Y6 // 128 (actTop)
	VPXOR Y7, Y7, Y7

uloop:
	ROUND
	VPADDD Y4, Y0, Y0
	VPMINSD Y6, Y0, Y0
	VPMAXSD Y7, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VPACKUSWB X0, X0, X0
	MOVQ X0, (DI)
	ADDQ $32, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  uloop
	VZEROUPPER
	RET
