package coordinator

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"

	"github.com/hessian-cluster/hess/hessian"
)

// This file is the coordinator's half of the distributed tridiagonal reduction, written
// against the trailing interface so that it runs on the workers (eigen.go) and, in
// tests, on a dense matrix in memory.

const (
	// reducePanel is the panel width nb of the reduction (LAPACK's default block size for
	// DSYTRD). The coordinator holds the panel's columns and W: 2 x 7840 x 32 doubles,
	// 4 MB.
	reducePanel = 32
	// reduceTail is the order of the trailing matrix that the coordinator fetches whole
	// and reduces itself (DSYTD2): 256 x 256 doubles, 0.5 MB, instead of 256 rounds of
	// calls. A multiple of reducePanel, so that with N = 7840 = 245 x 32 the blocked
	// panels are all full.
	reduceTail = 8 * reducePanel
)

// trailing is the distributed symmetric matrix A that the reduction works on. Between
// panels A is the trailing matrix of the reduction (rows and columns from the panel's
// first on hold Q^T A Q, the columns before it are done); during a panel it stays as it
// was when the panel began.
type trailing interface {
	// panel returns the columns [begin, end) of A in rows [begin, n), row-major with
	// leading dimension end - begin. Entries above the diagonal are not read.
	panel(ctx context.Context, begin, end int) ([]float64, error)
	// multiply returns y = A[c+1:, c+1:] v (n - c - 1 values), A as it was when the
	// panel [p0, p1) began, and keeps v for update.
	multiply(ctx context.Context, p0, p1, c int, v []float64) ([]float64, error)
	// update ends the panel: A[p1:, p1:] -= V W^T + W V^T over the panel's columns cols
	// (those given to multiply, increasing), with w[k] the rows p1..n-1 of the W column
	// of cols[k].
	update(ctx context.Context, p0, p1 int, cols []int, w [][]float64) error
}

