package worker

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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

// ftile is an own tile during a factorization.
type ftile struct {
	*tile
	next       int   // the next panel k to apply; when next == t.J only the final step remains
	queued     bool  // in the ready queue
	running    bool  // a task on it runs
	done       bool  // it holds its factor tile L_IJ
	recipients []int // ranks that need it when done
}

// task is a ready tile task with its priority key (smaller first).
type task struct {
	ft  *ftile
	key [4]int
}

// taskHeap is the ready queue, a min-heap on the keys.
type taskHeap []task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(a, b int) bool {
	for i := range h[a].key {
		if h[a].key[i] != h[b].key[i] {
			return h[a].key[i] < h[b].key[i]
		}
	}
	return false
}
func (h taskHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// priority returns the key of the task of tile (i, j) at panel k: the right-looking
// order of the panels with a look-ahead of one. The tasks that finish the next panel
// (updates of column k+1 by panel k, and the factorization of column k+1 itself) come
// before the rest of panel k's trailing update, which comes before anything of panel k+1.
// So column k+1's tiles go out to the other workers while they still apply panel k, and
// the factor tiles of panel k can be freed once panel k is applied everywhere.
func priority(i, j, k int) [4]int {
	switch {
	case k == j: // factor or solve tile (i, j): finishes panel j, level j-1
		return [4]int{j - 1, 0, i, k}
	case j == k+1: // update of the next panel
		return [4]int{k, 0, i, k}
	default: // trailing update
		return [4]int{k, 1, j, i}
	}
}

// factorization is one worker's part of the tiled Cholesky factorization of one step's
// matrix: a dataflow over its own tiles, fed by the factor tiles its peers push.
type factorization struct {
	j     *job
	plan  clusterplan.Plan
	rank  int
	step  uint64
	own   map[clusterplan.Tile]*ftile
	needs map[clusterplan.Tile]int // other workers' tiles this one reads, with their number of readers here
	sends []int                    // tiles to send to each rank

	mu        sync.Mutex // protects the fields below and the ftiles' flags
	cond      sync.Cond  // signalled on every change of ready, remaining or err
	avail     map[clusterplan.Tile][]float64
	uses      map[clusterplan.Tile]int // readers left of each received tile
	ready     taskHeap
	remaining int   // own tiles not done
	err       error // the first failure; the factorization stops
	pivotAt   clusterplan.Tile
	resp      *pb.FactorResponse // of a successful run

	tasks                    int
	busy                     time.Duration
	tilesSent, tilesReceived int
	bytesSent, bytesReceived uint64
}

// newFactorization prepares the factorization of the job's assembled tiles. The caller
// holds j.mu.
func newFactorization(j *job, step uint64) *factorization {
	p := j.spec.plan
	f := &factorization{
		j: j, plan: p, rank: j.spec.rank, step: step,
		own:   make(map[clusterplan.Tile]*ftile, len(j.tiles)),
		needs: map[clusterplan.Tile]int{},
		sends: make([]int, p.Workers()),
		avail: map[clusterplan.Tile][]float64{},
		uses:  map[clusterplan.Tile]int{},
	}
	f.cond.L = &f.mu
	for _, t := range j.tiles {
		ft := &ftile{tile: t, recipients: p.Recipients(t.t)}
		f.own[t.t] = ft
		for _, r := range ft.recipients {
			f.sends[r]++
		}
	}
	for c := range f.own {
		for _, x := range reads(c) {
			if f.own[x] == nil {
				f.needs[x]++
			}
		}
	}
	f.remaining = len(f.own)
	for _, ft := range f.own {
		f.checkLocked(ft)
	}
	return f
}

// reads returns the factor tiles that the factorization of tile c reads, once each:
// (I,K) and (J,K) for K < J, and (J,J) when I > J.
func reads(c clusterplan.Tile) []clusterplan.Tile {
	var out []clusterplan.Tile
	for k := range c.J {
		out = append(out, clusterplan.Tile{I: c.I, J: k})
		if c.I != c.J {
			out = append(out, clusterplan.Tile{I: c.J, J: k})
		}
	}
	if c.I != c.J {
		out = append(out, clusterplan.Tile{I: c.J, J: c.J})
	}
	return out
}

// checkLocked queues the next task of ft if its inputs are here. The caller holds f.mu.
func (f *factorization) checkLocked(ft *ftile) {
	if ft.queued || ft.running || ft.done {
		return
	}
	i, j, k := ft.t.I, ft.t.J, ft.next
	if k < j {
		if f.avail[clusterplan.Tile{I: i, J: k}] == nil || f.avail[clusterplan.Tile{I: j, J: k}] == nil {
			return
		}
	} else if i != j && f.avail[clusterplan.Tile{I: j, J: j}] == nil {
		return
	}
	ft.queued = true
	heap.Push(&f.ready, task{ft: ft, key: priority(i, j, k)})
	f.cond.Signal()
}

// publishLocked makes factor tile t available here and queues the tasks it enables. The
// caller holds f.mu.
func (f *factorization) publishLocked(t clusterplan.Tile, data []float64) {
	f.avail[t] = data
	for _, c := range f.plan.Consumers(t) {
		if ft := f.own[c]; ft != nil {
			f.checkLocked(ft)
		}
	}
}

// releaseLocked counts one read of a received tile and frees it after its last. The
// caller holds f.mu.
func (f *factorization) releaseLocked(t clusterplan.Tile) {
	if f.own[t] != nil {
		return
	}
	f.uses[t]--
	if f.uses[t] == 0 {
		b := f.avail[t]
		delete(f.avail, t)
		delete(f.uses, t)
		f.j.s.pool.put(b)
		f.j.s.metrics.tilesHeld.Dec()
		f.j.s.metrics.tileBytes.Sub(float64(8 * len(b)))
	}
}

// failLocked records the first failure and wakes everyone. The caller holds f.mu.
func (f *factorization) failLocked(err error) {
	if f.err == nil {
		f.err = err
	}
	f.cond.Broadcast()
}

func (f *factorization) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLocked(err)
}

