package hessian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

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

func TestCholeskyLowerMatchesGonum(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 5, 191, 192, 193, 500} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			a := randomSPD(n, uint64(n))
			var want mat.Cholesky
			if !want.Factorize(a) {
				t.Fatal("gonum: not positive definite")
			}
			var wl mat.TriDense
			want.LTo(&wl)
			got := make([]float64, n*n)
			for i := range n {
				for j := 0; j <= i; j++ {
					got[i*n+j] = a.At(i, j)
				}
				for j := i + 1; j < n; j++ {
					got[i*n+j] = math.NaN() // the upper triangle must not be read
				}
			}
			if err := CholeskyLower(got, n, n); err != nil {
				t.Fatal(err)
			}
			var diff float64
			for i := range n {
				for j := 0; j <= i; j++ {
					diff = max(diff, math.Abs(got[i*n+j]-wl.At(i, j)))
				}
			}
			if diff > 1e-12*math.Sqrt(float64(n)) {
				t.Errorf("max |L - gonum L| = %.3g", diff)
			}
			// Solve and check the residual.
			bvec := make([]float64, n)
			for i := range bvec {
				bvec[i] = float64(i%7) - 3
			}
			x := append([]float64(nil), bvec...)
			SolveCholesky(got, n, n, x)
			var res mat.VecDense
			res.MulVec(a, mat.NewVecDense(n, x))
			res.SubVec(&res, mat.NewVecDense(n, bvec))
			if r := mat.Norm(&res, math.Inf(1)); r > 1e-10 {
				t.Errorf("residual %.3g", r)
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
