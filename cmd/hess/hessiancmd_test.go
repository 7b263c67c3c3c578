package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
)

// TestHessianCommandReference writes the Hessian of the first 5 images at the reference
// random weights as .npy and checks it against the independent entries of
// hessian_n5.json, read back through the .npy reader.
func TestHessianCommandReference(t *testing.T) {
	var ref struct {
		Trace   float64
		Entries []struct {
			I, J  int
			Value float64
		}
	}
	rankTestReference(t, "hessian_n5.json", &ref)
	out := filepath.Join(t.TempDir(), "H.npy")
	w := filepath.Join(rankTestReferenceDir(), "W_random_seed0.json")
	if _, _, err := runHess(t, "hessian", "--batch", "5", "--weights", w, "--out", out); err != nil {
		t.Fatal(err)
	}
	rows, cols, h, err := hessian.ReadMatrixNPY(out)
	if err != nil || rows != hessian.Params || cols != hessian.Params {
		t.Fatalf("ReadMatrixNPY(%s) = %d x %d, %v", out, rows, cols, err)
	}
	var trace float64
	for i := range rows {
		trace += h[i*cols+i]
		for j := range i {
			if h[i*cols+j] != h[j*cols+i] {
				t.Fatalf("H[%d,%d] = %g, H[%d,%d] = %g: not symmetric", i, j, h[i*cols+j], j, i, h[j*cols+i])
			}
		}
	}
	if math.Abs(trace-ref.Trace) > 1e-12*math.Abs(ref.Trace) {
		t.Errorf("trace %.17g; want %.17g", trace, ref.Trace)
	}
	for _, e := range ref.Entries {
		if got := h[e.I*cols+e.J]; math.Abs(got-e.Value) > 1e-12*math.Max(math.Abs(e.Value), 1e-3) {
			t.Errorf("H[%d,%d] = %.17g; want %.17g", e.I, e.J, got, e.Value)
		}
	}
}

// TestEvalCommand evaluates weights written as .npy and prints the accuracies that the
// model code computes for them; a missing file is an error that names it.
func TestEvalCommand(t *testing.T) {
	w, _, err := loadWeights("normal:0")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.npy")
	if err := hessian.WriteWeights(path, w); err != nil {
		t.Fatal(err)
	}
	out, _, err := runHess(t, "eval", "--weights", path)
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := hessian.LoadMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("train  60000 images: accuracy %.4f", hessian.Accuracy(w, train)),
		fmt.Sprintf("test   10000 images: accuracy %.4f", hessian.Accuracy(w, test)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("eval printed %q; want a line %q", out, want)
		}
	}
	// The other --weights forms: the same numbers without a file.
	spec, _, err := runHess(t, "eval", "--weights", "normal:0")
	if err != nil || spec != out {
		t.Errorf("eval --weights normal:0 printed %q (%v); want what the .npy of the same weights gives, %q", spec, err, out)
	}
	if _, _, err := runHess(t, "eval", "--weights", filepath.Join(t.TempDir(), "missing.npy")); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("eval of a missing file: %v; want an error naming it", err)
	}
}
