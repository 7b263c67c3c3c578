package hessian

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// This file holds the spectral analysis of the Hessian: all eigenvalues of a dense
// symmetric matrix, the small Gram matrix whose non-zero spectrum is that of the
// cross-entropy Hessian, the numerical rank with LAPACK's default tolerance, and the
// sparsity counts of spy plots.

// MachineEpsilon is the unit roundoff convention of LAPACK-based rank tools (numpy's
// finfo(float64).eps): 2^-52.
const MachineEpsilon = 0x1p-52

// tridiagBlock is the panel width of the blocked tridiagonal reduction (LAPACK's and
// gonum's default block size for DSYTRD).
const tridiagBlock = 32

// parallelSymvMin is the order below which the symmetric matrix-vector product of the
// reduction stays on one goroutine: a few hundred rows take microseconds.
const parallelSymvMin = 256

// EigenvaluesSym returns all eigenvalues, in ascending order, of the n x n symmetric
// matrix whose lower triangle (diagonal included) a holds, row-major with leading
// dimension n; the strict upper triangle is never read. a is overwritten. It is
// EigenvaluesSymContext without cancellation or progress.
func EigenvaluesSym(a []float64, n int) ([]float64, error) {
	return EigenvaluesSymContext(context.Background(), a, n, n, nil)
}

// EigenvaluesSymContext returns all eigenvalues, in ascending order, of the n x n
// symmetric matrix whose lower triangle a holds, row-major with leading dimension lda.
// The strict upper triangle is never read; a is destroyed (both triangles).
//
// The method is LAPACK's DSYEV without eigenvectors: scale when the largest entry is
// outside the safe range, reduce to tridiagonal form by blocked Householder reflections
// (DSYTRD, lower: DLATRD on panels of 32 columns, then a rank-64 update of the trailing
// matrix), and find the tridiagonal eigenvalues by the root-free QL/QR iteration
// (DSTERF). The reduction is gonum's, except that its two kernels run on GOMAXPROCS
// goroutines: the symmetric matrix-vector product inside the panel and the trailing
// update (as matrix products through blas64, so an installed faster BLAS is used).
// It costs about 4n^3/3 flops: on 2 cores, n = 3000 takes 4.5 s (gonum's Dsyev 27 s)
// and n = 7840 about 80 s (NumPy with OpenBLAS: 31 s).
//
// progress, when not nil, hears the phase "eigenvalues" in units of trailing-matrix work.
// ctx is checked between panels. A non-finite entry, cancellation, or a QL/QR
// iteration that does not converge is an error; a matrix of the wrong size panics.
func EigenvaluesSymContext(ctx context.Context, a []float64, n, lda int, progress ProgressFunc) ([]float64, error) {
	if n < 0 || lda < max(1, n) || (n > 0 && len(a) < (n-1)*lda+n) {
		panic(fmt.Sprintf("hessian: eigenvalues of a %d x %d matrix with leading dimension %d in %d values", n, n, lda, len(a)))
	}
	if n == 0 {
		return []float64{}, nil
	}
	var anrm float64
	for i := range n {
		for j, v := range a[i*lda : i*lda+i+1] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("hessian: eigenvalues of a %d x %d matrix: entry (%d, %d) is %v", n, n, i, j, v)
			}
			anrm = max(anrm, math.Abs(v))
		}
	}
	d := make([]float64, n)
	if n == 1 {
		d[0] = a[0]
		return d, nil
	}
	if anrm == 0 {
		return d, nil
	}
	// Scale to the range where the reduction neither overflows nor underflows (DSYEV).
	const (
		safmin = 0x1p-1022
		smlnum = safmin / (MachineEpsilon / 2)
	)
	rmin, rmax := math.Sqrt(smlnum), math.Sqrt(1/smlnum)
	sigma := 1.0
	switch {
	case anrm < rmin:
		sigma = rmin / anrm
	case anrm > rmax:
		sigma = rmax / anrm
	}
	if sigma != 1 {
		for i := range n {
			for j := range a[i*lda : i*lda+i+1] {
				a[i*lda+j] *= sigma
			}
		}
	}
	e := make([]float64, n-1)
	if err := tridiagonalLower(ctx, a, n, lda, d, e, progress); err != nil {
		return nil, err
	}
	if !tridiagonalEigenvalues(d, e) {
		return nil, fmt.Errorf("hessian: eigenvalues of a %d x %d matrix: the tridiagonal QL/QR iteration did not converge", n, n)
	}
	if sigma != 1 {
		for i := range d {
			d[i] /= sigma
		}
	}
	return d, nil
}

