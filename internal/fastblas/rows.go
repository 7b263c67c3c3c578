package fastblas

import "fmt"

// RowLen is the fixed length of the rows updated by AddScaledRows.
const RowLen = 56

// AddScaledRows performs the batched fixed-length axpy
//
//	dst[off[i]+j] += coef[i] * a[j]    for every i and j < 56
//
// processing i in increasing order, so overlapping or repeated offsets
// accumulate exactly as the equivalent plain loop would. Offsets are element
// offsets into dst and need not be aligned. With the AVX2/FMA kernel each
// update is a fused multiply-add, so results can differ from the plain Go
// loop in the last bit.
//
// AddScaledRows panics if len(off) != len(coef) or if some off[i] < 0 or
// off[i]+56 > len(dst); in that case dst is left unmodified.
func AddScaledRows(dst []float64, off []int32, coef []float64, a *[56]float64) {
	if len(off) != len(coef) {
		panic(fmt.Sprintf("fastblas: AddScaledRows: len(off) = %d != len(coef) = %d", len(off), len(coef)))
	}
	if a == nil {
		panic("fastblas: AddScaledRows: nil row a")
	}
	limit := len(dst) - RowLen
	for i, o := range off {
		if o < 0 || int(o) > limit {
			panic(fmt.Sprintf("fastblas: AddScaledRows: off[%d] = %d out of range: need 0 <= off[i] and off[i]+%d <= len(dst) = %d", i, o, RowLen, len(dst)))
		}
	}
	addScaledRows(dst, off, coef, a)
}
