#include "textflag.h"

// NEON vector kernels, four float32 lanes at a time; the Go callers take
// the tails. Instructions the Go assembler lacks are words built from
// register numbers; each macro names the instruction it encodes.

// FADDV: FADD Vd.4S, Vn.4S, Vm.4S
#define FADDV(d, n, m) WORD $(0x4E20D400 | (m)<<16 | (n)<<5 | (d))
// FSUBV: FSUB Vd.4S, Vn.4S, Vm.4S
#define FSUBV(d, n, m) WORD $(0x4EA0D400 | (m)<<16 | (n)<<5 | (d))
// FMULV: FMUL Vd.4S, Vn.4S, Vm.4S
#define FMULV(d, n, m) WORD $(0x6E20DC00 | (m)<<16 | (n)<<5 | (d))
// FDIVV: FDIV Vd.4S, Vn.4S, Vm.4S
#define FDIVV(d, n, m) WORD $(0x6E20FC00 | (m)<<16 | (n)<<5 | (d))
// FMLAV, FMLSV: FMLA, FMLS Vd.4S, Vn.4S, Vm.4S (fused)
#define FMLAV(d, n, m) WORD $(0x4E20CC00 | (m)<<16 | (n)<<5 | (d))
#define FMLSV(d, n, m) WORD $(0x4EA0CC00 | (m)<<16 | (n)<<5 | (d))
// FMINV, FMAXV, FMAXNMV: FMIN, FMAX, FMAXNM Vd.4S, Vn.4S, Vm.4S
#define FMINV(d, n, m) WORD $(0x4EA0F400 | (m)<<16 | (n)<<5 | (d))
#define FMAXV(d, n, m) WORD $(0x4E20F400 | (m)<<16 | (n)<<5 | (d))
#define FMAXNMV(d, n, m) WORD $(0x4E20C400 | (m)<<16 | (n)<<5 | (d))
// FMAXNMACROSS: FMAXNMV Sd, Vn.4S
#define FMAXNMACROSS(d, n) WORD $(0x6E30C800 | (n)<<5 | (d))
// FABSV: FABS Vd.4S, Vn.4S
#define FABSV(d, n) WORD $(0x4EA0F800 | (n)<<5 | (d))
// FRINTNV: FRINTN Vd.4S, Vn.4S (round to nearest, ties to even)
#define FRINTNV(d, n) WORD $(0x4E218800 | (n)<<5 | (d))
// FCVTZSV: FCVTZS Vd.4S, Vn.4S (truncate; NaN gives 0)
#define FCVTZSV(d, n) WORD $(0x4EA1B800 | (n)<<5 | (d))
// FCMGEZ: FCMGE Vd.4S, Vn.4S, #0.0
#define FCMGEZ(d, n) WORD $(0x6EA0C800 | (n)<<5 | (d))
// BSLV: BSL Vd.16B, Vn.16B, Vm.16B (Vd = Vd ? Vn : Vm, bitwise)
#define BSLV(d, n, m) WORD $(0x6E601C00 | (m)<<16 | (n)<<5 | (d))
// SMINV, SMAXV: SMIN, SMAX Vd.4S, Vn.4S, Vm.4S
#define SMINV(d, n, m) WORD $(0x4EA06C00 | (m)<<16 | (n)<<5 | (d))
#define SMAXV(d, n, m) WORD $(0x4EA06400 | (m)<<16 | (n)<<5 | (d))
// SQXTNV: SQXTN Vd.4H, Vn.4S
#define SQXTNV(d, n) WORD $(0x0E614800 | (n)<<5 | (d))
// FADDPV: FADDP Vd.4S, Vn.4S, Vm.4S; FADDPS: FADDP Sd, Vn.2S
#define FADDPV(d, n, m) WORD $(0x6E20D400 | (m)<<16 | (n)<<5 | (d))
#define FADDPS(d, n) WORD $(0x7E30D800 | (n)<<5 | (d))

// Constants, each replicated four times: expf's (Cephes, as vec_amd64.s)
// then the activation quantizer's.
#define C4(off, v) DATA vc<>+(off)(SB)/4, v; DATA vc<>+(off+4)(SB)/4, v; DATA vc<>+(off+8)(SB)/4, v; DATA vc<>+(off+12)(SB)/4, v
C4(0, $0x42b00000)   // 88: upper clamp
C4(16, $0xc2ae0000)  // -87: lower clamp
C4(32, $0x3fb8aa3b)  // log₂e
C4(48, $0x3f318000)  // ln 2, high part
C4(64, $0xb95e8083)  // ln 2, low part (negated)
C4(80, $0x39506967)  // p0
C4(96, $0x3ab743ce)  // p1
C4(112, $0x3c088908) // p2
C4(128, $0x3d2aa9c1) // p3
C4(144, $0x3e2aaaaa) // p4
C4(160, $0x3f000000) // p5 = 0.5
C4(176, $0x3f800000) // 1
C4(192, $0xbfd9db23) // -1.702, QuickGELU's slope
C4(208, $0xbf000000) // -0.5
C4(224, $0x0000007f) // 127
C4(240, $0xffffff81) // -127
GLOBL vc<>(SB), RODATA|NOPTR, $256

// EXPCONST loads expf's constants into V16..V27 (and -1.702 into V28).
#define EXPCONST \
	MOVD $vc<>(SB), R4; \
	VLD1.P 64(R4), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R4), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VLD1.P 64(R4), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VLD1 (R4), [V28.S4]

