#include "textflag.h"

// NEON 6×16 micro-kernels. A 6-row by 16-column tile of C lives in 24
// accumulators, V8..V31: row r, columns 4g..4g+3 in V(8+4r+g). A rows are
// R6..R11, clamped to the last of mr rows (ROWS), so no load leaves A; rows
// at or past mr are computed but not stored. V0..V7 hold A and B values.
//
// The Go assembler lacks most NEON arithmetic, so the macros below encode
// the instructions as words from register numbers; each names the
// instruction it encodes.

// FMLAE: FMLA Vd.4S, Vn.4S, Vm.S[i]
#define FMLAE(d, n, m, i) WORD $(0x4F801000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// FMLAV: FMLA Vd.4S, Vn.4S, Vm.4S
#define FMLAV(d, n, m) WORD $(0x4E20CC00 | (m)<<16 | (n)<<5 | (d))
// FADDV: FADD Vd.4S, Vn.4S, Vm.4S
#define FADDV(d, n, m) WORD $(0x4E20D400 | (m)<<16 | (n)<<5 | (d))
// FMULE: FMUL Vd.4S, Vn.4S, Vm.S[i]
#define FMULE(d, n, m, i) WORD $(0x4F809000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// SCVTFV: SCVTF Vd.4S, Vn.4S
#define SCVTFV(d, n) WORD $(0x4E21D800 | (n)<<5 | (d))
// SXTLB: SXTL Vd.8H, Vn.8B (SSHLL #0); SXTL2B: SXTL2 Vd.8H, Vn.16B
#define SXTLB(d, n) WORD $(0x0F08A400 | (n)<<5 | (d))
#define SXTL2B(d, n) WORD $(0x4F08A400 | (n)<<5 | (d))
// SXTLH: SXTL Vd.4S, Vn.4H; SXTL2H: SXTL2 Vd.4S, Vn.8H
#define SXTLH(d, n) WORD $(0x0F10A400 | (n)<<5 | (d))
#define SXTL2H(d, n) WORD $(0x4F10A400 | (n)<<5 | (d))
// SMLALE: SMLAL Vd.4S, Vn.4H, Vm.H[i]; SMLAL2E: SMLAL2 Vd.4S, Vn.8H, Vm.H[i]
// (m < 16, i = H:L:M)
#define SMLALE(d, n, m, i) WORD $(0x0F402000 | ((i)>>2)<<11 | (((i)>>1)&1)<<21 | ((i)&1)<<20 | (m)<<16 | (n)<<5 | (d))
#define SMLAL2E(d, n, m, i) WORD $(0x4F402000 | ((i)>>2)<<11 | (((i)>>1)&1)<<21 | ((i)&1)<<20 | (m)<<16 | (n)<<5 | (d))
// SDOTE: SDOT Vd.4S, Vn.16B, Vm.4B[i] (ARMv8.2 DotProd)
#define SDOTE(d, n, m, i) WORD $(0x4F80E000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// XTNH: XTN Vd.8B, Vn.8H; XTN2H: XTN2 Vd.16B, Vn.8H
#define XTNH(d, n) WORD $(0x0E212800 | (n)<<5 | (d))
#define XTN2H(d, n) WORD $(0x4E212800 | (n)<<5 | (d))

// ROWS sets R7..R11 to A rows 1..5 from R6, stride R2 bytes, each clamped
// to the row before it when it is at or past mr (R5).
#define ROWS \
	ADD R2, R6, R7; CMP $1, R5; CSEL GT, R7, R6, R7; \
	ADD R2, R7, R8; CMP $2, R5; CSEL GT, R8, R7, R8; \
	ADD R2, R8, R9; CMP $3, R5; CSEL GT, R9, R8, R9; \
	ADD R2, R9, R10; CMP $4, R5; CSEL GT, R10, R9, R10; \
	ADD R2, R10, R11; CMP $5, R5; CSEL GT, R11, R10, R11

