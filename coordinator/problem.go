package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hessian-cluster/hess/hessian"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// Evaluate returns the objective at w and, when grad is not nil, writes its gradient
// into grad. Each worker sums over its contiguous shard of the images; the sums are
// added in rank order. A lost worker is replaced by a new generation on the survivors.
func (c *Cluster) Evaluate(ctx context.Context, w, grad []float64) (hessian.Eval, error) {
	if err := hessian.CheckWeights(w); err != nil {
		return hessian.Eval{}, err
	}
	if grad != nil && len(grad) != hessian.Params {
		return hessian.Eval{}, fmt.Errorf("coordinator: gradient of %d values, want %d", len(grad), hessian.Params)
	}
	start := time.Now()
	var sums hessian.Sums
	err := c.run(ctx, "evaluate", func(ctx context.Context) error {
		var err error
		sums, err = c.evaluate(ctx, w, grad != nil)
		return err
	})
	if err != nil {
		return hessian.Eval{}, err
	}
	c.metrics.phase("evaluate", start)
	return hessian.FinishEval(&sums, w, c.cfg.Eps, grad), nil
}

// evaluate sums loss, correct count and (withGrad) gradient over the shards, once.
func (c *Cluster) evaluate(ctx context.Context, w []float64, withGrad bool) (hessian.Sums, error) {
	c.hook("evaluate")
	parts := make([]*pb.EvaluateResponse, len(c.workers))
	err := c.each(ctx, func(ctx context.Context, r *remote) error {
		begin, end := c.shard(r.rank)
		ctx, cancel := context.WithTimeout(ctx, c.to.Evaluate)
		defer cancel()
		resp, err := r.client.Evaluate(ctx, &pb.EvaluateRequest{
			JobId: c.jobID, Step: c.step, Weights: w, Begin: uint64(begin), End: uint64(end), Gradient: withGrad,
		})
		if err != nil {
			return r.errorf("Evaluate", err)
		}
		if err := c.check(r, "Evaluate", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		if resp.GetImages() != uint64(end-begin) || (withGrad && len(resp.GetGradient()) != hessian.Params) {
			return r.errorf("Evaluate", fmt.Errorf("answer for %d images with %d gradient values, want %d and %d",
				resp.GetImages(), len(resp.GetGradient()), end-begin, hessian.Params))
		}
		parts[r.rank] = resp
		return nil
	})
	var sums hessian.Sums
	if err != nil {
		return sums, err
	}
	if withGrad {
		sums.Grad = make([]float64, hessian.Params)
	}
	for _, p := range parts {
		sums.Add(&hessian.Sums{N: int(p.GetImages()), Loss: p.GetLoss(), Correct: int(p.GetCorrect()), Grad: p.GetGradient()})
	}
	return sums, nil
}

// shard returns the images [begin, end) that worker rank evaluates.
func (c *Cluster) shard(rank int) (begin, end int) {
	p := len(c.workers)
	return rank * c.n / p, (rank + 1) * c.n / p
}

// Direction solves (H(w) + R + damping I) d = -grad on the workers: Assemble, Factor,
// then the two triangular solves. Workers that joined since the last step are taken in
// first; a lost worker restarts the direction on the survivors.
func (c *Cluster) Direction(ctx context.Context, w, grad, d []float64, damping float64) (hessian.Timing, error) {
	var tm hessian.Timing
	if len(grad) != hessian.Params || len(d) != hessian.Params {
		return tm, fmt.Errorf("coordinator: gradient and direction of %d and %d values, want %d", len(grad), len(d), hessian.Params)
	}
	if err := c.refresh(ctx); err != nil {
		return tm, err
	}
	err := c.run(ctx, "direction", func(ctx context.Context) error {
		tm = hessian.Timing{}
		start := time.Now()
		if err := c.Assemble(ctx, w, damping); err != nil {
			return err
		}
		tm.AssembleS = c.metrics.phase("assemble", start)
		start = time.Now()
		fs, err := c.Factor(ctx)
		if err != nil {
			return err
		}
		tm.FactorS = c.metrics.phase("factor", start)
		tm.PeerTiles, tm.PeerBytes, tm.WorkerBusy = fs.TilesSent, fs.BytesSent, fs.BusySeconds
		start = time.Now()
		for i, g := range grad {
			d[i] = -g
		}
		if err := c.Solve(ctx, d); err != nil {
			return err
		}
		tm.TriSolveS = c.metrics.phase("solve", start)
		return nil
	})
	if err != nil {
		return tm, err
	}
	tm.SolveS = tm.FactorS + tm.TriSolveS
	c.metrics.steps.Inc()
	return tm, nil
}

// Assemble starts a new step: every worker sets its tiles to the blocks of
// H(w) + R + damping I.
func (c *Cluster) Assemble(ctx context.Context, w []float64, damping float64) error {
	if err := hessian.CheckWeights(w); err != nil {
		return err
	}
	if !(damping >= 0) {
		return fmt.Errorf("coordinator: damping %v, want >= 0", damping)
	}
	c.step++
	c.damping = damping
	c.hook("assemble")
	done := c.progress("assemble")
	return c.each(ctx, func(ctx context.Context, r *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.Assemble)
		defer cancel()
		resp, err := r.client.Assemble(ctx, &pb.AssembleRequest{JobId: c.jobID, Step: c.step, Weights: w, Damping: damping})
		if err != nil {
			return r.errorf("Assemble", err)
		}
		if err := c.check(r, "Assemble", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		done()
		r.log.Debug("assembled", "step", c.step, "tiles", resp.GetTiles(), "bytes", resp.GetTileBytes(), "seconds", resp.GetSeconds())
		return nil
	})
}

// FactorStats sums what the workers report of a factorization.
type FactorStats struct {
	Tasks       int     // tile tasks run
	BusySeconds float64 // seconds in tile tasks, summed over workers and goroutines
	TilesSent   int     // tiles sent worker to worker
	BytesSent   int64   // their payload bytes
}

// Factor runs the tiled Cholesky factorization of the current step's matrix on all
// workers at once. A pivot that is not positive returns a *hessian.PivotError.
func (c *Cluster) Factor(ctx context.Context) (FactorStats, error) {
	resps := make([]*pb.FactorResponse, len(c.workers))
	c.hook("factor")
	done := c.progress("factor")
	err := c.each(ctx, func(ctx context.Context, r *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.Factor)
		defer cancel()
		resp, err := r.client.Factor(ctx, &pb.FactorRequest{JobId: c.jobID, Step: c.step})
		if err != nil {
			return r.errorf("Factor", err)
		}
		if err := c.check(r, "Factor", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		done()
		resps[r.rank] = resp
		r.log.Debug("factored", "step", c.step, "seconds", resp.GetSeconds(), "busy_seconds", resp.GetBusySeconds(),
			"tiles_sent", resp.GetTilesSent(), "tile_bytes_sent", resp.GetTileBytesSent())
		return nil
	})
	var fs FactorStats
	if err != nil {
		return fs, err
	}
	for _, r := range resps {
		fs.Tasks += int(r.GetTasks())
		fs.BusySeconds += r.GetBusySeconds()
		fs.TilesSent += int(r.GetTilesSent())
		fs.BytesSent += int64(r.GetTileBytesSent())
	}
	c.metrics.tileSent.Add(float64(fs.BytesSent))
	return fs, nil
}

// progress reports the start of a phase that runs on every worker and returns the
// function that counts one worker done.
func (c *Cluster) progress(phase string) func() {
	if c.cfg.Progress == nil {
		return func() {}
	}
	var mu sync.Mutex
	n := 0
	c.cfg.Progress(phase, 0, len(c.workers))
	return func() {
		mu.Lock()
		defer mu.Unlock()
		n++
		c.cfg.Progress(phase, n, len(c.workers))
	}
}
