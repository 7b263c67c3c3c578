package worker

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// This file is the worker's half of the distributed tridiagonal reduction (LAPACK's
// DSYTRD, lower; the coordinator's half is coordinator/tridiag.go): it keeps the
// Householder vectors of the current panel, multiplies its tiles by them, and applies
// the panel's rank-2nb update to its tiles of the trailing matrix.

// stateReduced marks tiles that a tridiagonal reduction has destroyed.
const stateReduced = pb.TileState_TILE_STATE_REDUCED

// Limits of the reduction's messages (hessian.proto).
const (
	// maxReducePanel is the widest panel of ReduceColumn and UpdateTrailing.
	maxReducePanel = 32
	// maxPanelValues bounds the values of a FetchPanel answer: 7840 rows of a panel of
	// 32 columns, 2 MB.
	maxPanelValues = 7840 * maxReducePanel
)

// reduction is a worker's state in the tridiagonal reduction of one assembly of its
// tiles. Its fields change only under the job's phase lock, held exclusively.
type reduction struct {
	fact   *factorization // the assembly it reduces: Assemble makes a new one
	maxAbs float64        // of the assembled tiles, for a repeated ReduceStart
	nzRows []byte         // their non-zero rows, a bitmap, for a repeated ReduceStart

	// The columns before next are reduced and their panels applied. Panels move forward:
	// the next may begin at or after next (the coordinator skips panels without
	// reflectors, which change nothing here).
	next int
	// The open panel [p0, p1): it has had a ReduceColumn and awaits UpdateTrailing.
	open   bool
	p0, p1 int
	cols   []int       // its columns with a vector, increasing
	vs     [][]float64 // their vectors, rows p1..N-1
	// The last panel applied, for a repeated UpdateTrailing.
	lastP0, lastP1 int
	// broken, when not empty, says why the tiles are inconsistent (an update stopped
	// part way): every later call is refused until Assemble.
	broken string

	tiles  []*rtile  // the own tiles, in plan order
	vw, wv []float64 // UpdateTrailing's [V W] and [W V], reused from panel to panel
}

// touched reports whether the reduction has begun.
func (r *reduction) touched() bool { return r.next > 0 || r.open }

// position describes where the reduction stands, for errors.
func (r *reduction) position() string {
	if r.open {
		return fmt.Sprintf("panel [%d, %d) is open, %d columns in", r.p0, r.p1, len(r.cols))
	}
	return fmt.Sprintf("the columns before %d are done", r.next)
}