#define ZERO \
	VEOR V8.B16, V8.B16, V8.B16; VEOR V9.B16, V9.B16, V9.B16; \
	VEOR V10.B16, V10.B16, V10.B16; VEOR V11.B16, V11.B16, V11.B16; \
	VEOR V12.B16, V12.B16, V12.B16; VEOR V13.B16, V13.B16, V13.B16; \
	VEOR V14.B16, V14.B16, V14.B16; VEOR V15.B16, V15.B16, V15.B16; \
	VEOR V16.B16, V16.B16, V16.B16; VEOR V17.B16, V17.B16, V17.B16; \
	VEOR V18.B16, V18.B16, V18.B16; VEOR V19.B16, V19.B16, V19.B16; \
	VEOR V20.B16, V20.B16, V20.B16; VEOR V21.B16, V21.B16, V21.B16; \
	VEOR V22.B16, V22.B16, V22.B16; VEOR V23.B16, V23.B16, V23.B16; \
	VEOR V24.B16, V24.B16, V24.B16; VEOR V25.B16, V25.B16, V25.B16; \
	VEOR V26.B16, V26.B16, V26.B16; VEOR V27.B16, V27.B16, V27.B16; \
	VEOR V28.B16, V28.B16, V28.B16; VEOR V29.B16, V29.B16, V29.B16; \
	VEOR V30.B16, V30.B16, V30.B16; VEOR V31.B16, V31.B16, V31.B16

// LOADA4 loads four values of each A row, row r into V(r).
#define LOADA4 \
	VLD1.P 16(R6), [V0.S4]; VLD1.P 16(R7), [V1.S4]; VLD1.P 16(R8), [V2.S4]; \
	VLD1.P 16(R9), [V3.S4]; VLD1.P 16(R10), [V4.S4]; VLD1.P 16(R11), [V5.S4]

// LOADA1 loads one value of each A row, row r into lane 0 of V(r).
#define LOADA1 \
	FMOVS.P 4(R6), F0; FMOVS.P 4(R7), F1; FMOVS.P 4(R8), F2; \
	FMOVS.P 4(R9), F3; FMOVS.P 4(R10), F4; FMOVS.P 4(R11), F5

// FMLA6 multiplies the four B columns in V(b) by lane i of each A row and
// adds the products to column group g of the six accumulator rows.
#define FMLA6(b, g, i) \
	FMLAE(8+g, b, 0, i); FMLAE(12+g, b, 1, i); FMLAE(16+g, b, 2, i); \
	FMLAE(20+g, b, 3, i); FMLAE(24+g, b, 4, i); FMLAE(28+g, b, 5, i)

// F32STEP is one step of k for sgemm6x16: a row of 16 B values from R3
// (then stepped by R4 to the next row) against lane i of the A registers.
#define F32STEP(i) \
	VLD1.P 32(R3), [V6.S4, V7.S4]; FMLA6(6, 0, i); FMLA6(7, 1, i); \
	VLD1.P (R3)(R4), [V6.S4, V7.S4]; FMLA6(6, 2, i); FMLA6(7, 3, i)

// W8HALF widens 8 int8 B values from R3 to two float vectors in turn and
// multiplies them into column groups g and g+1.
#define W8HALF(g, i) \
	FMOVD.P 8(R3), F6; SXTLB(6, 6); \
	SXTLH(7, 6); SCVTFV(7, 7); FMLA6(7, g, i); \
	SXTL2H(7, 6); SCVTFV(7, 7); FMLA6(7, g+1, i)

#define W8STEP(i) W8HALF(0, i); W8HALF(2, i)

// ADDBIAS adds the bias in V0..V3 to accumulator row c.
#define ADDBIAS(c) FADDV(c, c, 0); FADDV(c+1, c+1, 1); FADDV(c+2, c+2, 2); FADDV(c+3, c+3, 3)

// SCALEBIAS loads the bias at R3 into V0..V3 and adds accumulator row c
// times the column scales in V4..V7 (fused, as Go's v*scale + bias).
#define SCALEBIAS(c) \
	VLD1 (R3), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	FMLAV(0, c, 4); FMLAV(1, c+1, 5); FMLAV(2, c+2, 6); FMLAV(3, c+3, 7)

// ISCALEBIAS converts int32 accumulator row c to float, multiplies it by
// the next row scale (R4) and then, fused with the bias at R3, by the
// column scales in V4..V7: float32(v)*sa*sb + bias as Go computes it.
#define ISCALEBIAS(c) \
	FMOVS.P 4(R4), F0; \
	SCVTFV(c, c); SCVTFV(c+1, c+1); SCVTFV(c+2, c+2); SCVTFV(c+3, c+3); \
	FMULE(c, c, 0, 0); FMULE(c+1, c+1, 0, 0); FMULE(c+2, c+2, 0, 0); FMULE(c+3, c+3, 0, 0); \
	SCALEBIAS(c)

