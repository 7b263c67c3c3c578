//go:build !amd64 || purego || noasm

package fastblas

// hasAVX2FMA is false: the assembly kernels are not built.
const hasAVX2FMA = false

// useAsm is always false without the assembly kernels; it exists so that the
// tests compile identically with and without them.
var useAsm = false

// microKernel runs the pure-Go micro-kernel.
func microKernel(k int, a, b, c []float64, ldc int, alpha, beta float64) {
	kernelGo(k, a, b, c, ldc, alpha, beta)
}