// deliver stores a factor tile pushed by a peer. It reports false, with no error, for a
// tile already received (a repeated push): the caller then keeps the buffer.
func (f *factorization) deliver(t clusterplan.Tile, data []float64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, status.Errorf(codes.Aborted, "worker: the factorization of step %d stopped: %v", f.step, f.err)
	}
	if f.avail[t] != nil || (f.needs[t] > 0 && f.uses[t] == 0 && f.doneReading(t)) {
		return false, nil
	}
	f.avail[t] = nil
	f.uses[t] = f.needs[t]
	f.tilesReceived++
	f.bytesReceived += 8 * uint64(len(data))
	f.j.s.metrics.tilesHeld.Inc()
	f.j.s.metrics.tileBytes.Add(float64(8 * len(data)))
	f.publishLocked(t, data)
	return true, nil
}

// doneReading reports whether every own reader of received tile t has read it (so a
// push of t now is a repeat). The caller holds f.mu.
func (f *factorization) doneReading(t clusterplan.Tile) bool {
	for _, c := range f.plan.Consumers(t) {
		ft := f.own[c]
		if ft == nil {
			continue
		}
		if !ft.done && (ft.next <= t.J || (t.I == t.J && ft.next == c.J && !ft.done)) {
			return false
		}
	}
	return true
}

// run executes the worker's tasks until all own tiles hold the factor and have been
// pushed to their recipients, or until the first failure or the end of ctx.
func (f *factorization) run(ctx context.Context) (*pb.FactorResponse, error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { f.fail(context.Cause(ctx)) })
	defer stop()

	// One sender per peer, each with a queue long enough for everything it will send,
	// so that finishing a tile never waits for the network.
	queues := make([]chan *ftile, len(f.sends))
	var senders sync.WaitGroup
	for r, n := range f.sends {
		if n == 0 || r == f.rank {
			continue
		}
		queues[r] = make(chan *ftile, n)
		senders.Go(func() { f.sender(ctx, r, queues[r]) })
	}
	var workers sync.WaitGroup
	for range f.j.s.cfg.Parallelism {
		workers.Go(func() { f.work(queues) })
	}
	workers.Wait()
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		cancel(err) // the senders give up too
	}
	for _, q := range queues {
		if q != nil {
			close(q)
		}
	}
	senders.Wait()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.resp = &pb.FactorResponse{
		JobId: f.j.spec.id, Step: f.step, Tasks: uint32(f.tasks),
		Seconds: time.Since(start).Seconds(), BusySeconds: f.busy.Seconds(),
		TilesSent: uint32(f.tilesSent), TileBytesSent: f.bytesSent,
		TilesReceived: uint32(f.tilesReceived), TileBytesReceived: f.bytesReceived,
	}
	return f.resp, nil
}