// Row r of the result sits in V(8+4r)..V(11+4r) (OUT*) or, after
// SCALEBIAS, in V0..V3 (OUT); each stores 16 floats at R1 and steps R1 by
// R2, then ends when R5 rows are stored.
#define OUT VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT0 VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT1 VST1.P [V12.S4, V13.S4, V14.S4, V15.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT2 VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT3 VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT4 VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], (R1)(R2); SUBS $1, R5; BEQ done
#define OUT5 VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], (R1)(R2)

// I8STORE scales and stores the int32 tile of igemm6x16 and sdot6x16 (same
// arguments): float32(v)·sa·sb + bias per row, as tileI8Go.
#define I8STORE \
	MOVD c+32(FP), R1; MOVD ldc+40(FP), R2; LSL $2, R2; \
	MOVD sa+48(FP), R4; MOVD sb+56(FP), R3; VLD1 (R3), [V4.S4, V5.S4, V6.S4, V7.S4]; MOVD bias+64(FP), R3; \
	ISCALEBIAS(8); OUT; ISCALEBIAS(12); OUT; ISCALEBIAS(16); OUT; ISCALEBIAS(20); OUT; ISCALEBIAS(24); OUT; \
	ISCALEBIAS(28); VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R1)

// The peak loops at the end of the file use these.

// PEAKSETUP loads n into R0, sets every 32-bit lane of V0 to v and clears
// the accumulators.
#define PEAKSETUP(v) \
	MOVD n+0(FP), R0; MOVW v, R1; VMOV R1, V0.S[0]; VDUP V0.S[0], V0.S4; ZERO

// EACH12 applies OP to each accumulator.
#define EACH12(OP) \
	OP(8); OP(9); OP(10); OP(11); OP(12); OP(13); OP(14); OP(15); OP(16); OP(17); OP(18); OP(19)

// SUM12 adds the accumulators into V8 with ADD(d, n, m).
#define SUM12(ADD) \
	ADD(8, 8, 9); ADD(10, 10, 11); ADD(12, 12, 13); ADD(14, 14, 15); ADD(16, 16, 17); ADD(18, 18, 19); \
	ADD(8, 8, 10); ADD(12, 12, 14); ADD(16, 16, 18); ADD(8, 8, 12); ADD(8, 8, 16)

// ADDV: ADD Vd.4S, Vn.4S, Vm.4S
#define ADDV(d, n, m) WORD $(0x4EA08400 | (m)<<16 | (n)<<5 | (d))

// ISUM returns lane 0 of the sum of the int32 accumulators.
#define ISUM SUM12(ADDV); VMOV V8.S[0], R1; MOVD R1, ret+8(FP); RET

#define PFMLA(d) FMLAV(d, 0, 0)
#define PSDOT(d) SDOTE(d, 0, 0, 0)
#define PSMLAL(d) SMLALE(d, 0, 0, 0)

// func sgemm6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, mr int)
// C[r, 0:16] = Σ_p A[r, p]·B[p, 0:16] + bias[0:16] for r < mr ≤ 6, the
// products fused into the sums in order of p, as tileF32Go.
TEXT ·sgemm6x16(SB), NOSPLIT, $0-72
	MOVD k+0(FP), R0
	MOVD a+8(FP), R6
	MOVD lda+16(FP), R2
	LSL  $2, R2
	MOVD b+24(FP), R3
	MOVD ldb+32(FP), R4
	LSL  $2, R4
	SUB  $32, R4 // after the first half of a B row
	MOVD mr+64(FP), R5
	ROWS
	ZERO
	LSR  $2, R0, R12
	AND  $3, R0, R13
	CBZ  R12, tail

loop:
	LOADA4
	F32STEP(0)
	F32STEP(1)
	F32STEP(2)
	F32STEP(3)
	SUB  $1, R12
	CBNZ R12, loop

tail:
	CBZ R13, store

one:
	LOADA1
	F32STEP(0)
	SUB  $1, R13
	CBNZ R13, one

store:
	MOVD c+40(FP), R1
	MOVD ldc+48(FP), R2
	LSL  $2, R2
	MOVD bias+56(FP), R3
	VLD1 (R3), [V0.S4, V1.S4, V2.S4, V3.S4]
	ADDBIAS(8)
	OUT0
	ADDBIAS(12)
	OUT1
	ADDBIAS(16)
	OUT2
	ADDBIAS(20)
	OUT3
	ADDBIAS(24)
	OUT4
	ADDBIAS(28)
	OUT5

done:
	RET

