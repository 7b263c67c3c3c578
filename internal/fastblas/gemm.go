package fastblas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Cache blocking (see the package documentation for the reasoning):
//
//   - kc: depth of a rank-kc update; a kc×nr micro-panel of B (16 KiB) stays
//     in L1 while the micro-kernel sweeps down an A block.
//   - mc: rows of the packed A block, mc×kc doubles (288 KiB) in L2.
//   - nc: columns of the packed B panel, kc×nc doubles (8 MiB), in L3.
//
// The effective block sizes are balanced so that, e.g., k = 300 is done as
// two rank-150 updates rather than 256 + 44.
//
// These and the other tuning parameters of the package are variables only so
// that the tests can shrink them to exercise every code path on small
// matrices; they are never changed outside the tests.
var (
	kc = 256
	mc = 144
	nc = 4096
)

var (
	// parMinWork is the m·n·k product below which a GEMM runs on the
	// calling goroutine only: below it, starting goroutines costs more than
	// it saves.
	parMinWork = float64(1 << 21)

	// chunksPerWorker is how many independent pieces of C each worker gets
	// on average; more than one evens out the load when some workers are
	// slowed down by other goroutines.
	chunksPerWorker = 1
)

// gemmProblem describes C = alpha*op(A)*op(B) + beta*C with row-major
// operands. It has passed argument checking; alpha != 0 and k > 0.
type gemmProblem struct {
	transA, transB bool
	m, n, k        int
	alpha          float64
	a              []float64
	lda            int
	b              []float64
	ldb            int
	beta           float64
	c              []float64
	ldc            int
}

