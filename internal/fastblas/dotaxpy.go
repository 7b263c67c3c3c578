package fastblas

// DotAxpy returns the dot product of a and x and adds alpha*a to y, over the len(a)
// first elements, reading a once: the two halves of a symmetric (or A v and A^T u)
// matrix-vector product over one row of a matrix. Reading the row once instead of twice
// is what matters when the matrix does not fit in cache: the product is bound by memory
// bandwidth. x and y must have at least len(a) elements (shorter ones panic), and y must
// not overlap a or x. The dot product is summed in an order of its own (four lanes, then
// the tail), not gonum's: the results agree to rounding.
func DotAxpy(a, x, y []float64, alpha float64) float64 {
	n := len(a)
	if len(x) < n || len(y) < n {
		panic("fastblas: DotAxpy: x or y shorter than a")
	}
	if n == 0 {
		return 0
	}
	if useAsm {
		return dotAxpyAVX(n, &a[0], &x[0], &y[0], alpha)
	}
	return dotAxpyGo(a, x[:n], y[:n], alpha)
}

// dotAxpyGo is the portable DotAxpy, with four partial sums like the assembly one.
func dotAxpyGo(a, x, y []float64, alpha float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa, xx, yy := a[i:i+4:i+4], x[i:i+4:i+4], y[i:i+4:i+4]
		s0 += aa[0] * xx[0]
		s1 += aa[1] * xx[1]
		s2 += aa[2] * xx[2]
		s3 += aa[3] * xx[3]
		yy[0] += alpha * aa[0]
		yy[1] += alpha * aa[1]
		yy[2] += alpha * aa[2]
		yy[3] += alpha * aa[3]
	}
	s := (s0 + s2) + (s1 + s3)
	for ; i < len(a); i++ {
		s += a[i] * x[i]
		y[i] += alpha * a[i]
	}
	return s
}
