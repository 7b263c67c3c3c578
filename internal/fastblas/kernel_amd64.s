//go:build amd64 && !purego && !noasm

#include "textflag.h"

// KSTEP performs one rank-1 update of the 6×8 accumulator block held in
// Y4..Y15 from the packed A column at ao(SI) (6 doubles) and the packed B row
// at bo(DI) (8 doubles). Y0, Y1 hold the B row, Y2 and Y3 alternate as the
// broadcast A elements so that consecutive broadcasts are independent.
#define KSTEP(ao, bo) \
	VMOVUPD      bo(DI), Y0; \
	VMOVUPD      (bo+32)(DI), Y1; \
	VBROADCASTSD ao(SI), Y2; \
	VFMADD231PD  Y0, Y2, Y4; \
	VFMADD231PD  Y1, Y2, Y5; \
	VBROADCASTSD (ao+8)(SI), Y3; \
	VFMADD231PD  Y0, Y3, Y6; \
	VFMADD231PD  Y1, Y3, Y7; \
	VBROADCASTSD (ao+16)(SI), Y2; \
	VFMADD231PD  Y0, Y2, Y8; \
	VFMADD231PD  Y1, Y2, Y9; \
	VBROADCASTSD (ao+24)(SI), Y3; \
	VFMADD231PD  Y0, Y3, Y10; \
	VFMADD231PD  Y1, Y3, Y11; \
	VBROADCASTSD (ao+32)(SI), Y2; \
	VFMADD231PD  Y0, Y2, Y12; \
	VFMADD231PD  Y1, Y2, Y13; \
	VBROADCASTSD (ao+40)(SI), Y3; \
	VFMADD231PD  Y0, Y3, Y14; \
	VFMADD231PD  Y1, Y3, Y15

// STOREROW writes one row of the result (two YMM registers) to (DX) and
// advances DX by the row stride in R8.
#define STOREROW(lo, hi) \
	VMOVUPD lo, (DX); \
	VMOVUPD hi, 32(DX); \
	ADDQ    R8, DX

// UPDATEROW computes row = beta*C + row (Y1 holds beta), stores it to (DX)
// and advances DX by the row stride in R8.
#define UPDATEROW(lo, hi) \
	VFMADD231PD (DX), Y1, lo; \
	VFMADD231PD 32(DX), Y1, hi; \
	VMOVUPD     lo, (DX); \
	VMOVUPD     hi, 32(DX); \
	ADDQ        R8, DX

// func kernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)
//
// c[i*ldc+j] = alpha * sum_p a[p*6+i]*b[p*8+j] + beta*c[i*ldc+j] for
// i < 6, j < 8. When beta is ±0, C is not read (it may hold NaN).
TEXT ·kernel6x8(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8

	// Touch the six C rows early so that they are in cache at the end.
	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 56(R9)

	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	VXORPD Y12, Y12, Y12
	VXORPD Y13, Y13, Y13
	VXORPD Y14, Y14, Y14
	VXORPD Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	PREFETCHT0 384(SI)
	KSTEP(0, 0)
	KSTEP(48, 64)
	PREFETCHT0 448(SI)
	KSTEP(96, 128)
	KSTEP(144, 192)
	ADDQ $192, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   done

loop1:
	KSTEP(0, 0)
	ADDQ $48, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

done:
	VBROADCASTSD alpha+40(FP), Y0
	VMULPD       Y0, Y4, Y4
	VMULPD       Y0, Y5, Y5
	VMULPD       Y0, Y6, Y6
	VMULPD       Y0, Y7, Y7
	VMULPD       Y0, Y8, Y8
	VMULPD       Y0, Y9, Y9
	VMULPD       Y0, Y10, Y10
	VMULPD       Y0, Y11, Y11
	VMULPD       Y0, Y12, Y12
	VMULPD       Y0, Y13, Y13
	VMULPD       Y0, Y14, Y14
	VMULPD       Y0, Y15, Y15

	// beta == ±0: overwrite C without reading it.
	MOVQ beta+48(FP), AX
	SHLQ $1, AX
	JZ   storeonly

	VBROADCASTSD beta+48(FP), Y1
	UPDATEROW(Y4, Y5)
	UPDATEROW(Y6, Y7)
	UPDATEROW(Y8, Y9)
	UPDATEROW(Y10, Y11)
	UPDATEROW(Y12, Y13)
	UPDATEROW(Y14, Y15)
	VZEROUPPER
	RET

storeonly:
	STOREROW(Y4, Y5)
	STOREROW(Y6, Y7)
	STOREROW(Y8, Y9)
	STOREROW(Y10, Y11)
	STOREROW(Y12, Y13)
	STOREROW(Y14, Y15)
	VZEROUPPER
	RET
