#include "textflag.h"

// The 6×16 micro-kernels below keep a 6-row by 16-column tile of C in twelve
// YMM accumulators (Y0..Y11, row r in Y(2r), Y(2r+1)). Each step of k loads
// 16 values of B (two vectors, Y12 and Y13), broadcasts one value of each of
// the six A rows and issues twelve multiply-adds. Rows at or past mr read the
// last valid row (so no load leaves A) and are not stored.

// ROWS sets R8, R9, R10, R11, R13, R14 to the six A rows from R8, stride AX,
// clamped to the last of DX rows.
#define ROWS \
	LEAQ (R8)(AX*1), R9; CMPQ DX, $1; CMOVQLE R8, R9; \
	LEAQ (R9)(AX*1), R10; CMPQ DX, $2; CMOVQLE R9, R10; \
	LEAQ (R10)(AX*1), R11; CMPQ DX, $3; CMOVQLE R10, R11; \
	LEAQ (R11)(AX*1), R13; CMPQ DX, $4; CMOVQLE R11, R13; \
	LEAQ (R13)(AX*1), R14; CMPQ DX, $5; CMOVQLE R13, R14

// ZERO clears the twelve accumulators (float or int32 alike).
#define ZERO \
	VXORPS Y0, Y0, Y0; VXORPS Y1, Y1, Y1; VXORPS Y2, Y2, Y2; VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; VXORPS Y9, Y9, Y9; VXORPS Y10, Y10, Y10; VXORPS Y11, Y11, Y11

// FMAROW multiplies the broadcast A value at off(row)(BX) into two
// accumulators; off is the byte offset of the step within an unrolled loop.
#define FMAROW(off, row, t, c0, c1) \
	VBROADCASTSS off(row)(BX*1), t; VFMADD231PS Y12, t, c0; VFMADD231PS Y13, t, c1

// FMA6 and FMA4 are one step of k for the six- and four-row tiles.
#define FMA6(off) \
	FMAROW(off, R8, Y14, Y0, Y1); FMAROW(off, R9, Y15, Y2, Y3); FMAROW(off, R10, Y14, Y4, Y5); \
	FMAROW(off, R11, Y15, Y6, Y7); FMAROW(off, R13, Y14, Y8, Y9); FMAROW(off, R14, Y15, Y10, Y11)

#define FMA4(off) \
	FMAROW(off, R8, Y14, Y0, Y1); FMAROW(off, R9, Y15, Y2, Y3); FMAROW(off, R10, Y14, Y4, Y5); \
	FMAROW(off, R11, Y15, Y6, Y7)

// FOURROWS jumps to label when mr ≤ 4: those tiles run the k loop over four
// rows only instead of computing six and storing fewer.
#define FOURROWS(label) \
	MOVQ mr+64(FP), R12; CMPQ R12, $4; JLE label

// FOURROWSI is FOURROWS for igemm6x16, whose mr is one argument later.
#define FOURROWSI(label) \
	MOVQ mr+72(FP), R12; CMPQ R12, $4; JLE label

// The k loops take the step macro (six or four rows) and their labels as
// arguments, so both tile heights share one loop. Each ends at store.

// F32B loads row q of the f32 B panel (SI, stride DI; R12 = 3·DI).
#define F32B(q) VMOVUPS (SI)(q), Y12; VMOVUPS 32(SI)(q), Y13

// F32K is sgemm6x16's k loop over CX steps: four per pass, then one at a time.
#define F32K(STEP, l4, rest, l1) \
	MOVQ CX, DX; SHRQ $2, CX; JZ rest; LEAQ (DI)(DI*2), R12; \
l4: \
	VMOVUPS (SI), Y12; VMOVUPS 32(SI), Y13; STEP(0); \
	F32B(DI*1); STEP(4); F32B(DI*2); STEP(8); F32B(R12*1); STEP(12); \
	LEAQ (SI)(DI*4), SI; ADDQ $16, BX; DECQ CX; JNZ l4; \
rest: \
	ANDQ $3, DX; JZ store; \
