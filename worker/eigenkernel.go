package worker

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/hessian-cluster/hess/internal/fastblas"
)

// This file holds the tile kernels of the tridiagonal reduction (eigen.go): the products
// of a tile with a Householder vector and the panel's update of a tile, both of which
// skip the rows and columns that are known to be zero.
//
// # Zero rows and columns
//
// At W = 0, or with few images, many rows of the Hessian are exactly zero (pixels no
// image lights: 6180 of 7840 rows for one image). Such a row stays zero through the
// reduction (its Householder vectors and W vanish there), and the products and updates
// of a tile cost what its non-zero part costs if the tile knows which of its rows and
// columns are zero. Each tile keeps that knowledge exactly: it scans its entries once
// (ReduceStart), and after each panel's update a row or column of it stops being known
// zero as soon as the update can reach it (its row of [V W] is not zero). Skipping a zero
// row or column leaves out exact zeros; the sums of the others are the same numbers,
// though added in runs.

// rtile is one own tile in the reduction.
type rtile struct {
	*tile
	zero []bool    // m + n flags: rows, then columns, known to be zero (in the lower triangle, on the diagonal)
	rows []int     // the rows not known zero, increasing
	runs [][2]int  // the column ranges [a, b) not known zero, increasing (off-diagonal tiles)
	part []float64 // m + n: the tile's products in ReduceColumn
}

// scanTile makes the reduction state of t from its entries. It returns the largest
// |entry| of its lower triangle, or a description of the first entry that is not finite.
func scanTile(t *tile) (rt *rtile, maxAbs float64, bad string) {
	rt = &rtile{tile: t, zero: make([]bool, t.m+t.n), part: make([]float64, t.m+t.n)}
	for i := range rt.zero {
		rt.zero[i] = true
	}
	zr, zc := rt.zero[:t.m], rt.zero[t.m:]
	for r := range t.m {
		row := t.data[r*t.n : r*t.n+t.n]
		if t.t.I == t.t.J {
			row = row[:r+1] // the lower triangle only
		}
		for c, v := range row {
			if v == 0 {
				continue
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Sprintf("tile %v: entry (%d, %d) is %v", t.t, t.r0+r, t.c0+c, v)
			}
			maxAbs = max(maxAbs, math.Abs(v))
			zr[r], zc[c] = false, false
		}
	}
	rt.refresh()
	return rt, maxAbs, ""
}

// refresh recomputes rows and runs from the flags.
func (rt *rtile) refresh() {
	rt.rows = rt.rows[:0]
	for r, z := range rt.zero[:rt.m] {
		if !z {
			rt.rows = append(rt.rows, r)
		}
	}
	rt.runs = rt.runs[:0]
	if rt.t.I == rt.t.J {
		return
	}
	zc := rt.zero[rt.m:]
	for c := 0; c < rt.n; {
		if zc[c] {
			c++
			continue
		}
		a := c
		for c < rt.n && !zc[c] {
			c++
		}
		rt.runs = append(rt.runs, [2]int{a, c})
	}
}

// product sets the tile's parts of y = A[from:, from:] v (v holds rows from..N-1): in
// part[:rows], A_IJ v_J for its rows from `from` on, and in part[rows:rows+cols], for an
// off-diagonal tile, A_IJ^T v_I for its columns from `from` on. It reports false when
// the tile has no part there. Each row is read once, for both its dot product and its
// axpy (fastblas.DotAxpy): the product is bound by memory bandwidth, and this halves the
// traffic of two matrix-vector products.
func (rt *rtile) product(from int, v []float64) (rows, cols int, ok bool) {
	var l1 gonum.Implementation // unit-stride Ddot and Daxpy run on assembly kernels
	t := rt.tile
	ra, ca := max(t.r0, from), max(t.c0, from)
	rows, cols = t.r0+t.m-ra, t.c0+t.n-ca
	if rows <= 0 || cols <= 0 {
		return 0, 0, false
	}
	lr, lc := ra-t.r0, ca-t.c0 // the first local row and column of the part
	yr, yc := rt.part[:rows], rt.part[rows:rows+cols]
	clear(yr)
	clear(yc)
	vr, vc := v[ra-from:ra-from+rows], v[ca-from:ca-from+cols]
	if t.t.I == t.t.J { // square, lr == lc: y += L x + L^T x - diag(L) x
		for _, r := range rt.rows {
			if r < lr {
				continue
			}
			i := r - lr
			row := t.data[r*t.n+lc : r*t.n+r+1]
			x := vr[i]
			if x != 0 {
				yr[i] += fastblas.DotAxpy(row[:i], vr, yr, x) + row[i]*x
			} else {
				yr[i] += l1.Ddot(i, row, 1, vr, 1)
			}
		}
		return rows, 0, true
	}
	for _, r := range rt.rows {
		if r < lr {
			continue
		}
		i := r - lr
		row := t.data[r*t.n : r*t.n+t.n]
		x := vr[i]
		var s float64
		for _, run := range rt.runs {
			a, b := max(run[0], lc), run[1]
			if a >= b {
				continue
			}
			if x != 0 {
				s += fastblas.DotAxpy(row[a:b], vc[a-lc:], yc[a-lc:], x)
			} else {
				s += l1.Ddot(b-a, row[a:b], 1, vc[a-lc:], 1)
			}
		}
		yr[i] = s
	}
	return rows, cols, true
}

