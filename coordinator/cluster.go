package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// Cluster is a training job on a set of workers: the regularized objective over a
// training set, with the Hessian assembled, factored and solved on the workers. It
// implements hessian.Problem and hessian.TrafficCounter. Use New; Close ends the job.
// A Cluster is not safe for concurrent use: Newton calls it from one goroutine.
//
// The job runs in generations (recovery.go): the workers of a generation hold its tiles
// under its job id; when one is lost, the next generation starts on the survivors.
type Cluster struct {
	cfg     Config
	to      Timeouts
	log     *slog.Logger
	counter *clusterrpc.Counter
	metrics *metrics
	dialOpt []grpc.DialOption

	train  *hessian.Dataset // sent to workers that do not have it
	digest [32]byte         // SHA-256 of its encoding
	size   uint64           // bytes of its encoding
	n      int              // training images
	family string           // the job's name on the workers; generations add "-g<N>"

	gen     uint64 // the current generation, from 1
	jobID   string // family-g<gen>
	plan    clusterplan.Plan
	workers []*remote // of the current generation, in rank order
	step    uint64    // directions begun so far; the step of the next Assemble is step+1
	damping float64   // of the step's assembly

	connMu sync.Mutex                  // protects conns: workers are dialed from several goroutines
	conns  map[string]*grpc.ClientConn // every worker address dialed, reused across generations

	closeOnce sync.Once
	closeErr  error
}

var (
	_ hessian.Problem        = (*Cluster)(nil)
	_ hessian.TrafficCounter = (*Cluster)(nil)
)

// remote is one worker of the current generation.
type remote struct {
	rank   int
	addr   string
	conn   *grpc.ClientConn
	client pb.WorkerClient
	log    *slog.Logger
}

// New connects to the workers (waiting up to cfg.StartupTimeout for those that are not
// serving yet), plans the tile layout, starts the job on every worker and sends the
// training set to those that do not have it cached.
func New(ctx context.Context, cfg Config, train *hessian.Dataset) (*Cluster, error) {
	if len(cfg.Workers) == 0 {
		return nil, errors.New("coordinator: no workers")
	}
	if train.Len() == 0 {
		return nil, errors.New("coordinator: no training images")
	}
	if !(cfg.Eps >= 0) {
		return nil, fmt.Errorf("coordinator: eps = %v, want >= 0", cfg.Eps)
	}
	if _, err := clusterplan.New(hessian.Params, len(cfg.Workers), cfg.TileSize); err != nil {
		return nil, err
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = 2 * time.Minute
	}
	cfg.Liveness = cfg.Liveness.withDefaults()
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	rand.Read(id[:])
	c := &Cluster{
		cfg: cfg, to: cfg.Timeouts.withDefaults(), n: train.Len(), train: train,
		family:  "job-" + hex.EncodeToString(id[:]),
		metrics: newMetrics(cfg.Registry),
		conns:   map[string]*grpc.ClientConn{},
	}
	c.log = logger.With("job", c.family)
	c.counter = &clusterrpc.Counter{Observe: c.metrics.observeBytes}
	c.dialOpt = append(clusterrpc.DialOptions(c.counter, cfg.Credentials),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor),
		grpc.WithChainStreamInterceptor(c.streamInterceptor))
	c.digest, c.size = clusterrpc.DataDigest(train)

	start := time.Now()
	if err := c.waitWorkers(ctx); err != nil {
		c.closeConns()
		return nil, err
	}
	c.log.Info("workers serving", "workers", len(cfg.Workers), "seconds", time.Since(start).Seconds())
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// start forms the first generation; a worker lost while the job starts (while the data
// is sent, say) is left out, like a worker lost later.
func (c *Cluster) start(ctx context.Context) error {
	err := c.form(ctx, c.cfg.Workers)
	for restart := 0; err != nil && ctx.Err() == nil && retryable(err) && restart < c.cfg.Liveness.MaxRestarts; restart++ {
		alive, lost := c.probe(ctx, c.Workers(), c.probeWait())
		if len(alive) == 0 {
			return fmt.Errorf("coordinator: starting the job: every worker is lost (%v): %w", lost, err)
		}
		c.log.Warn("starting the job failed; starting it again", "lost", lost, "workers", len(alive), "err", err)
		err = c.form(ctx, alive)
	}
	return err
}