l1: \
	VMOVUPS (SI), Y12; VMOVUPS 32(SI), Y13; STEP(0); \
	ADDQ DI, SI; ADDQ $4, BX; DECQ DX; JNZ l1; \
	JMP store

// W8B widens the 16 int8 B values at off(SI) to floats in Y12, Y13.
#define W8B(off) \
	VPMOVSXBD off(SI), Y12; VPMOVSXBD off+8(SI), Y13; VCVTDQ2PS Y12, Y12; VCVTDQ2PS Y13, Y13

// W8K is wgemm6x16's k loop over CX steps: two per pass, then one.
#define W8K(STEP, l2, rest) \
	MOVQ CX, DX; SHRQ $1, CX; JZ rest; \
l2: \
	W8B(0); STEP(0); W8B(16); STEP(4); \
	ADDQ $32, SI; ADDQ $8, BX; DECQ CX; JNZ l2; \
rest: \
	TESTQ $1, DX; JZ store; W8B(0); STEP(0); \
	JMP store

// STORE adds the bias (Y12, Y13) to a row and stores it at DX.
#define STORE(c0, c1) \
	VADDPS Y12, c0, c0; VMOVUPS c0, (DX); VADDPS Y13, c1, c1; VMOVUPS c1, 32(DX)

// SCALESTORE multiplies a row by the column scales (Y12, Y13), adds the bias
// at (DI) and stores it at DX.
#define SCALESTORE(c0, c1) \
	VMULPS Y12, c0, c0; VADDPS (DI), c0, c0; VMOVUPS c0, (DX); \
	VMULPS Y13, c1, c1; VADDPS 32(DI), c1, c1; VMOVUPS c1, 32(DX)

// NEXT moves DX to the next row of C, or ends when CX rows are stored.
#define NEXT \
	DECQ CX; JZ done; ADDQ AX, DX

// func sgemm6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, mr int)
// C[r, 0:16] = Σ_p A[r, p]·B[p, 0:16] + bias[0:16] for r < mr ≤ 6.
TEXT ·sgemm6x16(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ lda+16(FP), AX
	SHLQ $2, AX
	MOVQ b+24(FP), SI
	MOVQ ldb+32(FP), DI
	SHLQ $2, DI
	MOVQ mr+64(FP), DX
	ROWS
	ZERO
	XORQ BX, BX
	TESTQ CX, CX
	JZ   store
	FOURROWS(four)
	F32K(FMA6, loop4, one, loop1)

four:
	F32K(FMA4, floop4, fone, floop1)

store:
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), AX
	SHLQ $2, AX
	MOVQ bias+56(FP), DI
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	MOVQ mr+64(FP), CX
	STORE(Y0, Y1)
	NEXT
	STORE(Y2, Y3)
	NEXT
	STORE(Y4, Y5)
	NEXT
	STORE(Y6, Y7)
	NEXT
	STORE(Y8, Y9)
	NEXT
	STORE(Y10, Y11)

done:
	VZEROUPPER
	RET

// func wgemm6x16(k int, a *float32, lda int, b *int8, c *float32, ldc int, scale *float32, bias *float32, mr int)
// As sgemm6x16 with int8 B packed [k][16], widened to float in the loop;
// the per-column scale is applied once to the sums.
TEXT ·wgemm6x16(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ lda+16(FP), AX
	SHLQ $2, AX
	MOVQ b+24(FP), SI
	MOVQ mr+64(FP), DX
	ROWS
	ZERO
	XORQ BX, BX
	TESTQ CX, CX
	JZ   store

	FOURROWS(four)
	W8K(FMA6, loop2, one)

four:
	W8K(FMA4, floop2, fone)

store:
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), AX
	SHLQ $2, AX
	MOVQ scale+48(FP), DI
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	MOVQ bias+56(FP), DI
	MOVQ mr+64(FP), CX
	SCALESTORE(Y0, Y1)
	NEXT
	SCALESTORE(Y2, Y3)
	NEXT
	SCALESTORE(Y4, Y5)
	NEXT
	SCALESTORE(Y6, Y7)
	NEXT
	SCALESTORE(Y8, Y9)
	NEXT
	SCALESTORE(Y10, Y11)

