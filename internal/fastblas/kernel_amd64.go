//go:build amd64 && !purego && !noasm

package fastblas

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the AVX2/FMA assembly kernels can run here.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAsm selects the assembly kernels. It is a variable so that tests can
// exercise the pure-Go kernels on machines that support the assembly ones.
var useAsm = hasAVX2FMA

// kernel6x8 computes, for i < mr and j < nr,
//
//	c[i*ldc+j] = alpha * Σ_p a[p*mr+i]*b[p*nr+j] + beta*c[i*ldc+j]
//
// reading k packed columns of A and k packed rows of B. If beta is ±0, C is
// only written. It requires AVX2 and FMA.
//
//go:noescape
func kernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)

// microKernel dispatches to the assembly or the pure-Go micro-kernel.
func microKernel(k int, a, b, c []float64, ldc int, alpha, beta float64) {
	if useAsm {
		kernel6x8(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
		return
	}
	kernelGo(k, a, b, c, ldc, alpha, beta)
}
