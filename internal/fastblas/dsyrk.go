package fastblas

import (
	"sync"

	"gonum.org/v1/gonum/blas"
)

// syrkBase is the largest diagonal block of a Dsyrk computed directly: as a
// full GEMM into a scratch square whose triangle is then merged into C.
// Larger problems are split in halves recursively; the off-diagonal halves
// are plain GEMMs, so only O(n·syrkBase·k) flops are spent on diagonal blocks.
var syrkBase = 128

// bufPool holds scratch slices for the diagonal blocks of Dsyrk.
var bufPool = sync.Pool{New: func() any { return new([]float64) }}

// Dsyrk performs one of the symmetric rank-k operations
//
//	C = alpha * A * Aᵀ + beta * C  if tA == blas.NoTrans
//	C = alpha * Aᵀ * A + beta * C  if tA == blas.Trans or tA == blas.ConjTrans
//
// where A is an n×k or k×n matrix, C is an n×n symmetric matrix, and alpha and
// beta are scalars. Only the ul triangle of C is referenced. C is not read
// when beta == 0.
func (impl Implementation) Dsyrk(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if ul != blas.Lower && ul != blas.Upper {
		panic(badUplo)
	}
	if tA != blas.Trans && tA != blas.NoTrans && tA != blas.ConjTrans {
		panic(badTranspose)
	}
	if n < 0 {
		panic(nLT0)
	}
	if k < 0 {
		panic(kLT0)
	}
	row, col := k, n
	if tA == blas.NoTrans {
		row, col = n, k
	}
	if lda < max(1, col) {
		panic(badLdA)
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}

	// Quick return if possible.
	if n == 0 {
		return
	}

	// For zero matrix size the following slice length checks are trivially satisfied.
	if len(a) < lda*(row-1)+col {
		panic(shortA)
	}
	if len(c) < ldc*(n-1)+n {
		panic(shortC)
	}

	if alpha == 0 || k == 0 {
		scaleTri(ul, n, beta, c, ldc)
		return
	}
	if float64(n)*float64(n)*float64(k) < float64(smallWork) {
		if beta == 0 {
			// gonum scales rather than overwrites C in some branches; make
			// sure NaNs in C do not survive.
			scaleTri(ul, n, 0, c, ldc)
		}
		impl.Implementation.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	syrkRec(ul == blas.Upper, tA != blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

// scaleTri sets the ul triangle of the n×n matrix C to beta times itself;
// beta == 0 overwrites it with zeros.
func scaleTri(ul blas.Uplo, n int, beta float64, c []float64, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < n; i++ {
		var row []float64
		if ul == blas.Upper {
			row = c[i*ldc+i : i*ldc+n]
		} else {
			row = c[i*ldc : i*ldc+i+1]
		}
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// syrkRec computes the upper or lower triangle of alpha*op(A)*op(A)ᵀ + beta*C
// by recursive halving: two half-size Dsyrks on the diagonal and one GEMM for
// the off-diagonal block. op(A) is n×k; a starts at its first row (trans ==
// false) or column (trans == true).
func syrkRec(upper, trans bool, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n <= syrkBase {
		syrkDiag(upper, trans, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	n1 := roundUp(ceilDiv(n, 2), nr)
	if n1 >= n {
		n1 = n / 2
	}
	n2 := n - n1
	// a2 is the part of A that makes rows n1: of op(A).
	var a2 []float64
	if trans {
		a2 = a[n1:]
	} else {
		a2 = a[n1*lda:]
	}
	syrkRec(upper, trans, n1, k, alpha, a, lda, beta, c, ldc)
	p := gemmProblem{
		transA: trans, transB: !trans,
		k:     k,
		alpha: alpha,
		lda:   lda, ldb: lda,
		beta: beta,
		ldc:  ldc,
	}
	if upper {
		// C12 = alpha * op(A)1 * op(A)2ᵀ + beta*C12, n1×n2.
		p.m, p.n = n1, n2
		p.a, p.b = a, a2
		p.c = c[n1:]
	} else {
		// C21 = alpha * op(A)2 * op(A)1ᵀ + beta*C21, n2×n1.
		p.m, p.n = n2, n1
		p.a, p.b = a2, a
		p.c = c[n1*ldc:]
	}
	gemm(&p, runtimeWorkers)
	syrkRec(upper, trans, n2, k, alpha, a2, lda, beta, c[n1*ldc+n1:], ldc)
}

// syrkDiag computes a diagonal block of Dsyrk as a full n×n GEMM into a
// scratch buffer and merges its ul triangle into C.
func syrkDiag(upper, trans bool, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	bp := bufPool.Get().(*[]float64)
	t := grow(*bp, n*n)
	gemm(&gemmProblem{
		transA: trans, transB: !trans,
		m: n, n: n, k: k,
		alpha: alpha,
		a:     a, lda: lda,
		b: a, ldb: lda,
		beta: 0,
		c:    t, ldc: n,
	}, runtimeWorkers)
	for i := 0; i < n; i++ {
		var row, ti []float64
		if upper {
			row = c[i*ldc+i : i*ldc+n]
			ti = t[i*n+i : i*n+n]
		} else {
			row = c[i*ldc : i*ldc+i+1]
			ti = t[i*n : i*n+i+1]
		}
		if beta == 0 {
			copy(row, ti)
			continue
		}
		for j := range row {
			row[j] = beta*row[j] + ti[j]
		}
	}
	*bp = t
	bufPool.Put(bp)
}