// tridiagonalEigenvalues overwrites d with the eigenvalues, ascending, of the symmetric
// tridiagonal matrix with diagonal d and subdiagonal e (destroyed), and reports whether
// the iteration converged. It splits the matrix where LAPACK's DSTERF would (|e_i| <=
// sqrt|d_i| sqrt|d_i+1| eps), scales each block by a power of two to a largest entry near
// 1 (exact), and hands it to gonum's Dsterf. Dsterf would otherwise scale blocks outside
// [1e-122, 1e153] itself, and gonum v0.17 does that with a leading dimension of n on a
// column of a row-major matrix, which panics or scales the wrong entries.
func tridiagonalEigenvalues(d, e []float64) bool {
	var impl lapackgonum.Implementation
	n := len(d)
	for l := 0; l < n; {
		m := l
		for ; m < n-1; m++ {
			t := math.Abs(e[m])
			if t == 0 || t <= math.Sqrt(math.Abs(d[m]))*math.Sqrt(math.Abs(d[m+1]))*MachineEpsilon/2 {
				e[m] = 0
				break
			}
		}
		// Block l..m.
		var anorm float64
		for i := l; i <= m; i++ {
			anorm = max(anorm, math.Abs(d[i]))
			if i < m {
				anorm = max(anorm, math.Abs(e[i]))
			}
		}
		if anorm != 0 && m > l {
			_, exp := math.Frexp(anorm)
			for i := l; i <= m; i++ {
				d[i] = math.Ldexp(d[i], -exp)
				if i < m {
					e[i] = math.Ldexp(e[i], -exp)
				}
			}
			// Dsterf checks for len(e) >= n-1 of its block; a block of k needs k-1.
			if !impl.Dsterf(m-l+1, d[l:m+1], e[l:m]) {
				return false
			}
			for i := l; i <= m; i++ {
				d[i] = math.Ldexp(d[i], exp)
			}
		}
		l = m + 1
	}
	sort.Float64s(d)
	return true
}

// tridiagonalLower reduces the symmetric matrix in the lower triangle of a to tridiagonal
// form Q^T A Q with diagonal d and subdiagonal e. It is gonum's Dsytrd (lower), itself
// LAPACK's DSYTRD, with its panel (dlatrdLower) and trailing update (syr2kLower) run in
// parallel.
func tridiagonalLower(ctx context.Context, a []float64, n, lda int, d, e []float64, progress ProgressFunc) error {
	const nb = tridiagBlock
	tau := make([]float64, n-1)
	// Progress counts the squares of the trailing orders, proportional to the work.
	var total, done int
	for i := 0; i < n-nb; i += nb {
		total += (n - i) * (n - i)
	}
	progress.report("eigenvalues", 0, total)
	var (
		w    = make([]float64, n*nb) // the panel's W, leading dimension nb
		vw   []float64               // [V W] of the trailing rows, leading dimension 2nb
		wv   []float64               // [W V]
		symv = newSymvWork(n)
	)
	bi := blas64.Implementation()
	i := 0
	for ; i < n-nb; i += nb {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hessian: eigenvalues of a %d x %d matrix stopped at column %d: %w", n, n, i, err)
		}
		dlatrdLower(n-i, nb, a[i*lda+i:], lda, e[i:], tau[i:], w, nb, symv)
		// A[i+nb:, i+nb:] -= V W^T + W V^T, with V in A[i+nb:, i:i+nb].
		m := n - i - nb
		if cap(vw) < 2*nb*m {
			vw = make([]float64, 2*nb*m)
			wv = make([]float64, 2*nb*m)
		}
		vw, wv = vw[:2*nb*m], wv[:2*nb*m]
		for r := range m {
			v := a[(i+nb+r)*lda+i : (i+nb+r)*lda+i+nb]
			wr := w[(nb+r)*nb : (nb+r+1)*nb]
			copy(vw[2*nb*r:], v)
			copy(vw[2*nb*r+nb:], wr)
			copy(wv[2*nb*r:], wr)
			copy(wv[2*nb*r+nb:], v)
		}
		syr2kLower(bi, m, 2*nb, vw, wv, a[(i+nb)*lda+i+nb:], lda)
		// Put the subdiagonal back and read the diagonal, as Dsytrd does.
		for j := i; j < i+nb; j++ {
			a[(j+1)*lda+j] = e[j]
			d[j] = a[j*lda+j]
		}
		done += (n - i) * (n - i)
		progress.report("eigenvalues", done, total)
	}
	var impl lapackgonum.Implementation
	impl.Dsytd2(blas.Lower, n-i, a[i*lda+i:], lda, d[i:], e[i:], tau[i:])
	return nil
}