done:
	VZEROUPPER
	RET

// MADDROW multiplies the broadcast pair of int16 A values at off(row)(BX)
// with the int16 pairs of B and adds the int32 sums into two accumulators.
#define MADDROW(off, row, c0, c1) \
	VPBROADCASTD off(row)(BX*1), Y14; \
	VPMADDWD Y12, Y14, Y15; VPADDD Y15, c0, c0; \
	VPMADDWD Y13, Y14, Y15; VPADDD Y15, c1, c1

// MADD6 and MADD4 are one pair of k for the six- and four-row tiles.
#define MADD6(off) \
	MADDROW(off, R8, Y0, Y1); MADDROW(off, R9, Y2, Y3); MADDROW(off, R10, Y4, Y5); \
	MADDROW(off, R11, Y6, Y7); MADDROW(off, R13, Y8, Y9); MADDROW(off, R14, Y10, Y11)

#define MADD4(off) \
	MADDROW(off, R8, Y0, Y1); MADDROW(off, R9, Y2, Y3); MADDROW(off, R10, Y4, Y5); \
	MADDROW(off, R11, Y6, Y7)

// I8B widens the 16 columns × 2 int8 B values at off(SI) to int16.
#define I8B(off) VPMOVSXBW off(SI), Y12; VPMOVSXBW off+16(SI), Y13

// I8K is igemm6x16's k loop over CX pairs: two per pass, then one.
#define I8K(STEP, l2, rest) \
	MOVQ CX, DX; SHRQ $1, CX; JZ rest; \
l2: \
	I8B(0); STEP(0); I8B(32); STEP(4); \
	ADDQ $64, SI; ADDQ $8, BX; DECQ CX; JNZ l2; \
rest: \
	TESTQ $1, DX; JZ store; I8B(0); STEP(0); \
	JMP store

// ISTORE converts a row of int32 sums to float, multiplies by the row scale
// at (DI) and the column scales (Y12, Y13), adds the bias at (R8), stores at DX.
#define ISTORE(c0, c1) \
	VBROADCASTSS (DI), Y14; ADDQ $4, DI; \
	VCVTDQ2PS c0, c0; VMULPS Y14, c0, c0; VMULPS Y12, c0, c0; VADDPS (R8), c0, c0; VMOVUPS c0, (DX); \
	VCVTDQ2PS c1, c1; VMULPS Y14, c1, c1; VMULPS Y13, c1, c1; VADDPS 32(R8), c1, c1; VMOVUPS c1, 32(DX)

// func igemm6x16(kp int, a *int16, lda int, b *int8, c *float32, ldc int, sa, sb, bias *float32, mr int)
// Exact int32 products of int16-widened int8 operands: A is [mr][2·kp] int16,
// B is packed [kp][16 columns][2] int8. VPMADDWD cannot saturate here since
// each product pair is at most 2·128² < 2³¹.
TEXT ·igemm6x16(SB), NOSPLIT, $0-80
	MOVQ kp+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ lda+16(FP), AX
	SHLQ $1, AX
	MOVQ b+24(FP), SI
	MOVQ mr+72(FP), DX
	ROWS
	ZERO
	XORQ BX, BX
	TESTQ CX, CX
	JZ   store

	FOURROWSI(four)
	I8K(MADD6, loop2, one)

four:
	I8K(MADD4, floop2, fone)

store:
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), AX
	SHLQ $2, AX
	MOVQ sa+48(FP), DI
	MOVQ sb+56(FP), R8
	VMOVUPS (R8), Y12
	VMOVUPS 32(R8), Y13
	MOVQ bias+64(FP), R8
	MOVQ mr+72(FP), CX
	ISTORE(Y0, Y1)
	NEXT
	ISTORE(Y2, Y3)
	NEXT
	ISTORE(Y4, Y5)
	NEXT
	ISTORE(Y6, Y7)
	NEXT
	ISTORE(Y8, Y9)
	NEXT
	ISTORE(Y10, Y11)

done:
	VZEROUPPER
	RET
