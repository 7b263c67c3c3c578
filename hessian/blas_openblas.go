//go:build openblas

package hessian

import "github.com/hessian-cluster/hess/internal/openblas"

// The process-wide BLAS under the openblas build tag: OpenBLAS through cgo (see
// internal/openblas), installed before any other code of the program runs, in place of
// fastblas (blas.go). Everything that goes through blas64 then runs on OpenBLAS's kernels
// and threads.
func init() { openblas.Use() }

// BLAS names the float64 BLAS installed for the process, for logs and benchmark labels.
const BLAS = "openblas"
