package hessian

import "math"

// Iterative refinement with residuals in twice the working precision.
//
// A Cholesky solve in float64 gives x with a forward error up to about cond(A) u
// (u = 1.1e-16), and cond(H + R) reaches 2e6 for small batches: two correct solvers that
// round differently (blocked in one process, tiled over a cluster, any tile size) then
// disagree in the tenth digit. One step of refinement, r = b - A x computed with
// compensated products and sums (as accurate as in double-double), d = A^{-1} r with the
// same factor, x += d, brings the forward error down to about u whenever cond(A) u << 1
// (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., 2002, section 12.1;
// the compensated sums are Ogita, Rump and Oishi's Dot2, "Accurate sum and dot
// product", SIAM J. Sci. Comput. 26, 2005). Every solver of this project refines, so its
// results agree with each other to rounding, whatever the layout.

// twoSum returns s = fl(a+b) and the exact error e = a + b - s (Knuth).
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	return s, (a - (s - bb)) + (b - bb)
}

// twoProd returns p = fl(a*b) and the exact error e = a*b - p.
func twoProd(a, b float64) (p, e float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

// DotAccumulator is a vector of running sums kept to twice the working precision: entry
// i is Sum[i] + Comp[i], where Comp collects the rounding errors of the products and
// additions made into Sum (Dot2).
type DotAccumulator struct {
	Sum, Comp []float64
}

// NewDotAccumulator returns n zero sums.
func NewDotAccumulator(n int) DotAccumulator {
	return DotAccumulator{Sum: make([]float64, n), Comp: make([]float64, n)}
}

// addProduct adds a*x to entry i.
func (d DotAccumulator) addProduct(i int, a, x float64) {
	p, pe := twoProd(a, x)
	s, se := twoSum(d.Sum[i], p)
	d.Sum[i] = s
	d.Comp[i] += pe + se
}

// AddAt adds the entries of o (sum and compensation) to entries off, off+1, ... of d.
func (d DotAccumulator) AddAt(off int, o DotAccumulator) {
	for i, v := range o.Sum {
		s, e := twoSum(d.Sum[off+i], v)
		d.Sum[off+i] = s
		d.Comp[off+i] += e + o.Comp[i]
	}
}

// ResidualTo sets r = b - (Sum + Comp), rounded once at the end.
func (d DotAccumulator) ResidualTo(r, b []float64) {
	for i := range r {
		s, e := twoSum(b[i], -d.Sum[i])
		r[i] = s + (e - d.Comp[i])
	}
}

// TileProduct adds, to twice the working precision, the products of the m x n
// row-major block a (leading dimension lda) of a symmetric matrix with a vector: a xc
// into yr (the block's rows), and, unless diag, a^T xr into yc (its columns, the mirror
// block above the diagonal). diag marks a diagonal block stored whole.
func TileProduct(a []float64, m, n, lda int, xc []float64, yr DotAccumulator, xr []float64, yc DotAccumulator, diag bool) {
	for i := range m {
		row := a[i*lda : i*lda+n]
		for j, v := range row {
			yr.addProduct(i, v, xc[j])
			if !diag {
				yc.addProduct(j, v, xr[i])
			}
		}
	}
}

// mirrorLowerBlocked copies the strict lower triangle of the n x n row-major matrix a
// (leading dimension lda) into its strict upper triangle, in square blocks so that the
// transposed writes stay in cache.
func mirrorLowerBlocked(a []float64, n, lda int) {
	const bs = 64
	parallelFor((n+bs-1)/bs, func(bi int) {
		i0 := bi * bs
		for j0 := 0; j0 <= i0; j0 += bs {
			for i := i0; i < min(i0+bs, n); i++ {
				for j := j0; j < min(j0+bs, i); j++ {
					a[j*lda+i] = a[i*lda+j]
				}
			}
		}
	})
}

// symmetricResidual sets r = b - A x to twice the working precision, where A is the
// symmetric n x n matrix with diagonal diag and its strict upper triangle in the upper
// triangle of a (row-major, leading dimension lda). Row blocks run on GOMAXPROCS
// goroutines with private sums, added in block order.
func symmetricResidual(r, a []float64, n, lda int, diag, x, b []float64) {
	const rowsPer = 256
	blocks := (n + rowsPer - 1) / rowsPer
	parts := make([]DotAccumulator, blocks)
	parallelFor(blocks, func(bi int) {
		acc := NewDotAccumulator(n)
		for i := bi * rowsPer; i < min(n, (bi+1)*rowsPer); i++ {
			acc.addProduct(i, diag[i], x[i])
			row := a[i*lda+i+1 : i*lda+n]
			for k, v := range row {
				j := i + 1 + k
				acc.addProduct(i, v, x[j])
				acc.addProduct(j, v, x[i])
			}
		}
		parts[bi] = acc
	})
	total := NewDotAccumulator(n)
	for _, p := range parts {
		total.AddAt(0, p)
	}
	total.ResidualTo(r, b)
}

// solveRefined sets x = A^{-1} b with one step of refinement, where the lower triangle of
// a holds the Cholesky factor of A (CholeskyLower), its strict upper triangle A's strict
// upper triangle, and diag A's diagonal.
func solveRefined(a []float64, n, lda int, diag, b, x []float64) {
	copy(x, b)
	SolveCholesky(a, n, lda, x)
	r := make([]float64, n)
	symmetricResidual(r, a, n, lda, diag, x, b)
	SolveCholesky(a, n, lda, r)
	for i, c := range r {
		x[i] += c
	}
}
