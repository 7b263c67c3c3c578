package coordinator

import (
	"context"
	"fmt"
	"io"
	"sync"

	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// MinSpyCell is the smallest cell SpyCounts takes: the grid of ceil(N/cell)^2 counts
// then has at most a sixteenth of the matrix's entries (30 MB at N = 7840), so that the
// picture never costs the coordinator a matrix.
const MinSpyCell = 4

// SpyCounts returns the number of non-zero entries of H(w) + R + damping I (both
// triangles: the symmetric matrix) in each cell x cell cell, row-major over the g x g
// cells, g = ceil(N/cell), the last row and column of cells narrower when cell does not
// divide N: the counts hessian.SpyTileCounts gives for the whole matrix. The workers
// assemble the matrix (Assemble), every worker counts its own tiles (CountNonzeros) and
// the coordinator adds the counts, so the matrix never leaves the workers. The assembly
// and the counts are one phase: a lost worker restarts both on the survivors.
func (c *Cluster) SpyCounts(ctx context.Context, w []float64, damping float64, cell int) ([]float64, error) {
	n := c.plan.N
	if cell < MinSpyCell || cell > n {
		return nil, fmt.Errorf("coordinator: spy cells of %d entries: want %d to %d", cell, MinSpyCell, n)
	}
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	var counts []float64
	err := c.run(ctx, "spy", func(ctx context.Context) error {
		if err := c.Assemble(ctx, w, damping); err != nil {
			return err
		}
		var err error
		counts, err = c.countNonzeros(ctx, cell)
		return err
	})
	return counts, err
}

// countNonzeros returns the spy counts of the current step's assembled matrix.
func (c *Cluster) countNonzeros(ctx context.Context, cell int) ([]float64, error) {
	c.hook("spy")
	n := c.plan.N
	g := (n + cell - 1) / cell
	counts := make([]float64, g*g)
	var mu sync.Mutex // protects counts
	err := c.each(ctx, func(ctx context.Context, w *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.CountNonzeros)
		defer cancel()
		stream, err := w.client.CountNonzeros(ctx, &pb.CountNonzerosRequest{JobId: c.jobID, Step: c.step, Cell: uint32(cell)})
		if err != nil {
			return w.errorf("CountNonzeros", err)
		}
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return w.errorf("CountNonzeros", err)
			}
			for _, run := range msg.GetRuns() {
				a, b, k := int(run.GetRow()), int(run.GetCol()), len(run.GetCounts())
				if a >= g || k == 0 || b+k-1 > a {
					return w.errorf("CountNonzeros", fmt.Errorf("run of %d counts at cell (%d, %d) of a %d x %d grid: want lower cells", k, a, b, g, g))
				}
				mu.Lock()
				for i, x := range run.GetCounts() {
					// Integer counts below 2^53 add exactly, in any order.
					counts[a*g+b+i] += float64(x)
					if b+i != a {
						counts[(b+i)*g+a] += float64(x)
					}
				}
				mu.Unlock()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}