// syr2kLower sets the lower triangle of the m x m matrix c (leading dimension ldc) to
// c - VW * WV^T, where VW = [V W] and WV = [W V] are m x k (leading dimension k): the
// symmetric rank-k update C - V W^T - W V^T of DSYTRD. Each block row is one matrix
// product through bi, whose Dgemm is parallel; the product covers the whole diagonal
// block, so it also writes the strict upper triangle of the diagonal blocks, which the
// lower reduction never reads.
func syr2kLower(bi blas.Float64, m, k int, vw, wv, c []float64, ldc int) {
	const rows = 256 // block rows: each product is at least 256 x 256 x k
	for r0 := 0; r0 < m; r0 += rows {
		r1 := min(m, r0+rows)
		bi.Dgemm(blas.NoTrans, blas.Trans, r1-r0, r1, k, -1, vw[r0*k:], k, wv, k, 1, c[r0*ldc:], ldc)
	}
}

// symvWork holds the buffers of the parallel symmetric matrix-vector product.
type symvWork struct {
	x, y  []float64
	parts [][]float64 // per goroutine partial results
}

func newSymvWork(n int) *symvWork {
	s := &symvWork{x: make([]float64, n), y: make([]float64, n)}
	workers := runtime.GOMAXPROCS(0)
	if n >= parallelSymvMin && workers > 1 {
		s.parts = make([][]float64, workers)
		for p := range s.parts {
			s.parts[p] = make([]float64, n)
		}
	}
	return s
}

// symvLower sets y = A x for the m x m symmetric matrix whose lower triangle a holds
// (leading dimension lda); x and y have unit stride. Each row i contributes the dot
// product of A[i, :i+1] with x to y[i] and x[i] A[i, :i] to y[:i]; rows are split into
// bands of equal area, one per goroutine, each with its own partial y.
func (s *symvWork) symvLower(m int, a []float64, lda int, x, y []float64) {
	var l1 gonum.Implementation // unit-stride Ddot and Daxpy run on assembly kernels
	band := func(r0, r1 int, acc []float64) {
		for i := r0; i < r1; i++ {
			row := a[i*lda : i*lda+i]
			xi := x[i]
			acc[i] += l1.Ddot(i, row, 1, x, 1) + a[i*lda+i]*xi
			if xi != 0 {
				l1.Daxpy(i, xi, row, 1, acc, 1)
			}
		}
	}
	if m < parallelSymvMin || len(s.parts) == 0 {
		clear(y[:m])
		band(0, m, y)
		return
	}
	p := len(s.parts)
	parallelFor(p, func(b int) {
		acc := s.parts[b][:m]
		clear(acc)
		// Equal areas of the triangle: rows m*sqrt(b/p) .. m*sqrt((b+1)/p).
		r0 := int(float64(m) * math.Sqrt(float64(b)/float64(p)))
		r1 := int(float64(m) * math.Sqrt(float64(b+1)/float64(p)))
		if b == p-1 {
			r1 = m
		}
		band(r0, r1, acc)
	})
	copy(y[:m], s.parts[0][:m])
	for _, part := range s.parts[1:] {
		for i, v := range part[:m] {
			y[i] += v
		}
	}
}

