package fastblas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMicroKernel checks both micro-kernels against a plain triple loop for
// every k up to 40 (all unrolling remainders), with and without beta.
func TestMicroKernel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 1))
	saved := useAsm
	defer func() { useAsm = saved }()
	kernels := []bool{false}
	if hasAVX2FMA {
		kernels = append(kernels, true)
	}
	for _, asm := range kernels {
		useAsm = asm
		for k := 1; k <= 40; k++ {
			for _, beta := range []float64{0, 1, -0.75} {
				const ldc = 11
				a := randSlice(rnd, k*mr)
				b := randSlice(rnd, k*nr)
				c := randSlice(rnd, (mr-1)*ldc+nr)
				if beta == 0 {
					for i := range c {
						c[i] = math.NaN()
					}
				}
				want := append([]float64(nil), c...)
				alpha := 1.5
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						var s float64
						for p := 0; p < k; p++ {
							s += a[p*mr+i] * b[p*nr+j]
						}
						if beta == 0 {
							want[i*ldc+j] = alpha * s
						} else {
							want[i*ldc+j] = alpha*s + beta*want[i*ldc+j]
						}
					}
				}
				microKernel(k, a, b, c, ldc, alpha, beta)
				for i := range c {
					if i%ldc >= nr {
						if !math.IsNaN(want[i]) && c[i] != want[i] {
							t.Fatalf("asm=%v k=%d: padding changed at %d", asm, k, i)
						}
						continue
					}
					if math.Abs(c[i]-want[i]) > 1e-13 {
						t.Fatalf("asm=%v k=%d beta=%v: c[%d] = %v, want %v", asm, k, beta, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkMicroKernel measures the register kernel alone on L1/L2-resident
// packed panels (k = kc = 256): the single-core ceiling of Dgemm.
func BenchmarkMicroKernel(b *testing.B) {
	saved := useAsm
	defer func() { useAsm = saved }()
	kernels := []bool{false}
	if hasAVX2FMA {
		kernels = append(kernels, true)
	}
	for _, asm := range kernels {
		name := "go"
		if asm {
			name = "asm"
		}
		b.Run(name, func(b *testing.B) {
			useAsm = asm
			const k = 256
			rnd := rand.New(rand.NewPCG(1, 1))
			a := randSlice(rnd, k*mr)
			bp := randSlice(rnd, k*nr)
			c := make([]float64, mr*nr)
			for b.Loop() {
				microKernel(k, a, bp, c, nr, 1, 1)
			}
			b.ReportMetric(2*mr*nr*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
