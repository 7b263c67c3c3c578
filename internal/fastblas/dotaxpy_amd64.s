//go:build amd64 && !purego && !noasm

#include "textflag.h"

// func dotAxpyAVX(n int, a, x, y *float64, alpha float64) float64
//
// Returns sum_i a[i]*x[i] and sets y[i] += alpha*a[i] for i < n (n > 0). Each element
// of a is loaded once and used by both fused multiply-adds. The dot product has four
// lanes in each of two accumulators (Y2, Y3), added at the end, then the scalar tail.
TEXT ·dotAxpyAVX(SB), NOSPLIT, $0-48
	MOVQ         n+0(FP), CX
	MOVQ         a+8(FP), SI
	MOVQ         x+16(FP), DI
	MOVQ         y+24(FP), DX
	VBROADCASTSD alpha+32(FP), Y15
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	CMPQ         CX, $8
	JL           four

eight:
	VMOVUPD     (SI), Y0
	VMOVUPD     32(SI), Y1
	VFMADD231PD (DI), Y0, Y2
	VFMADD231PD 32(DI), Y1, Y3
	VMOVUPD     (DX), Y4
	VMOVUPD     32(DX), Y5
	VFMADD231PD Y0, Y15, Y4
	VFMADD231PD Y1, Y15, Y5
	VMOVUPD     Y4, (DX)
	VMOVUPD     Y5, 32(DX)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, DX
	SUBQ        $8, CX
	CMPQ        CX, $8
	JGE         eight

four:
	CMPQ        CX, $4
	JL          reduce
	VMOVUPD     (SI), Y0
	VFMADD231PD (DI), Y0, Y2
	VMOVUPD     (DX), Y4
	VFMADD231PD Y0, Y15, Y4
	VMOVUPD     Y4, (DX)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, DX
	SUBQ        $4, CX

reduce:
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD       X3, X2, X2
	VHADDPD      X2, X2, X2
	TESTQ        CX, CX
	JE           done

one:
	VMOVSD      (SI), X0
	VFMADD231SD (DI), X0, X2
	VMOVSD      (DX), X4
	VFMADD231SD X0, X15, X4
	VMOVSD      X4, (DX)
	ADDQ        $8, SI
	ADDQ        $8, DI
	ADDQ        $8, DX
	DECQ        CX
	JNE         one

done:
	VZEROUPPER
	VMOVSD X2, ret+40(FP)
	RET
