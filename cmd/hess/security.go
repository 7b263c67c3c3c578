package main

import (
	"flag"

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
