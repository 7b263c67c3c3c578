package hessian

import (
	"fmt"
	"math"
	"slices"
)

// TridiagonalEigenvalues returns the eigenvalues, ascending, of the symmetric tridiagonal
// matrix with diagonal d and subdiagonal e (len(d) - 1 values): the last stage of
// EigenvaluesSym, for a reduction done elsewhere (the cluster's, package coordinator).
// It splits the matrix into blocks, scales each by a power of two and runs gonum's
// Dsterf on it (see tridiagonalEigenvalues). d and e are not modified. A non-finite
// entry or an iteration that does not converge is an error; lengths that do not match
// panic.
func TridiagonalEigenvalues(d, e []float64) ([]float64, error) {
	n := len(d)
	if (n == 0 && len(e) != 0) || (n > 0 && len(e) != n-1) {
		panic(fmt.Sprintf("hessian: tridiagonal matrix with %d diagonal and %d subdiagonal entries", n, len(e)))
	}
	for i, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("hessian: tridiagonal eigenvalues: diagonal entry %d is %v", i, v)
		}
	}
	for i, v := range e {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("hessian: tridiagonal eigenvalues: subdiagonal entry %d is %v", i, v)
		}
	}
	dd, ee := slices.Clone(d), slices.Clone(e)
	if n <= 1 {
		return dd, nil
	}
	if !tridiagonalEigenvalues(dd, ee) {
		return nil, fmt.Errorf("hessian: eigenvalues of a %d x %d tridiagonal matrix: the QL/QR iteration did not converge", n, n)
	}
	return dd, nil
}
