//go:build !openblas

package hessian

import (
	"testing"

	"github.com/hessian-cluster/hess/internal/fastblas"
	"gonum.org/v1/gonum/blas/blas64"
)

// TestFastBLASInstalled checks that importing hessian installs fastblas as gonum's BLAS,
// so that CholeskyLower, gonum's lapack routines and the worker's tile kernels use it.
func TestFastBLASInstalled(t *testing.T) {
	if _, ok := blas64.Implementation().(fastblas.Implementation); !ok || BLAS != "fastblas" {
		t.Errorf("blas64.Implementation() = %T, BLAS = %q; want fastblas.Implementation, \"fastblas\"", blas64.Implementation(), BLAS)
	}
}