// dlatrdLower reduces the first nb columns of the n x n symmetric matrix in the lower
// triangle of a to tridiagonal form and returns in w (n x nb, leading dimension ldw) the
// matrix W of the update A - V W^T - W V^T of the rest. It is gonum's Dlatrd for
// blas.Lower (LAPACK's DLATRD; Copyright ©2016 The Gonum Authors, BSD-3 licence), with
// the symmetric product on contiguous copies of the strided vectors, in parallel.
func dlatrdLower(n, nb int, a []float64, lda int, e, tau, w []float64, ldw int, s *symvWork) {
	var impl lapackgonum.Implementation
	bi := blas64.Implementation()
	for i := range nb {
		// Update A(i:n, i).
		bi.Dgemv(blas.NoTrans, n-i, i, -1, a[i*lda:], lda, w[i*ldw:], 1, 1, a[i*lda+i:], lda)
		bi.Dgemv(blas.NoTrans, n-i, i, -1, w[i*ldw:], ldw, a[i*lda:], 1, 1, a[i*lda+i:], lda)
		if i == n-1 {
			continue
		}
		// Generate the elementary reflector H_i that annihilates A(i+2:n, i).
		e[i], tau[i] = impl.Dlarfg(n-i-1, a[(i+1)*lda+i], a[min(i+2, n-1)*lda+i:], lda)
		a[(i+1)*lda+i] = 1

		// Compute W(i+1:n, i) = A(i+1:n, i+1:n) v.
		m := n - i - 1
		x, y := s.x[:m], s.y[:m]
		for r := range m {
			x[r] = a[(i+1+r)*lda+i]
		}
		s.symvLower(m, a[(i+1)*lda+i+1:], lda, x, y)
		for r, v := range y {
			w[(i+1+r)*ldw+i] = v
		}
		bi.Dgemv(blas.Trans, m, i, 1, w[(i+1)*ldw:], ldw, a[(i+1)*lda+i:], lda, 0, w[i:], ldw)
		bi.Dgemv(blas.NoTrans, m, i, -1, a[(i+1)*lda:], lda, w[i:], ldw, 1, w[(i+1)*ldw+i:], ldw)
		bi.Dgemv(blas.Trans, m, i, 1, a[(i+1)*lda:], lda, a[(i+1)*lda+i:], lda, 0, w[i:], ldw)
		bi.Dgemv(blas.NoTrans, m, i, -1, w[(i+1)*ldw:], ldw, w[i:], ldw, 1, w[(i+1)*ldw+i:], ldw)
		bi.Dscal(m, tau[i], w[(i+1)*ldw+i:], ldw)
		alpha := -0.5 * tau[i] * bi.Ddot(m, w[(i+1)*ldw+i:], ldw, a[(i+1)*lda+i:], lda)
		bi.Daxpy(m, alpha, a[(i+1)*lda+i:], lda, w[(i+1)*ldw+i:], ldw)
	}
}

// GramEigenvalues returns the eigenvalues, ascending, of the 10n x 10n Gram matrix G of
// the cross-entropy Hessian H of the n images of d at weights w. It is
// GramEigenvaluesContext without cancellation or progress.
func GramEigenvalues(w []float64, d *Dataset) ([]float64, error) {
	return GramEigenvaluesContext(context.Background(), w, d, nil)
}

// MaxGramImages is the largest batch GramEigenvalues takes: beyond 784 images the Gram
// matrix (10n x 10n) is larger than the Hessian itself.
const MaxGramImages = Pixels

