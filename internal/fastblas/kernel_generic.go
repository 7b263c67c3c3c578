package fastblas

// Register-blocking of the micro-kernel: every call updates an mr×nr tile of C
// from an mr×k packed micro-panel of A and a k×nr packed micro-panel of B.
const (
	mr = 6
	nr = 8
)

// kernelGo is the portable micro-kernel with the same contract as the
// assembly kernel6x8:
//
//	c[i*ldc+j] = alpha * Σ_p a[p*mr+i]*b[p*nr+j] + beta*c[i*ldc+j]
//
// for i < mr, j < nr and p < k; C is not read when beta == 0. The tile is
// computed as six 2×4 sub-blocks so that each inner loop keeps its eight
// accumulators in registers.
func kernelGo(k int, a, b, c []float64, ldc int, alpha, beta float64) {
	a = a[:k*mr]
	b = b[:k*nr]
	var t [mr * nr]float64
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float64
			ai, bj := i, j
			for p := 0; p < k; p++ {
				ap := a[ai : ai+2 : ai+2]
				bp := b[bj : bj+4 : bj+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += mr
				bj += nr
			}
			r0 := t[i*nr+j : i*nr+j+4 : i*nr+j+4]
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1 := t[(i+1)*nr+j : (i+1)*nr+j+4 : (i+1)*nr+j+4]
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
	}
	for i := 0; i < mr; i++ {
		row := c[i*ldc : i*ldc+nr : i*ldc+nr]
		ti := t[i*nr : i*nr+nr : i*nr+nr]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * ti[j]
			}
		} else {
			for j := range row {
				row[j] = alpha*ti[j] + beta*row[j]
			}
		}
	}
}
