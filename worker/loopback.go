package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Loopback is a set of workers serving on loopback ports of this process: the embedded
// default of `hess train` and the cluster of the tests. They are real gRPC servers,
// reached over TCP like any other worker.
type Loopback struct {
	// Addrs are the workers' addresses (127.0.0.1:port), in rank order.
	Addrs []string
	// Servers are the workers, in the order of Addrs.
	Servers []*Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // protects errs
	errs   []error
}

// StartLoopback starts n workers on 127.0.0.1 with ephemeral ports. cfg is each worker's
// configuration (a nil Registry gives each its own). Close stops them.
func StartLoopback(n int, cfg Config) (*Loopback, error) {
	if n < 1 {
		return nil, fmt.Errorf("worker: %d loopback workers, want >= 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lb := &Loopback{cancel: cancel}
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			lb.Close()
			return nil, fmt.Errorf("worker: loopback listener: %w", err)
		}
		c := cfg
		c.Registry = nil
		s, err := New(c)
		if err != nil {
			lis.Close()
			lb.Close()
			return nil, err
		}
		lb.Addrs = append(lb.Addrs, lis.Addr().String())
		lb.Servers = append(lb.Servers, s)
		lb.wg.Go(func() {
			if err := s.Serve(ctx, lis); err != nil {
				lb.mu.Lock()
				lb.errs = append(lb.errs, fmt.Errorf("worker %s: %w", lis.Addr(), err))
				lb.mu.Unlock()
			}
		})
	}
	return lb, nil
}

// Close stops all workers (each within its grace period) and waits for them; it returns
// the errors their Serve calls returned.
func (lb *Loopback) Close() error {
	lb.cancel()
	lb.wg.Wait()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return errors.Join(lb.errs...)
}
