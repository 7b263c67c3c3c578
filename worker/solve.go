package worker

import (
	"context"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// readTiles returns the job of a read-only call on its tiles (TriangularStep, FetchTile)
// with the tiles' read lock held, after checking the step; the caller calls unlock. want,
// when not UNSPECIFIED, is the state the tiles must be in.
func (s *Server) readTiles(id string, step uint64, want pb.TileState) (j *job, unlock func(), err error) {
	j, err = s.job(id)
	if err != nil {
		return nil, nil, err
	}
	if !j.phase.TryRLock() {
		return nil, nil, failed("job %q: an Assemble or Factor is running", id)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkStepLocked(step); err != nil {
		j.phase.RUnlock()
		return nil, nil, err
	}
	if want != pb.TileState_TILE_STATE_UNSPECIFIED && j.state != want {
		j.phase.RUnlock()
		return nil, nil, failed("job %q: the tiles of step %d are %v, not %v (%s)", id, step, j.state, want, stateHint(want))
	}
	return j, j.phase.RUnlock, nil
}

// stateHint says which call brings the tiles to the state a call needs.
func stateHint(want pb.TileState) string {
	switch want {
	case stateFactored:
		return "Factor first"
	case stateAssembled:
		return "Assemble first"
	}
	return "Assemble again"
}

// TriangularStep runs one block step of the distributed triangular solves with the
// factor L: optionally the diagonal tile's system, then the products of this worker's
// tiles in the block's column (L y = b) or row (L^T x = y) with the solved block.
func (s *Server) TriangularStep(ctx context.Context, req *pb.TriangularStepRequest) (*pb.TriangularStepResponse, error) {
	j, unlock, err := s.readTiles(req.GetJobId(), req.GetStep(), stateFactored)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := j.spec.plan
	k := int(req.GetBlock())
	if k >= p.Tiles() {
		return nil, status.Errorf(codes.InvalidArgument, "worker: block: %d, want below %d tile rows", k, p.Tiles())
	}
	_, size := p.Span(k)
	v := req.GetVector()
	if len(v) != size {
		return nil, status.Errorf(codes.InvalidArgument, "worker: vector: %d values for block %d of %d rows", len(v), k, size)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, status.Errorf(codes.InvalidArgument, "worker: vector: value %d is %v", i, x)
		}
	}
	bi := blas64.Implementation()
	resp := &pb.TriangularStepResponse{JobId: j.spec.id, Step: req.GetStep()}
	x := v
	if req.GetSolve() {
		diag := j.byPos[clusterplan.Tile{I: k, J: k}]
		if diag == nil {
			return nil, status.Errorf(codes.InvalidArgument, "worker: solve: diagonal tile (%d,%d) belongs to rank %d, not %d",
				k, k, p.Owner(clusterplan.Tile{I: k, J: k}), j.spec.rank)
		}
		x = slices.Clone(v)
		tr := blas.NoTrans
		if req.GetTranspose() {
			tr = blas.Trans
		}
		bi.Dtrsv(blas.Lower, tr, blas.NonUnit, size, diag.data, diag.n, x, 1)
		resp.Solution = x
	}
	for _, t := range j.tiles {
		switch {
		case !req.GetTranspose() && t.t.J == k && t.t.I > k:
			// L_ik x, to be subtracted from block i of b.
			y := make([]float64, t.m)
			bi.Dgemv(blas.NoTrans, t.m, t.n, 1, t.data, t.n, x, 1, 0, y, 1)
			resp.Contributions = append(resp.Contributions, &pb.Contribution{Block: uint32(t.t.I), Values: y})
		case req.GetTranspose() && t.t.I == k && t.t.J < k:
			// L_kj^T x, to be subtracted from block j of y.
			y := make([]float64, t.n)
			bi.Dgemv(blas.Trans, t.m, t.n, 1, t.data, t.n, x, 1, 0, y, 1)
			resp.Contributions = append(resp.Contributions, &pb.Contribution{Block: uint32(t.t.J), Values: y})
		}
	}
	s.metrics.tasks.WithLabelValues("solve").Inc()
	return resp, nil
}

// HessianProduct returns the compensated product of the step's cross-entropy Hessian
// with a vector over a shard of the images, computed from the images (no tile is read).
func (s *Server) HessianProduct(ctx context.Context, req *pb.HessianProductRequest) (*pb.HessianProductResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	err = j.checkStepLocked(req.GetStep())
	curv := j.curv
	j.mu.Unlock()
	if err != nil {
		return nil, err
	}
	v := req.GetVector()
	if len(v) != hessian.Params {
		return nil, status.Errorf(codes.InvalidArgument, "worker: vector: %d values, want %d", len(v), hessian.Params)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, status.Errorf(codes.InvalidArgument, "worker: vector: value %d is %v", i, x)
		}
	}
	n := uint64(curv.Len())
	if req.GetBegin() > req.GetEnd() || req.GetEnd() > n {
		return nil, status.Errorf(codes.InvalidArgument, "worker: images [%d, %d) of a set of %d", req.GetBegin(), req.GetEnd(), n)
	}
	start := time.Now()
	acc := hessian.NewDotAccumulator(hessian.Params)
	curv.ProductSums(v, int(req.GetBegin()), int(req.GetEnd()), acc)
	s.metrics.task("product", time.Since(start).Seconds())
	return &pb.HessianProductResponse{JobId: j.spec.id, Step: req.GetStep(), Images: req.GetEnd() - req.GetBegin(), Sum: acc.Sum, Comp: acc.Comp}, nil
}

// FetchTile streams one of the worker's tiles as it is now.
func (s *Server) FetchTile(req *pb.FetchTileRequest, stream pb.Worker_FetchTileServer) error {
	j, unlock, err := s.readTiles(req.GetJobId(), req.GetStep(), pb.TileState_TILE_STATE_UNSPECIFIED)
	if err != nil {
		return err
	}
	defer unlock()
	p := j.spec.plan
	ct := clusterplan.Tile{I: int(req.GetRow()), J: int(req.GetCol())}
	if ct.I >= p.Tiles() || ct.J > ct.I {
		return status.Errorf(codes.InvalidArgument, "worker: tile %v: want row < %d and col <= row (lower tiles only)", ct, p.Tiles())
	}
	t := j.byPos[ct]
	if t == nil {
		return status.Errorf(codes.InvalidArgument, "worker: tile %v belongs to rank %d, not %d", ct, p.Owner(ct), j.spec.rank)
	}
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	ctx, cancel := j.context(stream.Context())
	defer cancel()
	hdr := &pb.TileHeader{Row: uint32(ct.I), Col: uint32(ct.J), Rows: uint32(t.m), Cols: uint32(t.n)}
	return clusterrpc.SendFloats(t.data, nil, func(chunk []byte) error {
		if err := ctx.Err(); err != nil {
			return clusterrpc.StatusOf(err)
		}
		msg := &pb.FetchTileResponse{Header: hdr, State: st, Chunk: chunk}
		hdr, st = nil, pb.TileState_TILE_STATE_UNSPECIFIED
		return stream.Send(msg)
	})
}
