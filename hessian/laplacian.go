package hessian

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// lapKernel is the seed's 3x3 Laplacian kernel (MATH.md). It is symmetric, so correlation
// and convolution agree.
var lapKernel = [3][3]float64{
	{0.5, 1.0, 0.5},
	{1.0, -6., 1.0},
	{0.5, 1.0, 0.5},
}

// lapApply sets dst = L u for one 28x28 class image u, zero outside the image
// (the seed's SAME padding). u and dst are read and written with the given stride,
// so a class column of the flat weights (stride 10) can be used in place.
func lapApply(dst []float64, dstStride int, u []float64, uStride int) {
	for r := range Side {
		for c := range Side {
			var s float64
			for dr := -1; dr <= 1; dr++ {
				rr := r + dr
				if rr < 0 || rr >= Side {
					continue
				}
				for dc := -1; dc <= 1; dc++ {
					cc := c + dc
					if cc < 0 || cc >= Side {
						continue
					}
					s += lapKernel[dr+1][dc+1] * u[(Side*rr+cc)*uStride]
				}
			}
			dst[(Side*r+c)*dstStride] = s
		}
	}
}

// Laplacian returns the 784x784 matrix L with lap(U) = L vec(U), vec row-major.
// L is symmetric and non-singular.
func Laplacian() *mat.Dense {
	l := mat.NewDense(Pixels, Pixels, nil)
	e := make([]float64, Pixels)
	col := make([]float64, Pixels)
	for q := range Pixels {
		e[q] = 1
		lapApply(col, 1, e, 1)
		e[q] = 0
		l.SetCol(q, col)
	}
	return l
}

// Penalty returns P(W) = eps * sum_k ||L w_k||^2 and, when grad is not nil, adds its
// gradient 2 eps L^T L w_k (column k) into grad.
func Penalty(w []float64, eps float64, grad []float64) float64 {
	if len(w) != Params || (grad != nil && len(grad) != Params) {
		panic(fmt.Sprintf("hessian: penalty of weights %d and gradient %d long, want %d", len(w), len(grad), Params))
	}
	if eps == 0 {
		return 0
	}
	lw := make([]float64, Pixels)
	llw := make([]float64, Pixels)
	var p float64
	for k := range Classes {
		lapApply(lw, 1, w[k:], Classes)
		for _, v := range lw {
			p += v * v
		}
		if grad != nil {
			lapApply(llw, 1, lw, 1) // L^T = L
			for j, v := range llw {
				grad[Classes*j+k] += 2 * eps * v
			}
		}
	}
	return eps * p
}

// ltlEntry is one non-zero of a row of L^T L.
type ltlEntry struct {
	col int32
	v   float64
}

// ltlRows returns the non-zeros of L^T L row by row (the 5x5 stencil of L applied twice).
var ltlRows = sync.OnceValue(func() [][]ltlEntry {
	var l, ltl mat.Dense
	l.CloneFrom(Laplacian())
	ltl.Mul(l.T(), &l)
	rows := make([][]ltlEntry, Pixels)
	for j := range Pixels {
		for q := range Pixels {
			if v := ltl.At(j, q); v != 0 {
				rows[j] = append(rows[j], ltlEntry{int32(q), v})
			}
		}
	}
	return rows
})

// AddRegularizerBlock adds the block [r0, r0+m) x [c0, c0+n) of R = 2 eps (L^T L) kron I_10
// into dst (row-major, leading dimension ld).
func AddRegularizerBlock(dst []float64, ld, r0, m, c0, n int, eps float64) {
	checkBlock(dst, ld, r0, m, c0, n)
	if eps == 0 {
		return
	}
	rows := ltlRows()
	for i := range m {
		r := r0 + i
		j, k := r/Classes, r%Classes
		row := dst[i*ld : i*ld+n]
		for _, e := range rows[j] {
			c := Classes*int(e.col) + k - c0
			if c >= 0 && c < n {
				row[c] += 2 * eps * e.v
			}
		}
	}
}

// checkBlock panics when a block request does not fit the Params x Params matrix or dst.
func checkBlock(dst []float64, ld, r0, m, c0, n int) {
	if r0 < 0 || c0 < 0 || m < 0 || n < 0 || r0+m > Params || c0+n > Params || ld < n ||
		(m > 0 && len(dst) < (m-1)*ld+n) {
		panic(fmt.Sprintf("hessian: block [%d,+%d) x [%d,+%d) with ld %d into %d values", r0, m, c0, n, ld, len(dst)))
	}
}