// EXP sets V0 = exp(V0) to about 1 ulp for V0 in [-87, 88] (clamped
// outside), using V1..V3 as scratch: exp(x) = 2ⁿ·e^r with n = round(x·log₂e)
// and a degree-7 polynomial in r, the same operations as vec_amd64.s.
#define EXP \
	FMINV(0, 0, 16); FMAXV(0, 0, 17); \
	FMULV(1, 0, 18); FRINTNV(1, 1); \
	FMLSV(0, 1, 19); FMLSV(0, 1, 20); \
	VMOV V22.B16, V2.B16; FMLAV(2, 21, 0); \
	VMOV V23.B16, V3.B16; FMLAV(3, 2, 0); \
	VMOV V24.B16, V2.B16; FMLAV(2, 3, 0); \
	VMOV V25.B16, V3.B16; FMLAV(3, 2, 0); \
	VMOV V26.B16, V2.B16; FMLAV(2, 3, 0); \
	FMULV(3, 0, 0); FMLAV(0, 2, 3); FADDV(0, 0, 27); \
	FCVTZSV(1, 1); VSHL $23, V1.S4, V1.S4; VADD V1.S4, V0.S4, V0.S4

// func expShiftV(x *float32, n int, m float32) float32
// x[i] = exp(x[i] - m) for i < n, n % 4 == 0, n > 0; returns the sum.
TEXT ·expShiftV(SB), NOSPLIT, $0-28
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R1
	LSR   $2, R1
	FMOVS m+16(FP), F29
	VDUP  V29.S[0], V29.S4
	VEOR  V30.B16, V30.B16, V30.B16
	EXPCONST

loop:
	VLD1 (R0), [V0.S4]
	FSUBV(0, 0, 29)
	EXP
	VST1.P [V0.S4], 16(R0)
	FADDV(30, 30, 0)
	SUB    $1, R1
	CBNZ   R1, loop
	FADDPV(30, 30, 30)
	FADDPS(0, 30)
	FMOVS  F0, ret+24(FP)
	RET

// func quickGELUV(x *float32, n int)
// x[i] = x[i]·σ(1.702·x[i]) for i < n, n % 4 == 0, n > 0.
TEXT ·quickGELUV(SB), NOSPLIT, $0-16
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	LSR  $2, R1
	EXPCONST

loop:
	VLD1 (R0), [V4.S4]
	FMULV(0, 4, 28)
	EXP
	FADDV(0, 0, 27)
	FDIVV(4, 4, 0)
	VST1.P [V4.S4], 16(R0)
	SUB    $1, R1
	CBNZ   R1, loop
	RET

// func dotV(a, b *float32, n int) float32
// Σ a[i]·b[i] for i < n, n % 4 == 0, n > 0: sixteen lanes at a time in
// four accumulators, then four.
TEXT ·dotV(SB), NOSPLIT, $0-28
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	LSR  $4, R2, R3
	AND  $15, R2
	CBZ  R3, four

loop16:
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V16.S4, V17.S4, V18.S4, V19.S4]
	FMLAV(0, 4, 16)
	FMLAV(1, 5, 17)
	FMLAV(2, 6, 18)
	FMLAV(3, 7, 19)
	SUB    $1, R3
	CBNZ   R3, loop16

four:
	CBZ R2, sum

loop4:
	VLD1.P 16(R0), [V4.S4]
	VLD1.P 16(R1), [V16.S4]
	FMLAV(0, 4, 16)
	SUB    $4, R2
	CBNZ   R2, loop4

sum:
	FADDV(0, 0, 1)
	FADDV(2, 2, 3)
	FADDV(0, 0, 2)
	FADDPV(0, 0, 0)
	FADDPS(0, 0)
	FMOVS  F0, ret+24(FP)
	RET

// func maxAbsV(x *float32, n int) float32
// max |x[i]| for i < n, n % 4 == 0, n > 0; NaNs are skipped (FMAXNM).
TEXT ·maxAbsV(SB), NOSPLIT, $0-20
	MOVD x+0(FP), R0
	MOVD n+8(FP), R1
	LSR  $2, R1
	VEOR V0.B16, V0.B16, V0.B16

loop:
	VLD1.P 16(R0), [V1.S4]
	FABSV(1, 1)
	FMAXNMV(0, 0, 1)
	SUB    $1, R1
	CBNZ   R1, loop
	FMAXNMACROSS(0, 0)
	FMOVS  F0, ret+16(FP)
	RET

// func quantV(x *float32, n int, inv float32, q *int16)
// q[i] = clamp(trunc(x[i]·inv ± 0.5), −127, 127) for i < n, n % 4 == 0,
// n > 0, the sign that of the rounded x[i]·inv and the ± 0.5 fused into
// the product, as Go compiles quant.QuantizeRow on arm64; NaN gives 0.
TEXT ·quantV(SB), NOSPLIT, $0-32
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R1
	LSR   $2, R1
	FMOVS inv+16(FP), F16
	VDUP  V16.S[0], V16.S4
	MOVD  q+24(FP), R2
	MOVD  $vc<>+160(SB), R4
	VLD1  (R4), [V17.S4]   // 0.5
	MOVD  $vc<>+208(SB), R4
	VLD1  (R4), [V18.S4, V19.S4, V20.S4] // -0.5, 127, -127

loop:
	VLD1.P 16(R0), [V0.S4]
	FMULV(1, 0, 16)
	FCMGEZ(1, 1)
	BSLV(1, 17, 18)
	FMLAV(1, 0, 16)
	FCVTZSV(1, 1)
	SMINV(1, 1, 19)
	SMAXV(1, 1, 20)
	SQXTNV(1, 1)
	FMOVD.P F1, 8(R2)
	SUB     $1, R1
	CBNZ    R1, loop
	RET
