//go:build !amd64 || purego || noasm

package hessian

// hasAVX2FMA is false: the assembly kernel is not built.
const hasAVX2FMA = false

// useAsm is always false without the assembly kernel; it exists so that the tests
// compile identically with and without it.
var useAsm = false

// outerRowsNonEmpty runs the pure-Go kernel; both sides are non-empty.
func outerRowsNonEmpty(acc []float64, a *[packedLen]float64, rowOff []int32, xa []float64, colOff []int32, xb []float64, tri bool) {
	outerRowsGo(acc, a, rowOff, xa, colOff, xb, tri)
}
