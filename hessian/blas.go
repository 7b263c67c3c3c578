//go:build !openblas

package hessian

import "github.com/hessian-cluster/hess/internal/fastblas"

// The process-wide BLAS. Importing hessian installs the packed, cache-blocked kernels of
// internal/fastblas (pure Go with AVX2/FMA assembly, no cgo) as gonum's float64 BLAS with
// blas64.Use, before any other code of the program runs. Everything that goes through
// blas64 then runs on them: CholeskyLower and SolveCholesky, the eigenvalue code of this
// package, gonum's mat and lapack/gonum routines, and the tile kernels of the worker
// package. This is the one place that chooses the BLAS; the openblas build tag replaces
// this file with blas_openblas.go.
func init() { fastblas.Use() }

// BLAS names the float64 BLAS installed for the process, for logs and benchmark labels.
const BLAS = "fastblas"
