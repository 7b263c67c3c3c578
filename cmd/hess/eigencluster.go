package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hessian-cluster/hess/coordinator"
	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	"github.com/hessian-cluster/hess/worker"
)

// analysisCluster is the set of workers that rank, spectrum and spy run their jobs on:
// one job per batch and penalty (a job's training set and eps are fixed), each
// assembling its matrix on the workers, where it stays.
type analysisCluster struct {
	cf       clusterFlags
	addrs    []string
	discover func(context.Context) ([]string, error) // with --workers: who the name gives now
	creds    *clusterrpc.Credentials
	logger   *slog.Logger
	reg      prometheus.Registerer // nil without --metrics
	jobs     int
	stops    []func() error
}

// distributed reports whether the cluster flags ask for workers.
func (cf clusterFlags) distributed() bool { return cf.Workers != "" || cf.InProcess > 0 }

// newAnalysisCluster starts --in-process workers or resolves --workers. Its logs (warnings
// and errors only) go to stderr.
func newAnalysisCluster(ctx context.Context, cf clusterFlags, stderr io.Writer) (*analysisCluster, error) {
	if err := cf.check(); err != nil {
		return nil, err
	}
	a := &analysisCluster{cf: cf, logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cf.Metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		closeMetrics, err := serveMetrics(cf.Metrics, reg, a.logger)
		if err != nil {
			return nil, err
		}
		a.reg = reg
		a.stops = append(a.stops, closeMetrics)
	}
	creds, err := cf.Security.load()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.creds = creds
	if cf.Workers == "" {
		lb, err := worker.StartLoopback(cf.InProcess, worker.Config{Logger: a.logger.With("in_process", true), Credentials: creds})
		if err != nil {
			a.Close()
			return nil, err
		}
		a.addrs = lb.Addrs
		a.stops = append(a.stops, lb.Close)
		return a, nil
	}
	addrs, err := coordinator.Resolve(ctx, nil, cf.Workers, cf.ExpectWorkers, cf.StartupTimeout)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.addrs = addrs
	// Before every phase: whoever the name gives now (new workers, lost ones back).
	a.discover = func(ctx context.Context) ([]string, error) {
		return coordinator.Resolve(ctx, nil, cf.Workers, 0, 10*time.Second)
	}
	return a, nil
}

// Close stops what newAnalysisCluster started.
func (a *analysisCluster) Close() error {
	var errs []error
	for i := len(a.stops) - 1; i >= 0; i-- {
		errs = append(errs, a.stops[i]())
	}
	a.stops = nil
	return errors.Join(errs...)
}

// job starts a job over d with penalty eps on the workers; the caller closes it.
func (a *analysisCluster) job(ctx context.Context, d *hessian.Dataset, eps float64, progress hessian.ProgressFunc) (*coordinator.Cluster, error) {
	a.jobs++
	var reg prometheus.Registerer
	if a.reg != nil {
		// Every job registers the coordinator's metrics again: a label keeps them apart.
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"analysis_job": strconv.Itoa(a.jobs)}, a.reg)
	}
	return coordinator.New(ctx, coordinator.Config{
		Workers: a.addrs, TileSize: a.cf.TileSize, Eps: eps, StartupTimeout: a.cf.StartupTimeout,
		Logger: a.logger, Registry: reg, Progress: progress, Discover: a.discover, Credentials: a.creds,
	}, d)
}

// eigenvalues is the distributed eigensolver: assembly and tridiagonal reduction on the
// workers (coordinator.Cluster.Eigenvalues), one job per call.
func (a *analysisCluster) eigenvalues(ctx context.Context, d *hessian.Dataset, w []float64, eps float64, progress hessian.ProgressFunc) ([]float64, error) {
	return a.withJob(ctx, d, eps, progress, func(c *coordinator.Cluster) ([]float64, error) {
		return c.Eigenvalues(ctx, w, 0, progress)
	})
}

// spyCounts returns the non-zero counts of the cells of H(w) + R over d, counted on the
// workers (coordinator.Cluster.SpyCounts).
func (a *analysisCluster) spyCounts(ctx context.Context, d *hessian.Dataset, w []float64, eps float64, cell int, progress hessian.ProgressFunc) ([]float64, error) {
	return a.withJob(ctx, d, eps, progress, func(c *coordinator.Cluster) ([]float64, error) {
		return c.SpyCounts(ctx, w, 0, cell)
	})
}

// withJob runs f on a new job over d and ends the job; an error of the end is returned
// when f succeeded.
func (a *analysisCluster) withJob(ctx context.Context, d *hessian.Dataset, eps float64, progress hessian.ProgressFunc, f func(*coordinator.Cluster) ([]float64, error)) (out []float64, err error) {
	c, err := a.job(ctx, d, eps, progress)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	return f(c)
}

// workersNote describes where the eigenvalues are computed, for headings.
func workersNote(workers int) string {
	switch workers {
	case 0:
		return "in one process"
	case 1:
		return "on 1 worker"
	}
	return fmt.Sprintf("on %d workers", workers)
}
