package coordinator

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// faultProxy is a TCP proxy in front of a worker that a test can pause (hold every byte
// until resumed: a slow or stopped worker), blackhole (swallow every byte: a cut-off
// worker whose connections stay open) or drop (close every connection: a network blip).
// The job's plan names the proxy, so the coordinator and the peers all go through it.
type faultProxy struct {
	lis net.Listener

	mu      sync.Mutex // protects the fields below
	backend string     // the worker's address
	cond    sync.Cond  // signalled when paused or blackhole changes
	paused  bool
	hole    bool
	conns   map[net.Conn]bool

	wg sync.WaitGroup // the accept loop and the copiers
}

func newFaultProxy(t *testing.T, backend string) *faultProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{lis: lis, backend: backend, conns: map[net.Conn]bool{}}
	p.cond.L = &p.mu
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address, to be used in place of the worker's.
func (p *faultProxy) Addr() string { return p.lis.Addr().String() }

func (p *faultProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend := p.backend
		p.mu.Unlock()
		b, err := net.Dial("tcp", backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(b, c) })
		p.wg.Go(func() { p.pipe(c, b) })
	}
}

// pipe copies src to dst through the gate, and closes both when either side ends.
func (p *faultProxy) pipe(dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused {
				p.cond.Wait()
			}
			hole := p.hole
			p.mu.Unlock()
			if !hole {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				return
			}
			return
		}
	}
}

// pause holds all traffic until resume.
func (p *faultProxy) pause() { p.set(func() { p.paused = true }) }

// resume lets held traffic through.
func (p *faultProxy) resume() { p.set(func() { p.paused = false }) }

// blackhole swallows all traffic from now on, keeping the connections open.
func (p *faultProxy) blackhole() { p.set(func() { p.hole = true }) }

func (p *faultProxy) set(f func()) {
	p.mu.Lock()
	f()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// drop closes every open connection; new ones are accepted.
func (p *faultProxy) drop() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// close stops the proxy and waits for its goroutines.
func (p *faultProxy) close() {
	p.lis.Close()
	p.set(func() { p.paused, p.hole = false, true })
	p.drop()
	p.wg.Wait()
}
