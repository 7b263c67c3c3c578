package hessian

import (
	"context"
	"fmt"
	"time"
)

// Local is the single-process reference implementation of Problem: the objective over a
// training set, the dense Hessian assembled in one Params x Params buffer (491.7 MB, kept
// between steps) and factored in place.
type Local struct {
	train *Dataset
	idx   *Index
	eps   float64
	h     []float64  // lower triangle of H + R (+ damping), then its Cholesky factor
	curv  *Curvature // of the last Hessian, for the residuals of refinement

	// Progress, when not nil, hears how far assembly and factorization have come.
	Progress ProgressFunc
}

// NewLocal returns the objective over the training images with penalty weight eps >= 0.
func NewLocal(train *Dataset, eps float64) (*Local, error) {
	if train.Len() == 0 {
		return nil, fmt.Errorf("hessian: no training images")
	}
	if !(eps >= 0) {
		return nil, fmt.Errorf("hessian: eps = %v, want >= 0", eps)
	}
	return &Local{train: train, idx: NewIndex(train), eps: eps}, nil
}

// Evaluate returns the objective at w and writes its gradient into grad when not nil.
func (l *Local) Evaluate(ctx context.Context, w, grad []float64) (Eval, error) {
	if err := ctx.Err(); err != nil {
		return Eval{}, err
	}
	if err := CheckWeights(w); err != nil {
		return Eval{}, err
	}
	s := LossSums(w, l.train, grad != nil)
	return finishEval(&s, w, l.eps, grad), nil
}

// finishEval turns summed losses into the objective and writes the mean gradient plus
// the penalty's gradient into grad when not nil.
func finishEval(s *Sums, w []float64, eps float64, grad []float64) Eval {
	n := float64(s.N)
	ev := Eval{CE: s.Loss / n, TrainAcc: float64(s.Correct) / n}
	if grad != nil {
		for i, g := range s.Grad {
			grad[i] = g / n
		}
	}
	ev.Penalty = Penalty(w, eps, grad)
	ev.Objective = ev.CE + ev.Penalty
	return ev
}

// FinishEval turns summed losses (from shards) into the objective at w and writes its
// gradient into grad when not nil.
func FinishEval(s *Sums, w []float64, eps float64, grad []float64) Eval {
	return finishEval(s, w, eps, grad)
}

// Hessian returns the lower triangle of H + R + damping I at w in the Local's buffer
// (row-major Params x Params; valid until the next call).
func (l *Local) Hessian(w []float64, damping float64) []float64 {
	if l.h == nil {
		l.h = make([]float64, Params*Params)
	}
	l.curv = NewCurvature(l.idx, w)
	AssembleLower(l.h, l.curv, l.eps, damping, l.Progress)
	return l.h
}

// Direction solves (H + R + damping I) d = -grad by Cholesky, with one step of
// iterative refinement whose residual is computed from the images (refine.go).
func (l *Local) Direction(ctx context.Context, w, grad, d []float64, damping float64) (Timing, error) {
	var tm Timing
	if err := ctx.Err(); err != nil {
		return tm, err
	}
	start := time.Now()
	h := l.Hessian(w, damping)
	tm.AssembleS = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return tm, err
	}
	start = time.Now()
	if err := choleskyLower(h, Params, Params, l.Progress); err != nil {
		return tm, err
	}
	tm.FactorS = time.Since(start).Seconds()
	start = time.Now()
	b := make([]float64, Params)
	for i, g := range grad {
		b[i] = -g
	}
	n := l.curv.Len()
	solveRefined(h, Params, Params, func(v []float64) DotAccumulator {
		acc := NewDotAccumulator(Params)
		l.curv.ProductSums(v, 0, n, acc)
		return ScaleProductSums(acc, n, v, l.eps, damping)
	}, b, d)
	tm.TriSolveS = time.Since(start).Seconds()
	tm.SolveS = tm.FactorS + tm.TriSolveS
	return tm, nil
}
