//go:build !amd64 || purego || noasm

package fastblas

import "unsafe"

// dotAxpyAVX is never called without the assembly kernels (useAsm is false); it exists
// so that DotAxpy compiles identically.
func dotAxpyAVX(n int, a, x, y *float64, alpha float64) float64 {
	return dotAxpyGo(unsafe.Slice(a, n), unsafe.Slice(x, n), unsafe.Slice(y, n), alpha)
}
