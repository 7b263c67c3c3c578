package coordinator

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// Solve overwrites b with A^{-1} b, where A = L L^T is the current step's matrix as
// factored by Factor, refined once with a residual computed to twice the working
// precision from the images (HessianProduct; see hessian/refine.go), so that the result
// agrees with the single-process solver to rounding whatever the layout.
func (c *Cluster) Solve(ctx context.Context, b []float64) error {
	if len(b) != c.plan.N {
		return fmt.Errorf("coordinator: right-hand side of %d values, want %d", len(b), c.plan.N)
	}
	c.hook("solve")
	rhs := slices.Clone(b)
	if err := c.solveOnce(ctx, b); err != nil {
		return err
	}
	r, err := c.residual(ctx, b, rhs)
	if err != nil {
		return err
	}
	if err := c.solveOnce(ctx, r); err != nil {
		return err
	}
	for i, d := range r {
		b[i] += d
	}
	return nil
}

// solveOnce overwrites b with A^{-1} b by the forward substitution L y = b, then the
// backward one L^T x = y, block by block. For block k the owner of tile (k, k) solves
// its diagonal system and returns the products of its own tiles in column k (row k,
// backward) with the solution; the other owners of tiles there are then asked for
// theirs. Contributions are subtracted in rank order, so the result does not depend on
// the order of the answers.
func (c *Cluster) solveOnce(ctx context.Context, b []float64) error {
	nt := c.plan.Tiles()
	for k := range nt {
		if err := c.solveBlock(ctx, b, k, false); err != nil {
			return err
		}
	}
	for k := nt - 1; k >= 0; k-- {
		if err := c.solveBlock(ctx, b, k, true); err != nil {
			return err
		}
	}
	return nil
}

// residual returns b - A x for the step's matrix A = H + R + damping I, to twice the
// working precision before the final rounding: every worker multiplies H by x over its
// shard of the images, and the compensated partial sums are added in rank order.
func (c *Cluster) residual(ctx context.Context, x, b []float64) ([]float64, error) {
	parts := make([]*pb.HessianProductResponse, len(c.workers))
	err := c.each(ctx, func(ctx context.Context, w *remote) error {
		begin, end := c.shard(w.rank)
		ctx, cancel := context.WithTimeout(ctx, c.to.Evaluate)
		defer cancel()
		resp, err := w.client.HessianProduct(ctx, &pb.HessianProductRequest{JobId: c.jobID, Step: c.step, Vector: x, Begin: uint64(begin), End: uint64(end)})
		if err != nil {
			return w.errorf("HessianProduct", err)
		}
		if err := c.check(w, "HessianProduct", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		if resp.GetImages() != uint64(end-begin) || len(resp.GetSum()) != c.plan.N || len(resp.GetComp()) != c.plan.N {
			return w.errorf("HessianProduct", fmt.Errorf("answer for %d images with %d and %d values, want %d and %d",
				resp.GetImages(), len(resp.GetSum()), len(resp.GetComp()), end-begin, c.plan.N))
		}
		parts[w.rank] = resp
		return nil
	})
	if err != nil {
		return nil, err
	}
	total := hessian.NewDotAccumulator(c.plan.N)
	for _, p := range parts {
		total.AddAt(0, hessian.DotAccumulator{Sum: p.GetSum(), Comp: p.GetComp()})
	}
	r := make([]float64, c.plan.N)
	hessian.ScaleProductSums(total, c.n, x, c.cfg.Eps, c.damping).ResidualTo(r, b)
	for i, v := range r {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("coordinator: residual %d is %v", i, v)
		}
	}
	return r, nil
}

// solveBlock runs block step k of the forward (transpose false) or backward solve on b.
func (c *Cluster) solveBlock(ctx context.Context, b []float64, k int, transpose bool) error {
	p := c.plan
	r0, size := p.Span(k)
	diag := c.workers[p.Owner(clusterplan.Tile{I: k, J: k})]
	resp, err := c.triangularStep(ctx, diag, k, transpose, true, b[r0:r0+size])
	if err != nil {
		return err
	}
	x := resp.GetSolution()
	if len(x) != size {
		return diag.errorf("TriangularStep", fmt.Errorf("solution of %d values for block %d of %d", len(x), k, size))
	}
	copy(b[r0:], x)
	answers := make([]*pb.TriangularStepResponse, len(c.workers))
	answers[diag.rank] = resp
	var others []*remote
	for _, r := range c.sharers(k, transpose) {
		if r != diag.rank {
			others = append(others, c.workers[r])
		}
	}
	err = c.some(ctx, others, func(ctx context.Context, w *remote) error {
		resp, err := c.triangularStep(ctx, w, k, transpose, false, x)
		answers[w.rank] = resp
		return err
	})
	if err != nil {
		return err
	}
	for rank, a := range answers {
		if a == nil {
			continue
		}
		for _, ct := range a.GetContributions() {
			if err := c.subtract(b, k, transpose, ct); err != nil {
				return c.workers[rank].errorf("TriangularStep", err)
			}
		}
	}
	return nil
}

