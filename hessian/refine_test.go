package hessian

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// illConditionedSPD returns a random symmetric positive definite n x n matrix with
// eigenvalues spread geometrically from 1 down to 1/cond: Q diag Q^T with Q a product of
// random Householder reflections.
func illConditionedSPD(n int, cond float64, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 3))
	a := make([]float64, n*n)
	for i := range n {
		a[i*n+i] = math.Pow(cond, -float64(i)/float64(n-1))
	}
	v := make([]float64, n)
	for range 3 { // a <- H a H with H = I - 2 v v^T / v^T v
		var vv float64
		for i := range v {
			v[i] = rnd.NormFloat64()
			vv += v[i] * v[i]
		}
		av := make([]float64, n)
		for i := range n {
			for j := range n {
				av[i] += a[i*n+j] * v[j]
			}
		}
		var vav float64
		for i := range n {
			vav += v[i] * av[i]
		}
		for i := range n {
			for j := range n {
				a[i*n+j] += -2*(v[i]*av[j]+av[i]*v[j])/vv + 4*vav*v[i]*v[j]/(vv*vv)
			}
		}
	}
	MirrorLower(a, n) // exactly symmetric
	return a
}

// TestSymmetricResidualExact compares the compensated residual with one computed exactly
// in big.Float arithmetic.
func TestSymmetricResidualExact(t *testing.T) {
	const n = 60
	rnd := rand.New(rand.NewPCG(4, 4))
	a := illConditionedSPD(n, 1e8, 5)
	x := make([]float64, n)
	b := make([]float64, n)
	for i := range x {
		x[i] = rnd.NormFloat64()
	}
	// b = fl(A x): the residual b - A x is then pure rounding, the hardest case.
	for i := range n {
		for j := range n {
			b[i] += a[i*n+j] * x[j]
		}
	}
	diag := make([]float64, n)
	for i := range diag {
		diag[i] = a[i*n+i]
	}
	got := make([]float64, n)
	symmetricResidual(got, a, n, n, diag, x, b)
	for i := range n {
		exact := new(big.Float).SetPrec(2000).SetFloat64(b[i])
		for j := range n {
			p := new(big.Float).SetPrec(2000).SetFloat64(a[i*n+j])
			p.Mul(p, new(big.Float).SetFloat64(x[j]))
			exact.Sub(exact, p)
		}
		want, _ := exact.Float64()
		// Dot2's error bound is about u |r| + n^2 u^2 sum |a_ij x_j|.
		var scale float64
		for j := range n {
			scale += math.Abs(a[i*n+j] * x[j])
		}
		if d := math.Abs(got[i] - want); d > 2e-16*math.Abs(want)+float64(n*n)*1.3e-32*scale {
			t.Errorf("r[%d] = %.17g; exact %.17g (difference %.3g)", i, got[i], want, d)
		}
	}
}

// TestRefinementAgreesAcrossBlockings factors an ill-conditioned matrix (cond 1e9) by the
// blocked and the unblocked Cholesky: unrefined solutions differ in the eighth digit,
// refined ones agree to rounding.
func TestRefinementAgreesAcrossBlockings(t *testing.T) {
	const n = 400
	a := illConditionedSPD(n, 1e9, 6)
	rnd := rand.New(rand.NewPCG(7, 7))
	b := make([]float64, n)
	for i := range b {
		b[i] = rnd.NormFloat64()
	}
	diag := make([]float64, n)
	for i := range diag {
		diag[i] = a[i*n+i]
	}
	solve := func(blocked, refine bool) []float64 {
		f := append([]float64(nil), a...)
		var err error
		if blocked {
			err = CholeskyLower(f, n, n)
		} else {
			err = Potf2(f, n, n, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float64, n)
		if refine {
			solveRefined(f, n, n, diag, b, x)
		} else {
			copy(x, b)
			SolveCholesky(f, n, n, x)
		}
		return x
	}
	rel := func(x, y []float64) float64 {
		var d, m float64
		for i := range x {
			d = max(d, math.Abs(x[i]-y[i]))
			m = max(m, math.Abs(y[i]))
		}
		return d / m
	}
	plain := rel(solve(true, false), solve(false, false))
	refined := rel(solve(true, true), solve(false, true))
	t.Logf("blocked vs unblocked: %.3g unrefined, %.3g refined", plain, refined)
	if refined > 1e-14 {
		t.Errorf("refined solutions differ by %.3g; want rounding (< 1e-14)", refined)
	}
	if plain < 100*refined {
		t.Errorf("unrefined solutions differ by only %.3g: the matrix is too well conditioned to test refinement", plain)
	}
}
