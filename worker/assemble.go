package worker

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// failed returns a FAILED_PRECONDITION status error.
func failed(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, "worker: "+format, args...)
}

// checkWeights returns INVALID_ARGUMENT naming the field when w is not a weight vector.
func checkWeights(w []float64) error {
	if err := hessian.CheckWeights(w); err != nil {
		return status.Errorf(codes.InvalidArgument, "worker: weights: %v", err)
	}
	return nil
}

// Evaluate sums the loss, the correct count and, if asked, the gradient over the shard.
func (s *Server) Evaluate(ctx context.Context, req *pb.EvaluateRequest) (*pb.EvaluateResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	e, err := j.dataset()
	if err != nil {
		return nil, err
	}
	if err := checkWeights(req.GetWeights()); err != nil {
		return nil, err
	}
	n := uint64(e.d.Len())
	if req.GetBegin() > req.GetEnd() || req.GetEnd() > n {
		return nil, status.Errorf(codes.InvalidArgument, "worker: images [%d, %d) of a set of %d", req.GetBegin(), req.GetEnd(), n)
	}
	start := time.Now()
	sums := hessian.LossSums(req.GetWeights(), e.d.Slice(int(req.GetBegin()), int(req.GetEnd())), req.GetGradient())
	s.metrics.task("evaluate", time.Since(start).Seconds())
	return &pb.EvaluateResponse{
		JobId: j.spec.id, Step: req.GetStep(),
		Images: uint64(sums.N), Loss: sums.Loss, Correct: uint64(sums.Correct), Gradient: sums.Grad,
	}, nil
}

// Assemble sets the worker's tiles to the blocks of H(w) + R + damping I.
func (s *Server) Assemble(ctx context.Context, req *pb.AssembleRequest) (*pb.AssembleResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	e, err := j.dataset()
	if err != nil {
		return nil, err
	}
	if err := checkWeights(req.GetWeights()); err != nil {
		return nil, err
	}
	damping := req.GetDamping()
	if !(damping >= 0) || math.IsInf(damping, 0) {
		return nil, status.Errorf(codes.InvalidArgument, "worker: damping %v, want finite and >= 0", damping)
	}
	ctx, cancel := j.context(ctx)
	defer cancel()
	if err := j.lockForStep(ctx); err != nil {
		return nil, err
	}
	defer j.phase.Unlock()

	j.mu.Lock()
	if req.GetStep() < j.step {
		j.mu.Unlock()
		return nil, failed("job %q: Assemble of step %d after step %d", j.spec.id, req.GetStep(), j.step)
	}
	j.step = req.GetStep()
	j.state = pb.TileState_TILE_STATE_UNSPECIFIED // until the assembly completes
	j.fact, j.curv = nil, nil
	if j.tiles == nil {
		j.allocTilesLocked()
	}
	tiles := j.tiles
	j.mu.Unlock()

	start := time.Now()
	curv := hessian.NewCurvature(e.idx(), req.GetWeights())
	scale := 1 / float64(e.d.Len())
	err = parallel(ctx, s.cfg.Parallelism, len(tiles), func(i int) {
		t := tiles[i]
		t0 := time.Now()
		clear(t.data)
		curv.AddBlock(t.data, t.n, t.r0, t.m, t.c0, t.n, scale)
		hessian.AddRegularizerBlock(t.data, t.n, t.r0, t.m, t.c0, t.n, j.spec.eps)
		if t.r0 == t.c0 {
			for d := range t.m {
				t.data[d*t.n+d] += damping
			}
		}
		s.metrics.task("assemble", time.Since(t0).Seconds())
	})
	if err != nil {
		return nil, clusterrpc.StatusOf(fmt.Errorf("worker: assembly of step %d: %w", req.GetStep(), err))
	}
	var bytes uint64
	for _, t := range tiles {
		bytes += 8 * uint64(len(t.data))
	}
	j.mu.Lock()
	j.state = stateAssembled
	j.curv = curv
	j.fact = newFactorization(j, req.GetStep())
	j.mu.Unlock()
	secs := time.Since(start).Seconds()
	j.log.Debug("assembled", "step", req.GetStep(), "tiles", len(tiles), "bytes", bytes, "seconds", secs)
	return &pb.AssembleResponse{JobId: j.spec.id, Step: req.GetStep(), Tiles: uint32(len(tiles)), TileBytes: bytes, Seconds: secs}, nil
}

// allocTilesLocked allocates the worker's own tiles. The caller holds j.mu.
func (j *job) allocTilesLocked() {
	p := j.spec.plan
	owned := p.Owned(j.spec.rank)
	j.tiles = make([]*tile, len(owned))
	j.byPos = make(map[clusterplan.Tile]*tile, len(owned))
	var bytes int
	for i, ct := range owned {
		r0, m := p.Span(ct.I)
		c0, n := p.Span(ct.J)
		t := &tile{t: ct, r0: r0, m: m, c0: c0, n: n, data: make([]float64, m*n)}
		j.tiles[i] = t
		j.byPos[ct] = t
		bytes += 8 * m * n
	}
	j.s.metrics.tilesHeld.Add(float64(len(owned)))
	j.s.metrics.tileBytes.Add(float64(bytes))
}

// parallel runs f(0..n-1) on up to par goroutines, checking ctx between items, and
// returns ctx's error if it was done before all items ran.
func parallel(ctx context.Context, par, n int, f func(i int)) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // protects next
		next int
	)
	for range min(par, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if next < n {
		return ctx.Err()
	}
	return nil
}
