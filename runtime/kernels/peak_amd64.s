#include "textflag.h"

// Register-only throughput loops for MeasurePeak: twelve independent chains
// of accumulators Y0..Y11 (eight were too few to cover the latency) on a
// constant operand in Y12 (temporary Y13, int16 ones in Y14). Each returns
// lane 0 of the sum of the chains, which counts the operations that ran.

#define ZERO12 \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; VPXOR Y9, Y9, Y9; VPXOR Y10, Y10, Y10; VPXOR Y11, Y11, Y11

// EACH12 applies OP to each accumulator.
#define EACH12(OP) \
	OP(Y0); OP(Y1); OP(Y2); OP(Y3); OP(Y4); OP(Y5); OP(Y6); OP(Y7); OP(Y8); OP(Y9); OP(Y10); OP(Y11)

// SUM12 adds the accumulators into Y0 with ADD (VADDPS or VPADDD).
#define SUM12(ADD) \
	ADD Y1, Y0, Y0; ADD Y3, Y2, Y2; ADD Y5, Y4, Y4; ADD Y7, Y6, Y6; ADD Y9, Y8, Y8; ADD Y11, Y10, Y10; \
	ADD Y2, Y0, Y0; ADD Y6, Y4, Y4; ADD Y10, Y8, Y8; ADD Y4, Y0, Y0; ADD Y8, Y0, Y0

// BCAST32 sets every 32-bit lane of y to the constant v (via AX and x).
#define BCAST32(v, x, y) MOVL v, AX; MOVQ AX, x; VPBROADCASTD x, y

// ISUM leaves lane 0 of the int32 accumulators' sum in AX, zero-extended.
#define ISUM SUM12(VPADDD); VZEROUPPER; MOVQ X0, AX; MOVL AX, AX

// FMA adds 1·1 to every lane of acc.
#define FMA(acc) VFMADD231PS Y12, Y12, acc

// func peakFMA(n int) float32
// Every lane of each chain ends at n; the result is 12n.
TEXT ·peakFMA(SB), NOSPLIT, $0-12
	MOVQ n+0(FP), CX
	BCAST32($0x3f800000, X12, Y12)
	ZERO12

fma:
	EACH12(FMA)
	DECQ CX
	JNZ  fma
	SUM12(VADDPS)
	VZEROUPPER
	MOVSS X0, ret+8(FP)
	RET

// UBS adds the u8×s8 quad products of Y12·Y12 (4 per int32 lane) to acc.
#define UBS(acc) VPMADDUBSW Y12, Y12, Y13; VPMADDWD Y14, Y13, Y13; VPADDD Y13, acc, acc

// func peakMADDUBSW(n int) int64
// VPMADDUBSW + VPMADDWD(1) + VPADDD, the mix of ugemm6x16: lane 0 of each
// chain ends at 4n; the result is 48n.
TEXT ·peakMADDUBSW(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	BCAST32($0x01010101, X12, Y12)
	BCAST32($0x00010001, X14, Y14)
	ZERO12

ubs:
	EACH12(UBS)
	DECQ CX
	JNZ  ubs
	ISUM
	MOVQ AX, ret+8(FP)
	RET

