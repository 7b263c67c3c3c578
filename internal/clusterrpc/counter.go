package clusterrpc

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/stats"
)

// Counter is a gRPC stats.Handler that counts the message bytes sent and received, in
// total and by method: the payload as it goes on the wire plus gRPC's 5-byte message
// header, without HTTP/2 framing. Install it on a client connection or a server.
type Counter struct {
	sent, received atomic.Int64

	// Observe, if not nil, is called with each message's method, direction and size
	// (for Prometheus counters). It must be safe for concurrent use.
	Observe func(method string, sent bool, n int)

	mu       sync.Mutex // protects byMethod
	byMethod map[string]*[2]atomic.Int64
}

var _ stats.Handler = (*Counter)(nil)

type methodKey struct{}

// TagRPC records the method name of the call in its context.
func (c *Counter) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

// HandleRPC counts payload bytes.
func (c *Counter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	var n int
	var out bool
	switch p := s.(type) {
	case *stats.OutPayload:
		n, out = p.WireLength, true
	case *stats.InPayload:
		n = p.WireLength
	default:
		return
	}
	method, _ := ctx.Value(methodKey{}).(string)
	m := c.method(method)
	if out {
		c.sent.Add(int64(n))
		m[0].Add(int64(n))
	} else {
		c.received.Add(int64(n))
		m[1].Add(int64(n))
	}
	if c.Observe != nil {
		c.Observe(method, out, n)
	}
}

func (c *Counter) method(name string) *[2]atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byMethod == nil {
		c.byMethod = map[string]*[2]atomic.Int64{}
	}
	m := c.byMethod[name]
	if m == nil {
		m = new([2]atomic.Int64)
		c.byMethod[name] = m
	}
	return m
}

// TagConn returns ctx.
func (c *Counter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn does nothing.
func (c *Counter) HandleConn(context.Context, stats.ConnStats) {}

// Totals returns the bytes sent and received so far.
func (c *Counter) Totals() (sent, received int64) { return c.sent.Load(), c.received.Load() }

// Method returns the bytes sent and received so far by calls of the full method name
// (e.g. "/hessian.v1.Worker/UploadData").
func (c *Counter) Method(name string) (sent, received int64) {
	m := c.method(name)
	return m[0].Load(), m[1].Load()
}
