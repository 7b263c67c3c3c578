package coordinator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// The range of the largest |entry| in which the reduction runs without scaling the
// matrix first (LAPACK's DSYEV: sqrt(smlnum) to 1/sqrt(smlnum), smlnum = safmin/eps).
// The Hessians of this project stay far inside it (|entries| <= 0.25 + 128 eps).
var (
	reduceMinNorm = math.Sqrt(0x1p-1022 / 0x1p-53)
	reduceMaxNorm = 1 / reduceMinNorm
)

// Eigenvalues returns all N eigenvalues, in ascending order, of H(w) + R + damping I
// without gathering the matrix: the workers assemble it (Assemble), then the workers and
// the coordinator reduce it to a tridiagonal matrix together (tridiagonalize, with the
// workers' tiles as the trailing matrix), and the coordinator finds the tridiagonal
// matrix's eigenvalues as hessian.EigenvaluesSym does. The coordinator holds a panel of
// 32 columns, its W and a few vectors (about 4 MB); each column of the reduction is one
// round of ReduceColumn calls, each panel a FetchPanel and an UpdateTrailing.
//
// Rows that are zero on every worker (pixels that no image lights, when eps = 0) are
// left out of the reduction, each an eigenvalue 0. The assembly and the reduction are one
// phase: a lost worker restarts both on the survivors (recovery.go). The reduction
// destroys the tiles: Factor is refused until the next Assemble. progress, if not nil,
// hears "assemble" (through Config.Progress) and "eigenvalues".
func (c *Cluster) Eigenvalues(ctx context.Context, w []float64, damping float64, progress hessian.ProgressFunc) ([]float64, error) {
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	var eigs []float64
	err := c.run(ctx, "eigenvalues", func(ctx context.Context) error {
		if err := c.Assemble(ctx, w, damping); err != nil {
			return err
		}
		var err error
		eigs, err = c.reduce(ctx, progress)
		return err
	})
	return eigs, err
}

// reduce returns the eigenvalues of the current step's assembled matrix.
func (c *Cluster) reduce(ctx context.Context, progress hessian.ProgressFunc) ([]float64, error) {
	c.hook("reduce")
	start := time.Now()
	n := c.plan.N
	maxes := make([]float64, len(c.workers))
	nonzero := make([][]byte, len(c.workers))
	err := c.each(ctx, func(ctx context.Context, w *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.Reduce)
		defer cancel()
		resp, err := w.client.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: c.jobID, Step: c.step})
		if err != nil {
			return w.errorf("ReduceStart", err)
		}
		if err := c.check(w, "ReduceStart", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		if m := resp.GetMaxAbs(); !(m >= 0) || math.IsInf(m, 0) {
			return w.errorf("ReduceStart", fmt.Errorf("largest |entry| %v", m))
		}
		if len(resp.GetNonzeroRows()) != (n+7)/8 {
			return w.errorf("ReduceStart", fmt.Errorf("non-zero rows in %d bytes, want %d", len(resp.GetNonzeroRows()), (n+7)/8))
		}
		maxes[w.rank], nonzero[w.rank] = resp.GetMaxAbs(), resp.GetNonzeroRows()
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A row that is zero in every worker's tiles is zero in the matrix.
	active := make([]bool, n)
	zeros := n
	for i := range active {
		for _, nz := range nonzero {
			if nz[i/8]&(1<<(i%8)) != 0 {
				active[i] = true
				zeros--
				break
			}
		}
	}
	anrm := slices.Max(maxes)
	if anrm == 0 {
		return make([]float64, n), nil
	}
	if anrm < reduceMinNorm || anrm > reduceMaxNorm {
		return nil, fmt.Errorf("coordinator: eigenvalues: the largest |entry| of the matrix is %g, outside [%g, %g] where the reduction is safe without scaling", anrm, reduceMinNorm, reduceMaxNorm)
	}
	t := &clusterTrailing{c: c, sent: make([][]int, len(c.workers))}
	d, e, err := tridiagonalize(ctx, t, n, reducePanel, reduceTail, active, progress)
	if err != nil {
		return nil, err
	}
	eigs, err := hessian.TridiagonalEigenvalues(d, e)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	// Each zero row is an eigenvalue 0.
	eigs = append(eigs, make([]float64, zeros)...)
	slices.Sort(eigs)
	secs := c.metrics.phase("eigenvalues", start)
	c.log.Info("eigenvalues", "step", c.step, "seconds", secs, "column_calls", t.calls, "zero_rows", zeros,
		"lambda_min", eigs[0], "lambda_max", eigs[n-1])
	return eigs, nil
}

// clusterTrailing is the trailing matrix of the reduction on the workers' tiles.
type clusterTrailing struct {
	c     *Cluster
	sent  [][]int // per rank, the columns of the open panel it has multiplied
	calls int     // ReduceColumn rounds
}

