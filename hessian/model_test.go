package hessian

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// objective returns F(w) = mean CE + P(w) and its gradient, for finite differences.
func objective(d *Dataset, eps float64) (f func([]float64) float64, grad func([]float64, []float64)) {
	f = func(w []float64) float64 {
		s := LossSums(w, d, false)
		return FinishEval(&s, w, eps, nil).Objective
	}
	grad = func(g, w []float64) {
		s := LossSums(w, d, true)
		FinishEval(&s, w, eps, g)
	}
	return f, grad
}

func TestGradientFiniteDifferences(t *testing.T) {
	t.Parallel()
	d := randomDataset(4, 0.2, 21)
	for _, eps := range []float64{0, 0.001, 0.5} {
		w := randomWeights(0.3, 5)
		f, grad := objective(d, eps)
		g := make([]float64, Params)
		grad(g, w)
		want := fd.Gradient(nil, f, w, &fd.Settings{Formula: fd.Central, Step: 1e-5})
		diff, scale := maxAbsDiff(g, want)
		if diff > 1e-8*max(scale, 1) {
			t.Errorf("eps %g: max |grad - fd| = %.3g (max |grad| %.3g)", eps, diff, scale)
		}
	}
}

// TestHessianFiniteDifferences checks columns of H + R against central differences of
// the analytic gradient.
func TestHessianFiniteDifferences(t *testing.T) {
	t.Parallel()
	d := randomDataset(3, 0.3, 22)
	const eps = 0.01
	w := randomWeights(0.3, 6)
	l, err := NewLocal(d, eps)
	if err != nil {
		t.Fatal(err)
	}
	h := append([]float64(nil), l.Hessian(w, 0)...)
	MirrorLower(h, Params)
	_, grad := objective(d, eps)
	gp, gm := make([]float64, Params), make([]float64, Params)
	wp := append([]float64(nil), w...)
	const step = 1e-5
	pix, _ := d.Image(0)
	// Columns of lit pixels (where the cross-entropy part lives) and of an unlit one (R only).
	cols := []int{Classes*int(pix[0]) + 3, Classes*int(pix[len(pix)/2]) + 9, 0}
	for _, c := range cols {
		wp[c] = w[c] + step
		grad(gp, wp)
		wp[c] = w[c] - step
		grad(gm, wp)
		wp[c] = w[c]
		var diff, scale float64
		for i := range Params {
			fdv := (gp[i] - gm[i]) / (2 * step)
			diff = max(diff, math.Abs(h[i*Params+c]-fdv))
			scale = max(scale, math.Abs(fdv))
		}
		if diff > 1e-7*max(scale, 1e-3) {
			t.Errorf("column %d: max |H - fd| = %.3g (scale %.3g)", c, diff, scale)
		}
	}
}