// workspace holds one worker's packing buffers.
type workspace struct {
	a    []float64 // packed A block, mc×kc
	b    []float64 // packed B panel, kc×nc
	tile [mr * nr]float64
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

// grow returns s resliced to length n, reallocating only if needed.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// workersFor returns how many goroutines a problem of m·n·k multiply-adds
// should use when parallelism is allowed.
func workersFor(m, n, k int) int {
	if float64(m)*float64(n)*float64(k) < parMinWork {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// gemm computes p with up to maxWorkers goroutines (including the caller).
// Every goroutine it starts has finished when it returns. p does not escape,
// so serial calls do not allocate.
func gemm(p *gemmProblem, maxWorkers int) {
	workers := 1
	if maxWorkers > 1 {
		workers = min(maxWorkers, workersFor(p.m, p.n, p.k))
	}
	if workers > 1 {
		// Split C into independent chunks along its larger dimension; each
		// chunk is a complete sub-GEMM with its own packing, so the workers
		// never synchronise until the end.
		dim, unit := p.n, nr
		if p.m >= p.n {
			dim, unit = p.m, mr
		}
		units := ceilDiv(dim, unit)
		nChunks := min(workers*chunksPerWorker, units)
		chunk := ceilDiv(units, nChunks) * unit
		nChunks = ceilDiv(dim, chunk)
		if workers = min(workers, nChunks); workers > 1 {
			gemmParallel(p, workers, chunk, nChunks)
			return
		}
	}
	ws := wsPool.Get().(*workspace)
	gemmRange(ws, p, 0, p.m, 0, p.n)
	wsPool.Put(ws)
}

// gemmJob is one parallel GEMM: its chunks are handed out through next.
type gemmJob struct {
	p         gemmProblem
	splitRows bool
	chunk     int
	nChunks   int
	next      atomic.Int64
	wg        sync.WaitGroup
}

var jobPool = sync.Pool{New: func() any { return new(gemmJob) }}

// gemmParallel runs nChunks chunks of chunk rows (if p.m >= p.n) or columns
// of C on workers goroutines, the caller's included, and waits for them.
func gemmParallel(p *gemmProblem, workers, chunk, nChunks int) {
	j := jobPool.Get().(*gemmJob)
	j.p = *p
	j.splitRows = p.m >= p.n
	j.chunk, j.nChunks = chunk, nChunks
	j.next.Store(0)
	j.wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go j.workDone()
	}
	j.work()
	j.wg.Wait()
	j.p = gemmProblem{} // do not keep the caller's matrices alive
	jobPool.Put(j)
}

func (j *gemmJob) workDone() {
	defer j.wg.Done()
	j.work()
}

// work computes chunks of j until none is left.
func (j *gemmJob) work() {
	ws := wsPool.Get().(*workspace)
	p := &j.p
	dim := p.n
	if j.splitRows {
		dim = p.m
	}
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.nChunks {
			break
		}
		lo := i * j.chunk
		hi := min(lo+j.chunk, dim)
		if j.splitRows {
			gemmRange(ws, p, lo, hi, 0, p.n)
		} else {
			gemmRange(ws, p, 0, p.m, lo, hi)
		}
	}
	wsPool.Put(ws)
}

// gemmRange computes rows [i0, i1) and columns [j0, j1) of C serially with
// the packed, cache-blocked algorithm (loops jc, pc, ic, jr, ir).
func gemmRange(ws *workspace, p *gemmProblem, i0, i1, j0, j1 int) {
	k := p.k
	kcb := ceilDiv(k, ceilDiv(k, kc))
	rows := i1 - i0
	mcb := roundUp(ceilDiv(rows, ceilDiv(rows, mc)), mr)
	cols := j1 - j0
	ncb := roundUp(ceilDiv(cols, ceilDiv(cols, nc)), nr)
	ws.a = grow(ws.a, mcb*kcb)
	ws.b = grow(ws.b, ncb*kcb)

	for jc := j0; jc < j1; jc += ncb {
		nb := min(ncb, j1-jc)
		for pc := 0; pc < k; pc += kcb {
			kb := min(kcb, k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			if p.transB {
				packInterleave8(ws.b, p.b, p.ldb, jc, nb, pc, kb)
			} else {
				packCopy8(ws.b, p.b, p.ldb, pc, kb, jc, nb)
			}
			for ic := i0; ic < i1; ic += mcb {
				mb := min(mcb, i1-ic)
				if p.transA {
					packCopy6(ws.a, p.a, p.lda, pc, kb, ic, mb)
				} else {
					packInterleave6(ws.a, p.a, p.lda, ic, mb, pc, kb)
				}
				macroKernel(ws, p, mb, nb, kb, ic, jc, beta)
			}
		}
	}
}

// macroKernel multiplies the packed mb×kb block of A by the packed kb×nb
// panel of B into C[ic:ic+mb, jc:jc+nb].
func macroKernel(ws *workspace, p *gemmProblem, mb, nb, kb, ic, jc int, beta float64) {
	c, ldc, alpha := p.c, p.ldc, p.alpha
	for jr := 0; jr < nb; jr += nr {
		nrr := min(nr, nb-jr)
		bp := ws.b[jr*kb : jr*kb+nr*kb]
		for ir := 0; ir < mb; ir += mr {
			mrr := min(mr, mb-ir)
			ap := ws.a[ir*kb : ir*kb+mr*kb]
			off := (ic+ir)*ldc + jc + jr
			if mrr == mr && nrr == nr {
				microKernel(kb, ap, bp, c[off:], ldc, alpha, beta)
				continue
			}
			// Edge tile: compute into the scratch tile, then merge.
			t := ws.tile[:]
			microKernel(kb, ap, bp, t, nr, alpha, 0)
			for i := 0; i < mrr; i++ {
				row := c[off+i*ldc : off+i*ldc+nrr]
				ti := t[i*nr : i*nr+nrr]
				if beta == 0 {
					copy(row, ti)
				} else {
					for j := range row {
						row[j] = beta*row[j] + ti[j]
					}
				}
			}
		}
	}
}

// packInterleave6 packs rows [r0, r0+nrows) × columns [c0, c0+ncols) of the
// row-major src into micro-panels of 6 rows: panel g holds, for each column
// q, the 6 elements of rows r0+6g..r0+6g+5, zero-padded past nrows.
// It packs a non-transposed A block.
func packInterleave6(dst, src []float64, ld, r0, nrows, c0, ncols int) {
	const w = 6
	for g := 0; g*w < nrows; g++ {
		d := dst[g*w*ncols : (g+1)*w*ncols]
		base := (r0+g*w)*ld + c0
		if nrows-g*w >= w {
			s0 := src[base : base+ncols]
			s1 := src[base+ld : base+ld+ncols]
			s2 := src[base+2*ld : base+2*ld+ncols]
			s3 := src[base+3*ld : base+3*ld+ncols]
			s4 := src[base+4*ld : base+4*ld+ncols]
			s5 := src[base+5*ld : base+5*ld+ncols]
			for q := range s0 {
				e := d[q*w : q*w+w : q*w+w]
				e[0] = s0[q]
				e[1] = s1[q]
				e[2] = s2[q]
				e[3] = s3[q]
				e[4] = s4[q]
				e[5] = s5[q]
			}
			continue
		}
		rows := nrows - g*w
		for q := 0; q < ncols; q++ {
			e := d[q*w : q*w+w : q*w+w]
			for i := 0; i < rows; i++ {
				e[i] = src[base+i*ld+q]
			}
			for i := rows; i < w; i++ {
				e[i] = 0
			}
		}
	}
}

// packInterleave8 is packInterleave6 with 8-row micro-panels. It packs a
// transposed B block (B stored n×k).
func packInterleave8(dst, src []float64, ld, r0, nrows, c0, ncols int) {
	const w = 8
	for g := 0; g*w < nrows; g++ {
		d := dst[g*w*ncols : (g+1)*w*ncols]
		base := (r0+g*w)*ld + c0
		if nrows-g*w >= w {
			s0 := src[base : base+ncols]
			s1 := src[base+ld : base+ld+ncols]
			s2 := src[base+2*ld : base+2*ld+ncols]
			s3 := src[base+3*ld : base+3*ld+ncols]
			s4 := src[base+4*ld : base+4*ld+ncols]
			s5 := src[base+5*ld : base+5*ld+ncols]
			s6 := src[base+6*ld : base+6*ld+ncols]
			s7 := src[base+7*ld : base+7*ld+ncols]
			for q := range s0 {
				e := d[q*w : q*w+w : q*w+w]
				e[0] = s0[q]
				e[1] = s1[q]
				e[2] = s2[q]
				e[3] = s3[q]
				e[4] = s4[q]
				e[5] = s5[q]
				e[6] = s6[q]
				e[7] = s7[q]
			}
			continue
		}
		rows := nrows - g*w
		for q := 0; q < ncols; q++ {
			e := d[q*w : q*w+w : q*w+w]
			for i := 0; i < rows; i++ {
				e[i] = src[base+i*ld+q]
			}
			for i := rows; i < w; i++ {
				e[i] = 0
			}
		}
	}
}

// packCopy6 packs rows [r0, r0+nrows) × columns [c0, c0+ncols) of the
// row-major src into micro-panels of 6 columns: panel g holds, for each row
// q, columns c0+6g..c0+6g+5, zero-padded past ncols. It packs a transposed A
// block (A stored k×m).
func packCopy6(dst, src []float64, ld, r0, nrows, c0, ncols int) {
	const w = 6
	full := ncols / w
	for q := 0; q < nrows; q++ {
		s := src[(r0+q)*ld+c0 : (r0+q)*ld+c0+ncols]
		for g := 0; g < full; g++ {
			e := dst[g*w*nrows+q*w : g*w*nrows+q*w+w : g*w*nrows+q*w+w]
			f := s[g*w : g*w+w : g*w+w]
			e[0], e[1], e[2], e[3], e[4], e[5] = f[0], f[1], f[2], f[3], f[4], f[5]
		}
		if rem := ncols - full*w; rem > 0 {
			e := dst[full*w*nrows+q*w : full*w*nrows+q*w+w]
			copy(e, s[full*w:])
			clear(e[rem:])
		}
	}
}

// packCopy8 is packCopy6 with 8-column micro-panels. It packs a
// non-transposed B panel.
func packCopy8(dst, src []float64, ld, r0, nrows, c0, ncols int) {
	const w = 8
	full := ncols / w
	for q := 0; q < nrows; q++ {
		s := src[(r0+q)*ld+c0 : (r0+q)*ld+c0+ncols]
		for g := 0; g < full; g++ {
			e := dst[g*w*nrows+q*w : g*w*nrows+q*w+w : g*w*nrows+q*w+w]
			f := s[g*w : g*w+w : g*w+w]
			e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7] = f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
		}
		if rem := ncols - full*w; rem > 0 {
			e := dst[full*w*nrows+q*w : full*w*nrows+q*w+w]
			copy(e, s[full*w:])
			clear(e[rem:])
		}
	}
}
