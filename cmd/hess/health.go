package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
)

func init() {
	register("health", "ask a worker's gRPC health service whether it serves (exit 0 if so)", runHealth)
}

// runHealth is the container health check: the image has no shell and no grpc_health_probe,
// so Docker's HEALTHCHECK and any other prober run `hess health --addr host:port`. It makes
// one grpc.health.v1.Health/Check call under --timeout and succeeds only on SERVING.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", "--addr host:port [--service name] [--timeout 3s]", stderr)
	var (
		addr    = fs.String("addr", "localhost:7070", "the worker's gRPC address, host:port")
		service = fs.String("service", "", `service name to ask about ("": the whole server)`)
		timeout = fs.Duration("timeout", 3*time.Second, "deadline of the check, connection included")
		quiet   = fs.Bool("quiet", false, "print nothing when the worker serves")
		sec     securityFlags
	)
	sec.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	creds, err := sec.load()
	if err != nil {
		return err
	}
	if !(*timeout > 0) {
		return fmt.Errorf("--timeout %v: want > 0", *timeout)
	}
	st, err := checkHealth(ctx, *addr, *service, *timeout, creds)
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: %s\n", *addr, st)
	}
	return nil
}

// checkHealth calls the health service at addr once, under timeout, and returns an error
// naming addr unless the answer is SERVING.
func checkHealth(ctx context.Context, addr, service string, timeout time.Duration, creds *clusterrpc.Credentials) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if addr == "" {
		return 0, errors.New("health: --addr is empty; want host:port")
	}
	conn, err := clusterrpc.Dial(addr, nil, creds)
	if err != nil {
		return 0, fmt.Errorf("health: %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// WaitForReady makes the call wait for the connection until the deadline instead of
	// failing at once while it is being made; "nothing listening" then ends as a deadline
	// error, which we report with the last connection error.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
	if err != nil {
		switch status.Code(err) {
		case codes.DeadlineExceeded:
			if hint := tlsHint(err, creds); hint != "" {
				return 0, fmt.Errorf("health: %s: no answer within %v (%s): %w", addr, timeout, hint, err)
			}
			return 0, fmt.Errorf("health: %s: no answer within %v (is a worker listening there?): %w", addr, timeout, err)
		case codes.Unimplemented:
			return 0, fmt.Errorf("health: %s: the server has no gRPC health service: %w", addr, err)
		case codes.NotFound:
			return 0, fmt.Errorf("health: %s: unknown service %q: %w", addr, service, err)
		}
		return 0, fmt.Errorf("health: %s: %w", addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return st, fmt.Errorf("health: %s: status %s, want SERVING", addr, st)
	}
	return resp.GetStatus(), nil
}