// subtract subtracts a contribution to block ct.Block from b after checking that it
// names a block that block k's step may touch and has its size.
func (c *Cluster) subtract(b []float64, k int, transpose bool, ct *pb.Contribution) error {
	i := int(ct.GetBlock())
	if (!transpose && (i <= k || i >= c.plan.Tiles())) || (transpose && i >= k) {
		return fmt.Errorf("contribution to block %d in step %d (transpose %v)", i, k, transpose)
	}
	r0, size := c.plan.Span(i)
	v := ct.GetValues()
	if len(v) != size {
		return fmt.Errorf("contribution of %d values to block %d of %d", len(v), i, size)
	}
	dst := b[r0 : r0+size]
	for j, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("contribution to block %d: value %d is %v", i, j, x)
		}
		dst[j] -= x
	}
	return nil
}

// sharers returns the ranks, increasing, that own a tile of column k below the diagonal
// (forward) or of row k left of it (backward), or the diagonal tile itself.
func (c *Cluster) sharers(k int, transpose bool) []int {
	p := c.plan
	out := []int{p.Owner(clusterplan.Tile{I: k, J: k})}
	for o := range p.Tiles() {
		t := clusterplan.Tile{I: o, J: k}
		if transpose {
			t = clusterplan.Tile{I: k, J: o}
		}
		if t.J >= t.I { // only tiles strictly below the diagonal
			continue
		}
		if r := p.Owner(t); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// triangularStep makes one TriangularStep call.
func (c *Cluster) triangularStep(ctx context.Context, w *remote, k int, transpose, solve bool, v []float64) (*pb.TriangularStepResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.to.TriangularStep)
	defer cancel()
	resp, err := w.client.TriangularStep(ctx, &pb.TriangularStepRequest{
		JobId: c.jobID, Step: c.step, Block: uint32(k), Transpose: transpose, Solve: solve, Vector: v,
	})
	if err != nil {
		return nil, w.errorf("TriangularStep", err)
	}
	if err := c.check(w, "TriangularStep", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
		return nil, err
	}
	return resp, nil
}

// FetchTile returns tile t of the current step's matrix as its owner holds it now
// (assembled, or factored after Factor), row-major: for tests and debugging.
func (c *Cluster) FetchTile(ctx context.Context, t clusterplan.Tile) ([]float64, error) {
	p := c.plan
	if t.I < 0 || t.I >= p.Tiles() || t.J < 0 || t.J > t.I {
		return nil, fmt.Errorf("coordinator: tile %v: want 0 <= col <= row < %d", t, p.Tiles())
	}
	w := c.workers[p.Owner(t)]
	ctx, cancel := context.WithTimeout(ctx, c.to.FetchTile)
	defer cancel()
	stream, err := w.client.FetchTile(ctx, &pb.FetchTileRequest{JobId: c.jobID, Step: c.step, Row: uint32(t.I), Col: uint32(t.J)})
	if err != nil {
		return nil, w.errorf("FetchTile", err)
	}
	_, m := p.Span(t.I)
	_, n := p.Span(t.J)
	buf := make([]float64, m*n)
	rcv := clusterrpc.NewFloatReceiver(buf)
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, w.errorf("FetchTile", err)
		}
		if first {
			h := msg.GetHeader()
			if h == nil || int(h.GetRows()) != m || int(h.GetCols()) != n || int(h.GetRow()) != t.I || int(h.GetCol()) != t.J {
				return nil, w.errorf("FetchTile", fmt.Errorf("header %v for tile %v of %dx%d", h, t, m, n))
			}
		}
		if err := rcv.Write(msg.GetChunk()); err != nil {
			return nil, w.errorf("FetchTile", err)
		}
	}
	if !rcv.Done() {
		return nil, w.errorf("FetchTile", fmt.Errorf("tile %v ended after %d of %d values", t, rcv.Received(), m*n))
	}
	return buf, nil
}
