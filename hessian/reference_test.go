package hessian

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// referenceDir is ../shared/reference beside the repository (MATH.md's independent
// LAPACK and autograd computations). HESS_REFERENCE overrides it.
func referenceDir() string {
	if d := os.Getenv("HESS_REFERENCE"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "reference")
}

// readReference decodes one JSON reference file; a missing file fails the test.
func readReference(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(referenceDir(), name))
	if err != nil {
		t.Fatalf("reference values (set HESS_REFERENCE to the folder): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// referenceRandomW is numpy RandomState(0).normal(0, 0.1, (784,10)) in flat order.
func referenceRandomW(t testing.TB) []float64 {
	var r struct{ W []float64 }
	readReference(t, "W_random_seed0.json", &r)
	if len(r.W) != Params {
		t.Fatalf("W_random_seed0.json: %d values", len(r.W))
	}
	return r.W
}

// referenceOptimum reads the optimum weights of the reference Newton run.
func referenceOptimum(t testing.TB) []float64 {
	b, err := os.ReadFile(filepath.Join(referenceDir(), "W_newton_eps1e-3.f64"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8*Params {
		t.Fatalf("W_newton_eps1e-3.f64: %d bytes", len(b))
	}
	w := make([]float64, Params)
	for i := range w {
		w[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return w
}

func TestReferenceHessianN5(t *testing.T) {
	t.Parallel()
	var ref struct {
		Frobenius float64 `json:"frobenius_norm"`
		Trace     float64
		SumAll    float64 `json:"sum_all"`
		MaxAbs    float64 `json:"max_abs"`
		NNZ       int
		Entries   []struct {
			I, J  int
			Value float64
		}
	}
	readReference(t, "hessian_n5.json", &ref)
	train, _ := loadMNIST(t)
	l, err := NewLocal(train.Slice(0, 5), 0)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Hessian(referenceRandomW(t), 0)
	MirrorLower(h, Params)
	var fro, trace, sum, maxAbs float64
	nnz := 0
	for i, v := range h {
		fro += v * v
		sum += v
		maxAbs = max(maxAbs, math.Abs(v))
		if v != 0 {
			nnz++
		}
		if i%(Params+1) == 0 {
			trace += v
		}
	}
	relClose(t, "Frobenius norm", math.Sqrt(fro), ref.Frobenius, 1e-12)
	relClose(t, "trace", trace, ref.Trace, 1e-12)
	relClose(t, "max |H|", maxAbs, ref.MaxAbs, 1e-12)
	// The sum is zero up to rounding (H (u kron 1) = 0): compare absolutely.
	if math.Abs(sum-ref.SumAll) > 1e-11 {
		t.Errorf("sum of entries = %g; want %g", sum, ref.SumAll)
	}
	if nnz != ref.NNZ {
		t.Errorf("non-zeros = %d; want %d", nnz, ref.NNZ)
	}
	for _, e := range ref.Entries {
		if got := h[e.I*Params+e.J]; math.Abs(got-e.Value) > 1e-12*math.Max(math.Abs(e.Value), 1e-3) {
			t.Errorf("H[%d,%d] = %.17g; want %.17g", e.I, e.J, got, e.Value)
		}
	}
}

func TestReferenceRegularizer(t *testing.T) {
	t.Parallel()
	var ref struct {
		LNNZ     int     `json:"L_nnz"`
		MaxR     float64 `json:"maxabs_R"`
		LtLTrace float64 `json:"LtL_trace"`
		LtLFro   float64 `json:"LtL_frobenius"`
		LtLNNZ   int     `json:"LtL_nnz"`
		Penalty  float64 `json:"reg_value_at_W_random_seed0"`
		Eps      float64 `json:"eps_checked"`
	}
	readReference(t, "regularizer.json", &ref)
	l := Laplacian()
	nnz := 0
	for i := range Pixels {
		for j := range Pixels {
			if l.At(i, j) != l.At(j, i) {
				t.Fatalf("L[%d,%d] != L[%d,%d]", i, j, j, i)
			}
			if l.At(i, j) != 0 {
				nnz++
			}
		}
	}
	if nnz != ref.LNNZ {
		t.Errorf("L has %d non-zeros; want %d", nnz, ref.LNNZ)
	}
	var trace, fro float64
	ltlNNZ := 0
	for j, row := range ltlRows() {
		ltlNNZ += len(row)
		for _, e := range row {
			fro += e.v * e.v
			if int(e.col) == j {
				trace += e.v
			}
		}
	}
	if ltlNNZ != ref.LtLNNZ {
		t.Errorf("L^T L has %d non-zeros; want %d", ltlNNZ, ref.LtLNNZ)
	}
	relClose(t, "trace L^T L", trace, ref.LtLTrace, 1e-14)
	relClose(t, "||L^T L||_F", math.Sqrt(fro), ref.LtLFro, 1e-14)
	// R's largest entry, over the whole matrix.
	r := make([]float64, Params*Params)
	AddRegularizerBlock(r, Params, 0, Params, 0, Params, ref.Eps)
	var maxR float64
	for _, v := range r {
		maxR = max(maxR, math.Abs(v))
	}
	relClose(t, "max |R|", maxR, ref.MaxR, 1e-14)
	// The reference gives sum_k ||L w_k||^2 itself, the penalty at eps = 1.
	relClose(t, "sum_k ||L w_k||^2 at W_random", Penalty(referenceRandomW(t), 1, nil), ref.Penalty, 1e-12)
}

// TestReferenceOptimum evaluates the objective at the reference optimum: the value, the
// accuracies, and a gradient that vanishes.
func TestReferenceOptimum(t *testing.T) {
	t.Parallel()
	var ref struct {
		Final struct {
			Objective, CE, Reg float64
			TrainAcc           float64 `json:"train_acc"`
			TestAcc            float64 `json:"test_acc"`
		}
	}
	readReference(t, "newton_eps1e-3.json", &ref)
	train, test := loadMNIST(t)
	l, err := NewLocal(train, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	w := referenceOptimum(t)
	g := make([]float64, Params)
	ev, err := l.Evaluate(context.Background(), w, g)
	if err != nil {
		t.Fatal(err)
	}
	relClose(t, "objective at the optimum", ev.Objective, ref.Final.Objective, 1e-13)
	relClose(t, "cross-entropy at the optimum", ev.CE, ref.Final.CE, 1e-13)
	relClose(t, "train accuracy", ev.TrainAcc, ref.Final.TrainAcc, 1e-15)
	relClose(t, "test accuracy", Accuracy(w, test), ref.Final.TestAcc, 1e-15)
	// The reference's final gradient norm is 4.7e-16; ours differs only by rounding.
	if gn := norm(g); gn > 1e-12 {
		t.Errorf("gradient norm at the optimum = %g; want < 1e-12", gn)
	}
}

// TestReferenceNewtonRun trains on all 60000 images from W = 0 with eps = 0.001 and checks
// every step against the reference run (full steps only, so a correct Newton method
// follows it): objective to 1e-9 relative, the step count, the optimum and its accuracy.
func TestReferenceNewtonRun(t *testing.T) {
	if testing.Short() {
		t.Skip("full-data Newton training takes minutes; run without -short")
	}
	var ref struct {
		Steps []struct {
			Step      int
			Objective float64
			GradNorm  float64 `json:"grad_norm"`
			TestAcc   float64 `json:"test_acc"`
		}
		NSteps int `json:"n_newton_steps"`
	}
	readReference(t, "newton_eps1e-3.json", &ref)
	train, test := loadMNIST(t)
	l, err := NewLocal(train, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	var recs []StepRecord
	w := make([]float64, Params)
	res, err := Newton(t.Context(), l, w, NewtonOptions{
		Tol:          1e-9,
		MaxSteps:     12,
		TestAccuracy: func(w []float64) float64 { return Accuracy(w, test) },
		OnStep: func(r StepRecord, _ []float64) error {
			t.Logf("step %d: F = %.17g |g| = %.3g t = %g test %.4f (assemble %.1fs, solve %.1fs)", r.Step, r.Objective, r.GradNorm, r.StepSize, r.TestAcc, r.AssembleS, r.SolveS)
			recs = append(recs, r)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || res.Steps != ref.NSteps {
		t.Errorf("converged = %v after %d steps; want true after %d", res.Converged, res.Steps, ref.NSteps)
	}
	for i, r := range recs {
		if i >= len(ref.Steps) {
			break
		}
		want := ref.Steps[i]
		relClose(t, "objective at step "+itoa(i), r.Objective, want.Objective, 1e-9)
		if r.StepSize != 1 && !r.Converged {
			t.Errorf("step %d: step size %g; the reference takes full steps", i, r.StepSize)
		}
		if want.GradNorm > 1e-6 {
			relClose(t, "gradient norm at step "+itoa(i), r.GradNorm, want.GradNorm, 1e-6)
		}
	}
	// Quadratic convergence: in the last steps |g_{k+1}| / |g_k|^2 stays bounded (the
	// reference run's ratios are 80 to 90).
	for i := len(recs) - 3; i < len(recs)-1 && i > 0; i++ {
		if q := recs[i+1].GradNorm / (recs[i].GradNorm * recs[i].GradNorm); q > 1e3 {
			t.Errorf("step %d: |g_{k+1}|/|g_k|^2 = %.3g; Newton's quadratic rate gives about 1e2", i+1, q)
		}
	}
	relClose(t, "final objective", res.Final.Objective, 0.366332031336147, 1e-12)
	relClose(t, "final test accuracy", Accuracy(w, test), 0.9141, 1e-15)
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }
