package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Resolver looks up the addresses of a host name; net.DefaultResolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Resolve turns the --workers list into worker addresses in rank order. The list is
// comma-separated host:port entries. An entry whose host is a name that resolves to
// several addresses (a Kubernetes headless Service, a Compose service with replicas)
// stands for all of them, sorted; IPv4 addresses are preferred when a name has both
// kinds, so "localhost" stays one worker. A name with one address is kept as given.
//
// With expect > 0, Resolve looks the names up again (every 500 ms) until they give
// exactly expect workers, up to timeout; workers that start late register in DNS late.
// The error then says how many were found and where.
func Resolve(ctx context.Context, r Resolver, list string, expect int, timeout time.Duration) ([]string, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	var entries []string
	for e := range strings.SplitSeq(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, errors.New("coordinator: --workers is empty; want host:port[,host:port...] or a DNS name:port")
	}
	if expect < 0 {
		return nil, fmt.Errorf("coordinator: expect %d workers, want >= 0", expect)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		addrs, err := resolveOnce(ctx, r, entries)
		if err == nil && (expect == 0 || len(addrs) == expect) {
			return addrs, nil
		}
		if err == nil && len(addrs) > expect {
			return nil, fmt.Errorf("coordinator: %s gives %d workers %v, more than the %d expected", list, len(addrs), addrs, expect)
		}
		if err == nil {
			err = fmt.Errorf("coordinator: %s gives %d workers %v, waiting for %d", list, len(addrs), addrs, expect)
		}
		if expect == 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("%w (after %v)", err, timeout)
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up after %v)", err, timeout)
		case <-t.C:
		}
	}
}

// resolveOnce expands the entries once.
func resolveOnce(ctx context.Context, r Resolver, entries []string) ([]string, error) {
	var out []string
	for _, e := range entries {
		host, port, err := net.SplitHostPort(e)
		if err != nil || port == "" {
			return nil, fmt.Errorf("coordinator: worker address %q: want host:port", e)
		}
		if host == "" {
			return nil, fmt.Errorf("coordinator: worker address %q: the host is empty (a worker listens on one; name it)", e)
		}
		if _, err := netip.ParseAddr(host); err == nil {
			out = append(out, e)
			continue
		}
		ips, err := r.LookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("coordinator: worker address %q: %w", e, err)
		}
		ips = preferIPv4(ips)
		if len(ips) <= 1 {
			out = append(out, e)
			continue
		}
		slices.SortFunc(ips, func(a, b string) int {
			return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
		})
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	seen := map[string]bool{}
	for _, a := range out {
		if seen[a] {
			return nil, fmt.Errorf("coordinator: worker %s is listed twice", a)
		}
		seen[a] = true
	}
	return out, nil
}

// preferIPv4 returns the IPv4 addresses among ips when there are any, else ips; entries
// that are not IP addresses are dropped.
func preferIPv4(ips []string) []string {
	var v4, all []string
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		all = append(all, s)
		if a.Unmap().Is4() {
			v4 = append(v4, s)
		}
	}
	if len(v4) > 0 {
		return v4
	}
	return all
}

// waitLogInterval is how often waitWorkers logs the workers that are not serving yet;
// tests shorten it.
var waitLogInterval = 5 * time.Second

// waitWorkers waits up to the startup timeout for every worker to answer the health
// check SERVING. Every waitLogInterval it logs, at Info, each worker that is not serving
// yet, its last answer and the time left. When the timeout expires the error names
// every worker still not serving, one line each.
func (c *Cluster) waitWorkers(ctx context.Context) error {
	timeout := c.cfg.StartupTimeout
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var (
		mu   sync.Mutex // protects last
		last = make([]error, len(c.cfg.Workers))
		errs = make([]error, len(c.cfg.Workers)) // each goroutine writes its own entry
		wg   sync.WaitGroup
	)
	for i, addr := range c.cfg.Workers {
		last[i] = errNoAnswer
		wg.Go(func() {
			conn, err := c.conn(addr)
			if err != nil {
				errs[i] = err
				cancel() // a bad address: waiting for the others is pointless
				return
			}
			errs[i] = waitServing(wctx, conn, addr, c.to.Health, func(err error) {
				mu.Lock()
				last[i] = err
				mu.Unlock()
			})
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(waitLogInterval)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			left := time.Until(deadline).Round(100 * time.Millisecond)
			if left <= 0 {
				continue // the error follows
			}
			mu.Lock()
			for i, addr := range c.cfg.Workers {
				if last[i] != nil {
					c.log.Info("worker not serving yet; waiting", "worker", addr, "err", last[i], "left", left)
				}
			}
			mu.Unlock()
		}
	}
	var failed []error
	for _, err := range errs {
		var ns *notServingError
		switch {
		case err == nil:
		case errors.As(err, &ns) && ctx.Err() == nil:
			failed = append(failed, fmt.Errorf("%w (startup timeout %v)", err, timeout))
		case errors.As(err, &ns):
			failed = append(failed, err)
		default:
			return err // a bad address
		}
	}
	if ctx.Err() != nil && len(failed) > 0 {
		return failed[0] // the caller gave up, not the workers: as before, one is enough
	}
	if len(failed) == 0 {
		return nil
	}
	return joinedErrors(failed)
}

// joinedErrors is several errors on one line, separated by "; " (errors.Join would put
// them on lines of their own, and a command's error is one line).
type joinedErrors []error

func (e joinedErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedErrors) Unwrap() []error { return e }

// errNoAnswer is the last answer of a worker that did not answer yet.
var errNoAnswer = errors.New("no answer yet")

// notServingError is a worker that did not answer SERVING before its context ended.
type notServingError struct {
	addr string
	last error
}

func (e *notServingError) Error() string {
	return fmt.Sprintf("coordinator: worker %s is not serving: %v", e.addr, e.last)
}

func (e *notServingError) Unwrap() error { return e.last }

// waitServing calls the health service of the worker on conn until it answers SERVING,
// every 200 ms, until ctx ends. After each call it reports the answer to seen (nil:
// SERVING). The error names the worker and the last answer.
func waitServing(ctx context.Context, conn *grpc.ClientConn, addr string, perCall time.Duration, seen func(error)) error {
	hc := healthpb.NewHealthClient(conn)
	var last error = errNoAnswer
	for {
		cctx, cancel := context.WithTimeout(ctx, perCall)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case err != nil:
			if ctx.Err() == nil || last == errNoAnswer {
				last = err // not the echo of ctx's end, unless there is nothing else
			}
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			last = fmt.Errorf("status %s", resp.GetStatus())
		default:
			seen(nil)
			return nil
		}
		seen(last)
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return &notServingError{addr: addr, last: last}
		case <-t.C:
		}
	}
}