// work runs ready tasks, highest priority first, until no own tile is left or the
// factorization failed.
func (f *factorization) work(queues []chan *ftile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		for f.err == nil && f.remaining > 0 && f.ready.Len() == 0 {
			f.cond.Wait()
		}
		if f.err != nil || f.remaining == 0 {
			return
		}
		tk := heap.Pop(&f.ready).(task)
		ft := tk.ft
		ft.queued, ft.running = false, true
		i, j, k := ft.t.I, ft.t.J, ft.next
		var a, b []float64
		if k < j {
			a, b = f.avail[clusterplan.Tile{I: i, J: k}], f.avail[clusterplan.Tile{I: j, J: k}]
		} else if i != j {
			a = f.avail[clusterplan.Tile{I: j, J: j}]
		}
		f.mu.Unlock()
		t0 := time.Now()
		kind, err := f.exec(ft, k, a, b)
		d := time.Since(t0)
		f.j.s.metrics.task(kind, d.Seconds())
		f.mu.Lock()
		ft.running = false
		f.tasks++
		f.busy += d
		if err != nil {
			f.pivotAt = ft.t
			f.failLocked(err)
			return
		}
		if k < j {
			ft.next++
			f.releaseLocked(clusterplan.Tile{I: i, J: k})
			if i != j {
				f.releaseLocked(clusterplan.Tile{I: j, J: k})
			}
		} else {
			ft.done = true
			f.remaining--
			if i != j {
				f.releaseLocked(clusterplan.Tile{I: j, J: j})
			}
			f.publishLocked(ft.t, ft.data)
			for _, r := range ft.recipients {
				queues[r] <- ft // never blocks: the queue holds all of r's tiles
			}
			if f.remaining == 0 {
				f.cond.Broadcast()
			}
		}
		f.checkLocked(ft)
	}
}

// exec runs one task on tile ft at panel k: with a = L_IK and b = L_JK, the update
// A_IJ -= L_IK L_JK^T (a symmetric rank-k update on a diagonal tile); at k = J, the
// Cholesky factorization of a diagonal tile, or with a = L_JJ the triangular solve
// L_IJ = A_IJ L_JJ^-T.
func (f *factorization) exec(ft *ftile, k int, a, b []float64) (string, error) {
	bi := blas64.Implementation()
	t := ft.tile
	_, mk := f.plan.Span(k)
	switch {
	case k < t.t.J && t.t.I == t.t.J:
		bi.Dsyrk(blas.Lower, blas.NoTrans, t.m, mk, -1, a, mk, 1, t.data, t.n)
		return "syrk", nil
	case k < t.t.J:
		bi.Dgemm(blas.NoTrans, blas.Trans, t.m, t.n, mk, -1, a, mk, b, mk, 1, t.data, t.n)
		return "gemm", nil
	case t.t.I == t.t.J:
		if err := hessian.CholeskyLower(t.data, t.m, t.n); err != nil {
			var pe *hessian.PivotError
			if errors.As(err, &pe) {
				pe.Column += t.c0
				pe.Tile = t.t.String()
			}
			return "potrf", err
		}
		for r := range t.m { // the strict upper triangle still holds A: clear it
			clear(t.data[r*t.n+r+1 : (r+1)*t.n])
		}
		return "potrf", nil
	default:
		bi.Dtrsm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, t.m, t.n, 1, a, t.n, t.data, t.n)
		return "trsm", nil
	}
}

// sender pushes the tiles queued for worker r, in the order they were finished.
func (f *factorization) sender(ctx context.Context, r int, q <-chan *ftile) {
	var buf []byte
	for ft := range q {
		if ctx.Err() != nil {
			continue // drain: the factorization stopped
		}
		if buf == nil {
			buf = make([]byte, clusterrpc.ChunkBytes)
		}
		t0 := time.Now()
		if err := f.push(ctx, r, ft, buf); err != nil {
			f.fail(err)
			continue
		}
		f.j.s.metrics.task("push", time.Since(t0).Seconds())
		f.mu.Lock()
		f.tilesSent++
		f.bytesSent += 8 * uint64(len(ft.data))
		f.mu.Unlock()
	}
}

