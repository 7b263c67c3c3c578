package hessian

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Eval is the objective F(W) = mean cross-entropy + P(W) at some weights.
type Eval struct {
	Objective float64 // CE + Penalty
	CE        float64 // mean cross-entropy over the training images
	Penalty   float64 // eps * sum_k ||L w_k||^2
	TrainAcc  float64 // fraction of training images classified correctly
}

// Timing is what computing a Newton direction cost.
type Timing struct {
	AssembleS  float64 // seconds assembling H + R
	FactorS    float64 // seconds of the Cholesky factorization
	TriSolveS  float64 // seconds of the two triangular solves
	SolveS     float64 // FactorS + TriSolveS
	PeerBytes  int64   // tile bytes the workers sent each other (zero in one process)
	PeerTiles  int     // tiles the workers sent each other
	WorkerBusy float64 // seconds the workers spent in tile tasks, summed (zero in one process)
}

// TrafficCounter is implemented by problems that move bytes over a network: the totals
// sent and received so far. Newton reports the difference over each step.
type TrafficCounter interface {
	Traffic() (sent, received int64)
}

// Problem is the regularized objective as Newton's method sees it. Local implements it in
// one process; the coordinator implements it on a cluster of workers.
type Problem interface {
	// Evaluate returns the objective at w and, when grad is not nil, writes its gradient
	// into grad.
	Evaluate(ctx context.Context, w, grad []float64) (Eval, error)
	// Direction writes into d the solution of (H(w) + R + damping I) d = -grad.
	Direction(ctx context.Context, w, grad, d []float64, damping float64) (Timing, error)
}

// StepRecord is one line of the training log: the state at the start of a step and what
// the step did. Its JSON keys are the CLI's --json output.
type StepRecord struct {
	Step          int     `json:"step"`
	Objective     float64 `json:"objective"`
	GradNorm      float64 `json:"grad_norm"`
	StepSize      float64 `json:"step_size"`
	TrainAcc      float64 `json:"train_acc"`
	TestAcc       float64 `json:"test_acc"`
	AssembleS     float64 `json:"assemble_s"`
	SolveS        float64 `json:"solve_s"`
	FactorS       float64 `json:"factor_s"`
	TriSolveS     float64 `json:"trisolve_s"`
	LineSearchS   float64 `json:"line_search_s"`
	StepS         float64 `json:"step_s"`
	Backtracks    int     `json:"backtracks"`
	Damping       float64 `json:"damping,omitempty"`
	NoiseLevel    bool    `json:"accepted_at_noise_level,omitempty"`
	Converged     bool    `json:"converged,omitempty"`
	BytesSent     int64   `json:"bytes_sent"`     // by the coordinator to the workers, whole step
	BytesReceived int64   `json:"bytes_received"` // by the coordinator from the workers
	PeerBytes     int64   `json:"peer_bytes"`     // tile bytes between workers (factorization)
	PeerTiles     int     `json:"peer_tiles"`     // tiles sent between workers
}

// NewtonOptions configure Newton. Zero values take the documented defaults.
type NewtonOptions struct {
	Tol           float64 // stop when ||grad F|| < Tol; 0 means 1e-9
	MaxSteps      int     // Newton steps at most (counted from step 0, not StartStep); 0 means 50
	Damping       float64 // tau >= 0 added to the diagonal, only when asked for; reported each step
	ArmijoC       float64 // sufficient-decrease constant of the line search; 0 means 1e-4
	MaxBacktracks int     // halvings of the step at most; 0 means 40
	StartStep     int     // number of the first step (when resuming)

	// TestAccuracy, if not nil, gives the test accuracy of weights for the log.
	TestAccuracy func(w []float64) float64
	// OnStep, if not nil, is called after every step with its record and the weights
	// after it (and once more with the converged record). An error stops training.
	OnStep func(rec StepRecord, w []float64) error
}

// NewtonResult is how training ended.
type NewtonResult struct {
	Steps     int     // Newton steps taken
	Converged bool    // the gradient norm fell below the tolerance
	Final     Eval    // the objective at the final weights
	GradNorm  float64 // its gradient norm
}

