package hessian

import "math"

// Iterative refinement with residuals in twice the working precision.
//
// A Cholesky solve in float64 gives x with a forward error up to about cond(A) u
// (u = 1.1e-16), and cond(H + R) reaches 2e6 for small batches: two correct solvers that
// round differently (blocked in one process, tiled over a cluster, any tile size) then
// disagree in the tenth digit. One step of refinement, r = b - A x computed to twice the
// working precision, d = A^{-1} r with the same factor, x += d, brings the forward error
// down to about u whenever cond(A) u << 1 (Higham, Accuracy and Stability of Numerical
// Algorithms, 2nd ed., 2002, section 12.1). Every solver of this project refines, so its
// results agree with each other to rounding, whatever the layout.
//
// The residual needs A's action, not A: H v = (1/n) sum_s x_s (A_s V^T x_s)^T, with V the
// 784 x 10 matrix of v, costs 2 x 10 multiply-adds per lit pixel of each image, and
// R v = 2 eps (L^T L) V is a stencil. So no copy of the 491.7 MB matrix is kept: the
// product is computed from the images and their curvature coefficients, with every
// product exact (FMA) and every sum compensated (Ogita, Rump and Oishi's Dot2, "Accurate
// sum and dot product", SIAM J. Sci. Comput. 26, 2005), and shards of images add up.

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

// addProduct adds a*(xh + xl) to entry i, xl being a correction of xh far below its last
// bit (so a*xl needs no error term of its own).
func (d DotAccumulator) addProduct(i int, a, xh, xl float64) {
	p, pe := twoProd(a, xh)
	s, se := twoSum(d.Sum[i], p)
	d.Sum[i] = s
	d.Comp[i] += pe + se + a*xl
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

// scaled returns the sums multiplied by f, still to twice the working precision.
func (d DotAccumulator) scaled(f float64) DotAccumulator {
	o := NewDotAccumulator(len(d.Sum))
	for i := range d.Sum {
		o.addProduct(i, f, d.Sum[i], d.Comp[i])
	}
	return o
}

// ProductSums adds sum_s x_s (A_s V^T x_s)^T over the images [lo, hi) of the curvature's
// set, in flat order and without the 1/n of the mean, into acc (Params long): the
// unnormalized product of the cross-entropy Hessian with v, to twice the working
// precision. A_s is the packed coefficients the assembly uses, so the product is the
// assembled matrix's up to the rounding of the assembly's sums. Chunks of images run on
// GOMAXPROCS goroutines with private sums, added in chunk order.
func (c *Curvature) ProductSums(v []float64, lo, hi int, acc DotAccumulator) {
	if len(v) != Params || len(acc.Sum) != Params || lo < 0 || hi > c.Len() || lo > hi {
		panic("hessian: ProductSums: bad vector, accumulator or image range")
	}
	d := c.idx.d
	chunks := (hi - lo + chunkImages - 1) / chunkImages
	parts := make([]DotAccumulator, chunks)
	parallelFor(chunks, func(ci int) {
		part := NewDotAccumulator(Params)
		var u, t DotAccumulator
		u, t = NewDotAccumulator(Classes), NewDotAccumulator(Classes)
		for s := lo + ci*chunkImages; s < min(hi, lo+(ci+1)*chunkImages); s++ {
			pix, val := d.Image(s)
			clear(u.Sum)
			clear(u.Comp)
			for i, j := range pix { // u = V^T x_s
				x := pixelValue[val[i]]
				for k := range Classes {
					u.addProduct(k, x, v[Classes*int(j)+k], 0)
				}
			}
			clear(t.Sum)
			clear(t.Comp)
			a := c.coef[packedLen*s : packedLen*(s+1)]
			for k := range Classes { // t = A_s u
				for k2 := range Classes {
					t.addProduct(k, a[packedIndex[k][k2]], u.Sum[k2], u.Comp[k2])
				}
			}
			for i, j := range pix { // += x_s t^T
				x := pixelValue[val[i]]
				for k := range Classes {
					part.addProduct(Classes*int(j)+k, x, t.Sum[k], t.Comp[k])
				}
			}
		}
		parts[ci] = part
	})
	for _, p := range parts {
		acc.AddAt(0, p)
	}
}

// ScaleProductSums turns summed products over all n images of a set (ProductSums from
// every shard, added) into (H + R + damping I) v, to twice the working precision: the
// sums times the assembly's scale fl(1/n), plus R v and damping v with the coefficients
// the assembly adds.
func ScaleProductSums(sums DotAccumulator, n int, v []float64, eps, damping float64) DotAccumulator {
	out := sums.scaled(1 / float64(n))
	if eps != 0 {
		rows := ltlRows()
		for r := range Params {
			j, k := r/Classes, r%Classes
			for _, e := range rows[j] {
				out.addProduct(r, 2*eps*e.v, v[Classes*int(e.col)+k], 0)
			}
		}
	}
	if damping != 0 {
		for r := range Params {
			out.addProduct(r, damping, v[r], 0)
		}
	}
	return out
}

// solveRefined sets x = A^{-1} b with one step of refinement, where the lower triangle of
// a holds the Cholesky factor of A (CholeskyLower) and product returns A v to twice the
// working precision.
func solveRefined(a []float64, n, lda int, product func(v []float64) DotAccumulator, b, x []float64) {
	copy(x, b)
	SolveCholesky(a, n, lda, x)
	r := make([]float64, n)
	product(x).ResidualTo(r, b)
	SolveCholesky(a, n, lda, r)
	for i, c := range r {
		x[i] += c
	}
}