// tridiagonalize reduces the n x n symmetric matrix behind t to a tridiagonal matrix by
// LAPACK's DSYTRD (lower): panels of nb columns reduced as in DLATRD, then a rank-2nb
// update of the trailing matrix (by t: on the workers), until the trailing order is at
// most tail (>= nb), which is fetched and reduced here by DSYTD2. For each column the
// coordinator updates it with the panel's earlier columns (it holds V and W), forms the
// Householder reflector, has t multiply the trailing matrix by it, and corrects the
// product into the column of W. A reflector that is the identity (tau = 0: the column
// is already zero below the subdiagonal) needs no product; its column of W is zero, and
// a panel without other reflectors needs no update.
//
// active, when not nil, marks the rows that are not identically zero: the others, and
// their columns, are exactly zero in A, stay so (the reflectors and W vanish there), and
// are left out, as if A were first restricted to the active rows (a symmetric
// permutation that puts them last, each an eigenvalue 0). The reflector of an active
// column then pivots on the next active row instead of the next row. d and e are the
// diagonal and subdiagonal of the tridiagonal matrix of the active rows, in order (the
// caller adds a zero eigenvalue per inactive row). progress hears "eigenvalues" in units
// of trailing-matrix work.
func tridiagonalize(ctx context.Context, t trailing, n, nb, tail int, active []bool, progress hessian.ProgressFunc) (d, e []float64, err error) {
	if n < 1 || nb < 1 || tail < nb || (active != nil && len(active) != n) {
		panic(fmt.Sprintf("coordinator: reduction of order %d with panels of %d, a tail of %d and %d active flags", n, nb, tail, len(active)))
	}
	isActive := func(i int) bool { return active == nil || active[i] }
	// next[i] is the first active row after i, or n.
	next := make([]int, n)
	for i, nx := n-1, n; i >= 0; i-- {
		next[i] = nx
		if isActive(i) {
			nx = i
		}
	}
	// d and e in the order of the active rows: e couples an active row with the next.
	d = make([]float64, 0, n)
	e = make([]float64, 0, n)
	var total, done int
	for p0 := 0; n-p0 > tail; p0 += nb {
		total += (n - p0) * (n - p0)
	}
	report := func() {
		if progress != nil {
			progress("eigenvalues", done, total)
		}
	}
	report()
	var (
		impl lapackgonum.Implementation
		bi   = blas64.Implementation()
		w    = make([]float64, n*nb) // the panel's W, rows p0..n-1, leading dimension nb
		tmp  = make([]float64, nb)
		v    = make([]float64, n)
	)
	p0 := 0
	for ; n-p0 > tail; p0 += nb {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		p1 := p0 + nb
		m := n - p0 // local order: the panel's rows
		done += m * m
		if next[p0] >= p1 && !isActive(p0) {
			report()
			continue // only zero columns: nothing to reduce, nothing to update
		}
		a, err := t.panel(ctx, p0, p1)
		if err != nil {
			return nil, nil, err
		}
		if len(a) != m*nb {
			return nil, nil, fmt.Errorf("coordinator: panel [%d, %d) of %d values, want %d", p0, p1, len(a), m*nb)
		}
		clear(w[:m*nb])
		var cols []int
		for i := range nb {
			if !isActive(p0 + i) {
				continue // a zero column: its V and W columns are zero
			}
			// A(i:m, i) -= V(i:m, 0:i) W(i, 0:i)^T + W(i:m, 0:i) V(i, 0:i)^T, V in the
			// panel's earlier columns.
			bi.Dgemv(blas.NoTrans, m-i, i, -1, a[i*nb:], nb, w[i*nb:], 1, 1, a[i*nb+i:], nb)
			bi.Dgemv(blas.NoTrans, m-i, i, -1, w[i*nb:], nb, a[i*nb:], 1, 1, a[i*nb+i:], nb)
			d = append(d, a[i*nb+i])
			piv := next[p0+i] - p0 // the reflector's first row: the next active one
			if piv >= m {
				continue // the last active row: nothing below to annihilate
			}
			// The reflector H = I - tau v v^T that annihilates A(piv+1:m, i), v = 1 at
			// piv and 0 above (the rows between are zero).
			k := m - i - 1
			var x []float64
			if piv+1 < m {
				x = a[(piv+1)*nb+i:]
			}
			beta, tau := impl.Dlarfg(m-piv, a[piv*nb+i], x, nb)
			e = append(e, beta)
			a[piv*nb+i] = 1
			if tau == 0 {
				continue // H = I: W(:, i) = 0
			}
			vi := v[:k]
			for r := range vi {
				vi[r] = a[(i+1+r)*nb+i]
			}
			if !finite(vi) {
				return nil, nil, fmt.Errorf("coordinator: reduction: the Householder vector of column %d is not finite", p0+i)
			}
			y, err := t.multiply(ctx, p0, p1, p0+i, vi)
			if err != nil {
				return nil, nil, err
			}
			if len(y) != k {
				return nil, nil, fmt.Errorf("coordinator: product of column %d with %d values, want %d", p0+i, len(y), k)
			}
			// W(i+1:m, i) = tau (y - V W^T v - W V^T v) - tau/2 (that . v) v.
			wi := w[(i+1)*nb+i:]
			for r, x := range y {
				wi[r*nb] = x
			}
			bi.Dgemv(blas.Trans, k, i, 1, w[(i+1)*nb:], nb, vi, 1, 0, tmp, 1)
			bi.Dgemv(blas.NoTrans, k, i, -1, a[(i+1)*nb:], nb, tmp, 1, 1, wi, nb)
			bi.Dgemv(blas.Trans, k, i, 1, a[(i+1)*nb:], nb, vi, 1, 0, tmp, 1)
			bi.Dgemv(blas.NoTrans, k, i, -1, w[(i+1)*nb:], nb, tmp, 1, 1, wi, nb)
			bi.Dscal(k, tau, wi, nb)
			alpha := -0.5 * tau * bi.Ddot(k, wi, nb, vi, 1)
			bi.Daxpy(k, alpha, vi, 1, wi, nb)
			cols = append(cols, p0+i)
		}
		// The W columns of the reflected columns, rows p1..n-1.
		ws := make([][]float64, len(cols))
		for c, col := range cols {
			wc := make([]float64, n-p1)
			for r := range wc {
				wc[r] = w[(p1-p0+r)*nb+col-p0]
			}
			if !finite(wc) {
				return nil, nil, fmt.Errorf("coordinator: reduction: column %d of W is not finite", col)
			}
			ws[c] = wc
		}
		if len(cols) > 0 { // else W = 0: the update changes nothing
			if err := t.update(ctx, p0, p1, cols, ws); err != nil {
				return nil, nil, err
			}
		}
		report()
	}
	// The trailing matrix of order n - p0 <= tail, whole, restricted to its active rows.
	m := n - p0
	a, err := t.panel(ctx, p0, n)
	if err != nil {
		return nil, nil, err
	}
	if len(a) != m*m {
		return nil, nil, fmt.Errorf("coordinator: trailing matrix [%d, %d) of %d values, want %d", p0, n, len(a), m*m)
	}
	var keep []int
	for i := range m {
		if isActive(p0 + i) {
			keep = append(keep, i)
		}
	}
	k := len(keep)
	for i, ki := range keep { // in place: every entry moves to an offset no larger than its own
		for j, kj := range keep[:i+1] {
			a[i*k+j] = a[ki*m+kj]
		}
	}
	if k > 0 {
		dt, et := make([]float64, k), make([]float64, k-1)
		if k == 1 {
			dt[0] = a[0]
		} else {
			impl.Dsytd2(blas.Lower, k, a, k, dt, et, make([]float64, k-1))
		}
		d, e = append(d, dt...), append(e, et...)
	}
	if len(e) != max(len(d)-1, 0) {
		// The last active row before the tail couples to the first one in it; without
		// active rows in the tail it has no reflector.
		panic(fmt.Sprintf("coordinator: reduction gave %d diagonal and %d subdiagonal entries", len(d), len(e)))
	}
	return d, e, nil
}

// finite reports whether every value of v is a finite number.
func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
