package coordinator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
)

// denseTrailing is the trailing interface on a dense symmetric matrix in memory (lower
// triangle, row-major), with the workers' contract: products with the matrix as it was
// when the panel began, the update applied at the end of the panel.
type denseTrailing struct {
	n     int
	a     []float64
	vs    map[int][]float64 // the vectors of the open panel by column
	calls int
}

func (t *denseTrailing) panel(_ context.Context, begin, end int) ([]float64, error) {
	w := end - begin
	out := make([]float64, (t.n-begin)*w)
	for r := begin; r < t.n; r++ {
		for c := begin; c < end && c <= r; c++ {
			out[(r-begin)*w+c-begin] = t.a[r*t.n+c]
		}
		for c := r + 1; c < end; c++ {
			out[(r-begin)*w+c-begin] = math.NaN() // not defined: must not be read
		}
	}
	return out, nil
}

func (t *denseTrailing) multiply(_ context.Context, p0, p1, col int, v []float64) ([]float64, error) {
	from := col + 1
	y := make([]float64, t.n-from)
	for i := from; i < t.n; i++ {
		for j := from; j < t.n; j++ {
			aij := t.a[max(i, j)*t.n+min(i, j)]
			y[i-from] += aij * v[j-from]
		}
	}
	t.vs[col] = slices.Clone(v)
	t.calls++
	return y, nil
}

func (t *denseTrailing) update(_ context.Context, p0, p1 int, cols []int, w [][]float64) error {
	if len(cols) != len(t.vs) {
		return fmt.Errorf("update of panel [%d, %d) with %d columns; %d were multiplied", p0, p1, len(cols), len(t.vs))
	}
	for k, col := range cols {
		v := t.vs[col][p1-col-1:] // rows p1..n-1
		for i := p1; i < t.n; i++ {
			for j := p1; j <= i; j++ {
				t.a[i*t.n+j] -= v[i-p1]*w[k][j-p1] + w[k][i-p1]*v[j-p1]
			}
		}
	}
	clear(t.vs)
	return nil
}

// randomSymmetric returns the lower triangle of a seeded random symmetric n x n matrix
// with zeros where keep is false.
func randomSymmetric(n int, seed uint64, keep func(i, j int) bool) []float64 {
	r := rand.New(rand.NewPCG(seed, 9))
	a := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			if keep(i, j) {
				a[i*n+j] = r.NormFloat64()
			}
		}
	}
	return a
}

// TestTridiagonalizeMatchesLAPACK runs the coordinator's half of the reduction on a
// dense matrix in memory and compares the eigenvalues of the tridiagonal matrix with
// those of the single-process LAPACK-style solver (hessian.EigenvaluesSym), for panels
// that divide the order and panels that do not, with and without zero rows (reflectors
// that are the identity).
func TestTridiagonalizeMatchesLAPACK(t *testing.T) {
	t.Parallel()
	all := func(int) bool { return false }
	for _, tc := range []struct {
		name        string
		n, nb, tail int
		zero        func(i int) bool    // rows and columns that are zero
		keep        func(i, j int) bool // other entries that are not
	}{
		{name: "one", n: 1, nb: 1, tail: 1, zero: all},
		{name: "two", n: 2, nb: 1, tail: 1, zero: all},
		{name: "no tail left over", n: 40, nb: 4, tail: 8, zero: all},
		{name: "panels do not divide n", n: 97, nb: 8, tail: 20, zero: all},
		{name: "zero rows in every panel", n: 120, nb: 8, tail: 16, zero: func(i int) bool { return i%7 < 3 }},
		{name: "whole panels of zero rows", n: 64, nb: 8, tail: 8, zero: func(i int) bool { return i < 30 }},
		{name: "zero rows at the end", n: 64, nb: 8, tail: 8, zero: func(i int) bool { return i > 50 }},
		{name: "all zero", n: 20, nb: 4, tail: 4, zero: func(int) bool { return true }},
		// Blocks of 5 on the diagonal: the last column of each block is zero below the
		// subdiagonal, a reflector that is the identity.
		{name: "block diagonal", n: 50, nb: 8, tail: 8, zero: all, keep: func(i, j int) bool { return i/5 == j/5 }},
		{name: "all in the tail", n: 30, nb: 32, tail: 32, zero: all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := func(i, j int) bool { return !tc.zero(i) && !tc.zero(j) && (tc.keep == nil || tc.keep(i, j)) }
			a := randomSymmetric(tc.n, uint64(tc.n), keep)
			want, err := hessian.EigenvaluesSym(slices.Clone(a), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			dt := &denseTrailing{n: tc.n, a: a, vs: map[int][]float64{}}
			var reports int
			var active []bool // nil: all rows take part
			zeros := 0
			for i := range tc.n {
				if tc.zero(i) {
					zeros++
				}
			}
			if zeros > 0 {
				active = make([]bool, tc.n)
				for i := range active {
					active[i] = !tc.zero(i)
				}
			}
			d, e, err := tridiagonalize(t.Context(), dt, tc.n, tc.nb, tc.tail, active, func(phase string, done, total int) { reports++ })
			if err != nil {
				t.Fatal(err)
			}
			got, err := hessian.TridiagonalEigenvalues(d, e)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, make([]float64, zeros)...)
			slices.Sort(got)
			scale := max(hessian.MaxAbs(want), 1)
			for i := range want {
				// Both are backward stable: a few eps * ||A|| apart.
				if diff := math.Abs(got[i] - want[i]); !(diff <= 1e-13*scale) {
					t.Fatalf("eigenvalue %d = %.17g; want %.17g (difference %.3g)", i, got[i], want[i], diff)
				}
			}
			// Products are needed only for the reflectors that are not the identity.
			if maxCalls := tc.n - zeros; dt.calls > maxCalls {
				t.Errorf("%d products for %d non-zero columns", dt.calls, maxCalls)
			}
			if reports == 0 {
				t.Error("no progress reports")
			}
		})
	}
}
