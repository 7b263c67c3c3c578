package coordinator

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
)

// Timeouts are the deadlines of the coordinator's calls to its workers. Zero fields take
// the defaults of DefaultTimeouts, chosen as about 100 times what a call takes on a
// 2-core machine with the full 60000-image training set, so that they end only calls
// that are stuck.
type Timeouts struct {
	Health         time.Duration // one health check
	StartJob       time.Duration
	Upload         time.Duration // the whole training-set stream
	Evaluate       time.Duration
	Assemble       time.Duration
	Factor         time.Duration
	TriangularStep time.Duration
	FetchTile      time.Duration
	EndJob         time.Duration
	Reduce         time.Duration // ReduceStart, FetchPanel and ReduceColumn (eigen.go)
	UpdateTrailing time.Duration
	CountNonzeros  time.Duration
}

// DefaultTimeouts are the deadlines documented in proto/hessian/v1/hessian.proto.
var DefaultTimeouts = Timeouts{
	Health:         5 * time.Second,
	StartJob:       30 * time.Second,
	Upload:         10 * time.Minute,
	Evaluate:       2 * time.Minute,
	Assemble:       30 * time.Minute,
	Factor:         30 * time.Minute,
	TriangularStep: 30 * time.Second,
	FetchTile:      2 * time.Minute,
	EndJob:         30 * time.Second,
	Reduce:         30 * time.Second,
	UpdateTrailing: 2 * time.Minute,
	CountNonzeros:  2 * time.Minute,
}

// withDefaults fills the zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	for _, f := range []struct{ v, def *time.Duration }{
		{&t.Health, &d.Health}, {&t.StartJob, &d.StartJob}, {&t.Upload, &d.Upload},
		{&t.Evaluate, &d.Evaluate}, {&t.Assemble, &d.Assemble}, {&t.Factor, &d.Factor},
		{&t.TriangularStep, &d.TriangularStep}, {&t.FetchTile, &d.FetchTile}, {&t.EndJob, &d.EndJob},
		{&t.Reduce, &d.Reduce}, {&t.UpdateTrailing, &d.UpdateTrailing}, {&t.CountNonzeros, &d.CountNonzeros},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return t
}

// Config configures a Cluster. Zero values take the documented defaults.
type Config struct {
	// Workers are the workers' addresses (host:port), in rank order, as Resolve returns
	// them. At least one.
	Workers []string
	// TileSize is the side of the matrix tiles; 0 lets clusterplan.DefaultTileSize choose.
	TileSize int
	// Eps is the weight of the Laplacian penalty, >= 0.
	Eps float64
	// StartupTimeout bounds the wait for workers that are not serving yet. 0 means 2
	// minutes.
	StartupTimeout time.Duration
	// Timeouts are the deadlines of the calls.
	Timeouts Timeouts
	// Logger receives the coordinator's logs; lines about a worker carry its address
	// ("worker"). nil discards them.
	Logger *slog.Logger
	// Registry, if not nil, receives the coordinator's Prometheus metrics.
	Registry prometheus.Registerer
	// Progress, if not nil, hears how far long phases have come (phase, done, total).
	Progress func(phase string, done, total int)
	// Liveness sets how workers are watched and how often a phase is restarted after a
	// worker is lost.
	Liveness Liveness
	// Discover, if not nil, returns the workers that should take part now (for example
	// by resolving the --workers DNS name again). It is called before every Newton
	// direction; serving workers it names that are not in the job (new ones, or lost
	// ones that came back) join from that step on. nil: Workers, fixed.
	Discover func(ctx context.Context) ([]string, error)
	// Credentials, when not nil, are presented to the workers (mutual TLS, the token).
	Credentials *clusterrpc.Credentials

	// testHook, when not nil, is called as each sub-phase begins ("upload", "evaluate",
	// "assemble", "factor", "solve", "reduce", "reduce-panel" for every panel, "spy"): the
	// tests inject faults there.
	testHook func(phase string)
}

// Liveness configures failure detection and recovery. Zero fields take the defaults.
type Liveness struct {
	// Heartbeat is the interval of the health checks of every worker while a phase runs.
	// 0 means 1 s.
	Heartbeat time.Duration
	// DeadAfter: a worker that has not answered a health check with SERVING for this long
	// is given up for dead, and the phase is cancelled and restarted without it. A worker
	// killed outright is noticed sooner, by the failure of its calls. 0 means 10 s.
	DeadAfter time.Duration
	// MaxRestarts bounds the restarts of one phase. 0 means 3.
	MaxRestarts int
}

func (l Liveness) withDefaults() Liveness {
	if l.Heartbeat <= 0 {
		l.Heartbeat = time.Second
	}
	if l.DeadAfter <= 0 {
		l.DeadAfter = 10 * time.Second
	}
	if l.MaxRestarts <= 0 {
		l.MaxRestarts = 3
	}
	return l
}