// push sends tile ft to worker r by one PushTile call.
func (f *factorization) push(ctx context.Context, r int, ft *ftile, buf []byte) error {
	addr := f.j.spec.peers[r]
	wrap := func(err error) error {
		return peerError(fmt.Sprintf("sending tile %v to worker %s", ft.t, addr), err)
	}
	client, err := f.j.peer(r)
	if err != nil {
		return wrap(err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.j.s.cfg.PushTimeout)
	defer cancel()
	stream, err := client.PushTile(ctx)
	if err != nil {
		return wrap(err)
	}
	hdr := &pb.TileHeader{Row: uint32(ft.t.I), Col: uint32(ft.t.J), Rows: uint32(ft.m), Cols: uint32(ft.n)}
	err = clusterrpc.SendFloats(ft.data, buf, func(chunk []byte) error {
		msg := &pb.PushTileRequest{JobId: f.j.spec.id, Step: f.step, FromRank: uint32(f.rank), Header: hdr, Chunk: chunk}
		hdr = nil
		return stream.Send(msg)
	})
	if err != nil && err != io.EOF { // io.EOF: the receiver ended the call; CloseAndRecv says why
		return wrap(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return wrap(err)
	}
	return nil
}

// peerError translates the error of a call to a peer into this worker's status: the
// caller of Factor may retry UNAVAILABLE and DEADLINE_EXCEEDED, must re-run the step on
// ABORTED, and sees CANCELED as such; anything else from a peer is a bug of ours
// (INTERNAL).
func peerError(what string, err error) error {
	code := status.Code(err)
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case code == codes.Unavailable, code == codes.DeadlineExceeded, code == codes.Canceled:
	case code == codes.FailedPrecondition, code == codes.Aborted, code == codes.NotFound:
		code = codes.Aborted
	default:
		code = codes.Internal
	}
	return status.Errorf(code, "worker: %s: %v", what, err)
}

// Factor runs the worker's part of the tiled Cholesky factorization.
func (s *Server) Factor(ctx context.Context, req *pb.FactorRequest) (*pb.FactorResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if !j.phase.TryLock() {
		return nil, failed("job %q: another Assemble or Factor is running", j.spec.id)
	}
	defer j.phase.Unlock()
	j.mu.Lock()
	if err := j.checkStepLocked(req.GetStep()); err != nil {
		j.mu.Unlock()
		return nil, err
	}
	f, state := j.fact, j.state
	if state == statePartial {
		j.mu.Unlock()
		return nil, failed("job %q: the factorization of step %d stopped before; Assemble again", j.spec.id, j.step)
	}
	if state == stateFactored {
		j.mu.Unlock()
		return f.resp, nil
	}
	j.state = statePartial
	ctx, cancel := j.context(ctx)
	defer cancel()
	j.stopFactor = cancel
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.stopFactor = nil
		j.mu.Unlock()
	}()
	resp, err := f.run(ctx)
	if err != nil {
		var pe *hessian.PivotError
		switch {
		case errors.As(err, &pe):
			j.log.Warn("not positive definite", "step", req.GetStep(), "column", pe.Column, "tile", pe.Tile, "pivot", pe.Pivot)
			return nil, clusterrpc.PivotStatus(pe, f.pivotAt.I, f.pivotAt.J)
		case j.ctx.Err() != nil:
			return nil, status.Errorf(codes.Canceled, "worker: job %q ended during the factorization", j.spec.id)
		case ctx.Err() != nil:
			return nil, status.Errorf(codes.Canceled, "worker: factorization of step %d cancelled: %v", req.GetStep(), context.Cause(ctx))
		}
		j.log.Warn("factorization failed", "step", req.GetStep(), "err", err)
		return nil, clusterrpc.StatusOf(err)
	}
	j.mu.Lock()
	j.state = stateFactored
	j.mu.Unlock()
	j.log.Debug("factored", "step", req.GetStep(), "seconds", resp.GetSeconds(), "busy_seconds", resp.GetBusySeconds(),
		"tiles_sent", resp.GetTilesSent(), "tiles_received", resp.GetTilesReceived())
	return resp, nil
}

// PushTile receives a factor tile from a peer.
func (s *Server) PushTile(stream pb.Worker_PushTileServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	j, err := s.job(first.GetJobId())
	if err != nil {
		return err
	}
	ctx, cancel := j.context(stream.Context())
	defer cancel()
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "worker: header: missing in the first message")
	}
	t := clusterplan.Tile{I: int(h.GetRow()), J: int(h.GetCol())}
	j.mu.Lock()
	f := j.fact
	j.mu.Unlock()
	if f == nil || f.step != first.GetStep() {
		return failed("job %q: tile %v of step %d arrived, but step %d is not assembled here", j.spec.id, t, first.GetStep(), first.GetStep())
	}
	if f.needs[t] == 0 {
		return status.Errorf(codes.InvalidArgument, "worker: header: tile %v is not read by any tile of rank %d", t, f.rank)
	}
	_, m := f.plan.Span(t.I)
	_, n := f.plan.Span(t.J)
	if int(h.GetRows()) != m || int(h.GetCols()) != n {
		return status.Errorf(codes.InvalidArgument, "worker: header: tile %v is %dx%d, not %dx%d", t, m, n, h.GetRows(), h.GetCols())
	}
	buf := j.s.pool.get(m * n)
	rcv := clusterrpc.NewFloatReceiver(buf)
	for msg := first; ; {
		if err := rcv.Write(msg.GetChunk()); err != nil {
			j.s.pool.put(buf)
			return clusterrpc.StatusOf(err)
		}
		if msg, err = stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			j.s.pool.put(buf)
			return err
		}
		if err := ctx.Err(); err != nil {
			j.s.pool.put(buf)
			return clusterrpc.StatusOf(err)
		}
	}
	if !rcv.Done() {
		j.s.pool.put(buf)
		return status.Errorf(codes.InvalidArgument, "worker: chunk: tile %v ended after %d of %d values", t, rcv.Received(), m*n)
	}
	kept, err := f.deliver(t, buf)
	if err != nil || !kept {
		j.s.pool.put(buf)
	}
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.PushTileResponse{JobId: j.spec.id, Step: f.step})
}
