//go:build openblas

// Package openblas installs OpenBLAS as gonum's float64 BLAS, through cgo and
// gonum.org/v1/netlib's CBLAS binding. It exists only under the openblas build tag and
// needs Debian's libopenblas-dev (or any libopenblas with the CBLAS symbols) to link; the
// default build of the project is pure Go and never compiles it. It is a package of its
// own because a cgo package cannot hold Go assembly, and package hessian does.
package openblas

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// Use installs OpenBLAS as the process-wide float64 BLAS of gonum via blas64.Use. Like
// fastblas.Use it is global and must not run concurrently with BLAS calls.
func Use() { blas64.Use(netlib.Implementation{}) }
