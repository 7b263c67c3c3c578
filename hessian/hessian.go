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

// Pixel-range lookup: images are indexed in buckets of bucketPixels pixels.
const (
	bucketPixels = 16
	buckets      = (Pixels + bucketPixels - 1) / bucketPixels // 49, fits a uint64 mask
)

// Index finds the non-zero pixels of any image within any pixel range in a few steps.
// It depends only on the images, so it is built once per dataset.
type Index struct {
	d     *Dataset
	mask  []uint64 // per image: bit b set when some pixel of bucket b is non-zero
	first []uint16 // per image, buckets+1 offsets from Start[s]: first pixel >= bucketPixels*b
}

// NewIndex builds the pixel-range index of d (about 108 bytes per image).
func NewIndex(d *Dataset) *Index {
	n := d.Len()
	x := &Index{d: d, mask: make([]uint64, n), first: make([]uint16, n*(buckets+1))}
	for s := range n {
		pix, _ := d.Image(s)
		f := x.first[s*(buckets+1) : (s+1)*(buckets+1)]
		pos := 0
		for b := 0; b <= buckets; b++ {
			for pos < len(pix) && int(pix[pos]) < b*bucketPixels {
				pos++
			}
			f[b] = uint16(pos)
		}
		for _, j := range pix {
			x.mask[s] |= 1 << (j / bucketPixels)
		}
	}
	return x
}

// Dataset returns the images the index was built on.
func (x *Index) Dataset() *Dataset { return x.d }

// bucketMask returns the mask of the buckets that pixels [p0, p1) touch.
func bucketMask(p0, p1 int) uint64 {
	b0, b1 := p0/bucketPixels, (p1-1)/bucketPixels
	return (^uint64(0) >> (63 - b1)) &^ (1<<b0 - 1)
}

// rangeOf returns the positions [lo, hi) in Pixel of image s's non-zero pixels in [p0, p1).
func (x *Index) rangeOf(s, p0, p1 int) (lo, hi int64) {
	base := x.d.Start[s]
	end := x.d.Start[s+1]
	f := x.first[s*(buckets+1):]
	lo = base + int64(f[p0/bucketPixels])
	for lo < end && int(x.d.Pixel[lo]) < p0 {
		lo++
	}
	if p1 >= Pixels {
		return lo, end
	}
	hi = max(lo, base+int64(f[p1/bucketPixels]))
	for hi < end && int(x.d.Pixel[hi]) < p1 {
		hi++
	}
	return lo, hi
}

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

// subPixels is the side, in pixels, of the pixel-pair blocks that AddBlock accumulates at a
// time: 24 x 24 pairs x 56 coefficients x 8 bytes = 258 KB, which stays in a 512 KB L2 cache.
const subPixels = 24

// accPool recycles accumulators of subPixels^2 pixel pairs.
var accPool = sync.Pool{New: func() any {
	b := make([]float64, subPixels*subPixels*packedLen)
	return &b
}}

// AddBlock adds scale * sum_s (x_s x_s^T kron A_s) restricted to rows [r0, r0+m) and
// columns [c0, c0+n) of the Params x Params matrix into dst (row-major, leading dimension
// ld). Only pairs of non-zero pixels are visited. With scale = 1/N it adds the block of the
// mean cross-entropy Hessian of N images; shards of a batch add their sums with the same
// scale.
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
	for ca := pa0; ca < pa1; ca += subPixels {
		ea := min(ca+subPixels, pa1)
		for cb := pb0; cb < pb1; cb += subPixels {
			eb := min(cb+subPixels, pb1)
			tri := ca == cb && ea == eb
			nb := eb - cb
			clear(acc[:(ea-ca)*nb*packedLen])
			c.accumulate(acc, ca, ea, cb, eb, tri)
			// Scatter the pixel-pair sums into the entries of dst they cover.
			rlo, rhi := max(r0, Classes*ca), min(r0+m, Classes*ea)
			clo, chi := max(c0, Classes*cb), min(c0+n, Classes*eb)
			for r := rlo; r < rhi; r++ {
				ja, k := r/Classes, r%Classes
				row := dst[(r-r0)*ld-c0+clo : (r-r0)*ld-c0+chi]
				pk := &packedIndex[k]
				for col := clo; col < chi; col++ {
					jb, k2 := col/Classes, col%Classes
					var a []float64
					if tri && jb > ja {
						a = acc[((jb-ca)*nb+ja-cb)*packedLen:]
					} else {
						a = acc[((ja-ca)*nb+jb-cb)*packedLen:]
					}
					row[col-clo] += scale * a[pk[k2]]
				}
			}
		}
	}
}

// accumulate sets acc[(ja-ca)*(eb-cb)+(jb-cb)] += x_sa x_sb A_s (packed) over all images,
// for pixels ja in [ca, ea) and jb in [cb, eb), or only jb <= ja when tri (the two ranges
// are then equal).
func (c *Curvature) accumulate(acc []float64, ca, ea, cb, eb int, tri bool) {
	d := c.idx.d
	maskA, maskB := bucketMask(ca, ea), bucketMask(cb, eb)
	nb := eb - cb
	var (
		offs  [subPixels]int32
		coefs [subPixels]float64
	)
	for s, ms := range c.idx.mask {
		if ms&maskA == 0 || ms&maskB == 0 {
			continue
		}
		aLo, aHi := c.idx.rangeOf(s, ca, ea)
		if aLo == aHi {
			continue
		}
		bLo, bHi := aLo, aHi
		if !tri {
			bLo, bHi = c.idx.rangeOf(s, cb, eb)
			if bLo == bHi {
				continue
			}
		}
		a := (*[packedLen]float64)(c.coef[packedLen*s:])
		for ia := aLo; ia < aHi; ia++ {
			xa := pixelValue[d.Value[ia]]
			rowOff := int32((int(d.Pixel[ia]) - ca) * nb * packedLen)
			end := bHi
			if tri {
				end = ia + 1
			}
			cnt := 0
			for ib := bLo; ib < end; ib++ {
				offs[cnt] = rowOff + int32((int(d.Pixel[ib])-cb)*packedLen)
				coefs[cnt] = xa * pixelValue[d.Value[ib]]
				cnt++
			}
			addScaledRows(acc, offs[:cnt], coefs[:cnt], a)
		}
	}
}

// addScaledRowsGo sets dst[off[i]:off[i]+56] += coef[i] * a for every i.
func addScaledRowsGo(dst []float64, off []int32, coef []float64, a *[packedLen]float64) {
	for i, o := range off {
		c := coef[i]
		d := (*[packedLen]float64)(dst[o : o+packedLen])
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

// addScaledRows is the kernel of the assembly; a faster one may replace it.
var addScaledRows = addScaledRowsGo

// denseTile is the tile side, in parameters, of the single-process assembly: whole pixels
// (24 of them), so that diagonal tiles take the triangular path.
const denseTile = Classes * subPixels

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
