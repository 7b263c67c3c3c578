package fastblas

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func addScaledRowsRef(dst []float64, off []int32, coef []float64, a *[56]float64) {
	for i, o := range off {
		for j := 0; j < RowLen; j++ {
			dst[int(o)+j] += coef[i] * a[j]
		}
	}
}

func TestAddScaledRows(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	kernels := []bool{false}
	if hasAVX2FMA {
		kernels = append(kernels, true)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, asm := range kernels {
		useAsm = asm
		for _, nrows := range []int{0, 1, 2, 3, 7, 100, 1000} {
			for _, dlen := range []int{56, 57, 100, 4000} {
				var a [56]float64
				for j := range a {
					a[j] = 2*rnd.Float64() - 1
				}
				off := make([]int32, nrows)
				coef := make([]float64, nrows)
				for i := range off {
					// Unaligned, overlapping and repeated offsets, and the
					// extreme ones.
					switch rnd.IntN(4) {
					case 0:
						off[i] = 0
					case 1:
						off[i] = int32(dlen - RowLen)
					default:
						off[i] = int32(rnd.IntN(dlen - RowLen + 1))
					}
					coef[i] = 2*rnd.Float64() - 1
				}
				dst := randSlice(rnd, dlen)
				want := append([]float64(nil), dst...)
				addScaledRowsRef(want, off, coef, &a)
				AddScaledRows(dst, off, coef, &a)
				for i := range dst {
					if math.Abs(dst[i]-want[i]) > 1e-13*(1+math.Abs(want[i])) {
						t.Fatalf("asm=%v rows=%d len=%d: dst[%d] = %v, want %v", asm, nrows, dlen, i, dst[i], want[i])
					}
				}
			}
		}
	}
}

func TestAddScaledRowsPanics(t *testing.T) {
	var a [56]float64
	dst := make([]float64, 100)
	for _, c := range []struct {
		name string
		off  []int32
		coef []float64
		msg  string
	}{
		{"past end", []int32{0, 45}, []float64{1, 1}, "off[1] = 45 out of range"},
		{"negative", []int32{-1}, []float64{1}, "off[0] = -1 out of range"},
		{"length", []int32{0}, []float64{1, 2}, "len(off) = 1 != len(coef) = 2"},
	} {
		before := append([]float64(nil), dst...)
		v := panicMsg(func() { AddScaledRows(dst, c.off, c.coef, &a) })
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "fastblas: ") || !strings.Contains(s, c.msg) {
			t.Errorf("%s: panic %v, want a \"fastblas: ...%s...\" message", c.name, v, c.msg)
		}
		for i := range dst {
			if dst[i] != before[i] {
				t.Fatalf("%s: dst modified before the panic", c.name)
			}
		}
	}
	if v := panicMsg(func() { AddScaledRows(make([]float64, 55), []int32{0}, []float64{1}, &a) }); v == nil {
		t.Error("short dst: no panic")
	}
}

func BenchmarkAddScaledRows(b *testing.B) {
	// A 7840×7840 Hessian is too big for the cache; rows land at random
	// offsets as in the assembly loop.
	const dlen = 7840 * 7840
	const nrows = 4096
	rnd := rand.New(rand.NewPCG(1, 2))
	dst := make([]float64, dlen)
	var a [56]float64
	for j := range a {
		a[j] = rnd.Float64()
	}
	off := make([]int32, nrows)
	coef := make([]float64, nrows)
	for i := range off {
		off[i] = int32(rnd.IntN(dlen - RowLen))
		coef[i] = rnd.Float64()
	}
	// Cache-resident variant: rows within a 64 KiB... 256 KiB window.
	offHot := make([]int32, nrows)
	for i := range offHot {
		offHot[i] = int32(rnd.IntN(32768 - RowLen))
	}
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, mem := range []struct {
		name string
		off  []int32
	}{{"L2", offHot}, {"DRAM", off}} {
		run := func(name string, f func()) {
			b.Run(mem.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					f()
				}
				b.ReportMetric(2*RowLen*nrows*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if hasAVX2FMA {
			run("asm", func() { useAsm = true; AddScaledRows(dst, mem.off, coef, &a) })
		}
		run("go", func() { useAsm = false; AddScaledRows(dst, mem.off, coef, &a) })
		run("plainloop", func() { addScaledRowsRef(dst, mem.off, coef, &a) })
	}
}
