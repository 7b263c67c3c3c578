package hessian

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// ErrNotPositiveDefinite is the error, tested with errors.Is, of a Cholesky factorization
// that meets a pivot that is not positive.
var ErrNotPositiveDefinite = errors.New("matrix is not positive definite")

// PivotError tells where a Cholesky factorization failed.
type PivotError struct {
	Column int     // global column of the failed pivot
	Pivot  float64 // its value: zero, negative or NaN
	Tile   string  // the tile that held it, where the factorization was tiled ("" otherwise)
}

// Error names the column, its pixel and class, and what fixes it.
func (e *PivotError) Error() string {
	where := ""
	if e.Tile != "" {
		where = " in tile " + e.Tile
	}
	return fmt.Sprintf("hessian: %v: pivot %.3g at column %d%s (pixel %d, class %d); "+
		"the cross-entropy Hessian is singular (unlit pixels, the class shift): add the Laplacian penalty (--eps, e.g. 0.001) or damping (--damping)",
		ErrNotPositiveDefinite, e.Pivot, e.Column, where, e.Column/Classes, e.Column%Classes)
}

// Unwrap makes errors.Is(err, ErrNotPositiveDefinite) hold.
func (e *PivotError) Unwrap() error { return ErrNotPositiveDefinite }

// Potf2 factors the n x n row-major block a (leading dimension lda, lower triangle read)
// in place into its lower Cholesky factor, unblocked. col0 is the global column of the
// block's first column, for the error.
func Potf2(a []float64, n, lda, col0 int) error {
	for j := range n {
		rj := a[j*lda : j*lda+j+1]
		d := rj[j]
		for _, v := range rj[:j] {
			d -= v * v
		}
		if !(d > 0) {
			return &PivotError{Column: col0 + j, Pivot: d}
		}
		d = math.Sqrt(d)
		rj[j] = d
		for i := j + 1; i < n; i++ {
			ri := a[i*lda : i*lda+j+1]
			s := ri[j]
			for k, v := range rj[:j] {
				s -= ri[k] * v
			}
			ri[j] = s / d
		}
	}
	return nil
}

// choleskyBlock is the panel width of the blocked factorization: the depth of the rank-k
// updates of the trailing matrix, equal to fastblas's cache block kc so that each update
// is one pass of its packed kernel.
const choleskyBlock = 256

// CholeskyLower factors the n x n row-major symmetric matrix a (leading dimension lda,
// lower triangle read, upper triangle untouched) in place into its lower Cholesky factor
// L, a = L L^T. It is LAPACK's right-looking blocked dpotrf: factor the diagonal block
// (Potf2), solve the panel below it (Dtrsm), update the trailing matrix by one symmetric
// rank-k update (Dsyrk), all through the installed BLAS, whose level-3 kernels run on
// GOMAXPROCS goroutines. A pivot that is not positive returns a *PivotError.
func CholeskyLower(a []float64, n, lda int) error {
	return choleskyLower(a, n, lda, nil)
}

func choleskyLower(a []float64, n, lda int, progress ProgressFunc) error {
	bi := blas64.Implementation()
	for k0 := 0; k0 < n; k0 += choleskyBlock {
		progress.report("factor", k0, n)
		kb := min(choleskyBlock, n-k0)
		diag := a[k0*lda+k0:]
		if err := Potf2(diag, kb, lda, k0); err != nil {
			return err
		}
		rest := n - k0 - kb
		if rest == 0 {
			break
		}
		// A21 = A21 L11^{-T}
		panel := a[(k0+kb)*lda+k0:]
		bi.Dtrsm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, rest, kb, 1, diag, lda, panel, lda)
		// A22 -= A21 A21^T, lower triangle.
		bi.Dsyrk(blas.Lower, blas.NoTrans, rest, kb, -1, panel, lda, 1, a[(k0+kb)*lda+k0+kb:], lda)
	}
	progress.report("factor", n, n)
	return nil
}

// SolveCholesky overwrites b with A^{-1} b, given the lower Cholesky factor of A as left
// by CholeskyLower.
func SolveCholesky(l []float64, n, lda int, b []float64) {
	bi := blas64.Implementation()
	bi.Dtrsv(blas.Lower, blas.NoTrans, blas.NonUnit, n, l, lda, b, 1)
	bi.Dtrsv(blas.Lower, blas.Trans, blas.NonUnit, n, l, lda, b, 1)
}
