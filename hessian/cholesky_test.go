package hessian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// randomSPD returns a random n x n symmetric positive definite matrix, seeded.
func randomSPD(n int, seed uint64) *mat.SymDense {
	r := rand.New(rand.NewPCG(seed, 1))
	b := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			b.Set(i, j, r.NormFloat64())
		}
	}
	var a mat.SymDense
	a.SymOuterK(1, b)
	for i := range n {
		a.SetSym(i, i, a.At(i, i)+float64(n))
	}
	return &a
}

// TestCholeskyLowerMatchesGonum compares CholeskyLower, which runs on the installed BLAS
// (fastblas by default), with gonum's unblocked Dpotf2, which uses only level-1 and
// level-2 routines that fastblas takes unchanged from gonum, and rebuilds A = L L^T with
// gonum's reference Dgemm. Sizes cross the panel width.
func TestCholeskyLowerMatchesGonum(t *testing.T) {
	t.Parallel()
	nb := choleskyBlock
	for _, n := range []int{1, 5, nb - 1, nb, nb + 1, 2*nb + 37, 1000} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			a := randomSPD(n, uint64(n))
			want := make([]float64, n*n)
			got := make([]float64, n*n)
			for i := range n {
				for j := 0; j <= i; j++ {
					want[i*n+j] = a.At(i, j)
					got[i*n+j] = a.At(i, j)
				}
				for j := i + 1; j < n; j++ {
					got[i*n+j] = math.NaN() // the upper triangle must be neither read nor written
				}
			}
			if !(lapackgonum.Implementation{}).Dpotf2(blas.Lower, n, want, n) {
				t.Fatal("gonum Dpotf2: not positive definite")
			}
			if err := CholeskyLower(got, n, n); err != nil {
				t.Fatal(err)
			}
			var diff, lmax float64
			l := make([]float64, n*n) // L with a zero upper triangle
			for i := range n {
				for j := 0; j <= i; j++ {
					diff = max(diff, math.Abs(got[i*n+j]-want[i*n+j]))
					lmax = max(lmax, math.Abs(want[i*n+j]))
					l[i*n+j] = got[i*n+j]
				}
				for j := i + 1; j < n; j++ {
					if !math.IsNaN(got[i*n+j]) {
						t.Fatalf("upper triangle written at (%d, %d)", i, j)
					}
				}
			}
			// Both factors are backward stable: they agree to a few ulps of the largest
			// entry times the growth of rounding with n.
			if diff > 1e-15*math.Sqrt(float64(n))*lmax*8 {
				t.Errorf("max |L - gonum L| = %.3g (max |L| = %.3g)", diff, lmax)
			}
			// A = L L^T to rounding: |A - L L^T| <= n eps |L| |L^T| entrywise, bounded here
			// by n eps max|A| (|L L^T| = A on the diagonal, the largest entries).
			llt := make([]float64, n*n)
			gonum.Implementation{}.Dgemm(blas.NoTrans, blas.Trans, n, n, n, 1, l, n, l, n, 0, llt, n)
			var res, amax float64
			for i := range n {
				for j := 0; j <= i; j++ {
					res = max(res, math.Abs(llt[i*n+j]-a.At(i, j)))
					amax = max(amax, math.Abs(a.At(i, j)))
				}
			}
			if res > float64(n)*0x1p-52*amax {
				t.Errorf("max |L L^T - A| = %.3g; want <= n eps max|A| = %.3g", res, float64(n)*0x1p-52*amax)
			}
			// Solve and check the residual.
			bvec := make([]float64, n)
			for i := range bvec {
				bvec[i] = float64(i%7) - 3
			}
			x := append([]float64(nil), bvec...)
			SolveCholesky(got, n, n, x)
			var r mat.VecDense
			r.MulVec(a, mat.NewVecDense(n, x))
			r.SubVec(&r, mat.NewVecDense(n, bvec))
			if rn := mat.Norm(&r, math.Inf(1)); rn > 1e-10 {
				t.Errorf("residual %.3g", rn)
			}
		})
	}
}

func TestCholeskyLowerReportsColumn(t *testing.T) {
	t.Parallel()
	n := 400
	a := randomSPD(n, 3)
	raw := make([]float64, n*n)
	for i := range n {
		for j := range n {
			raw[i*n+j] = a.At(i, j)
		}
	}
	// Make column 250 dependent on the first 250: zero its row and column.
	for i := range n {
		raw[250*n+i], raw[i*n+250] = 0, 0
	}
	err := CholeskyLower(raw, n, n)
	var pe *PivotError
	if !errors.As(err, &pe) || !errors.Is(err, ErrNotPositiveDefinite) {
		t.Fatalf("err = %v; want a *PivotError", err)
	}
	if pe.Column != 250 {
		t.Errorf("failed at column %d; want 250", pe.Column)
	}
}