// GramEigenvaluesContext returns the eigenvalues, ascending, of the 10n x 10n Gram
// matrix G of the cross-entropy Hessian H = (1/n) sum_s (x_s x_s^T) kron A_s of the n
// images of d at weights w (no regularizer). With C_s the symmetric square root of
// A_s = diag(p_s) - p_s p_s^T (from its 10 x 10 eigen-decomposition, rounding-negative
// eigenvalues set to 0), H = B B^T with B = [x_s kron C_s] / sqrt(n), 7840 x 10n, so
// the non-zero eigenvalues of H are those of
//
//	G = B^T B,  G[(s,a), (t,b)] = (x_s . x_t) / n * (C_s C_t)[a,b],
//
// and H's other 7840 - 10n eigenvalues are exactly 0. G has at least n zero eigenvalues
// (C_s 1 = 0), so at most 9n are non-zero. This is independent of the dense assembly
// and costs (10n)^3 instead of 7840^3. Batches of more than MaxGramImages images, bad
// weights, and cancellation are errors.
func GramEigenvaluesContext(ctx context.Context, w []float64, d *Dataset, progress ProgressFunc) ([]float64, error) {
	if err := CheckWeights(w); err != nil {
		return nil, err
	}
	n := d.Len()
	if n == 0 || n > MaxGramImages {
		return nil, fmt.Errorf("hessian: Gram eigenvalues of %d images: want 1 to %d (use the dense Hessian beyond)", n, MaxGramImages)
	}
	g, m := gramMatrix(w, d)
	return EigenvaluesSymContext(ctx, g, m, m, progress)
}

// gramMatrix returns the lower triangle (and the diagonal blocks whole) of the 10n x 10n
// Gram matrix of the cross-entropy Hessian of d at w, row-major, and its order 10n.
func gramMatrix(w []float64, d *Dataset) ([]float64, int) {
	n := d.Len()
	c := sqrtCurvatures(w, d)
	m := Classes * n
	g := make([]float64, m*m)
	inv := 1 / float64(n)
	parallelFor(n, func(s int) {
		ps, vs := d.Image(s)
		cs := c[s*Classes*Classes : (s+1)*Classes*Classes]
		for t := 0; t <= s; t++ {
			pt, vt := d.Image(t)
			k := sparseDot(ps, vs, pt, vt) * inv
			if k == 0 {
				continue
			}
			ct := c[t*Classes*Classes : (t+1)*Classes*Classes]
			for a := range Classes {
				row := g[(Classes*s+a)*m+Classes*t : (Classes*s+a)*m+Classes*t+Classes]
				for b := range Classes {
					// (C_s^T C_t)[a,b] = sum_r C_s[r,a] C_t[r,b]; C_s is symmetric.
					var v float64
					for r := range Classes {
						v += cs[r*Classes+a] * ct[r*Classes+b]
					}
					row[b] = k * v
				}
			}
		}
	})
	return g, m
}

// sqrtCurvatures returns, for every image of d, the symmetric square root C_s of
// A_s = diag(p_s) - p_s p_s^T at weights w (10 x 10 row-major, one after another).
func sqrtCurvatures(w []float64, d *Dataset) []float64 {
	p := Probabilities(w, d)
	n := d.Len()
	out := make([]float64, n*Classes*Classes)
	parallelFor(n, func(s int) {
		ps := p[Classes*s : Classes*(s+1)]
		a := mat.NewSymDense(Classes, nil)
		for k := range Classes {
			for k2 := k; k2 < Classes; k2++ {
				v := -ps[k] * ps[k2]
				if k == k2 {
					v += ps[k]
				}
				a.SetSym(k, k2, v)
			}
		}
		var es mat.EigenSym
		if !es.Factorize(a, true) {
			// A 10 x 10 symmetric QL iteration that does not converge means NaN input,
			// which CheckWeights and softmax rule out.
			panic(fmt.Sprintf("hessian: eigen-decomposition of the curvature of image %d failed", s))
		}
		vals := es.Values(nil)
		var v mat.Dense
		es.VectorsTo(&v)
		cs := out[s*Classes*Classes : (s+1)*Classes*Classes]
		for q, lam := range vals {
			r := math.Sqrt(max(lam, 0))
			if r == 0 {
				continue
			}
			for i := range Classes {
				vi := r * v.At(i, q)
				for j := range Classes {
					cs[i*Classes+j] += vi * v.At(j, q)
				}
			}
		}
	})
	return out
}

