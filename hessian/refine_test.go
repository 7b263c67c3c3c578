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

// TestProductSumsExact compares the compensated product (H + R + damping I) v with one
// computed exactly in big.Float arithmetic from the same curvature coefficients, and
// with the product of the assembled matrix.
func TestProductSumsExact(t *testing.T) {
	train, _ := loadMNIST(t)
	d := train.Slice(0, 40)
	w := referenceRandomW(t)
	c := NewCurvature(NewIndex(d), w)
	rnd := rand.New(rand.NewPCG(4, 4))
	v := make([]float64, Params)
	for i := range v {
		v[i] = rnd.NormFloat64()
	}
	const eps, damping = 0.001, 0.25
	acc := NewDotAccumulator(Params)
	// Two shards, as two workers would sum them.
	c.ProductSums(v, 0, 17, acc)
	c.ProductSums(v, 17, d.Len(), acc)
	got := ScaleProductSums(acc, d.Len(), v, eps, damping)

	// Exact: sum_s x_sj x_sj' a_s[k,k'] v[j',k'] with big.Float, times fl(1/n).
	const prec = 1000
	exact := make([]*big.Float, Params)
	for i := range exact {
		exact[i] = new(big.Float).SetPrec(prec)
	}
	bf := func(x float64) *big.Float { return new(big.Float).SetPrec(prec).SetFloat64(x) }
	for s := range d.Len() { // exact arithmetic: u = V^T x_s, t = A_s u, += x_s t^T
		x := d.Dense(s)
		a := c.coef[packedLen*s:]
		u := make([]*big.Float, Classes)
		t := make([]*big.Float, Classes)
		for k := range Classes {
			u[k], t[k] = bf(0), bf(0)
			for j := range Pixels {
				p := bf(x[j])
				u[k].Add(u[k], p.Mul(p, bf(v[Classes*j+k])))
			}
		}
		for k := range Classes {
			for k2 := range Classes {
				p := bf(a[packedIndex[k][k2]])
				t[k].Add(t[k], p.Mul(p, u[k2]))
			}
		}
		for j := range Pixels {
			for k := range Classes {
				p := bf(x[j])
				exact[Classes*j+k].Add(exact[Classes*j+k], p.Mul(p, t[k]))
			}
		}
	}
	scale := bf(1 / float64(d.Len()))
	rows := ltlRows()
	for r := range Params {
		exact[r].Mul(exact[r], scale)
		j, k := r/Classes, r%Classes
		for _, e := range rows[j] {
			p := bf(2 * eps * e.v)
			exact[r].Add(exact[r], p.Mul(p, bf(v[Classes*int(e.col)+k])))
		}
		p := bf(damping)
		exact[r].Add(exact[r], p.Mul(p, bf(v[r])))
	}
	h := make([]float64, Params*Params)
	AssembleLower(h, c, eps, damping, nil)
	MirrorLower(h, Params)
	var worstExact, worstAssembled float64
	for r := range Params {
		want, _ := exact[r].Float64()
		val := got.Sum[r] + got.Comp[r]
		// Twice the working precision: the error is about u^2 of the sum of |terms|.
		worstExact = max(worstExact, math.Abs(val-want)/(math.Abs(want)+1e-300))
		var dense float64
		for col := range Params {
			dense += h[r*Params+col] * v[col]
		}
		worstAssembled = max(worstAssembled, math.Abs(dense-want))
	}
	t.Logf("compensated product vs exact: %.3g relative; assembled matrix's float product vs exact: %.3g", worstExact, worstAssembled)
	if worstExact > 1e-15 {
		t.Errorf("compensated product differs from the exact one by %.3g relative; want about u^2", worstExact)
	}
	if worstAssembled > 1e-12 {
		t.Errorf("the assembled matrix's product differs from the exact one by %.3g: not the same matrix", worstAssembled)
	}
}

// denseProduct returns v -> A v to twice the working precision for a dense n x n matrix.
func denseProduct(a []float64, n int) func(v []float64) DotAccumulator {
	return func(v []float64) DotAccumulator {
		acc := NewDotAccumulator(n)
		for i := range n {
			for j := range n {
				acc.addProduct(i, a[i*n+j], v[j], 0)
			}
		}
		return acc
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
			solveRefined(f, n, n, denseProduct(a, n), b, x)
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
