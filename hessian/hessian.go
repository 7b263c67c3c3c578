package hessian

import (
	"fmt"
	"sync"
)

// Packed coefficients of A_s = diag(p_s) - p_s p_s^T: the 55 entries of its upper
// triangle, row by row, padded to packedLen so that kernels can work in whole vectors.
const (
	packedUsed = Classes * (Classes + 1) / 2 // 55
	packedLen  = 56
)

// packedIndex[k][k'] is the position of A[k,k'] (= A[k',k]) in the packed coefficients.
var packedIndex = func() (t [Classes][Classes]int) {
	i := 0
	for k := range Classes {
		for k2 := k; k2 < Classes; k2++ {
			t[k][k2], t[k2][k] = i, i
			i++
		}
	}
	return t
}()

// Curvature holds what the Hessian of the cross-entropy needs of a set of images at fixed
// weights: for every image the packed coefficients of A_s = diag(p_s) - p_s p_s^T.
// It uses 448 bytes per image.
type Curvature struct {
	idx  *Index
	coef []float64 // packedLen per image
}

// NewCurvature computes the curvature coefficients of the indexed images at weights w.
func NewCurvature(idx *Index, w []float64) *Curvature {
	p := Probabilities(w, idx.d)
	n := idx.d.Len()
	c := &Curvature{idx: idx, coef: make([]float64, n*packedLen)}
	for s := range n {
		ps := p[Classes*s : Classes*(s+1)]
		a := c.coef[packedLen*s : packedLen*(s+1)]
		i := 0
		for k := range Classes {
			for k2 := k; k2 < Classes; k2++ {
				v := -ps[k] * ps[k2]
				if k == k2 {
					v += ps[k]
				}
				a[i] = v
				i++
			}
		}
	}
	return c
}

// Len returns the number of images.
func (c *Curvature) Len() int { return c.idx.d.Len() }

// accPool recycles the accumulators of AddBlock: cellPixels^2 pixel pairs of packedLen
// sums, 24 x 24 x 56 x 8 bytes = 258 KB, which stays in a 512 KB L2 cache.
var accPool = sync.Pool{New: func() any {
	b := make([]float64, cellPixels*cellPixels*packedLen)
	return &b
}}

// AddBlock adds scale * sum_s (x_s x_s^T kron A_s) restricted to rows [r0, r0+m) and
// columns [c0, c0+n) of the Params x Params matrix into dst (row-major, leading dimension
// ld). Only pairs of non-zero pixels are visited. With scale = 1/N it adds the block of the
// mean cross-entropy Hessian of N images; shards of a batch add their sums with the same
// scale.
//
// The pixel ranges of the block are cut on the grid of cells of the Index; for each pair
// of cell pieces the per-pixel-pair sums of the packed coefficients accumulate over all
// images in a cache-resident buffer, then scatter into dst. A pair of cell pieces that is
// the same range on both sides (a diagonal piece) visits only pixel pairs jb <= ja.
func (c *Curvature) AddBlock(dst []float64, ld, r0, m, c0, n int, scale float64) {
	checkBlock(dst, ld, r0, m, c0, n)
	if m == 0 || n == 0 {
		return
	}
	accp := accPool.Get().(*[]float64)
	defer accPool.Put(accp)
	acc := *accp
	pa0, pa1 := r0/Classes, (r0+m+Classes-1)/Classes
	pb0, pb1 := c0/Classes, (c0+n+Classes-1)/Classes
	for ca := pa0; ca < pa1; ca = nextCell(ca) {
		ea := min(nextCell(ca), pa1)
		for cb := pb0; cb < pb1; cb = nextCell(cb) {
			eb := min(nextCell(cb), pb1)
			tri := ca == cb && ea == eb
			nb := eb - cb
			clear(acc[:(ea-ca)*nb*packedLen])
			c.accumulate(acc, ca, ea, cb, eb, tri)
			scatter(dst, ld, r0, m, c0, n, acc, ca, ea, cb, eb, tri, scale)
		}
	}
}

// nextCell returns the first pixel of the cell after pixel p's.
func nextCell(p int) int { return (p/cellPixels + 1) * cellPixels }

// scatter adds scale times the pixel-pair sums of acc (pixels [ca, ea) x [cb, eb), as
// accumulate leaves them) into the entries of the block of dst they cover.
func scatter(dst []float64, ld, r0, m, c0, n int, acc []float64, ca, ea, cb, eb int, tri bool, scale float64) {
	nb := eb - cb
	rlo, rhi := max(r0, Classes*ca), min(r0+m, Classes*ea)
	clo, chi := max(c0, Classes*cb), min(c0+n, Classes*eb)
	for r := rlo; r < rhi; r++ {
		ja, k := r/Classes, r%Classes
		row := dst[(r-r0)*ld : (r-r0)*ld+n]
		pk := &packedIndex[k]
		for col := clo; col < chi; {
			jb := col / Classes
			var a *[packedLen]float64
			if tri && jb > ja {
				a = (*[packedLen]float64)(acc[((jb-ca)*nb+ja-cb)*packedLen:])
			} else {
				a = (*[packedLen]float64)(acc[((ja-ca)*nb+jb-cb)*packedLen:])
			}
			end := min(chi, Classes*(jb+1))
			for k2 := col - Classes*jb; col < end; col, k2 = col+1, k2+1 {
				row[col-c0] += scale * a[pk[k2]]
			}
		}
	}
}

