package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// Config configures a worker. Zero values take the documented defaults.
type Config struct {
	// Logger receives the worker's structured logs; every line carries "worker" (the
	// listening address). nil discards them.
	Logger *slog.Logger
	// Registry receives the worker's Prometheus metrics; nil makes a new one (see
	// Server.Registry).
	Registry *prometheus.Registry
	// MaxDataBytes bounds the memory a training set may take once decoded; larger uploads
	// are refused before anything is allocated. 0 means 1 GiB (MNIST takes 28 MB).
	MaxDataBytes uint64
	// CacheEntries is the number of training sets kept in the cache after their jobs end.
	// 0 means 2.
	CacheEntries int
	// Parallelism is the number of tile tasks run at once. 0 means GOMAXPROCS.
	Parallelism int
	// PushTimeout is the deadline of each PushTile call to a peer. 0 means 2 minutes.
	PushTimeout time.Duration
	// GracePeriod is how long Serve waits, once its context is done, for calls in
	// progress to finish before it closes their connections. 0 means 5 seconds.
	GracePeriod time.Duration
	// Credentials, when not nil, secure the worker: clients must present them (mutual TLS,
	// the token), and the worker presents them to its peers.
	Credentials *clusterrpc.Credentials
}

// Server is a worker: a gRPC server of the hessian.v1.Worker service and of the standard
// health service. Use New, then Serve; Close stops it.
type Server struct {
	pb.UnimplementedWorkerServer

	cfg     Config
	log     atomic.Pointer[slog.Logger]
	grpc    *grpc.Server
	health  *health.Server
	reg     *prometheus.Registry
	metrics *metrics
	peerRPC *clusterrpc.Counter // bytes of this worker's calls to its peers
	rpc     *clusterrpc.Counter // bytes of the calls it serves
	pool    bufPool             // buffers of tiles received from peers

	base       context.Context // parent of every job's context; done at shutdown
	cancelBase context.CancelFunc
	stopOnce   sync.Once

	mu       sync.Mutex // protects jobs, families and cache
	jobs     map[string]*job
	families map[string]uint64 // the highest generation started of each job family
	cache    dataCache
}

var _ pb.WorkerServer = (*Server)(nil)

// New returns a worker that is not serving yet.
func New(cfg Config) (*Server, error) {
	if cfg.MaxDataBytes == 0 {
		cfg.MaxDataBytes = 1 << 30
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 2
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	if cfg.PushTimeout <= 0 {
		cfg.PushTimeout = 2 * time.Minute
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = 5 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:      cfg,
		health:   health.NewServer(),
		reg:      reg,
		jobs:     map[string]*job{},
		families: map[string]uint64{},
		cache:    dataCache{max: cfg.CacheEntries},
	}
	s.log.Store(logger)
	s.metrics = newMetrics(reg)
	s.peerRPC = &clusterrpc.Counter{Observe: s.metrics.observeBytes}
	s.rpc = &clusterrpc.Counter{Observe: s.metrics.observeBytes}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.grpc = grpc.NewServer(clusterrpc.ServerOptions(s.rpc, cfg.Credentials, s.logger)...)
	pb.RegisterWorkerServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(pb.Worker_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// Health returns the worker's health service, to serve on another listener too (a
// plaintext port for probes that cannot present the cluster's certificates).
func (s *Server) Health() *health.Server { return s.health }

// Registry returns the registry of the worker's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// MetricsHandler returns an HTTP handler that serves the worker's metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// logger returns the worker's logger (with its address once Serve has it).
func (s *Server) logger() *slog.Logger { return s.log.Load() }

// Serve serves on lis until ctx is done or Close is called. When ctx is done it stops
// gracefully: health turns NOT_SERVING, the jobs' work is cancelled, calls in progress get
// GracePeriod to finish, then connections are closed. It returns nil after such a stop.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	addr := lis.Addr().String()
	s.log.Store(s.logger().With("worker", addr))
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(pb.Worker_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.logger().Info("serving", "parallelism", s.cfg.Parallelism)
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	var err error
	select {
	case <-ctx.Done():
		s.stop(s.cfg.GracePeriod)
		err = <-errc
	case err = <-errc:
		s.stop(0)
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	s.logger().Info("stopped")
	return err
}

// Close stops the worker at once: its jobs are cancelled and its connections closed. It
// is safe to call more than once and from several goroutines.
func (s *Server) Close() error {
	s.stop(0)
	return nil
}

// stop shuts the worker down once; with a grace period, calls in progress may finish.
func (s *Server) stop(grace time.Duration) {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		s.cancelBase() // every job's work stops, so calls in progress end quickly
		if grace > 0 {
			t := time.AfterFunc(grace, s.grpc.Stop)
			s.grpc.GracefulStop()
			t.Stop()
		} else {
			s.grpc.Stop()
		}
		s.mu.Lock()
		jobs := s.jobs
		s.jobs = map[string]*job{}
		s.mu.Unlock()
		for _, j := range jobs {
			j.end()
		}
		s.metrics.jobs.Set(0)
	})
}

// DataBytesReceived returns the training-set bytes received by UploadData so far.
func (s *Server) DataBytesReceived() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.received
}

// job returns the job of a request, or NOT_FOUND.
func (s *Server) job(id string) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil, status.Errorf(codes.NotFound, "worker: no job %q (StartJob first, or it ended)", id)
	}
	return j, nil
}

