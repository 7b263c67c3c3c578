// Package fastblas is a float64 BLAS for gonum whose level-3 routines Dgemm, Dsyrk and
// Dtrsm are packed, cache-blocked and parallel, with an AVX2/FMA assembly micro-kernel on
// amd64. Every other routine is gonum's own (blas/gonum), embedded unchanged. It is pure
// Go plus Go assembly: it needs no cgo and builds statically.
//
// # Use
//
// Implementation satisfies blas.Float64. Use installs it as gonum's process-wide BLAS
// (blas64.Use), so that gonum's mat and lapack/gonum packages, and everything that calls
// blas64.Implementation, run on it. The hessian package calls Use from its init; nothing
// else in the project installs a BLAS.
//
// # Algorithm
//
// Dgemm is the GotoBLAS/BLIS scheme (K. Goto and R. van de Geijn, "Anatomy of
// high-performance matrix multiplication", ACM TOMS 34(3), 2008; F. Van Zee and R. van de
// Geijn, "BLIS", ACM TOMS 41(3), 2015): loops over nc columns of C, kc-deep slices of the
// inner dimension and mc rows; op(B) is packed into kc x nc panels of nr-column micro-panels
// and op(A) into mc x kc blocks of mr-row micro-panels, and a register micro-kernel
// updates one mr x nr tile of C (mr = 6, nr = 8: 12 of the 16 YMM registers hold the
// tile). The block sizes keep a micro-panel of B (kc x nr, 16 KiB) in L1 and the packed A
// block (mc x kc, 288 KiB) in L2 while the micro-kernel sweeps it; kc = 256, mc = 144,
// nc = 4096. A product of at least parMinWork multiply-adds is split into independent
// pieces of C along its larger dimension, one per GOMAXPROCS goroutine, each with its own
// packing buffers; the goroutines end before Dgemm returns.
//
// Dsyrk halves the triangle recursively: the off-diagonal halves are GEMMs, and diagonal
// blocks of at most syrkBase rows are computed as full GEMMs into a scratch square whose
// triangle is merged into C. Dtrsm halves the triangle recursively (the coupling block is
// a GEMM update) down to trsmBase, solved by gonum's substitution; independent right-hand
// sides are split between goroutines when there are enough of them.
//
// # Numerics and conventions
//
// Results agree with gonum's to rounding, not bit for bit: the assembly kernel uses fused
// multiply-adds, and the summation order follows the blocking. The BLAS conventions hold:
// C is not read when beta == 0 (NaNs in it are overwritten), A and B are not read when
// alpha == 0, and only the named triangle is referenced. Argument errors panic with
// gonum's messages.
//
// # Build tags
//
// The assembly kernel is used on amd64 when the CPU has AVX2 and FMA (detected at run
// time). The purego or noasm build tags, or another GOARCH, select the pure-Go kernel.
// The tests run every routine against gonum's reference implementation and gonum's
// conformance suites (blas/testblas) with each available kernel.
package fastblas
