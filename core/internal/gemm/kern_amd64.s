//go:build amd64 && !purego

#include "textflag.h"

// func kern6x8AVX2(k int, a, b, c *float64, ldc int)
//
// c[r*ldc+q] += Σ_l a[l*6+r]·b[l*8+q] for r < 6, q < 8. Twelve YMM
// accumulators hold the 6×8 block; Y12, Y13 a row of the panel; Y14, Y15
// the broadcast elements of A.
TEXT ·kern6x8AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11

	TESTQ CX, CX
	JZ    store6

loop6:
	VMOVUPD      (DI), Y12
	VMOVUPD      32(DI), Y13
	VBROADCASTSD (SI), Y14
	VFMADD231PD  Y12, Y14, Y0
	VFMADD231PD  Y13, Y14, Y1
	VBROADCASTSD 8(SI), Y15
	VFMADD231PD  Y12, Y15, Y2
	VFMADD231PD  Y13, Y15, Y3
	VBROADCASTSD 16(SI), Y14
	VFMADD231PD  Y12, Y14, Y4
	VFMADD231PD  Y13, Y14, Y5
	VBROADCASTSD 24(SI), Y15
	VFMADD231PD  Y12, Y15, Y6
	VFMADD231PD  Y13, Y15, Y7
	VBROADCASTSD 32(SI), Y14
	VFMADD231PD  Y12, Y14, Y8
	VFMADD231PD  Y13, Y14, Y9
	VBROADCASTSD 40(SI), Y15
	VFMADD231PD  Y12, Y15, Y10
	VFMADD231PD  Y13, Y15, Y11
	ADDQ         $48, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          loop6

store6:
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y2, Y2
	VMOVUPD Y2, (DX)
	VADDPD  32(DX), Y3, Y3
	VMOVUPD Y3, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y4, Y4
	VMOVUPD Y4, (DX)
	VADDPD  32(DX), Y5, Y5
	VMOVUPD Y5, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y6, Y6
	VMOVUPD Y6, (DX)
	VADDPD  32(DX), Y7, Y7
	VMOVUPD Y7, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y8, Y8
	VMOVUPD Y8, (DX)
	VADDPD  32(DX), Y9, Y9
	VMOVUPD Y9, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y10, Y10
	VMOVUPD Y10, (DX)
	VADDPD  32(DX), Y11, Y11
	VMOVUPD Y11, 32(DX)
	VZEROUPPER
	RET

// func kern1x8AVX2(k int, a, b, c *float64)
//
// c[q] += Σ_l a[l]·b[l*8+q] for q < 8. Four accumulator pairs, one for each
// of four consecutive l, keep four FMA chains in flight; they are summed at
// the end.
TEXT ·kern1x8AVX2(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

	CMPQ CX, $4
	JLT  tail1

loop1:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	VBROADCASTSD 8(SI), Y9
	VFMADD231PD  64(DI), Y9, Y2
	VFMADD231PD  96(DI), Y9, Y3
	VBROADCASTSD 16(SI), Y10
	VFMADD231PD  128(DI), Y10, Y4
	VFMADD231PD  160(DI), Y10, Y5
	VBROADCASTSD 24(SI), Y11
	VFMADD231PD  192(DI), Y11, Y6
	VFMADD231PD  224(DI), Y11, Y7
	ADDQ         $32, SI
	ADDQ         $256, DI
	SUBQ         $4, CX
	CMPQ         CX, $4
	JGE          loop1

tail1:
	TESTQ CX, CX
	JZ    sum1

tailloop1:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	ADDQ         $8, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          tailloop1

sum1:
	VADDPD  Y2, Y0, Y0
	VADDPD  Y3, Y1, Y1
	VADDPD  Y6, Y4, Y4
	VADDPD  Y7, Y5, Y5
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	VZEROUPPER
	RET

// func kern1x16AVX2(k int, a, b0, b1, c *float64)
//
// c[q] += Σ_l a[l]·b0[l*8+q] and c[8+q] += Σ_l a[l]·b1[l*8+q] for q < 8:
// one row against two panels, so each broadcast of a[l] feeds four FMAs.
// Two accumulator sets, for even and odd l, keep eight FMA chains in flight.
TEXT ·kern1x16AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), BX
	MOVQ c+32(FP), DX

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

	CMPQ CX, $2
	JLT  tail16

