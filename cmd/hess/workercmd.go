package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hessian-cluster/hess/worker"
)

func init() {
	register("worker", "serve as a worker of the cluster (gRPC)", runWorker)
}

// runWorker serves until SIGTERM or SIGINT, then drains within --grace and exits.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "[--listen 127.0.0.1:7070] [--metrics ADDR]", stderr)
	var (
		listen   = fs.String("listen", "127.0.0.1:7070", "gRPC address to serve on (loopback only unless given: :7070 serves on all interfaces)")
		metrics  = fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. :9090)")
		par      = fs.Int("parallelism", 0, "tile tasks run at once (0: GOMAXPROCS)")
		maxData  = fs.Uint64("max-data-bytes", 1<<30, "largest training set accepted, in bytes once decoded")
		grace    = fs.Duration("grace", 5*time.Second, "on SIGTERM, how long calls in progress may take to finish")
		logLevel = fs.String("log-level", "info", "log level: debug, info, warn, error")
		healthL  = fs.String("health-listen", "", "also serve the gRPC health service alone, plaintext, on this address (for probes that cannot present the cluster's certificates)")
		sec      securityFlags
	)
	sec.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *par < 0 {
		return fmt.Errorf("--parallelism %d: want >= 0", *par)
	}
	if *grace <= 0 {
		return fmt.Errorf("--grace %v: want > 0", *grace)
	}
	creds, err := sec.load()
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// The heap is mostly pointer-free tiles, which the collector does not scan:
		// collecting at 50% growth instead of 100% costs little CPU and keeps the peak
		// near 1.5 x the live heap. GOGC or GOMEMLIMIT override it.
		debug.SetGCPercent(50)
	}
	s, err := worker.New(worker.Config{Logger: logger, Parallelism: *par, MaxDataBytes: *maxData, GracePeriod: *grace, Credentials: creds})
	if err != nil {
		return err
	}
	logger.Info("security", "mutual_tls", creds.TLS(), "token", creds.Token())
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	if *metrics != "" {
		closeMetrics, err := serveMetrics(*metrics, s.Registry(), logger)
		if err != nil {
			lis.Close()
			return err
		}
		defer closeMetrics()
	}
	if *healthL != "" {
		hl, err := net.Listen("tcp", *healthL)
		if err != nil {
			lis.Close()
			return fmt.Errorf("--health-listen %s: %w", *healthL, err)
		}
		hs := grpc.NewServer()
		healthpb.RegisterHealthServer(hs, s.Health())
		go hs.Serve(hl)
		defer hs.Stop()
	}
	return s.Serve(ctx, lis)
}
