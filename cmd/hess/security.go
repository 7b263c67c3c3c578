package main

import (
	"flag"
	"strings"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
)

// securityFlags are the flags of a secured cluster, the same on workers and on the
// commands that call them.
type securityFlags struct{ s clusterrpc.Security }

func (sf *securityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.s.CertFile, "tls-cert", "", "mutual TLS: this process's certificate (PEM); with --tls-key and --tls-ca")
	fs.StringVar(&sf.s.KeyFile, "tls-key", "", "mutual TLS: the certificate's private key (PEM)")
	fs.StringVar(&sf.s.CAFile, "tls-ca", "", "mutual TLS: the CA certificate (PEM) that signed every member's certificate")
	fs.StringVar(&sf.s.ServerName, "tls-server-name", "", "mutual TLS: the name expected in workers' certificates (default: the host dialed)")
	fs.StringVar(&sf.s.TokenFile, "token-file", "", "a file holding the cluster's shared token (at least 16 characters); calls without it are refused")
}

// load reads the files the flags name (nil credentials without them).
func (sf *securityFlags) load() (*clusterrpc.Credentials, error) { return sf.s.Load() }

// tlsHint returns a hint for a connection error that comes from a mismatch of transport
// security, whose gRPC text alone is obscure, or "" for other errors: a worker with
// mutual TLS closes a plaintext connection before the HTTP/2 preface, and a TLS handshake
// fails on a plaintext worker, a certificate of another CA or a name the certificate
// lacks.
func tlsHint(err error, creds *clusterrpc.Credentials) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case !creds.TLS() && strings.Contains(msg, "server preface"):
		return "the worker closed a plaintext connection: if it runs with mutual TLS, give --tls-cert, --tls-key and --tls-ca"
	case creds.TLS() && strings.Contains(msg, "handshake failed"):
		return "the TLS handshake failed: the worker may run without TLS, or its certificate does not match --tls-ca and --tls-server-name"
	}
	return ""
}