// sparseDot returns the dot product of two sparse images given by increasing pixel
// indices and raw bytes, in pixel values (byte/255).
func sparseDot(pa []uint16, va []uint8, pb []uint16, vb []uint8) float64 {
	var s float64
	i, j := 0, 0
	for i < len(pa) && j < len(pb) {
		switch {
		case pa[i] < pb[j]:
			i++
		case pa[i] > pb[j]:
			j++
		default:
			s += pixelValue[va[i]] * pixelValue[vb[j]]
			i++
			j++
		}
	}
	return s
}

// HessianEigenvalues returns all Params eigenvalues, ascending, of the Hessian
// H + 2 eps (L^T L) kron I of the objective over the images of d at weights w, assembled
// densely in one process (AssembleLower) and handed to EigenvaluesSymContext.
//
// buf is the Params x Params scratch matrix (491.7 MB); nil allocates one, and a buffer
// of the wrong length panics. With eps = 0 the rows and columns of pixels that no image
// lights are exactly zero, so only the lit pixels' block is decomposed and the other
// eigenvalues are exact zeros: 10*528 = 5280 of 7840 rows for 200 images, a third of the
// work. progress hears "assemble" and "eigenvalues".
func HessianEigenvalues(ctx context.Context, buf, w []float64, d *Dataset, eps float64, progress ProgressFunc) ([]float64, error) {
	if err := CheckWeights(w); err != nil {
		return nil, err
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("hessian: eigenvalues of the Hessian of no images")
	}
	if !(eps >= 0) {
		return nil, fmt.Errorf("hessian: eigenvalues of the Hessian: eps = %v, want >= 0", eps)
	}
	if buf == nil {
		buf = make([]float64, Params*Params)
	}
	AssembleLower(buf, NewCurvature(NewIndex(d), w), eps, 0, progress)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if eps != 0 {
		return EigenvaluesSymContext(ctx, buf, Params, Params, progress)
	}
	keep := litParams(d)
	m := restrictLower(buf, Params, keep)
	eigs, err := EigenvaluesSymContext(ctx, buf, m, m, progress)
	if err != nil {
		return nil, err
	}
	out := make([]float64, Params)
	copy(out, eigs) // the Params - m exact zeros go where they belong in the order
	sort.Float64s(out)
	return out, nil
}

// litParams returns, increasing, the parameters 10j+k of the pixels j lit in some image.
func litParams(d *Dataset) []int {
	lit := litPixels(d)
	var keep []int
	for j, on := range lit {
		if on {
			for k := range Classes {
				keep = append(keep, Classes*j+k)
			}
		}
	}
	return keep
}

// litPixels reports, per pixel, whether some image of d lights it.
func litPixels(d *Dataset) []bool {
	lit := make([]bool, Pixels)
	for _, j := range d.Pixel[d.Start[0]:d.Start[d.Len()]] {
		lit[j] = true
	}
	return lit
}

// restrictLower moves the lower triangle of the rows and columns keep (increasing) of
// the n x n row-major matrix a into its leading len(keep) x len(keep) lower triangle,
// leading dimension len(keep), in place, and returns len(keep). Every entry moves to an
// offset no larger than its own, in increasing order, so nothing is read after it is
// overwritten.
func restrictLower(a []float64, n int, keep []int) int {
	m := len(keep)
	for i, ki := range keep {
		if ki < 0 || ki >= n || (i > 0 && ki <= keep[i-1]) {
			panic(fmt.Sprintf("hessian: restriction to index %d of %d (want increasing, below %d)", ki, n, n))
		}
		for j, kj := range keep[:i+1] {
			a[i*m+j] = a[ki*n+kj]
		}
	}
	return m
}

