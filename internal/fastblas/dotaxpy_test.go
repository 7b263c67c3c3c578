package fastblas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotAxpy checks both kernels against plain loops for every length up to 40 (all
// remainders of the unrolling) and on slices longer than a.
func TestDotAxpy(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 4))
	saved := useAsm
	defer func() { useAsm = saved }()
	kernels := []bool{false}
	if hasAVX2FMA {
		kernels = append(kernels, true)
	}
	for _, asm := range kernels {
		useAsm = asm
		for n := 0; n <= 40; n++ {
			a, x := randSlice(rnd, n), randSlice(rnd, n+3)
			y := randSlice(rnd, n+3)
			want := append([]float64(nil), y...)
			var dot, scale float64
			for i := range n {
				dot += a[i] * x[i]
				scale += math.Abs(a[i] * x[i])
				want[i] += -0.7 * a[i]
			}
			got := DotAxpy(a, x, y, -0.7)
			// Four-lane summation: within a few ulps of the sum of |terms|.
			if math.Abs(got-dot) > 4e-16*float64(n)*scale {
				t.Errorf("asm=%v n=%d: dot %.17g, want %.17g", asm, n, got, dot)
			}
			for i := range y {
				// One rounding each way; the assembly fuses the multiply-add.
				if math.Abs(y[i]-want[i]) > 2e-16*(math.Abs(want[i])+math.Abs(a0(a, i))) {
					t.Errorf("asm=%v n=%d: y[%d] = %.17g, want %.17g", asm, n, i, y[i], want[i])
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("DotAxpy with a short x did not panic")
		}
	}()
	DotAxpy(make([]float64, 3), make([]float64, 2), make([]float64, 3), 1)
}

// a0 returns a[i], or 0 beyond a.
func a0(a []float64, i int) float64 {
	if i < len(a) {
		return a[i]
	}
	return 0
}
