package fastblas

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	lapack "gonum.org/v1/gonum/lapack/gonum"
)

// requireExplicit skips a slow sub-benchmark unless the -test.bench pattern
// names it, e.g. -bench 'Dpotrf/n=7840' or -bench 'Dgemm/n=4096/gonum'.
func requireExplicit(b *testing.B, what string) {
	b.Helper()
	f := flag.Lookup("test.bench")
	if f == nil || !strings.Contains(f.Value.String(), what) {
		b.Skipf("slow: runs only when the -bench pattern contains %q", what)
	}
}

var benchImpls = []struct {
	name string
	impl blas.Float64
}{
	{"fastblas", Implementation{}},
	{"gonum", gonum.Implementation{}},
}

// BenchmarkDgemm measures C = A*B + C for square n×n matrices. The gonum
// run at n=4096 (about 15 s per op) only runs when asked for by name.
func BenchmarkDgemm(b *testing.B) {
	for _, n := range []int{512, 1024, 2048, 4096} {
		rnd := rand.New(rand.NewPCG(1, uint64(n)))
		a, bm, c := randSlice(rnd, n*n), randSlice(rnd, n*n), randSlice(rnd, n*n)
		for _, im := range benchImpls {
			b.Run(fmt.Sprintf("n=%d/%s", n, im.name), func(b *testing.B) {
				if n >= 4096 && im.name == "gonum" {
					requireExplicit(b, "4096")
				}
				b.ReportAllocs()
				for b.Loop() {
					im.impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bm, n, 1, c, n)
				}
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// spd returns a random symmetric, strictly diagonally dominant (hence
// positive definite) n×n matrix.
func spd(n int, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 99))
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			v := 2*rnd.Float64() - 1
			a[i*n+j], a[j*n+i] = v, v
		}
		a[i*n+i] = float64(n) + rnd.Float64()
	}
	return a
}

// BenchmarkDpotrf measures lapack/gonum's blocked Cholesky (Dpotrf, upper
// triangle, as mat.Cholesky uses it) with blas64 set to fastblas or to plain
// gonum. n=7840 runs only when asked for by name (-bench Dpotrf/n=7840); the
// plain gonum one takes about 30 s.
func BenchmarkDpotrf(b *testing.B) {
	defer blas64.Use(gonum.Implementation{})
	for _, n := range []int{2000, 7840} {
		orig := spd(n, uint64(n))
		work := make([]float64, n*n)
		for _, im := range benchImpls {
			for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
				b.Run(fmt.Sprintf("n=%d/%s/%c", n, im.name, ul), func(b *testing.B) {
					if n >= 7840 {
						requireExplicit(b, "7840")
					}
					blas64.Use(im.impl)
					b.ReportAllocs()
					for b.Loop() {
						b.StopTimer()
						copy(work, orig)
						b.StartTimer()
						if !(lapack.Implementation{}).Dpotrf(ul, n, work, n) {
							b.Fatal("not positive definite")
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(n)*float64(n)*float64(n)/3/sec/1e9, "GFLOP/s")
					b.ReportMetric(sec, "s/op")
				})
			}
		}
	}
}