// DefaultTol returns the default rank tolerance of LAPACK-based tools for a Hessian
// with largest |eigenvalue| lambdaMax: lambdaMax * 7840 * 2^-52 (numpy.linalg.matrix_rank
// with N = Params). The order of the Hessian is used even when the eigenvalues come from
// a smaller Gram matrix, so that both paths cut at the same place.
func DefaultTol(lambdaMax float64) float64 { return math.Abs(lambdaMax) * Params * MachineEpsilon }

// RankReport describes the numerical rank of one batch's Hessian and how clear its cut
// is. Rank returns the spectral fields; Batch, Bound, RankX and Pixels are for the
// caller to fill (MatrixRankX and PixelsLit).
type RankReport struct {
	Batch  int // images in the batch
	Rank   int // eigenvalues with |lambda| > Tol
	Bound  int // 9 * RankX, the structural bound of MATH.md
	RankX  int // rank of the batch's n x 784 pixel matrix
	Pixels int // pixels lit in some image of the batch

	LambdaMax         float64 // largest eigenvalue
	LambdaMin         float64 // smallest eigenvalue, signed: rounding shows as a tiny negative
	LambdaMinAboveTol float64 // smallest |lambda| above Tol; 0 when Rank = 0
	LambdaMaxBelowTol float64 // largest |lambda| at or below Tol; 0 when all are above
	Tol               float64 // the tolerance used
	Cond              float64 // LambdaMax / LambdaMinAboveTol, the condition number on the range; 0 when Rank = 0
}

// Rank returns the numerical rank of a symmetric matrix from its eigenvalues (any order):
// the count of |lambda| > tol, with the eigenvalues on both sides of the cut. Pass
// DefaultTol(max |lambda|) for LAPACK's convention; a tol that is negative or NaN panics.
func Rank(eigs []float64, tol float64) RankReport {
	if !(tol >= 0) {
		panic(fmt.Sprintf("hessian: rank tolerance %v, want >= 0", tol))
	}
	r := RankReport{Tol: tol, LambdaMax: math.Inf(-1), LambdaMin: math.Inf(1)}
	if len(eigs) == 0 {
		r.LambdaMax, r.LambdaMin = 0, 0
		return r
	}
	minAbove := math.Inf(1)
	for _, v := range eigs {
		r.LambdaMax = max(r.LambdaMax, v)
		r.LambdaMin = min(r.LambdaMin, v)
		a := math.Abs(v)
		if a > tol {
			r.Rank++
			minAbove = min(minAbove, a)
		} else {
			r.LambdaMaxBelowTol = max(r.LambdaMaxBelowTol, a)
		}
	}
	if r.Rank > 0 {
		r.LambdaMinAboveTol = minAbove
		r.Cond = r.LambdaMax / minAbove
	}
	return r
}

// MaxAbs returns the largest |v| of the values.
func MaxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// PixelsLit returns the number of pixels that are non-zero in some image of d.
func PixelsLit(d *Dataset) int {
	c := 0
	for _, on := range litPixels(d) {
		if on {
			c++
		}
	}
	return c
}