// panel gathers columns [begin, end), rows [begin, N), from the owners of their tiles.
func (t *clusterTrailing) panel(ctx context.Context, begin, end int) ([]float64, error) {
	c, p := t.c, t.c.plan
	c.hook("reduce-panel")
	width := end - begin
	out := make([]float64, (p.N-begin)*width)
	var owners []*remote
	want := make([][]clusterplan.Rect, len(c.workers))
	for _, w := range c.workers {
		if want[w.rank] = p.PanelRects(w.rank, begin, end); len(want[w.rank]) > 0 {
			owners = append(owners, w)
		}
	}
	// Each worker writes its own tiles' disjoint rectangles of out.
	err := c.some(ctx, owners, func(ctx context.Context, w *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.Reduce)
		defer cancel()
		resp, err := w.client.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: c.jobID, Step: c.step, Begin: uint32(begin), End: uint32(end)})
		if err != nil {
			return w.errorf("FetchPanel", err)
		}
		if err := c.check(w, "FetchPanel", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		blocks := resp.GetBlocks()
		if len(blocks) != len(want[w.rank]) {
			return w.errorf("FetchPanel", fmt.Errorf("%d blocks of panel [%d, %d), want %d", len(blocks), begin, end, len(want[w.rank])))
		}
		for i, b := range blocks {
			rc := want[w.rank][i]
			if int(b.GetRow()) != rc.R0 || int(b.GetCol()) != rc.C0 || int(b.GetRows()) != rc.Rows || int(b.GetCols()) != rc.Cols || len(b.GetValues()) != rc.Rows*rc.Cols {
				return w.errorf("FetchPanel", fmt.Errorf("block %d of panel [%d, %d) is %dx%d at (%d, %d) with %d values, want %dx%d at (%d, %d) (tile %v)",
					i, begin, end, b.GetRows(), b.GetCols(), b.GetRow(), b.GetCol(), len(b.GetValues()), rc.Rows, rc.Cols, rc.R0, rc.C0, rc.Tile))
			}
			vals := b.GetValues()
			for r := range rc.Rows {
				row := vals[r*rc.Cols : (r+1)*rc.Cols]
				for k, x := range row {
					// Entries above the diagonal of a diagonal tile are not defined.
					if rc.R0+r >= rc.C0+k && (math.IsNaN(x) || math.IsInf(x, 0)) {
						return w.errorf("FetchPanel", fmt.Errorf("entry (%d, %d) is %v", rc.R0+r, rc.C0+k, x))
					}
				}
				copy(out[(rc.R0+r-begin)*width+rc.C0-begin:], row)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// multiply sends v to the workers that own trailing tiles and adds their products in
// rank order.
func (t *clusterTrailing) multiply(ctx context.Context, p0, p1, col int, v []float64) ([]float64, error) {
	c, p := t.c, t.c.plan
	from := col + 1
	ranks := p.TrailingRanks(from)
	ws := make([]*remote, len(ranks))
	for i, r := range ranks {
		ws[i] = c.workers[r]
	}
	answers := make([][]*pb.BlockProduct, len(c.workers))
	err := c.some(ctx, ws, func(ctx context.Context, w *remote) error {
		ctx, cancel := context.WithTimeout(ctx, c.to.Reduce)
		defer cancel()
		resp, err := w.client.ReduceColumn(ctx, &pb.ReduceColumnRequest{
			JobId: c.jobID, Step: c.step, PanelBegin: uint32(p0), PanelEnd: uint32(p1), Column: uint32(col), Vector: v,
		})
		if err != nil {
			return w.errorf("ReduceColumn", err)
		}
		if err := c.check(w, "ReduceColumn", resp.GetJobId(), resp.GetStep(), c.step); err != nil {
			return err
		}
		answers[w.rank] = resp.GetProducts()
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.calls++
	y := make([]float64, p.N-from)
	for _, r := range ranks {
		t.sent[r] = append(t.sent[r], col)
		for _, bp := range answers[r] {
			b := int(bp.GetBlock())
			if b >= p.Tiles() {
				return nil, c.workers[r].errorf("ReduceColumn", fmt.Errorf("product for block %d of %d", b, p.Tiles()))
			}
			r0, size := p.Span(b)
			first := max(r0, from)
			if int(bp.GetFirst()) != first || len(bp.GetValues()) != r0+size-first {
				return nil, c.workers[r].errorf("ReduceColumn", fmt.Errorf("product for block %d from row %d with %d values, want row %d and %d values",
					b, bp.GetFirst(), len(bp.GetValues()), first, r0+size-first))
			}
			dst := y[first-from:]
			for k, x := range bp.GetValues() {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, c.workers[r].errorf("ReduceColumn", fmt.Errorf("product for row %d is %v", first+k, x))
				}
				dst[k] += x
			}
		}
	}
	return y, nil
}

// update has every worker that took part in the panel apply its update, each with the W
// columns of the columns it multiplied.
func (t *clusterTrailing) update(ctx context.Context, p0, p1 int, cols []int, w [][]float64) error {
	c := t.c
	byCol := make(map[int][]float64, len(cols))
	for k, col := range cols {
		byCol[col] = w[k]
	}
	var ws []*remote
	for _, r := range c.plan.TrailingRanks(p0) {
		ws = append(ws, c.workers[r])
	}
	err := c.some(ctx, ws, func(ctx context.Context, wk *remote) error {
		req := &pb.UpdateTrailingRequest{JobId: c.jobID, Step: c.step, PanelBegin: uint32(p0), PanelEnd: uint32(p1)}
		for _, col := range t.sent[wk.rank] {
			req.W = append(req.W, &pb.PanelColumn{Column: uint32(col), Values: byCol[col]})
		}
		ctx, cancel := context.WithTimeout(ctx, c.to.UpdateTrailing)
		defer cancel()
		resp, err := wk.client.UpdateTrailing(ctx, req)
		if err != nil {
			return wk.errorf("UpdateTrailing", err)
		}
		return c.check(wk, "UpdateTrailing", resp.GetJobId(), resp.GetStep(), c.step)
	})
	for r := range t.sent {
		t.sent[r] = t.sent[r][:0]
	}
	return err
}
