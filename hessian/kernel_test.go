package hessian

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// kernels lists the outerRows kernels this machine can run: the pure-Go one always, the
// assembly one where the CPU has it.
func kernels() []bool {
	if hasAVX2FMA {
		return []bool{false, true}
	}
	return []bool{false}
}

func kernelName(asm bool) string {
	if asm {
		return "asm"
	}
	return "go"
}

// withKernel runs f with the given kernel selected and restores the default. Tests that
// call it must not run in parallel with tests that assemble.
func withKernel(asm bool, f func()) {
	saved := useAsm
	defer func() { useAsm = saved }()
	useAsm = asm
	f()
}

// outerRowsNaive is the definition of outerRows, one scalar at a time.
func outerRowsNaive(acc []float64, a *[packedLen]float64, rowOff []int32, xa []float64, colOff []int32, xb []float64, tri bool) {
	for i := range rowOff {
		for j := range colOff {
			if tri && j > i {
				break
			}
			for t := range packedLen {
				acc[int(rowOff[i])+int(colOff[j])+t] += xa[i] * xb[j] * a[t]
			}
		}
	}
}

func TestOuterRowsMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, asm := range kernels() {
		for _, tc := range []struct{ na, nb, accLen int }{
			{1, 1, packedLen}, {1, 5, 400}, {5, 1, 400}, {3, 3, 1000}, {7, 7, 1000}, {24, 24, cellPixels * cellPixels * packedLen}, {13, 2, 5000},
		} {
			for _, tri := range []bool{false, true} {
				if tri && tc.na != tc.nb {
					continue
				}
				name := fmt.Sprintf("%s/na=%d,nb=%d,tri=%v", kernelName(asm), tc.na, tc.nb, tri)
				var a [packedLen]float64
				for i := range a {
					a[i] = r.NormFloat64()
				}
				// Random offsets: unaligned, overlapping and repeated ones included, the
				// extreme ones too, so that the order of the updates matters.
				maxOff := tc.accLen - packedLen
				rowOff := make([]int32, tc.na)
				colOff := make([]int32, tc.nb)
				for i := range rowOff {
					rowOff[i] = int32(r.IntN(maxOff/2 + 1))
				}
				for j := range colOff {
					colOff[j] = int32(r.IntN(maxOff/2 + 1))
				}
				rowOff[0], colOff[len(colOff)-1] = 0, int32(maxOff/2)
				xa, xb := make([]float64, tc.na), make([]float64, tc.nb)
				for i := range xa {
					xa[i] = r.Float64()
				}
				for j := range xb {
					xb[j] = r.Float64()
				}
				if tri {
					copy(colOff, rowOff)
					copy(xb, xa)
				}
				acc := make([]float64, tc.accLen)
				for i := range acc {
					acc[i] = r.NormFloat64()
				}
				want := append([]float64(nil), acc...)
				outerRowsNaive(want, &a, rowOff, xa, colOff, xb, tri)
				withKernel(asm, func() { outerRows(acc, &a, rowOff, xa, colOff, xb, tri) })
				for i := range acc {
					// Each entry is a sum of at most na*nb products of terms below 4 in
					// magnitude: a few ulps of 100 suffice for the rounding order.
					if d := math.Abs(acc[i] - want[i]); d > 1e-13*(1+math.Abs(want[i])) {
						t.Fatalf("%s: acc[%d] = %v; want %v", name, i, acc[i], want[i])
					}
				}
			}
		}
	}
}

