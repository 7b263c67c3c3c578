package fastblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tuning is a snapshot of the package's tuning variables.
type tuning struct {
	kc, mc, nc      int
	parMinWork      float64
	chunksPerWorker int
	smallWork       int
	syrkBase        int
	trsmBase        int
	trsmMinFree     int
	trsmChunk       int
}

func currentTuning() tuning {
	return tuning{kc, mc, nc, parMinWork, chunksPerWorker, smallWork, syrkBase, trsmBase, trsmMinFree, trsmChunk}
}

func (p tuning) set() {
	kc, mc, nc = p.kc, p.mc, p.nc
	parMinWork, chunksPerWorker = p.parMinWork, p.chunksPerWorker
	smallWork, syrkBase = p.smallWork, p.syrkBase
	trsmBase, trsmMinFree, trsmChunk = p.trsmBase, p.trsmMinFree, p.trsmChunk
}

// tinyTuning makes every blocking loop run several iterations, every problem
// go parallel and every recursion go deep on matrices of a few dozen rows.
var tinyTuning = tuning{
	kc: 7, mc: 13, nc: 19,
	parMinWork: 0, chunksPerWorker: 3,
	smallWork: 0, syrkBase: 5,
	trsmBase: 2, trsmMinFree: 1, trsmChunk: 3,
}

// forEachVariant runs f with every available micro-kernel (assembly, pure
// Go) and with the production and the tiny tuning.
func forEachVariant(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	savedAsm, savedTuning := useAsm, currentTuning()
	defer func() {
		useAsm = savedAsm
		savedTuning.set()
	}()
	kernels := []bool{false}
	if hasAVX2FMA {
		kernels = []bool{true, false}
	}
	for _, asm := range kernels {
		for _, tn := range []struct {
			name string
			p    tuning
		}{{"default", savedTuning}, {"tiny", tinyTuning}} {
			name := "go"
			if asm {
				name = "asm"
			}
			useAsm = asm
			tn.p.set()
			t.Run(name+"/"+tn.name, f)
		}
	}
}

func randSlice(rnd *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rnd.Float64() - 1
	}
	return s
}

// randGeneral returns an r×c matrix with stride ld whose padding holds
// pad (NaN to catch reads outside the matrix).
func randGeneral(rnd *rand.Rand, r, c, ld int, pad float64) []float64 {
	if r == 0 {
		return nil
	}
	s := make([]float64, (r-1)*ld+c)
	for i := range s {
		if i%ld < c {
			s[i] = 2*rnd.Float64() - 1
		} else {
			s[i] = pad
		}
	}
	return s
}

// randLd returns a leading dimension of at least max(1, c), sometimes with
// padding.
func randLd(rnd *rand.Rand, c int) int {
	ld := max(1, c)
	if rnd.IntN(3) > 0 {
		ld += 1 + rnd.IntN(9)
	}
	return ld
}

func maxAbs(s []float64) float64 {
	var m float64
	for _, v := range s {
		m = max(m, math.Abs(v))
	}
	return m
}

// checkClose compares the r×c matrices got and want (stride ld) normwise to
// relative tolerance tol, and requires everything outside the matrix to be
// bit-for-bit equal (it must not be touched).
func checkClose(got, want []float64, r, c, ld int, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	scale := 0.0
	for i, w := range want {
		if i%ld < c {
			if math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("reference not finite at %d", i)
			}
			scale = max(scale, math.Abs(w))
		}
	}
	scale = max(scale, 1e-300)
	for i := range got {
		g, w := got[i], want[i]
		if i%ld >= c {
			if math.Float64bits(g) != math.Float64bits(w) {
				return fmt.Errorf("element %d outside the matrix changed: %v, want %v", i, g, w)
			}
			continue
		}
		if d := math.Abs(g - w); !(d <= tol*scale) {
			return fmt.Errorf("element (%d,%d) = %v, want %v (|diff|/scale = %.3g)", i/ld, i%ld, g, w, d/scale)
		}
	}
	return nil
}

// panicMsg returns the value f panics with, or nil.
func panicMsg(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
