//go:build amd64 && !purego && !noasm

#include "textflag.h"

// ROWUPDATE adds Y14 * a, with a[0:56] in Y0..Y13, to the 56 doubles at (R11).
#define ROWUPDATE \
	VMOVUPD     0(R11), Y15; \
	VFMADD231PD Y0, Y14, Y15; \
	VMOVUPD     Y15, 0(R11) \
	VMOVUPD     32(R11), Y15; \
	VFMADD231PD Y1, Y14, Y15; \
	VMOVUPD     Y15, 32(R11) \
	VMOVUPD     64(R11), Y15; \
	VFMADD231PD Y2, Y14, Y15; \
	VMOVUPD     Y15, 64(R11) \
	VMOVUPD     96(R11), Y15; \
	VFMADD231PD Y3, Y14, Y15; \
	VMOVUPD     Y15, 96(R11) \
	VMOVUPD     128(R11), Y15; \
	VFMADD231PD Y4, Y14, Y15; \
	VMOVUPD     Y15, 128(R11) \
	VMOVUPD     160(R11), Y15; \
	VFMADD231PD Y5, Y14, Y15; \
	VMOVUPD     Y15, 160(R11) \
	VMOVUPD     192(R11), Y15; \
	VFMADD231PD Y6, Y14, Y15; \
	VMOVUPD     Y15, 192(R11) \
	VMOVUPD     224(R11), Y15; \
	VFMADD231PD Y7, Y14, Y15; \
	VMOVUPD     Y15, 224(R11) \
	VMOVUPD     256(R11), Y15; \
	VFMADD231PD Y8, Y14, Y15; \
	VMOVUPD     Y15, 256(R11) \
	VMOVUPD     288(R11), Y15; \
	VFMADD231PD Y9, Y14, Y15; \
	VMOVUPD     Y15, 288(R11) \
	VMOVUPD     320(R11), Y15; \
	VFMADD231PD Y10, Y14, Y15; \
	VMOVUPD     Y15, 320(R11) \
	VMOVUPD     352(R11), Y15; \
	VFMADD231PD Y11, Y14, Y15; \
	VMOVUPD     Y15, 352(R11) \
	VMOVUPD     384(R11), Y15; \
	VFMADD231PD Y12, Y14, Y15; \
	VMOVUPD     Y15, 384(R11) \
	VMOVUPD     416(R11), Y15; \
	VFMADD231PD Y13, Y14, Y15; \
	VMOVUPD     Y15, 416(R11)

// func outerRowsAVX2(acc *float64, a *[56]float64, rowOff *int32, xa *float64, na int, colOff *int32, xb *float64, nb int, tri bool)
//
// For i < na and j < nb (j <= i when tri):
// acc[rowOff[i]+colOff[j] : +56] += xa[i]*xb[j] * a[0:56], i outer, j inner.
// Requires na >= 1, nb >= 1; bounds are checked by the caller.
//
// Registers: DI acc, SI &rowOff[i], BX &xa[i], CX rows left, R8 colOff, R9 xb,
// R10 nb (or -1 when tri), R12 i+1, R13 columns of this row, AX j, DX the row base
// &acc[rowOff[i]], R11 the pixel pair's row, Y0..Y13 a, Y14 the coefficient, Y15 scratch.
TEXT ·outerRowsAVX2(SB), NOSPLIT, $0-65
	MOVQ    acc+0(FP), DI
	MOVQ    a+8(FP), AX
	MOVQ    rowOff+16(FP), SI
	MOVQ    xa+24(FP), BX
	MOVQ    na+32(FP), CX
	MOVQ    colOff+40(FP), R8
	MOVQ    xb+48(FP), R9
	MOVQ    nb+56(FP), R10
	MOVBLZX tri+64(FP), R11
	TESTQ   R11, R11
	JZ      loada
	MOVQ    $-1, R10

loada:
	// a[0:56] stays in Y0..Y13 for the whole call.
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	VMOVUPD 128(AX), Y4
	VMOVUPD 160(AX), Y5
	VMOVUPD 192(AX), Y6
	VMOVUPD 224(AX), Y7
	VMOVUPD 256(AX), Y8
	VMOVUPD 288(AX), Y9
	VMOVUPD 320(AX), Y10
	VMOVUPD 352(AX), Y11
	VMOVUPD 384(AX), Y12
	VMOVUPD 416(AX), Y13
	MOVQ $1, R12

rowloop:
	MOVLQSX (SI), DX
	LEAQ    (DI)(DX*8), DX
	MOVQ    R10, R13
	TESTQ   R10, R10
	JGE     cols
	MOVQ    R12, R13 // tri: columns 0..i

cols:
	XORQ AX, AX

colloop:
	MOVLQSX      (R8)(AX*4), R11
	LEAQ         (DX)(R11*8), R11
	VMOVSD       (R9)(AX*8), X14
	VMULSD       (BX), X14, X14
	VBROADCASTSD X14, Y14
	ROWUPDATE
	INCQ         AX
	CMPQ         AX, R13
	JLT          colloop

	ADDQ $4, SI
	ADDQ $8, BX
	INCQ R12
	DECQ CX
	JNZ  rowloop

	VZEROUPPER
	RET
