//go:build amd64 && !purego

#include "textflag.h"

// The float32 kernels: kern_amd64.s's, with eight float32 lanes a register
// and 16-wide panels, so each instruction does twice the arithmetic. Each
// output is one float32 FMA chain from +0 in the order of l, as there;
// ADDF32 then widens an accumulator to float64 and adds it to c.

// ADDF32 adds the eight float32 of accumulator y (x its low half) to the
// eight float64 at off(DX), through Y14 and Y15.
#define ADDF32(y, x, off) \
	VCVTPS2PD    x, Y14;              \
	VEXTRACTF128 $1, y, X15;          \
	VCVTPS2PD    X15, Y15;            \
	VADDPD       off(DX), Y14, Y14;   \
	VMOVUPD      Y14, off(DX);        \
	VADDPD       off+32(DX), Y15, Y15; \
	VMOVUPD      Y15, off+32(DX)

// func kern6x16F32AVX2(k int, a, b *float32, c *float64, ldc int)
//
// c[r*ldc+q] += Σ_l a[l*6+r]·b[l*16+q] for r < 6, q < 16: twelve YMM
// accumulators, Y12, Y13 a row of the panel, Y14, Y15 the broadcasts.
TEXT ·kern6x16F32AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JZ    store6f

loop6f:
	VMOVUPS      (DI), Y12
	VMOVUPS      32(DI), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS 4(SI), Y15
	VFMADD231PS  Y12, Y15, Y2
	VFMADD231PS  Y13, Y15, Y3
	VBROADCASTSS 8(SI), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS 12(SI), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VBROADCASTSS 16(SI), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS 20(SI), Y15
	VFMADD231PS  Y12, Y15, Y10
	VFMADD231PS  Y13, Y15, Y11
	ADDQ         $24, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          loop6f

store6f:
	ADDF32(Y0, X0, 0)
	ADDF32(Y1, X1, 64)
	ADDQ R8, DX
	ADDF32(Y2, X2, 0)
	ADDF32(Y3, X3, 64)
	ADDQ R8, DX
	ADDF32(Y4, X4, 0)
	ADDF32(Y5, X5, 64)
	ADDQ R8, DX
	ADDF32(Y6, X6, 0)
	ADDF32(Y7, X7, 64)
	ADDQ R8, DX
	ADDF32(Y8, X8, 0)
	ADDF32(Y9, X9, 64)
	ADDQ R8, DX
	ADDF32(Y10, X10, 0)
	ADDF32(Y11, X11, 64)
	VZEROUPPER
	RET

// func kern1x16F32AVX2(k int, a, b *float32, c *float64)
//
// c[q] += Σ_l a[l]·b[l*16+q] for q < 16.
TEXT ·kern1x16F32AVX2(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ  CX, CX
	JZ     store16f

loop16f:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          loop16f

store16f:
	ADDF32(Y0, X0, 0)
	ADDF32(Y1, X1, 64)
	VZEROUPPER
	RET

// func kern1x32F32AVX2(k int, a, b *float32, c *float64, stride int)
//
// kern1x16F32AVX2 over the two panels p = 0, 1 that start stride elements
// apart, into c[16p:16p+16].
TEXT ·kern1x32F32AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	LEAQ (DI)(R8*1), BX

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ  CX, CX
	JZ     store32f

loop32f:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  (BX), Y8, Y2
	VFMADD231PS  32(BX), Y8, Y3
	ADDQ         $4, SI
	ADDQ         $64, DI
	ADDQ         $64, BX
	DECQ         CX
	JNZ          loop32f

store32f:
	ADDF32(Y0, X0, 0)
	ADDF32(Y1, X1, 64)
	ADDF32(Y2, X2, 128)
	ADDF32(Y3, X3, 192)
	VZEROUPPER
	RET

// ADD64F32 adds the accumulators Y0–Y7 to the 64 values at DX: the end of
// the 1×64 kernels, dense and sparse.
#define ADD64F32 \
	ADDF32(Y0, X0, 0);   \
	ADDF32(Y1, X1, 64);  \
	ADDF32(Y2, X2, 128); \
	ADDF32(Y3, X3, 192); \
	ADDF32(Y4, X4, 256); \
	ADDF32(Y5, X5, 320); \
	ADDF32(Y6, X6, 384); \
	ADDF32(Y7, X7, 448)

// func kern1x64F32AVX2(k int, a, b *float32, c *float64, stride int)
//
// kern1x16F32AVX2 over four panels: each broadcast of a[l] feeds eight
// FMAs, eight independent chains.
TEXT ·kern1x64F32AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	LEAQ (DI)(R8*1), BX
	LEAQ (BX)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	XORQ AX, AX

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ  CX, CX
	JZ     store64f

loop64f:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI)(AX*1), Y8, Y0
	VFMADD231PS  32(DI)(AX*1), Y8, Y1
	VFMADD231PS  (BX)(AX*1), Y8, Y2
	VFMADD231PS  32(BX)(AX*1), Y8, Y3
	VFMADD231PS  (R9)(AX*1), Y8, Y4
	VFMADD231PS  32(R9)(AX*1), Y8, Y5
	VFMADD231PS  (R10)(AX*1), Y8, Y6
	VFMADD231PS  32(R10)(AX*1), Y8, Y7
	ADDQ         $4, SI
	ADDQ         $64, AX
	DECQ         CX
	JNZ          loop64f