// TestOuterRowsKernelsAgree runs both kernels on the shape of the assembly (one image's
// lit pixels in two cells) and requires them to agree to rounding.
func TestOuterRowsKernelsAgree(t *testing.T) {
	if !hasAVX2FMA {
		t.Skip("no AVX2/FMA: only the pure-Go kernel runs here, and TestOuterRowsMatchesDefinition checks it")
	}
	r := rand.New(rand.NewPCG(3, 4))
	accLen := cellPixels * cellPixels * packedLen
	for trial := range 200 {
		tri := trial%2 == 0
		na, nb := 1+r.IntN(cellPixels), 1+r.IntN(cellPixels)
		if tri {
			nb = na
		}
		rows, cols := r.Perm(cellPixels)[:na], r.Perm(cellPixels)[:nb]
		rowOff, colOff := make([]int32, na), make([]int32, nb)
		xa, xb := make([]float64, na), make([]float64, nb)
		for i, p := range rows {
			rowOff[i] = int32(p * cellPixels * packedLen)
			xa[i] = PixelValue(uint8(1 + r.IntN(255)))
		}
		for j, p := range cols {
			colOff[j] = int32(p * packedLen)
			xb[j] = PixelValue(uint8(1 + r.IntN(255)))
		}
		if tri {
			for i, p := range rows {
				colOff[i] = int32(p * packedLen)
			}
			copy(xb, xa)
		}
		var a [packedLen]float64
		for i := range a {
			a[i] = r.Float64() - 0.5
		}
		got := make([]float64, accLen)
		want := make([]float64, accLen)
		withKernel(true, func() { outerRows(got, &a, rowOff, xa, colOff, xb, tri) })
		withKernel(false, func() { outerRows(want, &a, rowOff, xa, colOff, xb, tri) })
		for i := range got {
			if d := math.Abs(got[i] - want[i]); d > 4*0x1p-52*math.Abs(want[i]) {
				t.Fatalf("trial %d: asm acc[%d] = %v, go %v", trial, i, got[i], want[i])
			}
		}
	}
}

// TestNewIndexRefusesUnsortedPixels gives NewIndex a Dataset that breaks the increasing
// pixel order (one that skipped Validate): it must panic naming the problem, since the
// assembly kernel trusts the offsets it derives from the index.
func TestNewIndexRefusesUnsortedPixels(t *testing.T) {
	for _, pix := range [][]uint16{{30, 700, 31}, {5, 5}, {800}} {
		d := &Dataset{Labels: []uint8{3}, Start: []int64{0, int64(len(pix))}, Pixel: pix, Value: make([]uint8, len(pix))}
		v := panicValue(func() { NewIndex(d) })
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "hessian: ") || !strings.Contains(s, "not increasing") {
			t.Errorf("NewIndex(pixels %v): panic %v; want a \"hessian: ... not increasing ...\" message", pix, v)
		}
	}
}

// panicValue returns the value f panics with, or nil.
func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// BenchmarkOuterRows times the kernel on the accumulator of one pair of cells (L2
// resident) with na x nb pixel pairs per call, the shape of one image in the assembly,
// and reports pixel pairs per second and the multiply-add rate.
func BenchmarkOuterRows(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	acc := make([]float64, cellPixels*cellPixels*packedLen)
	var a [packedLen]float64
	for i := range a {
		a[i] = r.Float64()
	}
	for _, n := range []int{3, 6, 12} {
		// 64 calls with fresh pixels each, cycled.
		const calls = 64
		rowOff, colOff := make([][]int32, calls), make([][]int32, calls)
		xa := make([]float64, n)
		for i := range xa {
			xa[i] = r.Float64()
		}
		for c := range calls {
			rowOff[c], colOff[c] = make([]int32, n), make([]int32, n)
			for i, p := range r.Perm(cellPixels)[:n] {
				rowOff[c][i] = int32(p * cellPixels * packedLen)
			}
			for j, p := range r.Perm(cellPixels)[:n] {
				colOff[c][j] = int32(p * packedLen)
			}
		}
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("n=%d/%s", n, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				b.ReportAllocs()
				c := 0
				for b.Loop() {
					outerRows(acc, &a, rowOff[c], xa, colOff[c], xa, false)
					c = (c + 1) % calls
				}
				pairs := float64(n*n) * float64(b.N)
				b.ReportMetric(b.Elapsed().Seconds()/pairs*1e9, "ns/pair")
				b.ReportMetric(2*packedLen*pairs/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
