package hessian

// outerRows is the kernel of the assembly: for every i < len(rowOff) and every
// j < len(colOff) (only j <= i when tri) it adds
//
//	acc[rowOff[i]+colOff[j] : rowOff[i]+colOff[j]+packedLen] += xa[i]*xb[j] * a
//
// in increasing order of i, then j. It is the contribution of one image to the
// pixel-pair sums of one pair of cells: xa and xb are its pixel values in the two cells,
// the offsets place the pixel pairs in the accumulator, a holds its packed coefficients.
//
// The caller guarantees what the assembly kernel does not check: len(xa) ==
// len(rowOff), len(xb) == len(colOff) (== len(rowOff) when tri), every offset >= 0 and
// every row inside acc. On amd64 with AVX2 and FMA it runs that kernel, which holds a in
// registers and uses fused multiply-adds (results may differ from outerRowsGo in the
// last bit); elsewhere, or with the purego or noasm build tags, outerRowsGo.
func outerRows(acc []float64, a *[packedLen]float64, rowOff []int32, xa []float64, colOff []int32, xb []float64, tri bool) {
	if len(rowOff) == 0 || len(colOff) == 0 {
		return
	}
	outerRowsNonEmpty(acc, a, rowOff, xa, colOff, xb, tri)
}

// outerRowsGo is the portable kernel of outerRows.
func outerRowsGo(acc []float64, a *[packedLen]float64, rowOff []int32, xa []float64, colOff []int32, xb []float64, tri bool) {
	xb = xb[:len(colOff)]
	for i, ro := range rowOff {
		cols := colOff
		if tri {
			cols = colOff[:i+1]
		}
		xi := xa[i]
		for j, co := range cols {
			c := xi * xb[j]
			o := int(ro) + int(co)
			d := (*[packedLen]float64)(acc[o : o+packedLen])
			for t := 0; t < packedLen; t += 8 {
				d[t] += c * a[t]
				d[t+1] += c * a[t+1]
				d[t+2] += c * a[t+2]
				d[t+3] += c * a[t+3]
				d[t+4] += c * a[t+4]
				d[t+5] += c * a[t+5]
				d[t+6] += c * a[t+6]
				d[t+7] += c * a[t+7]
			}
		}
	}
}