// hook calls the test hook, if any.
func (c *Cluster) hook(phase string) {
	if c.cfg.testHook != nil {
		c.cfg.testHook(phase)
	}
}

// conn returns the connection to addr, dialing it on first use.
func (c *Cluster) conn(addr string) (*grpc.ClientConn, error) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if cc := c.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, c.dialOpt...)
	if err != nil {
		return nil, fmt.Errorf("coordinator: worker %s: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// form starts the next generation of the job on the workers at addrs (in rank order):
// a new plan, a new job id, StartJob on every worker (which ends the family's older
// generations there) and the training set to those that lack it.
func (c *Cluster) form(ctx context.Context, addrs []string) error {
	plan, err := clusterplan.New(hessian.Params, len(addrs), c.cfg.TileSize)
	if err != nil {
		return err
	}
	c.gen++
	c.jobID = fmt.Sprintf("%s-g%d", c.family, c.gen)
	c.plan = plan
	c.workers = c.workers[:0:0]
	for r, addr := range addrs {
		conn, err := c.conn(addr)
		if err != nil {
			return err
		}
		c.workers = append(c.workers, &remote{rank: r, addr: addr, conn: conn, client: pb.NewWorkerClient(conn),
			log: c.log.With("worker", addr, "rank", r, "generation", c.gen)})
	}
	c.metrics.workers.Set(float64(len(c.workers)))
	c.log.Info("job generation", "generation", c.gen, "workers", len(addrs), "grid", fmt.Sprintf("%dx%d", plan.Rows, plan.Cols),
		"tile", plan.TileSize, "tiles", plan.Tiles())
	return c.startJob(ctx)
}

// Plan returns the tile layout of the current generation.
func (c *Cluster) Plan() clusterplan.Plan { return c.plan }

// Generation returns the current generation of the job: 1, plus one for every time it
// was started again on another set of workers.
func (c *Cluster) Generation() uint64 { return c.gen }

// Workers returns the current workers' addresses in rank order.
func (c *Cluster) Workers() []string {
	out := make([]string, len(c.workers))
	for i, w := range c.workers {
		out[i] = w.addr
	}
	return out
}

// Traffic returns the gRPC message bytes the coordinator sent to and received from its
// workers so far.
func (c *Cluster) Traffic() (sent, received int64) { return c.counter.Totals() }

// startJob creates the current generation's job on every worker and uploads the
// training set where it is not cached.
func (c *Cluster) startJob(ctx context.Context) error {
	pbPlan := &pb.Plan{
		Order: uint32(c.plan.N), TileSize: uint32(c.plan.TileSize),
		GridRows: uint32(c.plan.Rows), GridCols: uint32(c.plan.Cols), Workers: c.Workers(),
	}
	return c.each(ctx, func(ctx context.Context, w *remote) error {
		cctx, cancel := context.WithTimeout(ctx, c.to.StartJob)
		resp, err := w.client.StartJob(cctx, &pb.StartJobRequest{
			JobId: c.jobID, Plan: pbPlan, Rank: uint32(w.rank), Eps: c.cfg.Eps,
			DataSha256: c.digest[:], Images: uint64(c.train.Len()), Nonzeros: uint64(c.train.NonZeros()),
			Family: c.family, Generation: c.gen,
		})
		cancel()
		if err != nil {
			return w.errorf("StartJob", err)
		}
		if err := c.check(w, "StartJob", resp.GetJobId(), resp.GetStep(), 0); err != nil {
			return err
		}
		if resp.GetDataCached() {
			w.log.Info("job started; data cached", "sha256", hex.EncodeToString(c.digest[:8]))
			return nil
		}
		start := time.Now()
		c.hook("upload")
		if err := c.upload(ctx, w, c.train, c.digest, c.size); err != nil {
			return err
		}
		w.log.Info("job started; data sent", "bytes", c.size, "seconds", time.Since(start).Seconds())
		return nil
	})
}

// check refuses an answer that is not for the current job and the step of its request:
// a late answer of a superseded generation, or a confused worker.
func (c *Cluster) check(w *remote, method, jobID string, step, want uint64) error {
	if jobID != c.jobID || step != want {
		return w.errorf(method, &StaleAnswerError{JobID: jobID, Step: step, WantJobID: c.jobID, WantStep: want})
	}
	return nil
}

// StaleAnswerError is an answer for another job or step than the request's.
type StaleAnswerError struct {
	JobID, WantJobID string
	Step, WantStep   uint64
}

// Error names both.
func (e *StaleAnswerError) Error() string {
	return fmt.Sprintf("stale answer: job %q step %d, want job %q step %d (refused)", e.JobID, e.Step, e.WantJobID, e.WantStep)
}

// upload streams the training set's encoding to w in chunks.
func (c *Cluster) upload(ctx context.Context, w *remote, train *hessian.Dataset, sum [32]byte, size uint64) error {
	ctx, cancel := context.WithTimeout(ctx, c.to.Upload)
	defer cancel()
	stream, err := w.client.UploadData(ctx)
	if err != nil {
		return w.errorf("UploadData", err)
	}
	hdr := &pb.DataHeader{Sha256: sum[:], Images: uint64(train.Len()), Nonzeros: uint64(train.NonZeros()), Size: size}
	r := clusterrpc.NewDataReader(train)
	buf := make([]byte, clusterrpc.ChunkBytes)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&pb.UploadDataRequest{JobId: c.jobID, Header: hdr, Chunk: buf[:n]}); err != nil {
				if err == io.EOF { // the worker ended the call; CloseAndRecv says why
					break
				}
				return w.errorf("UploadData", err)
			}
			hdr = nil
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return w.errorf("UploadData", rerr)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return w.errorf("UploadData", err)
	}
	return nil
}

