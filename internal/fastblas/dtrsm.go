package fastblas

import (
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var (
	// trsmBase is the largest triangle solved by substitution (gonum's
	// Dtrsm); larger triangles are halved recursively and the coupling block
	// becomes a GEMM update, so a fraction of about trsmBase/t of the flops
	// is spent outside the GEMM kernel for a t×t triangle.
	trsmBase = 16
	// trsmMinFree is the smallest number of right-hand sides (columns of B
	// for Side == Left, rows for Side == Right) for which the recursive
	// algorithm is used; narrower problems are substitution-bound anyway.
	trsmMinFree = 8
	// trsmChunk is the smallest number of right-hand sides that one
	// goroutine solves when the right-hand sides are split between workers.
	trsmChunk = 32
)

// Dtrsm solves one of the matrix equations
//
//	A * X = alpha * B   if tA == blas.NoTrans and side == blas.Left
//	Aᵀ * X = alpha * B  if tA == blas.Trans or blas.ConjTrans, and side == blas.Left
//	X * A = alpha * B   if tA == blas.NoTrans and side == blas.Right
//	X * Aᵀ = alpha * B  if tA == blas.Trans or blas.ConjTrans, and side == blas.Right
//
// where A is an n×n or m×m triangular matrix, X and B are m×n matrices, and alpha is a
// scalar.
//
// At entry to the function, X contains the values of B, and the result is
// stored in-place into X.
//
// No check is made that A is invertible.
func (impl Implementation) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if s != blas.Left && s != blas.Right {
		panic(badSide)
	}
	if ul != blas.Lower && ul != blas.Upper {
		panic(badUplo)
	}
	if tA != blas.NoTrans && tA != blas.Trans && tA != blas.ConjTrans {
		panic(badTranspose)
	}
	if d != blas.NonUnit && d != blas.Unit {
		panic(badDiag)
	}
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	k := n
	if s == blas.Left {
		k = m
	}
	if lda < max(1, k) {
		panic(badLdA)
	}
	if ldb < max(1, n) {
		panic(badLdB)
	}

	// Quick return if possible.
	if m == 0 || n == 0 {
		return
	}

	// For zero matrix size the following slice length checks are trivially satisfied.
	if len(a) < lda*(k-1)+k {
		panic(shortA)
	}
	if len(b) < ldb*(m-1)+n {
		panic(shortB)
	}

	if alpha == 0 {
		scaleGeneral(m, n, 0, b, ldb)
		return
	}
	left := s == blas.Left
	free := n // number of right-hand sides
	if !left {
		free = m
	}
	if k <= trsmBase || free < trsmMinFree {
		impl.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	if tA == blas.ConjTrans {
		tA = blas.Trans
	}
	scaleGeneral(m, n, alpha, b, ldb)

	t := trsmProblem{left: left, ul: ul, tA: tA, d: d, a: a, lda: lda, ldb: ldb}
	workers := workersFor(k, k, free)
	chunks := min(workers, free/trsmChunk)
	if chunks <= 1 {
		// Few right-hand sides: parallelise inside the GEMM updates.
		t.solve(m, n, b, runtimeWorkers)
		return
	}
	// The right-hand sides are independent: give each goroutine a share and
	// let it run the whole recursive solve serially.
	unit := nr
	if !left {
		unit = mr
	}
	j := trsmJobPool.Get().(*trsmJob)
	j.t, j.m, j.n, j.b = t, m, n, b
	j.chunk = roundUp(ceilDiv(free, chunks), unit)
	j.nChunks = ceilDiv(free, j.chunk)
	j.next.Store(0)
	j.wg.Add(chunks - 1)
	for w := 1; w < chunks; w++ {
		go j.workDone()
	}
	j.work()
	j.wg.Wait()
	j.t.a, j.b = nil, nil // do not keep the caller's matrices alive
	trsmJobPool.Put(j)
}

// trsmJob is a Dtrsm whose right-hand sides are split between goroutines.
type trsmJob struct {
	t       trsmProblem
	m, n    int
	b       []float64
	chunk   int
	nChunks int
	next    atomic.Int64
	wg      sync.WaitGroup
}

var trsmJobPool = sync.Pool{New: func() any { return new(trsmJob) }}

func (j *trsmJob) workDone() {
	defer j.wg.Done()
	j.work()
}

// work solves chunks of right-hand sides until none is left.
func (j *trsmJob) work() {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.nChunks {
			return
		}
		lo := i * j.chunk
		if j.t.left {
			w := min(j.chunk, j.n-lo)
			j.t.solve(j.m, w, j.b[lo:], 1)
		} else {
			w := min(j.chunk, j.m-lo)
			j.t.solve(w, j.n, j.b[lo*j.t.ldb:], 1)
		}
	}
}