store64f:
	ADD64F32
	VZEROUPPER
	RET

// func kern1x64SparseF32AVX2(a, b *float32, c *float64, stride int, idx *int32, n int)
//
// kern1x64F32AVX2 over the n indexes l in idx only (a's nonzero elements,
// ascending): the dense kernel's result bit for bit, as in kern_amd64.s.
TEXT ·kern1x64SparseF32AVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ c+16(FP), DX
	MOVQ stride+24(FP), R8
	MOVQ idx+32(FP), R11
	MOVQ n+40(FP), CX
	SHLQ $2, R8
	LEAQ (DI)(R8*1), BX
	LEAQ (BX)(R8*1), R9
	LEAQ (R9)(R8*1), R10

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ  CX, CX
	JZ     storespf

loopspf:
	MOVLQSX      (R11), AX
	VBROADCASTSS (SI)(AX*4), Y8
	SHLQ         $6, AX
	VFMADD231PS  (DI)(AX*1), Y8, Y0
	VFMADD231PS  32(DI)(AX*1), Y8, Y1
	VFMADD231PS  (BX)(AX*1), Y8, Y2
	VFMADD231PS  32(BX)(AX*1), Y8, Y3
	VFMADD231PS  (R9)(AX*1), Y8, Y4
	VFMADD231PS  32(R9)(AX*1), Y8, Y5
	VFMADD231PS  (R10)(AX*1), Y8, Y6
	VFMADD231PS  32(R10)(AX*1), Y8, Y7
	ADDQ         $4, R11
	DECQ         CX
	JNZ          loopspf

storespf:
	ADD64F32
	VZEROUPPER
	RET

// func cvt32AVX2(dst *float32, src *float64, n int)
//
// dst[i] = float32(src[i]) for i < 4n, rounding as Go's conversion does
// (to nearest, even on ties).
TEXT ·cvt32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

cvtloop:
	VCVTPD2PSY (SI), X0
	VMOVUPS    X0, (DI)
	ADDQ       $32, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        cvtloop
	VZEROUPPER
	RET

// func pack6F32AVX2(ap *float32, a *float64, k, n int)
//
// packRows32's loop for l < 4n: ap[l*6+r] = float32(a[r*k+l]) for r < 6.
// Four steps of the six rows are converted (X0–X5, a row's four steps
// each), transposed (rows 0–3 as a 4×4 block, rows 4, 5 as pairs) and
// stored six floats a step.
TEXT ·pack6F32AVX2(SB), NOSPLIT, $0-32
	MOVQ ap+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ k+16(FP), R8
	MOVQ n+24(FP), CX
	SHLQ $3, R8
	LEAQ (SI)(R8*2), R9
	LEAQ (R9)(R8*2), R10

packloop:
	VCVTPD2PSY (SI), X0
	VCVTPD2PSY (SI)(R8*1), X1
	VCVTPD2PSY (R9), X2
	VCVTPD2PSY (R9)(R8*1), X3
	VCVTPD2PSY (R10), X4
	VCVTPD2PSY (R10)(R8*1), X5
	VUNPCKLPS  X1, X0, X6    // r0 r1 of steps 0, 1
	VUNPCKHPS  X1, X0, X7    // r0 r1 of steps 2, 3
	VUNPCKLPS  X3, X2, X8    // r2 r3 of steps 0, 1
	VUNPCKHPS  X3, X2, X9    // r2 r3 of steps 2, 3
	VUNPCKLPS  X5, X4, X10   // r4 r5 of steps 0, 1
	VUNPCKHPS  X5, X4, X11   // r4 r5 of steps 2, 3
	VUNPCKLPD  X8, X6, X0    // r0–r3 of step 0
	VUNPCKHPD  X8, X6, X1    // step 1
	VUNPCKLPD  X9, X7, X2    // step 2
	VUNPCKHPD  X9, X7, X3    // step 3
	VMOVUPS    X0, (DI)
	VMOVSD     X10, 16(DI)
	VMOVUPS    X1, 24(DI)
	VMOVHPS    X10, 40(DI)
	VMOVUPS    X2, 48(DI)
	VMOVSD     X11, 64(DI)
	VMOVUPS    X3, 72(DI)
	VMOVHPS    X11, 88(DI)
	ADDQ       $32, SI
	ADDQ       $32, R9
	ADDQ       $32, R10
	ADDQ       $96, DI
	DECQ       CX
	JNZ        packloop
	VZEROUPPER
	RET
