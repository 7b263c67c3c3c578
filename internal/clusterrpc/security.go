package clusterrpc

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Security names the files of a secured cluster: mutual TLS (a certificate and key of
// this process, and the CA that signed every member's certificate) and a shared token.
// Each part is optional; the zero value is plaintext without a token. A worker started
// with them refuses clients that lack them; the coordinator and the workers' calls to
// each other present them.
type Security struct {
	CertFile, KeyFile, CAFile string // all three, or none
	// ServerName is the name a client expects in a worker's certificate; "" means the
	// host of the address dialed. Workers reached by IP address (a headless Service)
	// share one name, e.g. hess-worker, that their certificates carry.
	ServerName string
	TokenFile  string // a file whose first line is the token
}

// Credentials are loaded Security settings. A nil *Credentials is plaintext.
type Credentials struct {
	server, client *tls.Config
	token          string
}

// Load reads the files. Errors name the file and the flag.
func (s Security) Load() (*Credentials, error) {
	if s == (Security{}) {
		return nil, nil
	}
	c := &Credentials{}
	n := 0
	for _, f := range []string{s.CertFile, s.KeyFile, s.CAFile} {
		if f != "" {
			n++
		}
	}
	switch n {
	case 0:
	case 3:
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", s.CertFile, s.KeyFile, err)
		}
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", s.CAFile)
		}
		c.server = &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
		}
		c.client = &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   s.ServerName,
		}
	default:
		return nil, errors.New("--tls-cert, --tls-key and --tls-ca go together: give all three or none")
	}
	if s.TokenFile != "" {
		b, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		tok, _, _ := strings.Cut(string(b), "\n")
		if tok = strings.TrimSpace(tok); len(tok) < 16 {
			return nil, fmt.Errorf("--token-file %s: the token has %d characters; want at least 16", s.TokenFile, len(tok))
		}
		c.token = tok
	}
	return c, nil
}

// TLS reports whether mutual TLS is on.
func (c *Credentials) TLS() bool { return c != nil && c.server != nil }

// Token reports whether a shared token is required.
func (c *Credentials) Token() bool { return c != nil && c.token != "" }

// healthService is exempt from the token (not from TLS): probes that know no token may
// ask whether a worker serves, and the answer tells nothing else.
const healthService = "/grpc.health.v1.Health/"

// serverOptions returns the server side: TLS credentials and the token check. Clients
// refused (a failed TLS handshake, a missing or wrong token) are logged to log() at Warn,
// rate-limited (see refusals); log nil logs nothing.
func (c *Credentials) serverOptions(log func() *slog.Logger) []grpc.ServerOption {
	if c == nil {
		return nil
	}
	r := &refusals{log: log, every: refusalEvery, now: time.Now}
	var opts []grpc.ServerOption
	if c.server != nil {
		opts = append(opts, grpc.Creds(loggedTLS{credentials.NewTLS(c.server), r}))
	}
	if c.token != "" {
		opts = append(opts,
			grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := c.checkToken(ctx, info.FullMethod, r); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := c.checkToken(ss.Context(), info.FullMethod, r); err != nil {
					return err
				}
				return h(srv, ss)
			}))
	}
	return opts
}

// checkToken compares the call's bearer token with ours in constant time; a refusal is
// reported to r (with the reason, never the token).
func (c *Credentials) checkToken(ctx context.Context, method string, r *refusals) error {
	if strings.HasPrefix(method, healthService) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	reason := "no token"
	for _, v := range md.Get("authorization") {
		tok, ok := strings.CutPrefix(v, "Bearer ")
		if !ok {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(c.token)) == 1 {
			return nil
		}
		reason = "wrong token"
	}
	addr := "unknown"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	r.refuse(addr, reason, "method", method)
	return status.Error(codes.Unauthenticated, "worker: missing or wrong token (the cluster's --token-file)")
}

// refusalEvery is the least time between two refusal lines about one client host.
var refusalEvery = 10 * time.Second

// refusals logs refused clients: at most one line per client host (the peer's IP; a
// flood of new connections from one host changes the port) per every; the line counts
// the refusals from that host that were not logged since its previous line.
type refusals struct {
	log   func() *slog.Logger // nil: log nothing
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex              // protects hosts
	hosts map[string]*refusedHost // by client host
}

// refusedHost is the log state of one client host.
type refusedHost struct {
	logged     time.Time // of its last line
	suppressed int       // refusals since, not logged
}

// maxRefusedHosts bounds the hosts remembered; beyond it the quiet ones are forgotten.
const maxRefusedHosts = 1024

// refuse logs the refusal of the client at addr (host:port) for reason, with the extra
// attributes args, unless a line about its host was logged less than every ago.
func (r *refusals) refuse(addr, reason string, args ...any) {
	if r == nil || r.log == nil {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	now := r.now()
	r.mu.Lock()
	if r.hosts == nil {
		r.hosts = map[string]*refusedHost{}
	}
	h := r.hosts[host]
	if h != nil && now.Sub(h.logged) < r.every {
		h.suppressed++
		r.mu.Unlock()
		return
	}
	if h == nil {
		if len(r.hosts) >= maxRefusedHosts {
			for k, o := range r.hosts {
				if now.Sub(o.logged) >= r.every {
					delete(r.hosts, k)
				}
			}
		}
		h = &refusedHost{}
		r.hosts[host] = h
	}
	suppressed := h.suppressed
	h.suppressed, h.logged = 0, now
	r.mu.Unlock()
	r.log().Warn("refused a client", append([]any{"peer", addr, "reason", reason, "suppressed", suppressed}, args...)...)
}

// loggedTLS is TLS credentials that report failed server handshakes to refusals. A
// client that closes the connection without a word (a TCP probe) is not reported.
type loggedTLS struct {
	credentials.TransportCredentials
	r *refusals
}

func (l loggedTLS) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := l.TransportCredentials.ServerHandshake(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		l.r.refuse(conn.RemoteAddr().String(), "TLS handshake: "+err.Error())
	}
	return c, info, err
}

func (l loggedTLS) Clone() credentials.TransportCredentials {
	return loggedTLS{l.TransportCredentials.Clone(), l.r}
}

// dialOptions returns the client side: TLS credentials (else plaintext) and the token.
func (c *Credentials) dialOptions() []grpc.DialOption {
	if c == nil || c.client == nil {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecureCreds)}
		if c != nil && c.token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds{token: c.token}))
		}
		return opts
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c.client))}
	if c.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds{token: c.token, secure: true}))
	}
	return opts
}

// tokenCreds sends the bearer token with every call.
type tokenCreds struct {
	token  string
	secure bool
}

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

func (t tokenCreds) RequireTransportSecurity() bool { return t.secure }
