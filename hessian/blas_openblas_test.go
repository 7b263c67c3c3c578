//go:build openblas

package hessian

import (
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// TestOpenBLASInstalled checks that the openblas build installs OpenBLAS (through
// netlib's CBLAS binding) as gonum's BLAS.
func TestOpenBLASInstalled(t *testing.T) {
	if _, ok := blas64.Implementation().(netlib.Implementation); !ok || BLAS != "openblas" {
		t.Errorf("blas64.Implementation() = %T, BLAS = %q; want netlib.Implementation, \"openblas\"", blas64.Implementation(), BLAS)
	}
}
