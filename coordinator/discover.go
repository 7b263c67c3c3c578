package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
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

// waitServing calls the health service of the worker on conn until it answers SERVING,
// every 200 ms, until ctx ends. The error names the worker and the last answer.
func waitServing(ctx context.Context, conn *grpc.ClientConn, addr string, perCall time.Duration) error {
	hc := healthpb.NewHealthClient(conn)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, perCall)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case err != nil:
			last = err
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			last = fmt.Errorf("status %s", resp.GetStatus())
		default:
			return nil
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("coordinator: worker %s is not serving: %v", addr, last)
		case <-t.C:
		}
	}
}
