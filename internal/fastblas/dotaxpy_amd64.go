//go:build amd64 && !purego && !noasm

package fastblas

// dotAxpyAVX is DotAxpy over n > 0 elements with AVX2 and FMA.
//
//go:noescape
func dotAxpyAVX(n int, a, x, y *float64, alpha float64) float64
