// Package clusterrpc holds what the coordinator and the workers must agree on beyond the
// protocol buffers: message and chunk sizes, keepalive settings, the dial and server
// options built from them, the wire encodings of the training set and of tiles, byte
// counting, and the mapping of a failed Cholesky pivot to a gRPC status and back.
//
// Both ends take their options from here, so a limit is never raised on one side only.
package clusterrpc

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
)

// Message sizes. Large payloads (the training set, tiles) are streamed in chunks of
// ChunkBytes; no message, in either direction, may exceed MaxMessageBytes, which both the
// servers and the clients set as their send and receive limits. A chunk plus its small
// header stays far below the limit; the largest unary message is a 7840-value vector
// (62.7 KB).
const (
	ChunkBytes      = 1 << 20 // 1 MiB of payload per streamed message
	MaxMessageBytes = 4 << 20 // 4 MiB, gRPC's default receive limit, now set on purpose on both ends
)

// Keepalive settings. They agree across the two ends: a client pings no more often than
// the server's enforcement policy permits, or the server would close the connection with
// GOAWAY "too_many_pings".
var (
	// ClientKeepalive is used by the coordinator's connections to workers and by the
	// workers' connections to each other.
	ClientKeepalive = keepalive.ClientParameters{
		// Time: ping the server after 30 s without any frame on the connection. A Factor
		// call is silent for minutes while the workers compute; the pings are what tells
		// a dead worker from a busy one. Must be >= ServerEnforcement.MinTime.
		Time: 30 * time.Second,
		// Timeout: a ping not acknowledged within 10 s closes the connection, and its
		// calls fail with UNAVAILABLE: a dead peer is noticed within Time + Timeout = 40 s.
		Timeout: 10 * time.Second,
		// PermitWithoutStream: ping also between calls (between Newton steps), so a worker
		// lost while idle is noticed before the next step needs it. The server permits it.
		PermitWithoutStream: true,
	}

	// ServerParameters is the worker's side of the connection's liveness check.
	ServerParameters = keepalive.ServerParameters{
		// MaxConnectionIdle, MaxConnectionAge, MaxConnectionAgeGrace: left at infinity; a
		// job keeps its connections for its whole life.
		//
		// Time: the server pings a client silent for 30 s, and so notices a dead
		// coordinator or peer (its calls are then cancelled, and their work stops).
		Time: 30 * time.Second,
		// Timeout: ... and closes the connection when the ping is not answered in 10 s.
		Timeout: 10 * time.Second,
	}

	// ServerEnforcement is what the worker tolerates from its clients.
	ServerEnforcement = keepalive.EnforcementPolicy{
		// MinTime: clients may ping every 15 s at most often; ClientKeepalive.Time is
		// 30 s, twice that, so jitter never trips the policy.
		MinTime: 15 * time.Second,
		// PermitWithoutStream: allow the pings between calls that ClientKeepalive sends.
		PermitWithoutStream: true,
	}

	// ConnectBackoff is how fast a connection to a worker is retried after it failed. It
	// is much shorter than gRPC's default (1 s growing to 120 s) so that a worker that
	// starts late is found within about a second of listening.
	ConnectBackoff = backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   time.Second,
	}
)

// ServerOptions returns the options of a worker's gRPC server: message limits, keepalive,
// the credentials (nil: plaintext, no token), and h (nil: none) to count bytes. Clients
// the credentials refuse are logged at Warn to log() (nil: not logged), at most one line
// per client host every 10 s.
func ServerOptions(h stats.Handler, creds *Credentials, log func() *slog.Logger) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.KeepaliveParams(ServerParameters),
		grpc.KeepaliveEnforcementPolicy(ServerEnforcement),
	}
	opts = append(opts, creds.serverOptions(log)...)
	if h != nil {
		opts = append(opts, grpc.StatsHandler(h))
	}
	return opts
}

// DialOptions returns the options of a connection to a worker: the credentials (nil:
// plaintext, no token), message limits on every call, keepalive, the short connect
// backoff, and h (nil: none) to count bytes.
func DialOptions(h stats.Handler, creds *Credentials) []grpc.DialOption {
	opts := creds.dialOptions()
	opts = append(opts,
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
		grpc.WithKeepaliveParams(ClientKeepalive),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: ConnectBackoff, MinConnectTimeout: 5 * time.Second}),
	)
	if h != nil {
		opts = append(opts, grpc.WithStatsHandler(h))
	}
	return opts
}

// Dial returns a client connection to the worker at addr (host:port); it connects lazily.
func Dial(addr string, h stats.Handler, creds *Credentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, DialOptions(h, creds)...)
}

// insecureCreds is plaintext transport, for clusters without TLS.
var insecureCreds = insecure.NewCredentials()