// accumulate sets acc[((ja-ca)*(eb-cb)+(jb-cb))*packedLen:][:packedLen] += x_sa x_sb A_s
// (packed) over all images, for pixels ja in [ca, ea) and jb in [cb, eb), or only
// jb <= ja when tri (the two ranges are then equal). Each range lies in one cell; the
// images that light both are found by merging the two cells' streams of the Index.
func (c *Curvature) accumulate(acc []float64, ca, ea, cb, eb int, tri bool) {
	ga, gb := ca/cellPixels, cb/cellPixels
	sa, sb := &c.idx.cells[ga], &c.idx.cells[gb]
	// The ranges in cell-local pixels.
	qa0, qa1 := ca-ga*cellPixels, ea-ga*cellPixels
	qb0, qb1 := cb-gb*cellPixels, eb-gb*cellPixels
	nb := eb - cb
	if (ea-ca)*nb*packedLen > len(acc) || qa1 > cellPixels || qb1 > cellPixels {
		panic(fmt.Sprintf("hessian: pixel pairs [%d,%d) x [%d,%d) do not fit one pair of cells and %d values", ca, ea, cb, eb, len(acc)))
	}
	var (
		rowOff, colOff [cellPixels]int32
		xa, xb         [cellPixels]float64
	)
	ib := 0
	for ia, s := range sa.img {
		if !tri {
			// Advance the other cell's stream to image s, or skip s if it is not there.
			for ib < len(sb.img) && sb.img[ib] < s {
				ib++
			}
			if ib == len(sb.img) {
				return
			}
			if sb.img[ib] != s {
				continue
			}
		}
		pix, val := sa.image(ia)
		ka := cellOffsets(&rowOff, &xa, pix, val, qa0, qa1, nb*packedLen)
		if ka == 0 {
			continue
		}
		kb := ka
		if tri {
			for i := range ka {
				colOff[i] = rowOff[i] / int32(nb)
			}
			xb = xa
		} else {
			pix, val := sb.image(ib)
			if kb = cellOffsets(&colOff, &xb, pix, val, qb0, qb1, packedLen); kb == 0 {
				continue
			}
		}
		a := (*[packedLen]float64)(c.coef[packedLen*int(s):])
		outerRows(acc, a, rowOff[:ka], xa[:ka], colOff[:kb], xb[:kb], tri)
	}
}

// cellOffsets fills off and xv with the accumulator offsets (q-q0)*stride and the pixel
// values of the cell-local pixels q of pix that lie in [q0, q1), and returns how many.
func cellOffsets(off *[cellPixels]int32, xv *[cellPixels]float64, pix, val []uint8, q0, q1, stride int) int {
	k := 0
	for i, q := range pix {
		if int(q) < q0 {
			continue
		}
		if int(q) >= q1 {
			break
		}
		off[k] = int32((int(q) - q0) * stride)
		xv[k] = pixelValue[val[i]]
		k++
	}
	return k
}

// denseTile is the tile side, in parameters, of the single-process assembly: one cell of
// whole pixels, so that diagonal tiles take the triangular path.
const denseTile = Classes * cellPixels

// AssembleLower sets the lower triangle (and diagonal) of the Params x Params matrix dst
// (row-major, leading dimension Params) to the Hessian of the objective: the mean
// cross-entropy Hessian of the curvature's images plus R = 2 eps (L^T L) kron I, plus
// damping * I. The strict upper triangle is left untouched. Work runs on GOMAXPROCS
// goroutines over tiles.
func AssembleLower(dst []float64, c *Curvature, eps, damping float64, progress ProgressFunc) {
	if len(dst) != Params*Params {
		panic(fmt.Sprintf("hessian: dense Hessian of %d values, want %d", len(dst), Params*Params))
	}
	nt := (Params + denseTile - 1) / denseTile
	type tile struct{ i, j int }
	var tiles []tile
	for i := range nt {
		for j := 0; j <= i; j++ {
			tiles = append(tiles, tile{i, j})
		}
	}
	scale := 1 / float64(c.Len())
	var (
		mu   sync.Mutex
		done int
	)
	parallelFor(len(tiles), func(t int) {
		defer func() {
			mu.Lock()
			done++
			progress.report("assemble", done, len(tiles))
			mu.Unlock()
		}()
		r0, c0 := tiles[t].i*denseTile, tiles[t].j*denseTile
		m, n := min(denseTile, Params-r0), min(denseTile, Params-c0)
		blk := dst[r0*Params+c0:]
		for i := range m {
			clear(blk[i*Params : i*Params+n])
		}
		c.AddBlock(blk, Params, r0, m, c0, n, scale)
		AddRegularizerBlock(blk, Params, r0, m, c0, n, eps)
		if r0 == c0 {
			for i := range m {
				blk[i*Params+i] += damping
			}
		}
	})
}

// ProgressFunc, when not nil, is told how far a long phase has come: done of total units.
// It may be called from several goroutines, but never concurrently.
type ProgressFunc func(phase string, done, total int)

func (p ProgressFunc) report(phase string, done, total int) {
	if p != nil {
		p(phase, done, total)
	}
}

// MirrorLower copies the strict lower triangle of the n x n row-major matrix a into its
// upper triangle, making it symmetric.
func MirrorLower(a []float64, n int) {
	for i := range n {
		for j := 0; j < i; j++ {
			a[j*n+i] = a[i*n+j]
		}
	}
}