loop16:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	VFMADD231PD  (BX), Y8, Y2
	VFMADD231PD  32(BX), Y8, Y3
	VBROADCASTSD 8(SI), Y9
	VFMADD231PD  64(DI), Y9, Y4
	VFMADD231PD  96(DI), Y9, Y5
	VFMADD231PD  64(BX), Y9, Y6
	VFMADD231PD  96(BX), Y9, Y7
	ADDQ         $16, SI
	ADDQ         $128, DI
	ADDQ         $128, BX
	SUBQ         $2, CX
	CMPQ         CX, $2
	JGE          loop16

tail16:
	TESTQ CX, CX
	JZ    sum16
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	VFMADD231PD  (BX), Y8, Y2
	VFMADD231PD  32(BX), Y8, Y3

sum16:
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  Y6, Y2, Y2
	VADDPD  Y7, Y3, Y3
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	VADDPD  64(DX), Y2, Y2
	VMOVUPD Y2, 64(DX)
	VADDPD  96(DX), Y3, Y3
	VMOVUPD Y3, 96(DX)
	VZEROUPPER
	RET

// func kern1x16SparseAVX2(a, b0, b1, c *float64, even, odd *int32, ne, no int)
//
// kern1x16AVX2 over the nonzero elements of a only: even and odd hold the
// indexes l of a's nonzero elements at even and odd l, ascending. Each
// index goes to the accumulators its parity has in kern1x16AVX2 (Y0–Y3
// even, Y4–Y7 odd), in the same order, so the result is the dense
// kernel's bit for bit: a skipped term adds a zero product to an
// accumulator that is never −0.
TEXT ·kern1x16SparseAVX2(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), SI
	MOVQ b0+8(FP), DI
	MOVQ b1+16(FP), BX
	MOVQ c+24(FP), DX
	MOVQ even+32(FP), R8
	MOVQ odd+40(FP), R9
	MOVQ ne+48(FP), R10
	MOVQ no+56(FP), R11

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

pairs:
	TESTQ R10, R10
	JZ    odds
	TESTQ R11, R11
	JZ    evens
	MOVLQSX      (R8), AX
	MOVLQSX      (R9), R12
	VBROADCASTSD (SI)(AX*8), Y8
	SHLQ         $6, AX
	VFMADD231PD  (DI)(AX*1), Y8, Y0
	VFMADD231PD  32(DI)(AX*1), Y8, Y1
	VFMADD231PD  (BX)(AX*1), Y8, Y2
	VFMADD231PD  32(BX)(AX*1), Y8, Y3
	VBROADCASTSD (SI)(R12*8), Y9
	SHLQ         $6, R12
	VFMADD231PD  (DI)(R12*1), Y9, Y4
	VFMADD231PD  32(DI)(R12*1), Y9, Y5
	VFMADD231PD  (BX)(R12*1), Y9, Y6
	VFMADD231PD  32(BX)(R12*1), Y9, Y7
	ADDQ         $4, R8
	ADDQ         $4, R9
	DECQ         R10
	DECQ         R11
	JMP          pairs

evens:
	TESTQ        R10, R10
	JZ           sumsp
	MOVLQSX      (R8), AX
	VBROADCASTSD (SI)(AX*8), Y8
	SHLQ         $6, AX
	VFMADD231PD  (DI)(AX*1), Y8, Y0
	VFMADD231PD  32(DI)(AX*1), Y8, Y1
	VFMADD231PD  (BX)(AX*1), Y8, Y2
	VFMADD231PD  32(BX)(AX*1), Y8, Y3
	ADDQ         $4, R8
	DECQ         R10
	JMP          evens

odds:
	TESTQ        R11, R11
	JZ           sumsp
	MOVLQSX      (R9), R12
	VBROADCASTSD (SI)(R12*8), Y9
	SHLQ         $6, R12
	VFMADD231PD  (DI)(R12*1), Y9, Y4
	VFMADD231PD  32(DI)(R12*1), Y9, Y5
	VFMADD231PD  (BX)(R12*1), Y9, Y6
	VFMADD231PD  32(BX)(R12*1), Y9, Y7
	ADDQ         $4, R9
	DECQ         R11
	JMP          odds

sumsp:
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  Y6, Y2, Y2
	VADDPD  Y7, Y3, Y3
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	VADDPD  64(DX), Y2, Y2
	VMOVUPD Y2, 64(DX)
	VADDPD  96(DX), Y3, Y3
	VMOVUPD Y3, 96(DX)
	VZEROUPPER
	RET
