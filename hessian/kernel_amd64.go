//go:build amd64 && !purego && !noasm

package hessian

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the assembly kernel of the assembly can run here (the CPU
// has AVX2 and FMA, and the OS saves the YMM registers).
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAsm selects the assembly kernel. It is a variable only so that tests can run the
// pure-Go kernel on machines that have the assembly one.
var useAsm = hasAVX2FMA

// outerRowsAVX2 is outerRowsGo in assembly, without bounds checks; it requires AVX2 and
// FMA, len(rowOff) >= 1 and len(colOff) >= 1.
//
//go:noescape
func outerRowsAVX2(acc *float64, a *[packedLen]float64, rowOff *int32, xa *float64, na int, colOff *int32, xb *float64, nb int, tri bool)

// outerRowsNonEmpty dispatches to the assembly or the pure-Go kernel; both sides are
// non-empty.
func outerRowsNonEmpty(acc []float64, a *[packedLen]float64, rowOff []int32, xa []float64, colOff []int32, xb []float64, tri bool) {
	if useAsm {
		outerRowsAVX2(&acc[0], a, &rowOff[0], &xa[0], len(rowOff), &colOff[0], &xb[0], len(colOff), tri)
		return
	}
	outerRowsGo(acc, a, rowOff, xa, colOff, xb, tri)
}
