package fastblas

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	lapack "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// TestCholesky checks that mat.Cholesky and lapack's Dpotrf give the same
// factor through fastblas (installed with Use) as with plain gonum.
func TestCholesky(t *testing.T) {
	n := 500
	if raceEnabled {
		n = 150
	}
	orig := spd(n, 1)
	defer blas64.Use(gonum.Implementation{})

	factor := func(use func()) (*mat.TriDense, map[blas.Uplo][]float64) {
		use()
		var chol mat.Cholesky
		if !chol.Factorize(mat.NewSymDense(n, append([]float64(nil), orig...))) {
			t.Fatal("mat.Cholesky failed")
		}
		var u mat.TriDense
		chol.UTo(&u)
		raw := make(map[blas.Uplo][]float64)
		for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
			a := append([]float64(nil), orig...)
			if !(lapack.Implementation{}).Dpotrf(ul, n, a, n) {
				t.Fatalf("Dpotrf(%c) failed", ul)
			}
			raw[ul] = a
		}
		return &u, raw
	}
	wantU, wantRaw := factor(func() { blas64.Use(gonum.Implementation{}) })

	forEachVariant(t, func(t *testing.T) {
		gotU, gotRaw := factor(Use)
		if !mat.EqualApprox(gotU, wantU, 1e-12*mat.Norm(wantU, math.Inf(1))) {
			t.Errorf("mat.Cholesky factors differ")
		}
		for ul, want := range wantRaw {
			if err := checkClose(gotRaw[ul], want, n, n, n, 1e-12); err != nil {
				t.Errorf("Dpotrf(%c): %v", ul, err)
			}
		}
	})
}
