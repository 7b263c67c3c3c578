package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// jobSpec is what StartJob fixes for the life of a job.
type jobSpec struct {
	id               string
	plan             clusterplan.Plan
	peers            []string // worker addresses in rank order
	rank             int
	eps              float64
	hash             [32]byte
	images, nonzeros uint64
	family           string // the training job; "" for none
	generation       uint64 // within the family: a higher one supersedes
}

func (a jobSpec) equal(b jobSpec) bool {
	return a.id == b.id && a.plan == b.plan && slices.Equal(a.peers, b.peers) && a.rank == b.rank &&
		a.eps == b.eps && a.hash == b.hash && a.images == b.images && a.nonzeros == b.nonzeros &&
		a.family == b.family && a.generation == b.generation
}

// parseJob checks a StartJob request. Errors are *clusterrpc.FieldError.
func parseJob(req *pb.StartJobRequest) (jobSpec, error) {
	bad := func(field, format string, args ...any) (jobSpec, error) {
		return jobSpec{}, &clusterrpc.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if id := req.GetJobId(); id == "" || len(id) > 128 {
		return bad("job_id", "%q, want 1 to 128 bytes", id)
	}
	p := req.GetPlan()
	if p == nil {
		return bad("plan", "missing")
	}
	plan := clusterplan.Plan{N: int(p.GetOrder()), TileSize: int(p.GetTileSize()), Rows: int(p.GetGridRows()), Cols: int(p.GetGridCols())}
	if plan.N != hessian.Params {
		return bad("plan.order", "%d, want %d (784 pixels x 10 classes)", plan.N, hessian.Params)
	}
	if err := plan.Validate(); err != nil {
		return bad("plan", "%v", err)
	}
	if len(p.GetWorkers()) != plan.Workers() {
		return bad("plan.workers", "%d addresses for a %dx%d grid", len(p.GetWorkers()), plan.Rows, plan.Cols)
	}
	if int(req.GetRank()) >= plan.Workers() {
		return bad("rank", "%d, want below %d", req.GetRank(), plan.Workers())
	}
	if eps := req.GetEps(); !(eps >= 0) || math.IsInf(eps, 0) {
		return bad("eps", "%v, want finite and >= 0", eps)
	}
	if len(req.GetDataSha256()) != 32 {
		return bad("data_sha256", "%d bytes, want 32", len(req.GetDataSha256()))
	}
	if req.GetImages() < 1 || req.GetImages() > clusterrpc.MaxImages {
		return bad("images", "%d, want 1..%d", req.GetImages(), clusterrpc.MaxImages)
	}
	if req.GetNonzeros() > req.GetImages()*hessian.Pixels {
		return bad("nonzeros", "%d, more than 784 per image", req.GetNonzeros())
	}
	if len(req.GetFamily()) > 128 {
		return bad("family", "%d bytes, want at most 128", len(req.GetFamily()))
	}
	spec := jobSpec{
		id: req.GetJobId(), plan: plan, peers: slices.Clone(p.GetWorkers()), rank: int(req.GetRank()),
		eps: req.GetEps(), images: req.GetImages(), nonzeros: req.GetNonzeros(),
		family: req.GetFamily(), generation: req.GetGeneration(),
	}
	copy(spec.hash[:], req.GetDataSha256())
	return spec, nil
}

// Tile states (pb.TileState) of a job's tiles.
const (
	stateAssembled = pb.TileState_TILE_STATE_ASSEMBLED
	statePartial   = pb.TileState_TILE_STATE_PARTIAL
	stateFactored  = pb.TileState_TILE_STATE_FACTORED
)

// tile is one of the worker's own tiles: rows [r0, r0+m) and columns [c0, c0+n) of the
// matrix, row-major with leading dimension n.
type tile struct {
	t            clusterplan.Tile
	r0, m, c0, n int
	data         []float64 // the assembled block, then its factor
}

// job is the worker's state for one job. Its tiles are allocated at the first Assemble
// and reused by later steps.
type job struct {
	s    *Server
	spec jobSpec
	log  *slog.Logger

	ctx    context.Context // done when the job ends (EndJob, shutdown)
	cancel context.CancelFunc

	// phase serializes the calls that write the tiles (Assemble, Factor: Lock) against
	// each other and against those that read them (TriangularStep, FetchTile: RLock).
	// Factor and the readers use TryLock: a call that finds another one running is
	// refused, not queued. Assemble starts a new step, which supersedes the old one: it
	// cancels a factorization in progress and waits for it to stop (lockForStep).
	phase sync.RWMutex

	mu    sync.Mutex // protects data, step, state, curv, fact, tiles, byPos and red
	data  *dataEntry
	step  uint64
	state pb.TileState       // of all tiles; UNSPECIFIED before the first Assemble completes
	curv  *hessian.Curvature // of the step's weights: for HessianProduct
	fact  *factorization
	// stopFactor cancels the factorization in progress, if any.
	stopFactor context.CancelFunc
	tiles      []*tile // own tiles in plan order
	byPos      map[clusterplan.Tile]*tile
	red        *reduction // the tridiagonal reduction of the tiles (eigen.go), if one began

	connMu sync.Mutex // protects conns and ended
	conns  map[int]*grpc.ClientConn
	ended  bool
}

func newJob(s *Server, spec jobSpec) *job {
	j := &job{s: s, spec: spec, conns: map[int]*grpc.ClientConn{}}
	j.ctx, j.cancel = context.WithCancel(s.base)
	j.log = s.logger().With("job", spec.id, "rank", spec.rank)
	return j
}

// context returns a context that is done when either the call's ctx or the job is.
func (j *job) context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(j.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (j *job) hasData() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.data != nil
}

func (j *job) attach(e *dataEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.data = e
}

// dataset returns the job's training set, or FAILED_PRECONDITION.
func (j *job) dataset() (*dataEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.data == nil {
		return nil, failed("job %q has no training set yet (UploadData first)", j.spec.id)
	}
	return j.data, nil
}

// end cancels the job's work and closes its connections to peers.
func (j *job) end() {
	j.cancel()
	j.connMu.Lock()
	defer j.connMu.Unlock()
	j.ended = true
	for r, c := range j.conns {
		c.Close()
		delete(j.conns, r)
	}
	j.mu.Lock()
	var held, bytes int
	for _, t := range j.tiles {
		held++
		bytes += 8 * len(t.data)
	}
	j.tiles, j.byPos, j.fact, j.curv = nil, nil, nil, nil
	j.mu.Unlock()
	j.s.metrics.tilesHeld.Sub(float64(held))
	j.s.metrics.tileBytes.Sub(float64(bytes))
}

// peer returns a client of the worker of rank r, connecting on first use.
func (j *job) peer(r int) (pb.WorkerClient, error) {
	j.connMu.Lock()
	defer j.connMu.Unlock()
	if j.ended {
		return nil, context.Canceled
	}
	c := j.conns[r]
	if c == nil {
		var err error
		if c, err = clusterrpc.Dial(j.spec.peers[r], j.s.peerRPC, j.s.cfg.Credentials); err != nil {
			return nil, fmt.Errorf("worker %s: %w", j.spec.peers[r], err)
		}
		j.conns[r] = c
	}
	return pb.NewWorkerClient(c), nil
}

// lockForStep takes the phase lock for a new step's Assemble: it cancels a
// factorization in progress and waits, polling, until it has stopped or ctx ends.
func (j *job) lockForStep(ctx context.Context) error {
	j.mu.Lock()
	if j.stopFactor != nil {
		j.stopFactor()
	}
	j.mu.Unlock()
	for !j.phase.TryLock() {
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return failed("job %q: the work of the previous step did not stop in time: %v", j.spec.id, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// checkStep returns FAILED_PRECONDITION unless step is the job's current step. The
// caller holds j.mu.
func (j *job) checkStepLocked(step uint64) error {
	if j.state == pb.TileState_TILE_STATE_UNSPECIFIED || step != j.step {
		return failed("job %q is at step %d (assembled: %v), not %d", j.spec.id, j.step, j.state != pb.TileState_TILE_STATE_UNSPECIFIED, step)
	}
	return nil
}

// dataEntry is a cached training set with its pixel index, built on first use.
type dataEntry struct {
	hash  [32]byte
	d     *hessian.Dataset
	once  sync.Once
	index *hessian.Index
	used  uint64 // the cache's clock at the last use
}

// idx returns the pixel-range index of the set, building it once.
func (e *dataEntry) idx() *hessian.Index {
	e.once.Do(func() { e.index = hessian.NewIndex(e.d) })
	return e.index
}

// dataCache keeps the last max training sets by their SHA-256. Jobs hold their entry,
// so eviction never takes a set from a running job. Not safe for concurrent use (the
// Server's mu guards it).
type dataCache struct {
	max      int
	clock    uint64
	entries  map[[32]byte]*dataEntry
	received uint64 // bytes received by UploadData, for tests and logs
}

func (c *dataCache) get(h [32]byte) *dataEntry {
	e := c.entries[h]
	if e != nil {
		c.clock++
		e.used = c.clock
	}
	return e
}

func (c *dataCache) put(h [32]byte, d *hessian.Dataset, bytes uint64) *dataEntry {
	c.received += bytes
	if e := c.get(h); e != nil {
		return e // a concurrent upload of the same set won
	}
	if c.entries == nil {
		c.entries = map[[32]byte]*dataEntry{}
	}
	for len(c.entries) >= c.max {
		var oldest *dataEntry
		for _, e := range c.entries {
			if oldest == nil || e.used < oldest.used {
				oldest = e
			}
		}
		delete(c.entries, oldest.hash)
	}
	c.clock++
	e := &dataEntry{hash: h, d: d, used: c.clock}
	c.entries[h] = e
	return e
}

// bufPool recycles the buffers of tiles received from peers, by length, so that the
// factorizations of successive steps reuse them instead of loading the garbage collector.
type bufPool struct {
	mu   sync.Mutex // protects free
	free map[int][][]float64
}

func (p *bufPool) get(n int) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		return b
	}
	return make([]float64, n)
}

func (p *bufPool) put(b []float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[int][][]float64{}
	}
	p.free[len(b)] = append(p.free[len(b)], b)
}