// lockReduction returns the job of a reduction call and its reduction, with the job's
// phase lock held (exclusively, or shared for a read-only call), after checking the step
// and that ReduceStart ran on the current assembly. The caller calls unlock.
func (s *Server) lockReduction(id string, step uint64, shared bool) (j *job, r *reduction, unlock func(), err error) {
	j, err = s.job(id)
	if err != nil {
		return nil, nil, nil, err
	}
	lock, unlock := j.phase.TryLock, j.phase.Unlock
	if shared {
		lock, unlock = j.phase.TryRLock, j.phase.RUnlock
	}
	if !lock() {
		return nil, nil, nil, failed("job %q: another call on its tiles is running", id)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkStepLocked(step); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	if j.state != stateReduced || j.red == nil || j.red.fact != j.fact {
		unlock()
		return nil, nil, nil, failed("job %q: the tiles of step %d are %v, not being reduced (ReduceStart first)", id, step, j.state)
	}
	if j.red.broken != "" {
		unlock()
		return nil, nil, nil, failed("job %q: the reduction of step %d stopped (%s); Assemble again", id, step, j.red.broken)
	}
	return j, j.red, unlock, nil
}

// ReduceStart checks the assembled tiles and marks them as being reduced.
func (s *Server) ReduceStart(ctx context.Context, req *pb.ReduceStartRequest) (*pb.ReduceStartResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if !j.phase.TryLock() {
		return nil, failed("job %q: another call on its tiles is running", j.spec.id)
	}
	defer j.phase.Unlock()
	j.mu.Lock()
	if err := j.checkStepLocked(req.GetStep()); err != nil {
		j.mu.Unlock()
		return nil, err
	}
	state, red, fact, tiles := j.state, j.red, j.fact, j.tiles
	j.mu.Unlock()
	resp := func(r *reduction) *pb.ReduceStartResponse {
		return &pb.ReduceStartResponse{JobId: j.spec.id, Step: req.GetStep(), MaxAbs: r.maxAbs, Tiles: uint32(len(tiles)), NonzeroRows: r.nzRows}
	}
	switch {
	case state == stateReduced && red != nil && red.fact == fact && !red.touched():
		return resp(red), nil // a repeated call
	case state == stateReduced:
		return nil, failed("job %q: the tiles of step %d are being reduced (%s); Assemble again to start over", j.spec.id, req.GetStep(), red.position())
	case state != stateAssembled:
		return nil, failed("job %q: the tiles of step %d are %v, not assembled (Assemble again)", j.spec.id, req.GetStep(), state)
	}
	ctx, cancel := j.context(ctx)
	defer cancel()
	start := time.Now()
	rts := make([]*rtile, len(tiles))
	maxes := make([]float64, len(tiles))
	bad := make([]string, len(tiles))
	err = parallel(ctx, s.cfg.Parallelism, len(tiles), func(i int) {
		rts[i], maxes[i], bad[i] = scanTile(tiles[i])
	})
	if err != nil {
		return nil, clusterrpc.StatusOf(fmt.Errorf("worker: ReduceStart of step %d: %w", req.GetStep(), err))
	}
	var maxAbs float64
	for i := range tiles {
		if bad[i] != "" {
			return nil, failed("job %q: the assembled matrix of step %d is not finite: %s", j.spec.id, req.GetStep(), bad[i])
		}
		maxAbs = max(maxAbs, maxes[i])
	}
	// Row i of the symmetric matrix has entries (i, j <= i) in tile row I and
	// (j > i, i) in tile column I.
	r := &reduction{fact: fact, maxAbs: maxAbs, nzRows: make([]byte, (j.spec.plan.N+7)/8), tiles: rts}
	for _, rt := range rts {
		for k, z := range rt.zero {
			g := rt.r0 + k
			if k >= rt.m {
				g = rt.c0 + k - rt.m
			}
			if !z {
				r.nzRows[g/8] |= 1 << (g % 8)
			}
		}
	}
	j.mu.Lock()
	j.state, j.red = stateReduced, r
	j.mu.Unlock()
	s.metrics.task("reduce_start", time.Since(start).Seconds())
	j.log.Debug("reduction started", "step", req.GetStep(), "max_abs", maxAbs)
	return resp(r), nil
}

// checkPanel returns INVALID_ARGUMENT unless [p0, p1) is a panel of at most max columns
// of an n x n matrix.
func checkPanel(p0, p1, n, maxWidth int) error {
	if p0 >= p1 || p1 > n {
		return status.Errorf(codes.InvalidArgument, "worker: panel_end: panel [%d, %d) of a matrix of order %d", p0, p1, n)
	}
	if p1-p0 > maxWidth {
		return status.Errorf(codes.InvalidArgument, "worker: panel_end: panel [%d, %d) of %d columns, above %d", p0, p1, p1-p0, maxWidth)
	}
	return nil
}

// FetchPanel returns the worker's part of a panel of columns as the tiles hold it now.
func (s *Server) FetchPanel(ctx context.Context, req *pb.FetchPanelRequest) (*pb.FetchPanelResponse, error) {
	j, red, unlock, err := s.lockReduction(req.GetJobId(), req.GetStep(), true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := j.spec.plan
	begin, end := int(req.GetBegin()), int(req.GetEnd())
	if begin >= end || end > p.N {
		return nil, status.Errorf(codes.InvalidArgument, "worker: end: panel [%d, %d) of a matrix of order %d", begin, end, p.N)
	}
	if (p.N-begin)*(end-begin) > maxPanelValues {
		return nil, status.Errorf(codes.InvalidArgument, "worker: end: panel [%d, %d) has %d x %d values, above %d", begin, end, p.N-begin, end-begin, maxPanelValues)
	}
	if begin < red.next || (red.open && begin != red.p0) {
		return nil, failed("job %q: panel [%d, %d) out of order: %s", j.spec.id, begin, end, red.position())
	}
	resp := &pb.FetchPanelResponse{JobId: j.spec.id, Step: req.GetStep()}
	for _, rc := range p.PanelRects(j.spec.rank, begin, end) {
		t := j.byPos[rc.Tile]
		vals := make([]float64, 0, rc.Rows*rc.Cols)
		for r := rc.R0; r < rc.R0+rc.Rows; r++ {
			off := (r-t.r0)*t.n + rc.C0 - t.c0
			vals = append(vals, t.data[off:off+rc.Cols]...)
		}
		resp.Blocks = append(resp.Blocks, &pb.PanelBlock{
			Row: uint32(rc.R0), Col: uint32(rc.C0), Rows: uint32(rc.Rows), Cols: uint32(rc.Cols), Values: vals,
		})
	}
	s.metrics.task("fetch_panel", 0)
	return resp, nil
}

// ReduceColumn keeps a Householder vector and returns the products of the tiles with it.
func (s *Server) ReduceColumn(ctx context.Context, req *pb.ReduceColumnRequest) (*pb.ReduceColumnResponse, error) {
	j, red, unlock, err := s.lockReduction(req.GetJobId(), req.GetStep(), false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n := j.spec.plan.N
	p0, p1, c := int(req.GetPanelBegin()), int(req.GetPanelEnd()), int(req.GetColumn())
	if err := checkPanel(p0, p1, n, maxReducePanel); err != nil {
		return nil, err
	}
	if c < p0 || c >= p1 || c >= n-1 {
		return nil, status.Errorf(codes.InvalidArgument, "worker: column: %d, want in the panel [%d, %d) and below %d", c, p0, p1, n-1)
	}
	v := req.GetVector()
	if len(v) != n-1-c {
		return nil, status.Errorf(codes.InvalidArgument, "worker: vector: %d values for column %d, want %d", len(v), c, n-1-c)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, status.Errorf(codes.InvalidArgument, "worker: vector: value %d is %v", i, x)
		}
	}
	if p0 < red.next || (red.open && (red.p0 != p0 || red.p1 != p1)) {
		return nil, failed("job %q: column %d of panel [%d, %d) out of order: %s", j.spec.id, c, p0, p1, red.position())
	}
	repeat := red.open && len(red.cols) > 0 && red.cols[len(red.cols)-1] == c
	if red.open && !repeat && len(red.cols) > 0 && c < red.cols[len(red.cols)-1] {
		return nil, failed("job %q: column %d after column %d of panel [%d, %d)", j.spec.id, c, red.cols[len(red.cols)-1], p0, p1)
	}
	ctx, cancel := j.context(ctx)
	defer cancel()
	start := time.Now()
	products, err := j.trailingProducts(ctx, red, c+1, v)
	if err != nil {
		return nil, clusterrpc.StatusOf(fmt.Errorf("worker: ReduceColumn %d: %w", c, err))
	}
	keep := slices.Clone(v[p1-c-1:]) // rows p1..N-1
	switch {
	case repeat:
		red.vs[len(red.vs)-1] = keep
	case red.open:
		red.cols, red.vs = append(red.cols, c), append(red.vs, keep)
	default:
		red.open, red.p0, red.p1 = true, p0, p1
		red.cols, red.vs = []int{c}, [][]float64{keep}
	}
	s.metrics.task("reduce_column", time.Since(start).Seconds())
	return &pb.ReduceColumnResponse{JobId: j.spec.id, Step: req.GetStep(), Products: products}, nil
}

// trailingProducts returns, block by block, this worker's part of y = A[from:, from:] v
// (v holds rows from..N-1): each own tile (I, J) adds A_IJ v_J to block I and, when
// I > J, A_IJ^T v_I to block J, over its rows and columns from `from` on (rtile.product).
// The tiles are multiplied in parallel into their own parts, which are then added per
// block in plan order, so that the sums do not depend on the schedule.
func (j *job) trailingProducts(ctx context.Context, red *reduction, from int, v []float64) ([]*pb.BlockProduct, error) {
	type part struct {
		rows, cols int
		ok         bool
	}
	parts := make([]part, len(red.tiles))
	err := parallel(ctx, j.s.cfg.Parallelism, len(red.tiles), func(i int) {
		rows, cols, ok := red.tiles[i].product(from, v)
		parts[i] = part{rows, cols, ok}
	})
	if err != nil {
		return nil, err
	}
	acc := map[int][]float64{}
	add := func(block int, y []float64) {
		a := acc[block]
		if a == nil {
			a = make([]float64, len(y))
			acc[block] = a
		}
		for k, x := range y {
			a[k] += x
		}
	}
	for i, rt := range red.tiles {
		if pt := parts[i]; pt.ok {
			add(rt.t.I, rt.part[:pt.rows])
			if rt.t.I != rt.t.J {
				add(rt.t.J, rt.part[pt.rows:pt.rows+pt.cols])
			}
		}
	}
	out := make([]*pb.BlockProduct, 0, len(acc))
	for _, b := range slices.Sorted(maps.Keys(acc)) {
		r0, _ := j.spec.plan.Span(b)
		out = append(out, &pb.BlockProduct{Block: uint32(b), First: uint32(max(r0, from)), Values: acc[b]})
	}
	return out, nil
}

// UpdateTrailing applies the open panel's update to the trailing part of the tiles.
func (s *Server) UpdateTrailing(ctx context.Context, req *pb.UpdateTrailingRequest) (*pb.UpdateTrailingResponse, error) {
	j, red, unlock, err := s.lockReduction(req.GetJobId(), req.GetStep(), false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n := j.spec.plan.N
	p0, p1 := int(req.GetPanelBegin()), int(req.GetPanelEnd())
	if err := checkPanel(p0, p1, n, maxReducePanel); err != nil {
		return nil, err
	}
	resp := &pb.UpdateTrailingResponse{JobId: j.spec.id, Step: req.GetStep()}
	if !red.open && red.next == p1 && red.lastP0 == p0 && red.lastP1 == p1 {
		return resp, nil // a repeated call
	}
	if p0 < red.next || (red.open && (red.p0 != p0 || red.p1 != p1)) {
		return nil, failed("job %q: update of panel [%d, %d) out of order: %s", j.spec.id, p0, p1, red.position())
	}
	ws := req.GetW()
	var cols []int
	if red.open {
		cols = red.cols
	}
	if len(ws) != len(cols) {
		return nil, failed("job %q: update of panel [%d, %d) with %d columns of W, but ReduceColumn gave %d (columns %v)", j.spec.id, p0, p1, len(ws), len(cols), cols)
	}
	for k, w := range ws {
		if int(w.GetColumn()) != cols[k] {
			return nil, failed("job %q: update of panel [%d, %d): W column %d is for column %d, but ReduceColumn gave column %d", j.spec.id, p0, p1, k, w.GetColumn(), cols[k])
		}
		if len(w.GetValues()) != n-p1 {
			return nil, status.Errorf(codes.InvalidArgument, "worker: w: column %d has %d values, want %d (rows %d..%d)", w.GetColumn(), len(w.GetValues()), n-p1, p1, n-1)
		}
		for i, x := range w.GetValues() {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, status.Errorf(codes.InvalidArgument, "worker: w: column %d, value %d is %v", w.GetColumn(), i, x)
			}
		}
	}
	ctx, cancel := j.context(ctx)
	defer cancel()
	start := time.Now()
	updated := 0
	if k := len(cols); k > 0 && p1 < n {
		// [V W] and [W V], rows p1..N-1, leading dimension 2k.
		m := n - p1
		if cap(red.vw) < 2*k*m {
			red.vw, red.wv = make([]float64, 2*k*m), make([]float64, 2*k*m)
		}
		u := &panelUpdate{p1: p1, k: k, vw: red.vw[:2*k*m], wv: red.wv[:2*k*m], nz: make([]bool, m)}
		for c := range k {
			v, w := red.vs[c], ws[c].GetValues()
			for r := range m {
				u.vw[2*k*r+c], u.vw[2*k*r+k+c] = v[r], w[r]
				u.wv[2*k*r+c], u.wv[2*k*r+k+c] = w[r], v[r]
				if v[r] != 0 || w[r] != 0 {
					u.nz[r] = true
				}
			}
		}
		var todo []*rtile
		for _, rt := range red.tiles {
			if rt.r0+rt.m > p1 && rt.c0+rt.n > p1 {
				todo = append(todo, rt)
			}
		}
		err := parallel(ctx, s.cfg.Parallelism, len(todo), func(i int) { todo[i].update(u) })
		if err != nil {
			red.broken = fmt.Sprintf("the update of panel [%d, %d) stopped part way: %v", p0, p1, err)
			return nil, clusterrpc.StatusOf(fmt.Errorf("worker: UpdateTrailing [%d, %d): %w", p0, p1, err))
		}
		updated = len(todo)
	}
	red.next, red.lastP0, red.lastP1 = p1, p0, p1
	red.open, red.cols, red.vs = false, nil, nil
	secs := time.Since(start).Seconds()
	s.metrics.task("update_trailing", secs)
	resp.Tiles, resp.Seconds = uint32(updated), secs
	return resp, nil
}
