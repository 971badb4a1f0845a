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

// The single-row kernels below sum each output exactly as the 6×8 block
// does: one accumulator per element, starting at +0, one FMA for each l in
// order, then added to c. So a row's result does not depend on whether it
// went through the block or alone, on its place in a batch, or on the batch
// size: a batch split in any way gives the same values bit for bit.

// func kern1x8AVX2(k int, a, b, c *float64)
//
// c[q] += Σ_l a[l]·b[l*8+q] for q < 8, in the order of l.
TEXT ·kern1x8AVX2(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	TESTQ  CX, CX
	JZ     store8

loop8:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	ADDQ         $8, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          loop8

store8:
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	VZEROUPPER
	RET

// func kern1x16AVX2(k int, a, b, c *float64, stride int)
//
// c[q] += Σ_l a[l]·b[p*stride+l*8+q'] for the two panels p = 0, 1 that start
// stride elements apart (q = 8p + q'), in the order of l.
TEXT ·kern1x16AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $3, R8
	LEAQ (DI)(R8*1), BX

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	TESTQ  CX, CX
	JZ     store16

loop16:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI), Y8, Y0
	VFMADD231PD  32(DI), Y8, Y1
	VFMADD231PD  (BX), Y8, Y2
	VFMADD231PD  32(BX), Y8, Y3
	ADDQ         $8, SI
	ADDQ         $64, DI
	ADDQ         $64, BX
	DECQ         CX
	JNZ          loop16

store16:
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

// ADD32 adds the accumulators Y0–Y7 to the 32 values at DX: the end of the
// 1×32 kernels, dense and sparse.
#define ADD32 \
	VADDPD  (DX), Y0, Y0;    VMOVUPD Y0, (DX);    \
	VADDPD  32(DX), Y1, Y1;  VMOVUPD Y1, 32(DX);  \
	VADDPD  64(DX), Y2, Y2;  VMOVUPD Y2, 64(DX);  \
	VADDPD  96(DX), Y3, Y3;  VMOVUPD Y3, 96(DX);  \
	VADDPD  128(DX), Y4, Y4; VMOVUPD Y4, 128(DX); \
	VADDPD  160(DX), Y5, Y5; VMOVUPD Y5, 160(DX); \
	VADDPD  192(DX), Y6, Y6; VMOVUPD Y6, 192(DX); \
	VADDPD  224(DX), Y7, Y7; VMOVUPD Y7, 224(DX)

// func kern1x32AVX2(k int, a, b, c *float64, stride int)
//
// kern1x16AVX2 over four panels: each broadcast of a[l] feeds eight FMAs,
// and eight independent chains keep both FMA units busy.
TEXT ·kern1x32AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $3, R8
	LEAQ (DI)(R8*1), BX
	LEAQ (BX)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	XORQ AX, AX

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ  CX, CX
	JZ     store32

loop32:
	VBROADCASTSD (SI), Y8
	VFMADD231PD  (DI)(AX*1), Y8, Y0
	VFMADD231PD  32(DI)(AX*1), Y8, Y1
	VFMADD231PD  (BX)(AX*1), Y8, Y2
	VFMADD231PD  32(BX)(AX*1), Y8, Y3
	VFMADD231PD  (R9)(AX*1), Y8, Y4
	VFMADD231PD  32(R9)(AX*1), Y8, Y5
	VFMADD231PD  (R10)(AX*1), Y8, Y6
	VFMADD231PD  32(R10)(AX*1), Y8, Y7
	ADDQ         $8, SI
	ADDQ         $64, AX
	DECQ         CX
	JNZ          loop32

store32:
	ADD32
	VZEROUPPER
	RET

// func kern1x32SparseAVX2(a, b, c *float64, stride int, idx *int32, n int)
//
// kern1x32AVX2 over the n indexes l in idx only (a's nonzero elements,
// ascending): the same products in the same order, less products of zero,
// which leave an accumulator that is never −0 unchanged. So the result is
// the dense kernel's bit for bit.
TEXT ·kern1x32SparseAVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ c+16(FP), DX
	MOVQ stride+24(FP), R8
	MOVQ idx+32(FP), R11
	MOVQ n+40(FP), CX
	SHLQ $3, R8
	LEAQ (DI)(R8*1), BX
	LEAQ (BX)(R8*1), R9
	LEAQ (R9)(R8*1), R10

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ  CX, CX
	JZ     storesp

loopsp:
	MOVLQSX      (R11), AX
	VBROADCASTSD (SI)(AX*8), Y8
	SHLQ         $6, AX
	VFMADD231PD  (DI)(AX*1), Y8, Y0
	VFMADD231PD  32(DI)(AX*1), Y8, Y1
	VFMADD231PD  (BX)(AX*1), Y8, Y2
	VFMADD231PD  32(BX)(AX*1), Y8, Y3
	VFMADD231PD  (R9)(AX*1), Y8, Y4
	VFMADD231PD  32(R9)(AX*1), Y8, Y5
	VFMADD231PD  (R10)(AX*1), Y8, Y6
	VFMADD231PD  32(R10)(AX*1), Y8, Y7
	ADDQ         $4, R11
	DECQ         CX
	JNZ          loopsp

storesp:
	ADD32
	VZEROUPPER
	RET