// StartJob creates a job, or confirms an identical one.
func (s *Server) StartJob(ctx context.Context, req *pb.StartJobRequest) (*pb.StartJobResponse, error) {
	spec, err := parseJob(req)
	if err != nil {
		return nil, clusterrpc.StatusOf(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base.Err() != nil {
		return nil, status.Error(codes.Unavailable, "worker: shutting down")
	}
	if j := s.jobs[req.GetJobId()]; j != nil {
		if !j.spec.equal(spec) {
			return nil, status.Errorf(codes.AlreadyExists, "worker: job %q exists with other parameters", req.GetJobId())
		}
		return &pb.StartJobResponse{JobId: req.GetJobId(), Step: req.GetStep(), DataCached: j.hasData()}, nil
	}
	if spec.family != "" {
		if g, ok := s.families[spec.family]; ok && spec.generation < g {
			return nil, status.Errorf(codes.FailedPrecondition, "worker: job %q: generation %d of family %q is superseded by generation %d",
				spec.id, spec.generation, spec.family, g)
		}
		s.families[spec.family] = spec.generation
		for id, old := range s.jobs {
			if old.spec.family == spec.family && old.spec.generation < spec.generation {
				delete(s.jobs, id)
				old.end()
				old.log.Info("job superseded", "by", spec.id, "generation", spec.generation)
			}
		}
	}
	j := newJob(s, spec)
	if e := s.cache.get(spec.hash); e != nil {
		if e.d.Len() != int(spec.images) || e.d.NonZeros() != int64(spec.nonzeros) {
			return nil, status.Errorf(codes.InvalidArgument, "worker: data sha256 %x has %d images and %d non-zeros, not %d and %d",
				spec.hash, e.d.Len(), e.d.NonZeros(), spec.images, spec.nonzeros)
		}
		j.attach(e)
	}
	s.jobs[spec.id] = j
	s.metrics.jobs.Set(float64(len(s.jobs)))
	j.log.Info("job started", "workers", spec.plan.Workers(), "grid", fmt.Sprintf("%dx%d", spec.plan.Rows, spec.plan.Cols),
		"tile", spec.plan.TileSize, "eps", spec.eps, "data_cached", j.hasData())
	return &pb.StartJobResponse{JobId: spec.id, Step: req.GetStep(), DataCached: j.hasData()}, nil
}

// UploadData receives a training set, checks it, caches it and gives it to the job.
func (s *Server) UploadData(stream pb.Worker_UploadDataServer) error {
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
	if h != nil && (string(h.GetSha256()) != string(j.spec.hash[:]) || h.GetImages() != j.spec.images || h.GetNonzeros() != j.spec.nonzeros) {
		return status.Errorf(codes.InvalidArgument, "worker: header (sha256 %x, %d images, %d non-zeros) differs from the job's (%x, %d, %d)",
			h.GetSha256(), h.GetImages(), h.GetNonzeros(), j.spec.hash, j.spec.images, j.spec.nonzeros)
	}
	dec, err := clusterrpc.NewDataDecoder(h, s.cfg.MaxDataBytes)
	if err != nil {
		return clusterrpc.StatusOf(err)
	}
	start := time.Now()
	msg := first
	for {
		if _, err := dec.Write(msg.GetChunk()); err != nil {
			return clusterrpc.StatusOf(err)
		}
		if err := ctx.Err(); err != nil {
			return clusterrpc.StatusOf(err)
		}
		msg, err = stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(msg.GetChunk()) > clusterrpc.ChunkBytes {
			return status.Errorf(codes.InvalidArgument, "worker: chunk of %d bytes, above %d", len(msg.GetChunk()), clusterrpc.ChunkBytes)
		}
	}
	d, err := dec.Finish()
	if err != nil {
		return clusterrpc.StatusOf(err)
	}
	s.mu.Lock()
	e := s.cache.put(j.spec.hash, d, dec.Received())
	s.mu.Unlock()
	s.metrics.dataBytes.Add(float64(dec.Received()))
	j.attach(e)
	j.log.Info("data received", "images", d.Len(), "nonzeros", d.NonZeros(), "bytes", dec.Received(), "seconds", time.Since(start).Seconds())
	return stream.SendAndClose(&pb.UploadDataResponse{JobId: j.spec.id, Step: first.GetStep(), BytesReceived: dec.Received()})
}

// EndJob cancels a job's work and drops its state.
func (s *Server) EndJob(ctx context.Context, req *pb.EndJobRequest) (*pb.EndJobResponse, error) {
	s.mu.Lock()
	j := s.jobs[req.GetJobId()]
	delete(s.jobs, req.GetJobId())
	s.metrics.jobs.Set(float64(len(s.jobs)))
	s.mu.Unlock()
	if j != nil {
		j.end()
		j.log.Info("job ended")
	}
	return &pb.EndJobResponse{JobId: req.GetJobId(), Step: req.GetStep()}, nil
}