// panelUpdate is one panel's update A -= V W^T + W V^T of the trailing matrix, rows and
// columns from p1 on: vw = [V W] and wv = [W V] row-major with leading dimension 2k, row
// r for the matrix's row p1 + r, and nz[r] whether that row of them is not zero.
type panelUpdate struct {
	p1, k  int
	vw, wv []float64
	nz     []bool
}

// scratch holds the buffers of compacted updates.
var scratch = sync.Pool{New: func() any { return new([]float64) }}

// update applies u to the part of the tile from row and column u.p1 on. Only the rows
// and columns where u is not zero change: when some are zero the product is computed
// on the others only, gathered, and scattered back. A diagonal tile's strict upper
// triangle is written too, and never read.
func (rt *rtile) update(u *panelUpdate) {
	t := rt.tile
	ra, ca := max(t.r0, u.p1), max(t.c0, u.p1)
	rows, cols := t.r0+t.m-ra, t.c0+t.n-ca
	if rows <= 0 || cols <= 0 {
		return
	}
	lr, lc := ra-t.r0, ca-t.c0
	k2 := 2 * u.k
	var rs, cs []int // local rows and columns that the update reaches
	for r := lr; r < t.m; r++ {
		if u.nz[t.r0+r-u.p1] {
			rs = append(rs, r)
		}
	}
	for c := lc; c < t.n; c++ {
		if u.nz[t.c0+c-u.p1] {
			cs = append(cs, c)
		}
	}
	if len(rs) == 0 || len(cs) == 0 {
		return
	}
	for _, r := range rs {
		rt.zero[r] = false
	}
	for _, c := range cs {
		rt.zero[t.m+c] = false
	}
	defer rt.refresh()
	bi := blas64.Implementation()
	if len(rs) == rows && len(cs) == cols {
		// A_sub -= [V W]_rows [W V]_cols^T in place.
		bi.Dgemm(blas.NoTrans, blas.Trans, rows, cols, k2, -1, u.vw[(ra-u.p1)*k2:], k2,
			u.wv[(ca-u.p1)*k2:], k2, 1, t.data[lr*t.n+lc:], t.n)
		return
	}
	bp := scratch.Get().(*[]float64)
	defer scratch.Put(bp)
	need := (len(rs)+len(cs))*k2 + len(rs)*len(cs)
	if cap(*bp) < need {
		*bp = make([]float64, need)
	}
	buf := (*bp)[:need]
	a, b, c := buf[:len(rs)*k2], buf[len(rs)*k2:(len(rs)+len(cs))*k2], buf[(len(rs)+len(cs))*k2:]
	for i, r := range rs {
		copy(a[i*k2:(i+1)*k2], u.vw[(t.r0+r-u.p1)*k2:])
	}
	for i, col := range cs {
		copy(b[i*k2:(i+1)*k2], u.wv[(t.c0+col-u.p1)*k2:])
	}
	nc := len(cs)
	bi.Dgemm(blas.NoTrans, blas.Trans, len(rs), nc, k2, 1, a, k2, b, k2, 0, c, nc)
	for i, r := range rs {
		row, prod := t.data[r*t.n:(r+1)*t.n], c[i*nc:(i+1)*nc]
		for j, col := range cs {
			row[col] -= prod[j]
		}
	}
}
