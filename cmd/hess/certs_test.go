package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
	"github.com/hessian-cluster/hess/worker"
)

// readPEMCert reads the one certificate of a PEM file.
func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: want exactly one PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// TestCertsFiles makes the files and checks them as a TLS peer would: the certificate
// chains to the CA for every name and IP given (and no other), for both server and
// client authentication; the key is an ECDSA P-256 key that matches it; the key and the
// token are readable by their owner only.
func TestCertsFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	var stdout, stderr bytes.Buffer
	args := []string{"certs", "--out", dir, "--names", "hess-worker, Worker ,127.0.0.1,::1", "--valid", "48h"}
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("hess %q: %v", args, err)
	}
	if !strings.Contains(stdout.String(), "hess-worker,worker,127.0.0.1,::1") {
		t.Errorf("stdout %q does not list the names", stdout.String())
	}
	for name, want := range map[string]os.FileMode{certsCAFile: 0o644, certsCertFile: 0o644, certsKeyFile: 0o600, certsTokenFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o; want %#o", name, got, want)
		}
	}

	ca := readPEMCert(t, filepath.Join(dir, certsCAFile))
	leaf := readPEMCert(t, filepath.Join(dir, certsCertFile))
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("ca.pem: IsCA %v, key usage %b; want a CA that signs certificates", ca.IsCA, ca.KeyUsage)
	}
	if leaf.IsCA {
		t.Error("tls.pem is a CA; want a leaf certificate")
	}
	for _, c := range []*x509.Certificate{ca, leaf} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: public key %T; want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
		// Valid now, for the 48 h asked (the start is back-dated by minutes for skew).
		if life := c.NotAfter.Sub(c.NotBefore); life < 48*time.Hour || life > 48*time.Hour+time.Hour {
			t.Errorf("%s: valid for %v; want about 48h", c.Subject.CommonName, life)
		}
	}
	if ca.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("the CA and the certificate have the same serial number")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		for _, name := range []string{"hess-worker", "worker", "127.0.0.1", "::1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("tls.pem for %q, usage %v: %v", name, usage, err)
			}
		}
		for _, name := range []string{"other", "hess-worker.example", "10.0.0.1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err == nil {
				t.Errorf("tls.pem verifies for %q, which was not in --names", name)
			}
		}
	}

	tok, err := os.ReadFile(filepath.Join(dir, certsTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := hex.DecodeString(strings.TrimSuffix(string(tok), "\n")); err != nil || len(b) != 32 {
		t.Errorf("token %q: want 32 random bytes in hex and a newline (%v)", tok, err)
	}
	// The flags of the cluster accept the files: the key matches the certificate, the
	// token is long enough.
	creds, err := clusterrpc.Security{
		CertFile: filepath.Join(dir, certsCertFile), KeyFile: filepath.Join(dir, certsKeyFile),
		CAFile: filepath.Join(dir, certsCAFile), TokenFile: filepath.Join(dir, certsTokenFile),
	}.Load()
	if err != nil {
		t.Fatalf("loading the files as --tls-* and --token-file: %v", err)
	}
	if !creds.TLS() || !creds.Token() {
		t.Errorf("credentials: TLS %v, token %v; want both", creds.TLS(), creds.Token())
	}
}

// TestCertsRefusesToOverwrite checks that a second run leaves the files alone without
// --force, and makes new ones (a new CA, a new token) with it.
func TestCertsRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"certs", "--out", dir, "--names", "hess-worker"}
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]string {
		m := map[string]string{}
		for _, f := range []string{certsCAFile, certsCertFile, certsKeyFile, certsTokenFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			m[f] = string(b)
		}
		return m
	}
	first := read()
	if err := run(t.Context(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second hess certs into %s = %v; want an error that mentions --force", dir, err)
	}
	for f, v := range read() {
		if v != first[f] {
			t.Errorf("%s changed by the refused run", f)
		}
	}
	// A key left with a loose mode is replaced by one with 0600.
	if err := os.Chmod(filepath.Join(dir, certsKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), append(args, "--force"), &stdout, &stderr); err != nil {
		t.Fatalf("hess certs --force: %v", err)
	}
	for f, v := range read() {
		if v == first[f] {
			t.Errorf("%s unchanged by --force; want a new one", f)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, certsKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key after --force: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// TestCertsSecureAWorker starts a worker with the files and checks what the Compose and
// Kubernetes setups rely on: a client with them passes the TLS handshake when it dials
// the worker by an IP address that is not in the certificate, naming the DNS name with
// --tls-server-name; a client that expects another name, or presents no certificate,
// does not.
func TestCertsSecureAWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"certs", "--out", dir, "--names", "hess-worker"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	files := []string{"--tls-cert", filepath.Join(dir, certsCertFile), "--tls-key", filepath.Join(dir, certsKeyFile),
		"--tls-ca", filepath.Join(dir, certsCAFile), "--token-file", filepath.Join(dir, certsTokenFile)}
	creds, err := clusterrpc.Security{
		CertFile: files[1], KeyFile: files[3], CAFile: files[5], TokenFile: files[7],
	}.Load()
	if err != nil {
		t.Fatal(err)
	}
	lb, err := worker.StartLoopback(1, worker.Config{GracePeriod: time.Second, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	addr := lb.Addrs[0]
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("loopback worker on %s; the test wants an IP address", addr)
	}
	for _, tc := range []struct {
		name    string
		extra   []string
		wantErr string // "" for success
	}{
		{"the cluster's name", append([]string{"--tls-server-name", "hess-worker"}, files...), ""},
		{"the IP, not in the certificate", files, "127.0.0.1"},
		{"another name", append([]string{"--tls-server-name", "other"}, files...), "does not match --tls-ca and --tls-server-name"},
		{"no certificate", nil, "if it runs with mutual TLS, give --tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, append([]string{"health", "--addr", addr, "--timeout", "2s"}, tc.extra...), &stdout, &stderr)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("hess health: %v; want SERVING", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("hess health = nil (%s); want refused", strings.TrimSpace(stdout.String()))
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("hess health: %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCertsBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--names", "hess-worker"}, "--out is empty"},
		{[]string{"--out", dir}, "--names is empty"},
		{[]string{"--out", dir, "--names", " , "}, "--names is empty"},
		{[]string{"--out", dir, "--names", "hess_worker"}, `"hess_worker" is neither`},
		{[]string{"--out", dir, "--names", "-bad.example"}, "neither"},
		{[]string{"--out", dir, "--names", "hess-worker", "--valid", "10m"}, "--valid 10m0s"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"certs"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("hess certs %q = %v; want an error containing %q", tc.args, err, tc.wantErr)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("failed runs left %d files in --out (%v); want none", len(entries), err)
	}
}
