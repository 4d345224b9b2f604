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

// The u8×s8 tile below is the AVX2 int8 kernel: activations are unsigned
// codes in [0, 128] with a per-row zero point, weights int8, packed
// [kq][16 columns][4]. VPMADDUBSW multiplies four bytes of a row against each
// column and sums them in pairs to int16; a pair is at most 2·128·128 in
// magnitude, so it cannot saturate, and VPMADDWD by ones widens the pairs to
// int32. That is three instructions per 32 multiply-adds where an int16 tile
// needs four (and the widening of B), and the weights are read from memory
// as operands, so no register holds B.

// UROW multiplies the four A bytes at aoff(row)(BX) with the 16 columns at
// boff(SI) into two accumulators (Y13 holds int16 ones).
#define UROW(aoff, boff, row, c0, c1) \
	VPBROADCASTD aoff(row)(BX*1), Y14; \
	VPMADDUBSW boff(SI), Y14, Y15; VPMADDWD Y13, Y15, Y15; VPADDD Y15, c0, c0; \
	VPMADDUBSW boff+32(SI), Y14, Y12; VPMADDWD Y13, Y12, Y12; VPADDD Y12, c1, c1

// UBS6 and UBS4 are one quad of k for the six- and four-row tiles.
#define UBS6(aoff, boff) \
	UROW(aoff, boff, R8, Y0, Y1); UROW(aoff, boff, R9, Y2, Y3); UROW(aoff, boff, R10, Y4, Y5); \
	UROW(aoff, boff, R11, Y6, Y7); UROW(aoff, boff, R13, Y8, Y9); UROW(aoff, boff, R14, Y10, Y11)

#define UBS4(aoff, boff) \
	UROW(aoff, boff, R8, Y0, Y1); UROW(aoff, boff, R9, Y2, Y3); UROW(aoff, boff, R10, Y4, Y5); \
	UROW(aoff, boff, R11, Y6, Y7)

// U8K is ugemm6x16's k loop over CX quads: two per pass, then one.
#define U8K(STEP, l2, rest) \
	MOVQ CX, DX; SHRQ $1, CX; JZ rest; \
l2: \
	STEP(0, 0); STEP(4, 64); \
	ADDQ $128, SI; ADDQ $8, BX; DECQ CX; JNZ l2; \
rest: \
	TESTQ $1, DX; JZ store; STEP(0, 0); \
	JMP store

// USTORE subtracts the row's zero point (at R9) times the column sums (at
// R10) from a row of int32 sums, converts to float, multiplies by the row
// scale at (DI) and the column scales (Y12, Y13), adds the bias at (R8) and
// stores at DX.
#define USTORE(c0, c1) \
	VPBROADCASTD (R9), Y14; ADDQ $4, R9; \
	VPMULLD (R10), Y14, Y15; VPSUBD Y15, c0, c0; \
	VPMULLD 32(R10), Y14, Y15; VPSUBD Y15, c1, c1; \
	VBROADCASTSS (DI), Y14; ADDQ $4, DI; \
	VCVTDQ2PS c0, c0; VMULPS Y14, c0, c0; VMULPS Y12, c0, c0; VADDPS (R8), c0, c0; VMOVUPS c0, (DX); \
	VCVTDQ2PS c1, c1; VMULPS Y14, c1, c1; VMULPS Y13, c1, c1; VADDPS 32(R8), c1, c1; VMOVUPS c1, 32(DX)

// func ugemm6x16(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, sa *float32, za *int32, sb *float32, cs *int32, bias *float32, mr int)
// C[r, j] = (Σ_p A[r, p]·B[p, j] − za[r]·cs[j])·sa[r]·sb[j] + bias[j] for
// r < mr ≤ 6, with exact int32 sums over kq quads of k.
TEXT ·ugemm6x16(SB), NOSPLIT, $0-96
	MOVQ kq+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ lda+16(FP), AX
	MOVQ b+24(FP), SI
	MOVQ mr+88(FP), DX
	ROWS
	ZERO
	MOVL $0x00010001, R12
	MOVQ R12, X13
	VPBROADCASTD X13, Y13
	XORQ BX, BX
	TESTQ CX, CX
	JZ   store

	MOVQ mr+88(FP), R12
	CMPQ R12, $4
	JLE  four
	U8K(UBS6, loop2, one)

four:
	U8K(UBS4, floop2, fone)

store:
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), AX
	SHLQ $2, AX
	MOVQ sa+48(FP), DI
	MOVQ za+56(FP), R9
	MOVQ sb+64(FP), R8
	VMOVUPS (R8), Y12
	VMOVUPS 32(R8), Y13
	MOVQ cs+72(FP), R10
	MOVQ bias+80(FP), R8
	MOVQ mr+88(FP), CX
	USTORE(Y0, Y1)
	NEXT
	USTORE(Y2, Y3)
	NEXT
	USTORE(Y4, Y5)
	NEXT
	USTORE(Y6, Y7)
	NEXT
	USTORE(Y8, Y9)
	NEXT
	USTORE(Y10, Y11)

done:
	VZEROUPPER
	RET
