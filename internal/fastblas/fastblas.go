package fastblas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is a blas.Float64 whose Dgemm, Dsyrk and Dtrsm use the
// packed, cache-blocked kernels of this package. All other routines, and the
// argument-checking panics, are those of the embedded gonum implementation.
// The zero value is ready to use and it has no state.
type Implementation struct {
	gonum.Implementation
}

var _ blas.Float64 = Implementation{}

// Use installs Implementation as the process-wide float64 BLAS of gonum via
// blas64.Use, so that gonum.org/v1/gonum/mat and lapack/gonum (Dpotrf,
// Dsytrd, ...) run on these kernels. The setting is global: it affects every
// package in the program that uses blas64, and it is not safe to call Use
// concurrently with BLAS calls made through blas64.
func Use() {
	blas64.Use(Implementation{})
}

// Panic strings, identical to those of gonum.org/v1/gonum/blas/gonum.
const (
	mLT0         = "blas: m < 0"
	nLT0         = "blas: n < 0"
	kLT0         = "blas: k < 0"
	badUplo      = "blas: illegal triangle"
	badTranspose = "blas: illegal transpose"
	badDiag      = "blas: illegal diagonal"
	badSide      = "blas: illegal side"
	badLdA       = "blas: bad leading dimension of A"
	badLdB       = "blas: bad leading dimension of B"
	badLdC       = "blas: bad leading dimension of C"
	shortA       = "blas: insufficient length of a"
	shortB       = "blas: insufficient length of b"
	shortC       = "blas: insufficient length of c"
)

// smallWork is the m·n·k product below which Dgemm and Dsyrk hand the problem
// to the embedded gonum implementation: packing does not pay off for tiny
// products.
var smallWork = 512

// Dgemm performs one of the matrix-matrix operations
//
//	C = alpha * A * B + beta * C
//	C = alpha * Aᵀ * B + beta * C
//	C = alpha * A * Bᵀ + beta * C
//	C = alpha * Aᵀ * Bᵀ + beta * C
//
// where A is an m×k or k×m dense matrix, B is an n×k or k×n dense matrix, C is
// an m×n matrix, and alpha and beta are scalars. tA and tB specify whether A or
// B are transposed. As in the reference BLAS, C is not read when beta == 0,
// and A and B are not read when alpha == 0 or k == 0.
func (impl Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	switch tA {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	switch tB {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	if k < 0 {
		panic(kLT0)
	}
	aTrans := tA == blas.Trans || tA == blas.ConjTrans
	if aTrans {
		if lda < max(1, m) {
			panic(badLdA)
		}
	} else {
		if lda < max(1, k) {
			panic(badLdA)
		}
	}
	bTrans := tB == blas.Trans || tB == blas.ConjTrans
	if bTrans {
		if ldb < max(1, k) {
			panic(badLdB)
		}
	} else {
		if ldb < max(1, n) {
			panic(badLdB)
		}
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}

	// Quick return if possible.
	if m == 0 || n == 0 {
		return
	}

	// For zero matrix size the following slice length checks are trivially satisfied.
	if aTrans {
		if len(a) < (k-1)*lda+m {
			panic(shortA)
		}
	} else {
		if len(a) < (m-1)*lda+k {
			panic(shortA)
		}
	}
	if bTrans {
		if len(b) < (n-1)*ldb+k {
			panic(shortB)
		}
	} else {
		if len(b) < (k-1)*ldb+n {
			panic(shortB)
		}
	}
	if len(c) < (m-1)*ldc+n {
		panic(shortC)
	}

	if alpha == 0 || k == 0 {
		scaleGeneral(m, n, beta, c, ldc)
		return
	}
	if float64(m)*float64(n)*float64(k) < float64(smallWork) {
		if beta == 0 {
			// gonum zeroes C first for beta == 0 as well, but make the
			// overwrite semantics explicit.
			scaleGeneral(m, n, 0, c, ldc)
		}
		impl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemm(&gemmProblem{
		transA: aTrans, transB: bTrans,
		m: m, n: n, k: k,
		alpha: alpha,
		a:     a, lda: lda,
		b: b, ldb: ldb,
		beta: beta,
		c:    c, ldc: ldc,
	}, runtimeWorkers)
}

// runtimeWorkers asks gemm for as many workers as GOMAXPROCS allows.
const runtimeWorkers = 1 << 30

// scaleGeneral sets C = beta*C for the m×n matrix C; beta == 0 overwrites C
// with zeros (NaNs included) and beta == 1 leaves it untouched.
func scaleGeneral(m, n int, beta float64, c []float64, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