// func wgemm6x16(k int, a *float32, lda int, b *int8, c *float32, ldc int, scale *float32, bias *float32, mr int)
// As sgemm6x16 with int8 B packed [k][16], widened to float in the loop;
// C = sums·scale + bias, fused, as tileW8Go.
TEXT ·wgemm6x16(SB), NOSPLIT, $0-72
	MOVD k+0(FP), R0
	MOVD a+8(FP), R6
	MOVD lda+16(FP), R2
	LSL  $2, R2
	MOVD b+24(FP), R3
	MOVD mr+64(FP), R5
	ROWS
	ZERO
	LSR  $2, R0, R12
	AND  $3, R0, R13
	CBZ  R12, tail

loop:
	LOADA4
	W8STEP(0)
	W8STEP(1)
	W8STEP(2)
	W8STEP(3)
	SUB  $1, R12
	CBNZ R12, loop

tail:
	CBZ R13, store

one:
	LOADA1
	W8STEP(0)
	SUB  $1, R13
	CBNZ R13, one

store:
	MOVD c+32(FP), R1
	MOVD ldc+40(FP), R2
	LSL  $2, R2
	MOVD scale+48(FP), R3
	VLD1 (R3), [V4.S4, V5.S4, V6.S4, V7.S4]
	MOVD bias+56(FP), R3
	SCALEBIAS(8)
	OUT
	SCALEBIAS(12)
	OUT
	SCALEBIAS(16)
	OUT
	SCALEBIAS(20)
	OUT
	SCALEBIAS(24)
	OUT
	SCALEBIAS(28)
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R1)

done:
	RET

// SMLAL6 multiplies the int16 B columns 8h..8h+7 of the even (V(e)) and
// odd (V(e+1)) elements of a pair by the pair of each A row and adds the
// products to accumulator groups 2h and 2h+1. Rows 0..3 hold their pair in
// halfword lanes 2r, 2r+1 of V0, rows 4 and 5 in lanes 0..3 of V1.
#define SMLALROW(c, e, m, i) \
	SMLALE(c, e, m, i); SMLAL2E(c+1, e, m, i); SMLALE(c, e+1, m, i+1); SMLAL2E(c+1, e+1, m, i+1)

#define SMLAL6(h, e) \
	SMLALROW(8+2*h, e, 0, 0); SMLALROW(12+2*h, e, 0, 2); SMLALROW(16+2*h, e, 0, 4); \
	SMLALROW(20+2*h, e, 0, 6); SMLALROW(24+2*h, e, 1, 0); SMLALROW(28+2*h, e, 1, 2)

// func igemm6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)
// Exact int32 products of int16-widened int8 operands with SMLAL: A is
// [mr][2·kp] int16, B is packed [kp][16 columns][2] int8. Each step loads
// one pair of every A row and deinterleaves B's pairs into even and odd
// values (LD2), widened to int16.
TEXT ·igemm6x16(SB), NOSPLIT, $0-80
	MOVD kp+0(FP), R0
	MOVD a+8(FP), R6
	MOVD lda+16(FP), R2
	LSL  $1, R2
	MOVD b+24(FP), R3
	MOVD mr+72(FP), R5
	ROWS
	ZERO
	CBZ  R0, store

loop:
	FMOVS.P 4(R6), F0
	VLD1.P  4(R7), V0.S[1]
	VLD1.P  4(R8), V0.S[2]
	VLD1.P  4(R9), V0.S[3]
	FMOVS.P 4(R10), F1
	VLD1.P  4(R11), V1.S[1]
	VLD2.P  32(R3), [V2.B16, V3.B16]
	SXTLB(4, 2)
	SXTLB(5, 3)
	SXTL2B(6, 2)
	SXTL2B(7, 3)
	SMLAL6(0, 4)
	SMLAL6(1, 6)
	SUB  $1, R0
	CBNZ R0, loop

store:
	I8STORE

done:
	RET

// SDOT6 adds the 4-byte dot products of the B columns in V(b) with A's
// groups into accumulator group g: rows 2j and 2j+1 hold their groups in
// V(j), lanes s and 2+s.
#define SDOT6(b, g, s) \
	SDOTE(8+g, b, 0, s); SDOTE(12+g, b, 0, 2+s); SDOTE(16+g, b, 1, s); \
	SDOTE(20+g, b, 1, 2+s); SDOTE(24+g, b, 2, s); SDOTE(28+g, b, 2, 2+s)

// DZIP turns two B pairs, V3 (columns 0..7) and V4 (8..15) of the first and
// V5, V6 of the second, into columns of four int8 values in k order:
// columns 0..3 in V7, 4..7 in V3, 8..11 in V5, 12..15 in V4.
#define DZIP \
	VZIP1 V5.H8, V3.H8, V7.H8; VZIP2 V5.H8, V3.H8, V3.H8; \
	VZIP1 V6.H8, V4.H8, V5.H8; VZIP2 V6.H8, V4.H8, V4.H8