// TestHessianFacts checks MATH.md's facts: symmetry, H (u kron 1) = 0, and at W = 0
// H = (X^T X / n) kron (I - 11^T/10)/10 exactly.
func TestHessianFacts(t *testing.T) {
	t.Parallel()
	d := randomDataset(5, 0.2, 23)
	w := randomWeights(0.5, 7)
	l, err := NewLocal(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := append([]float64(nil), l.Hessian(w, 0)...)
	MirrorLower(h, Params)
	// H (u kron 1) = 0 for a random u: each row's sum over the 10 classes of a pixel is 0.
	u := randomWeights(1, 8)[:Pixels]
	var maxRes, maxH float64
	for i := range Params {
		var s float64
		for j := range Pixels {
			for k := range Classes {
				s += h[i*Params+Classes*j+k] * u[j]
			}
		}
		maxRes = max(maxRes, math.Abs(s))
	}
	for _, v := range h {
		maxH = max(maxH, math.Abs(v))
	}
	if maxRes > 1e-14*maxH*Pixels {
		t.Errorf("max |H (u kron 1)| = %.3g; want 0 (max |H| %.3g)", maxRes, maxH)
	}
	// At W = 0: the Kronecker formula.
	h0 := l.Hessian(make([]float64, Params), 0)
	n := float64(d.Len())
	xs := make([][]float64, d.Len())
	for s := range xs {
		xs[s] = d.Dense(s)
	}
	var diff float64
	for j := 0; j < Pixels; j += 7 {
		for j2 := 0; j2 <= j; j2++ {
			var g float64
			for s := range xs {
				g += xs[s][j] * xs[s][j2]
			}
			for k := range Classes {
				for k2 := range Classes {
					a := -0.01
					if k == k2 {
						a += 0.1
					}
					r, c := Classes*j+k, Classes*j2+k2
					if c > r {
						continue
					}
					diff = max(diff, math.Abs(h0[r*Params+c]-g/n*a))
				}
			}
		}
	}
	if diff > 1e-15 {
		t.Errorf("at W = 0: max |H - (X^T X/n) kron A| = %.3g", diff)
	}
}

func TestLossStableForLargeLogits(t *testing.T) {
	t.Parallel()
	// One image with a single pixel of value 1 at pixel 0 and weights giving logits of
	// +-1e4: the loss is exactly logsumexp - z_y.
	b := NewBuilder(2)
	raw := make([]uint8, Pixels)
	raw[0] = 255
	b.AddDense(3, raw)
	b.AddDense(4, raw)
	d := b.Dataset()
	w := make([]float64, Params)
	w[3], w[4] = 1e4, -1e4
	s := LossSums(w, d, true)
	// Image 0 (label 3): loss = 0 up to exp(-1e4); image 1 (label 4): loss = 2e4.
	if s.Loss != 2e4 {
		t.Errorf("summed loss = %.17g; want 20000", s.Loss)
	}
	for i, g := range s.Grad {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			t.Fatalf("gradient %d = %v", i, g)
		}
	}
	p := Probabilities(w, d)
	if p[3] != 1 || p[Classes+3] != 1 {
		t.Errorf("probabilities %v; want class 3 certain", p[:Classes])
	}
}

func TestPenaltyMatchesLaplacianMatrix(t *testing.T) {
	t.Parallel()
	w := randomWeights(0.2, 9)
	l := Laplacian()
	var want float64
	for k := range Classes {
		for r := range Pixels {
			var s float64
			for c := range Pixels {
				s += l.At(r, c) * w[Classes*c+k]
			}
			want += s * s
		}
	}
	relClose(t, "P(w) at eps 1", Penalty(w, 1, nil), want, 1e-13)
	// L is zero-padded: a pixel in the corner sees only 3 neighbours.
	if l.At(0, 0) != -6 || l.At(0, 1) != 1 || l.At(0, 29) != 0.5 || l.At(0, 28) != 1 {
		t.Errorf("corner row of L: %v %v %v %v", l.At(0, 0), l.At(0, 1), l.At(0, 28), l.At(0, 29))
	}
}

// TestSingularWithoutPenalty: with eps = 0 the cross-entropy Hessian is singular and
// the factorization says where and what fixes it; explicit damping makes it work.
func TestSingularWithoutPenalty(t *testing.T) {
	train, _ := loadMNIST(t)
	l, err := NewLocal(train.Slice(0, 50), 0)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float64, Params)
	g := make([]float64, Params)
	d := make([]float64, Params)
	ctx := context.Background()
	if _, err := l.Evaluate(ctx, w, g); err != nil {
		t.Fatal(err)
	}
	_, err = l.Direction(ctx, w, g, d, 0)
	var pe *PivotError
	if !errors.As(err, &pe) || !errors.Is(err, ErrNotPositiveDefinite) {
		t.Fatalf("err = %v; want a PivotError", err)
	}
	// Pixel 0 (the top-left corner) is dark in every MNIST image: its row is zero.
	if pe.Column != 0 || pe.Pivot != 0 {
		t.Errorf("failed at column %d with pivot %g; want column 0, pivot 0", pe.Column, pe.Pivot)
	}
	for _, want := range []string{"column 0", "pixel 0", "--eps", "--damping"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := l.Direction(ctx, w, g, d, 1e-3); err != nil {
		t.Errorf("with damping: %v", err)
	}
}
