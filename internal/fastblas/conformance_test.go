package fastblas

import (
	"testing"

	"gonum.org/v1/gonum/blas/testblas"
)

// The gonum BLAS conformance suites, run against Implementation with every
// micro-kernel and with the tiny tuning, which sends even their small cases
// through the blocked code paths.

func TestConformanceDgemm(t *testing.T) {
	forEachVariant(t, func(t *testing.T) { testblas.TestDgemm(t, Implementation{}) })
}

func TestConformanceDsyrk(t *testing.T) {
	forEachVariant(t, func(t *testing.T) { testblas.DsyrkTest(t, Implementation{}) })
}

func TestConformanceDtrsm(t *testing.T) {
	forEachVariant(t, func(t *testing.T) { testblas.DtrsmTest(t, Implementation{}) })
}

// The routines that are not overridden still come from gonum; check a few
// that lapack's Cholesky and eigen solvers use.

func TestConformanceInherited(t *testing.T) {
	impl := Implementation{}
	testblas.DsymmTest(t, impl)
	testblas.Dsyr2kTest(t, impl)
	testblas.DtrmmTest(t, impl)
}