// trsmProblem holds the fixed parameters of a recursive triangular solve with
// alpha already applied to B.
type trsmProblem struct {
	left bool
	ul   blas.Uplo
	tA   blas.Transpose // NoTrans or Trans
	d    blas.Diag
	a    []float64
	lda  int
	ldb  int
}

// solve solves op(A) X = B (left) or X op(A) = B (right) in place for the m×n
// matrix b, where A is the leading triangle of t.a. GEMM updates use up to
// workers goroutines.
func (t trsmProblem) solve(m, n int, b []float64, workers int) {
	tri := n
	if t.left {
		tri = m
	}
	if tri <= trsmBase {
		side := blas.Right
		if t.left {
			side = blas.Left
		}
		gonum.Implementation{}.Dtrsm(side, t.ul, t.tA, t.d, m, n, 1, t.a, t.lda, b, t.ldb)
		return
	}
	t1 := roundUp(ceilDiv(tri, 2), nr)
	if t1 >= tri {
		t1 = tri / 2
	}
	t2 := tri - t1
	// Diagonal blocks A11 (t1×t1) and A22 (t2×t2), and the stored
	// off-diagonal block: A21 (t2×t1) for Lower, A12 (t1×t2) for Upper.
	a11 := t
	a22 := t
	a22.a = t.a[t1*t.lda+t1:]
	off := t.a[t1:]
	if t.ul == blas.Lower {
		off = t.a[t1*t.lda:]
	}
	trans := t.tA == blas.Trans
	// op(A) is lower triangular for (Lower, NoTrans) and (Upper, Trans);
	// its off-diagonal block is op(stored off-diagonal block) either way.
	lowerOp := (t.ul == blas.Lower) != trans
	g := gemmProblem{alpha: -1, beta: 1, lda: t.lda, ldb: t.ldb, ldc: t.ldb}
	if t.left {
		b1, b2 := b, b[t1*t.ldb:]
		g.transA = trans
		g.n = n
		g.a = off
		if lowerOp {
			// X1 = A11⁻¹ B1; B2 -= op(A)21 X1; X2 = A22⁻¹ B2.
			a11.solve(t1, n, b1, workers)
			g.m, g.k = t2, t1
			g.b, g.c = b1, b2
			gemm(&g, workers)
			a22.solve(t2, n, b2, workers)
		} else {
			// X2 = A22⁻¹ B2; B1 -= op(A)12 X2; X1 = A11⁻¹ B1.
			a22.solve(t2, n, b2, workers)
			g.m, g.k = t1, t2
			g.b, g.c = b2, b1
			gemm(&g, workers)
			a11.solve(t1, n, b1, workers)
		}
		return
	}
	b1, b2 := b, b[t1:]
	g.transB = trans
	g.m = m
	g.lda, g.ldb = t.ldb, t.lda
	g.b = off
	if lowerOp {
		// X op(A) = B with op(A) = [T11 0; T21 T22]:
		// X2 = B2 T22⁻¹; B1 -= X2 T21; X1 = B1 T11⁻¹.
		a22.solve(m, t2, b2, workers)
		g.n, g.k = t1, t2
		g.a, g.c = b2, b1
		gemm(&g, workers)
		a11.solve(m, t1, b1, workers)
	} else {
		// op(A) = [T11 T12; 0 T22]:
		// X1 = B1 T11⁻¹; B2 -= X1 T12; X2 = B2 T22⁻¹.
		a11.solve(m, t1, b1, workers)
		g.n, g.k = t2, t1
		g.a, g.c = b1, b2
		gemm(&g, workers)
		a22.solve(m, t2, b2, workers)
	}
}
