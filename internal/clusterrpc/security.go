package clusterrpc

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
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

// serverOptions returns the server side: TLS credentials and the token check.
func (c *Credentials) serverOptions() []grpc.ServerOption {
	if c == nil {
		return nil
	}
	var opts []grpc.ServerOption
	if c.server != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.server)))
	}
	if c.token != "" {
		opts = append(opts,
			grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := c.checkToken(ctx, info.FullMethod); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := c.checkToken(ss.Context(), info.FullMethod); err != nil {
					return err
				}
				return h(srv, ss)
			}))
	}
	return opts
}

// checkToken compares the call's bearer token with ours in constant time.
func (c *Credentials) checkToken(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthService) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(c.token)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "worker: missing or wrong token (the cluster's --token-file)")
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