// MatrixRankX returns the rank of the batch's n x 784 pixel matrix X (rows x_s, pixel
// values byte/255) from the eigenvalues of the smaller of its Gram matrices: X X^T
// (n x n) when n <= 784, else X^T X restricted to the lit pixels. The rank is the count
// of eigenvalues above lambda_max * max(n, 784) * 2^-52, LAPACK's default tolerance
// applied to the Gram matrix; rank(X) = rank(X X^T) exactly, and the gaps are wide on
// MNIST (the smallest non-zero singular value of the first 200 images is 0.54, the
// largest 86).
func MatrixRankX(d *Dataset) int {
	n := d.Len()
	if n == 0 {
		return 0
	}
	var (
		g []float64
		m int
	)
	if n <= Pixels {
		m = n
		g = make([]float64, m*m)
		parallelFor(n, func(s int) {
			ps, vs := d.Image(s)
			for t := 0; t <= s; t++ {
				pt, vt := d.Image(t)
				g[s*m+t] = sparseDot(ps, vs, pt, vt)
			}
		})
	} else {
		lit := litPixels(d)
		pos := make([]int, Pixels)
		for j, on := range lit {
			pos[j] = -1
			if on {
				pos[j] = m
				m++
			}
		}
		g = make([]float64, m*m)
		for s := range n {
			ps, vs := d.Image(s)
			for i, pi := range ps {
				xi := pixelValue[vs[i]]
				row := g[pos[pi]*m:]
				for k, pk := range ps[:i+1] {
					row[pos[pk]] += xi * pixelValue[vs[k]]
				}
			}
		}
	}
	eigs, err := EigenvaluesSym(g, m)
	if err != nil {
		// Finite pixel values in [0, 1] give a finite Gram matrix; only a QL failure is
		// left, which LAPACK has never been seen to produce on a Gram matrix.
		panic(fmt.Sprintf("hessian: rank of the pixel matrix of %d images: %v", n, err))
	}
	lmax := MaxAbs(eigs)
	tol := lmax * float64(max(n, Pixels)) * MachineEpsilon
	return Rank(eigs, tol).Rank
}

// SpyTileCounts returns the number of non-zero entries in each cell x cell cell of the
// m x n tile a (row-major, leading dimension ld), row-major over ceil(m/cell) x
// ceil(n/cell) cells; the last cells of a row or column may be partial. A tile whose
// first row and column are multiples of cell in the whole matrix gives counts that add
// into the whole matrix's grid at cell (r0/cell, c0/cell), so workers can count their
// own tiles. Bad sizes panic.
func SpyTileCounts(a []float64, ld, m, n, cell int) []float64 {
	if cell < 1 || m < 0 || n < 0 || ld < n || (m > 0 && len(a) < (m-1)*ld+n) {
		panic(fmt.Sprintf("hessian: spy counts of a %d x %d tile with leading dimension %d in %d values, cell %d", m, n, ld, len(a), cell))
	}
	gr, gc := (m+cell-1)/cell, (n+cell-1)/cell
	counts := make([]float64, gr*gc)
	parallelFor(gr, func(ci int) {
		dst := counts[ci*gc : (ci+1)*gc]
		for i := ci * cell; i < min(m, (ci+1)*cell); i++ {
			row := a[i*ld : i*ld+n]
			for j, v := range row {
				if v != 0 {
					dst[j/cell]++
				}
			}
		}
	})
	return counts
}

// SpyNormalize turns the counts of an m x n matrix's cells (from SpyTileCounts, or tile
// counts added up) into fractions of non-zero entries per cell, in place, dividing each
// by its number of entries (partial cells at the edges have fewer).
func SpyNormalize(counts []float64, m, n, cell int) {
	gr, gc := (m+cell-1)/cell, (n+cell-1)/cell
	if cell < 1 || len(counts) != gr*gc {
		panic(fmt.Sprintf("hessian: spy grid of %d cells for a %d x %d matrix with cell %d", len(counts), m, n, cell))
	}
	for ci := range gr {
		h := min(m, (ci+1)*cell) - ci*cell
		for cj := range gc {
			w := min(n, (cj+1)*cell) - cj*cell
			counts[ci*gc+cj] /= float64(h * w)
		}
	}
}

// SpyCounts returns, row-major over ceil(n/cell)^2 cells, the fraction of non-zero
// entries in each cell x cell cell of the n x n matrix h (row-major, leading dimension
// ld, both triangles filled: mirror a lower triangle first). With cell = 10 a cell is one
// pixel pair of the Hessian.
func SpyCounts(h []float64, n, ld, cell int) []float64 {
	c := SpyTileCounts(h, ld, n, n, cell)
	SpyNormalize(c, n, n, cell)
	return c
}
