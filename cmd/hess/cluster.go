package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hessian-cluster/hess/coordinator"
	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/worker"
)

// clusterFlags choose where the Newton system is assembled and solved.
type clusterFlags struct {
	Workers        string
	ExpectWorkers  int
	TileSize       int
	StartupTimeout time.Duration
	Metrics        string
	InProcess      int
	Security       securityFlags
}

// register adds the flags; defInProcess is the default of --in-process.
func (cf *clusterFlags) register(fs *flag.FlagSet, defInProcess int) {
	fs.StringVar(&cf.Workers, "workers", "", "workers host:port,host:port,... or a DNS name:port that resolves to several (a headless Service, a Compose service); empty: --in-process workers")
	fs.IntVar(&cf.ExpectWorkers, "expect-workers", 0, "wait (up to --startup-timeout) until --workers gives exactly this many workers (0: take what resolves now)")
	fs.IntVar(&cf.TileSize, "tile-size", 0, "side of the matrix tiles on the workers (0: the coordinator chooses)")
	fs.DurationVar(&cf.StartupTimeout, "startup-timeout", 2*time.Minute, "how long to wait for workers that are not serving yet")
	fs.StringVar(&cf.Metrics, "metrics", "", "serve the coordinator's Prometheus metrics on this address (e.g. :9091)")
	cf.Security.register(fs)
	fs.IntVar(&cf.InProcess, "in-process", defInProcess, "without --workers: the number of workers started in this process on loopback ports (0: no gRPC, the single-process reference)")
}

// check validates the flags.
func (cf *clusterFlags) check() error {
	switch {
	case cf.ExpectWorkers < 0:
		return fmt.Errorf("--expect-workers %d: want >= 0", cf.ExpectWorkers)
	case cf.TileSize < 0 || cf.TileSize > hessian.Params:
		return fmt.Errorf("--tile-size %d: want 0 (choose) or 1..%d", cf.TileSize, hessian.Params)
	case cf.StartupTimeout <= 0:
		return fmt.Errorf("--startup-timeout %v: want > 0", cf.StartupTimeout)
	case cf.InProcess < 0 || cf.InProcess > 64:
		return fmt.Errorf("--in-process %d: want 0..64", cf.InProcess)
	}
	return nil
}

// newProblem returns the objective over train as the cluster flags ask: on the workers
// of --workers, on --in-process loopback workers, or (--in-process 0) in one process.
// The returned function ends the job and stops what was started.
func newProblem(ctx context.Context, train *hessian.Dataset, eps float64, cf clusterFlags, logger *slog.Logger, progress hessian.ProgressFunc) (hessian.Problem, func() error, error) {
	if err := cf.check(); err != nil {
		return nil, nil, err
	}
	if cf.Workers == "" && cf.InProcess == 0 {
		l, err := hessian.NewLocal(train, eps)
		if err != nil {
			return nil, nil, err
		}
		l.Progress = progress
		return l, func() error { return nil }, nil
	}
	var stops []func() error
	stop := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	reg := prometheus.NewRegistry()
	if cf.Metrics != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		closeMetrics, err := serveMetrics(cf.Metrics, reg, logger)
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, closeMetrics)
	}
	creds, err := cf.Security.load()
	if err != nil {
		stop()
		return nil, nil, err
	}
	var addrs []string
	var discover func(context.Context) ([]string, error)
	if cf.Workers == "" {
		lb, err := worker.StartLoopback(cf.InProcess, worker.Config{Logger: logger.With("in_process", true), Credentials: creds})
		if err != nil {
			stop()
			return nil, nil, err
		}
		stops = append(stops, lb.Close)
		addrs = lb.Addrs
		logger.Info("in-process workers", "workers", addrs)
	} else {
		var err error
		addrs, err = coordinator.Resolve(ctx, nil, cf.Workers, cf.ExpectWorkers, cf.StartupTimeout)
		if err != nil {
			stop()
			return nil, nil, err
		}
		logger.Info("workers", "workers", addrs)
		// Before every step: whoever the name gives now (new workers, lost ones back).
		discover = func(ctx context.Context) ([]string, error) {
			return coordinator.Resolve(ctx, nil, cf.Workers, 0, 10*time.Second)
		}
	}
	c, err := coordinator.New(ctx, coordinator.Config{
		Workers: addrs, TileSize: cf.TileSize, Eps: eps, StartupTimeout: cf.StartupTimeout,
		Logger: logger, Registry: reg, Progress: progress, Discover: discover, Credentials: creds,
	}, train)
	if err != nil {
		stop()
		if hint := tlsHint(err, creds); hint != "" {
			err = fmt.Errorf("%w (%s)", err, hint)
		}
		return nil, nil, err
	}
	stops = append(stops, c.Close)
	return c, stop, nil
}

// serveMetrics serves reg's metrics at addr/metrics until the returned function is called.
func serveMetrics(addr string, reg *prometheus.Registry, logger *slog.Logger) (func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "addr", addr, "err", err)
		}
	}()
	logger.Info("metrics", "addr", lis.Addr().String())
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		<-done
		return err
	}, nil
}