// Newton minimizes the problem from w (updated in place) by Newton's method with an
// Armijo backtracking line search (Nocedal & Wright 2006, Algorithm 3.1 with halving):
// each step solves (H + R + tau I) d = -g by Cholesky, then takes the largest t in
// 1, 1/2, 1/4, ... with F(w + t d) <= F(w) + c t g.d. Near the optimum the decrease
// falls below rounding: a full step whose change of F is within a few ulps of F is
// accepted and flagged. F is convex and, with the Laplacian penalty, strictly so, which
// gives global convergence and a quadratic rate near the optimum.
func Newton(ctx context.Context, p Problem, w []float64, opt NewtonOptions) (NewtonResult, error) {
	tol := cmp(opt.Tol, 1e-9)
	maxSteps := opt.MaxSteps
	if maxSteps == 0 {
		maxSteps = 50
	}
	c1 := cmp(opt.ArmijoC, 1e-4)
	maxBack := opt.MaxBacktracks
	if maxBack == 0 {
		maxBack = 40
	}
	if opt.Damping < 0 || math.IsNaN(opt.Damping) {
		return NewtonResult{}, fmt.Errorf("hessian: damping %v, want >= 0", opt.Damping)
	}
	g := make([]float64, Params)
	d := make([]float64, Params)
	trial := make([]float64, Params)
	var res NewtonResult
	traffic, _ := p.(TrafficCounter)
	for step := opt.StartStep; ; step++ {
		stepStart := time.Now()
		var sent0, recv0 int64
		if traffic != nil {
			sent0, recv0 = traffic.Traffic()
		}
		ev, err := p.Evaluate(ctx, w, g)
		if err != nil {
			return res, err
		}
		gn := norm(g)
		rec := StepRecord{Step: step, Objective: ev.Objective, GradNorm: gn, TrainAcc: ev.TrainAcc, Damping: opt.Damping}
		if opt.TestAccuracy != nil {
			rec.TestAcc = opt.TestAccuracy(w)
		}
		res.Final, res.GradNorm = ev, gn
		if math.IsNaN(ev.Objective) || math.IsNaN(gn) {
			return res, fmt.Errorf("hessian: step %d: objective %v, gradient norm %v", step, ev.Objective, gn)
		}
		if gn < tol || step >= maxSteps {
			res.Converged = gn < tol
			rec.Converged = res.Converged
			if opt.OnStep != nil {
				if err := opt.OnStep(rec, w); err != nil {
					return res, err
				}
			}
			return res, nil
		}
		tm, err := p.Direction(ctx, w, g, d, opt.Damping)
		if err != nil {
			return res, fmt.Errorf("step %d: %w", step, err)
		}
		rec.AssembleS, rec.SolveS, rec.FactorS, rec.TriSolveS = tm.AssembleS, tm.SolveS, tm.FactorS, tm.TriSolveS
		rec.PeerBytes, rec.PeerTiles = tm.PeerBytes, tm.PeerTiles
		slope := dot(g, d)
		if !(slope < 0) {
			return res, fmt.Errorf("hessian: step %d: Newton direction is not a descent direction (g.d = %g)", step, slope)
		}
		start := time.Now()
		t := 1.0
		for back := 0; ; back++ {
			for i := range trial {
				trial[i] = w[i] + t*d[i]
			}
			tev, err := p.Evaluate(ctx, trial, nil)
			if err != nil {
				return res, err
			}
			if tev.Objective <= ev.Objective+c1*t*slope {
				break
			}
			if back == 0 && math.Abs(tev.Objective-ev.Objective) <= 8*0x1p-52*math.Abs(ev.Objective) {
				rec.NoiseLevel = true
				break
			}
			if back == maxBack {
				return res, fmt.Errorf("hessian: step %d: line search found no decrease after %d halvings (F = %.17g, g.d = %g)", step, maxBack, ev.Objective, slope)
			}
			t /= 2
			rec.Backtracks++
		}
		rec.LineSearchS = time.Since(start).Seconds()
		rec.StepSize = t
		rec.StepS = time.Since(stepStart).Seconds()
		if traffic != nil {
			sent, recv := traffic.Traffic()
			rec.BytesSent, rec.BytesReceived = sent-sent0, recv-recv0
		}
		copy(w, trial)
		res.Steps++
		if opt.OnStep != nil {
			if err := opt.OnStep(rec, w); err != nil {
				return res, err
			}
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
}

func cmp(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }
