package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startHealthServer serves a gRPC health service on a loopback port with the given status
// for the whole server ("") and returns its address; withHealth false serves no health
// service at all. The server stops in t.Cleanup.
func startHealthServer(t *testing.T, withHealth bool, st healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	if withHealth {
		hs := health.NewServer()
		hs.SetServingStatus("", st)
		healthpb.RegisterHealthServer(s, hs)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// deadAddr returns a loopback address where nothing listens (a port just released).
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestHealth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		addr    func(t *testing.T) string
		extra   []string
		wantErr string // "" for success; else a substring of the error
	}{
		{"serving", func(t *testing.T) string { return startHealthServer(t, true, healthpb.HealthCheckResponse_SERVING) }, nil, ""},
		{"not serving", func(t *testing.T) string {
			return startHealthServer(t, true, healthpb.HealthCheckResponse_NOT_SERVING)
		}, nil, "status NOT_SERVING, want SERVING"},
		{"unknown service", func(t *testing.T) string { return startHealthServer(t, true, healthpb.HealthCheckResponse_SERVING) },
			[]string{"--service", "hessian.v1.Nope"}, `unknown service "hessian.v1.Nope"`},
		{"no health service", func(t *testing.T) string { return startHealthServer(t, false, 0) }, nil, "no gRPC health service"},
		{"nothing listening", deadAddr, nil, "no answer within 500ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			addr := c.addr(t)
			var stdout, stderr bytes.Buffer
			args := append([]string{"health", "--addr", addr, "--timeout", "500ms"}, c.extra...)
			start := time.Now()
			err := run(ctx, args, &stdout, &stderr)
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("hess health took %v; the deadline is 500ms", el)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("hess health --addr %s = %v; want nil", addr, err)
				}
				if want := addr + ": SERVING\n"; stdout.String() != want {
					t.Errorf("stdout = %q; want %q", stdout.String(), want)
				}
				return
			}
			if err == nil {
				t.Fatalf("hess health --addr %s = nil; want an error containing %q", addr, c.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, c.wantErr) {
				t.Errorf("hess health --addr %s = %q; want the address and %q", addr, msg, c.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q on failure; want nothing", stdout.String())
			}
		})
	}
}

func TestHealthFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--addr", ""},
		{"--timeout", "0s"},
		{"--addr", "127.0.0.1:1", "stray"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), append([]string{"health"}, args...), &stdout, &stderr); err == nil {
			t.Errorf("hess health %q = nil; want an error", args)
		}
	}
}

func TestHealthQuiet(t *testing.T) {
	t.Parallel()
	addr := startHealthServer(t, true, healthpb.HealthCheckResponse_SERVING)
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"health", "--addr", addr, "--quiet"}, &stdout, &stderr); err != nil {
		t.Fatalf("hess health --quiet = %v; want nil", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q with --quiet; want nothing", stdout.String())
	}
}