// Close ends the job on every worker (freeing their tiles; the data stays in their
// caches) and closes the connections. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.to.EndJob)
		defer cancel()
		c.closeErr = c.endJob(ctx, c.workers)
		c.closeConns()
	})
	return c.closeErr
}

// endJob ends the current generation's job on the workers ws.
func (c *Cluster) endJob(ctx context.Context, ws []*remote) error {
	return c.some(ctx, ws, func(ctx context.Context, w *remote) error {
		if _, err := w.client.EndJob(ctx, &pb.EndJobRequest{JobId: c.jobID, Step: c.step}); err != nil {
			return w.errorf("EndJob", err)
		}
		return nil
	})
}

func (c *Cluster) closeConns() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	for _, cc := range c.conns {
		cc.Close()
	}
}

// each runs f for every worker at once and returns the first error by rank; the first
// failure cancels the others' contexts.
func (c *Cluster) each(ctx context.Context, f func(ctx context.Context, w *remote) error) error {
	return c.some(ctx, c.workers, f)
}

// some runs f for the given workers at once, like each.
func (c *Cluster) some(ctx context.Context, ws []*remote, f func(ctx context.Context, w *remote) error) error {
	return forEach(ctx, ws, f)
}

// forEach runs f for every item at once and returns the first failure in time, which
// cancels the others' contexts.
func forEach[T any](ctx context.Context, ws []T, f func(ctx context.Context, w T) error) error {
	if len(ws) == 1 {
		return f(ctx, ws[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex // protects first
		first error      // the first failure in time; the others are often its echo (CANCELED)
		wg    sync.WaitGroup
	)
	for _, w := range ws {
		wg.Go(func() {
			if err := f(ctx, w); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return first
}

// errorf wraps the error of a call to w with the worker's address and the method.
func (w *remote) errorf(method string, err error) error {
	if pe := clusterrpc.PivotFromError(err); pe != nil {
		return pe
	}
	return &WorkerError{Addr: w.addr, Rank: w.rank, Method: method, Err: err}
}

// WorkerError is a failed call to a worker.
type WorkerError struct {
	Addr   string // host:port
	Rank   int
	Method string // the RPC
	Err    error  // the status error
}

// Error names the worker, the call and gRPC's code and message.
func (e *WorkerError) Error() string {
	if st, ok := status.FromError(e.Err); ok {
		return fmt.Sprintf("worker %s (rank %d): %s: %s: %s", e.Addr, e.Rank, e.Method, st.Code(), st.Message())
	}
	return fmt.Sprintf("worker %s (rank %d): %s: %v", e.Addr, e.Rank, e.Method, e.Err)
}

// Unwrap returns the status error.
func (e *WorkerError) Unwrap() error { return e.Err }

// unaryInterceptor counts calls and their durations by method and code.
func (c *Cluster) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	c.metrics.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	c.metrics.seconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return err
}

// streamInterceptor counts stream calls by method (their opening).
func (c *Cluster) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	c.metrics.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	return s, err
}