#define DDOT(s) SDOT6(7, 0, s); SDOT6(3, 1, s); SDOT6(5, 2, s); SDOT6(4, 3, s)

// NARROW packs int16 A rows loaded in V3..V6 (rows 2j, 2j+1, 2j+2, 2j+3)
// to int8, two rows per register.
#define NARROW(j) XTNH(j, 3); XTN2H(j, 4); XTNH(j+1, 5); XTN2H(j+1, 6)

// func sdot6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)
// As igemm6x16 with SDOT: A's int16 values (int8 by contract) narrow back
// to int8, and two pairs of B zip into SDOT's groups of four. Four pairs
// per loop step, then a tail of two and of one (with zero high bytes).
TEXT ·sdot6x16(SB), NOSPLIT, $0-80
	MOVD kp+0(FP), R0
	MOVD a+8(FP), R6
	MOVD lda+16(FP), R2
	LSL  $1, R2
	MOVD b+24(FP), R3
	MOVD mr+72(FP), R5
	ROWS
	ZERO
	LSR  $2, R0, R12
	CBZ  R12, two

loop:
	VLD1.P 16(R6), [V3.H8]
	VLD1.P 16(R7), [V4.H8]
	VLD1.P 16(R8), [V5.H8]
	VLD1.P 16(R9), [V6.H8]
	NARROW(0)
	VLD1.P 16(R10), [V3.H8]
	VLD1.P 16(R11), [V4.H8]
	XTNH(2, 3)
	XTN2H(2, 4)
	VLD1.P 64(R3), [V3.B16, V4.B16, V5.B16, V6.B16]
	DZIP
	DDOT(0)
	VLD1.P 64(R3), [V3.B16, V4.B16, V5.B16, V6.B16]
	DZIP
	DDOT(1)
	SUB  $1, R12
	CBNZ R12, loop

two:
	TBZ $1, R0, one
	FMOVD.P 8(R6), F3
	FMOVD.P 8(R7), F4
	FMOVD.P 8(R8), F5
	FMOVD.P 8(R9), F6
	NARROW(0)
	FMOVD.P 8(R10), F3
	FMOVD.P 8(R11), F4
	XTNH(2, 3)
	XTN2H(2, 4)
	VLD1.P 64(R3), [V3.B16, V4.B16, V5.B16, V6.B16]
	DZIP
	DDOT(0)

one:
	TBZ $0, R0, store
	FMOVS.P 4(R6), F3
	FMOVS.P 4(R7), F4
	FMOVS.P 4(R8), F5
	FMOVS.P 4(R9), F6
	NARROW(0)
	FMOVS.P 4(R10), F3
	FMOVS.P 4(R11), F4
	XTNH(2, 3)
	XTN2H(2, 4)
	VLD1 (R3), [V3.B16, V4.B16]
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	DZIP
	DDOT(0)

store:
	I8STORE

done:
	RET

// Register-only throughput loops for MeasurePeak: twelve independent chains
// of accumulators V8..V19 on a constant operand in V0. Each returns lane 0
// of the sum of the chains, which counts the operations that ran.

// func peakFMLA(n int) float32
// FMLA 1·1: every lane of each chain ends at n; the result is 12n.
TEXT ·peakFMLA(SB), NOSPLIT, $0-12
	PEAKSETUP($0x3f800000)

fmla:
	EACH12(PFMLA)
	SUB  $1, R0
	CBNZ R0, fmla
	SUM12(FADDV)
	FMOVS F8, ret+8(FP)
	RET

// func peakSDOT(n int) int64
// SDOT with all-ones bytes: lane 0 of each chain ends at 4n; the result is 48n.
TEXT ·peakSDOT(SB), NOSPLIT, $0-16
	PEAKSETUP($0x01010101)

sdot:
	EACH12(PSDOT)
	SUB  $1, R0
	CBNZ R0, sdot
	ISUM

// func peakSMLAL(n int) int64
// SMLAL by element with all-ones halfwords: lane 0 of each chain ends at n;
// the result is 12n.
TEXT ·peakSMLAL(SB), NOSPLIT, $0-16
	PEAKSETUP($0x00010001)

smlal:
	EACH12(PSMLAL)
	SUB  $1, R0
	CBNZ R0, smlal
	ISUM
