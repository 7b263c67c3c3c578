package worker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	"github.com/hessian-cluster/hess/internal/logbuf"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// testPKI writes a CA and certificates it signed (for 127.0.0.1, usable by servers and
// clients alike) into dir, and returns the Security settings of each named member.
func testPKI(t *testing.T, dir string, members ...string) (ca string, sec map[string]clusterrpc.Security) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hess test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	sec = map[string]clusterrpc.Security{}
	for i, m := range members {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(2 + i)), Subject: pkix.Name{CommonName: m},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		sec[m] = clusterrpc.Security{CertFile: write(m+".pem", "CERTIFICATE", der), KeyFile: write(m+"-key.pem", "EC PRIVATE KEY", kder), CAFile: ca}
	}
	return ca, sec
}

// TestSecuredWorkers starts two workers with mutual TLS and a token: clients without
// the token, without a client certificate, or with a certificate of another CA are
// refused; a client with both runs a factorization whose tiles travel between the
// secured workers.
func TestSecuredWorkers(t *testing.T) {
	dir := t.TempDir()
	_, sec := testPKI(t, dir, "worker", "coordinator")
	_, other := testPKI(t, t.TempDir(), "stranger")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token-of-the-cluster\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken := func(s clusterrpc.Security) clusterrpc.Security { s.TokenFile = tokenFile; return s }
	workerCreds, err := withToken(sec["worker"]).Load()
	if err != nil {
		t.Fatal(err)
	}
	var logs logbuf.Buffer
	lb, err := StartLoopback(2, Config{GracePeriod: time.Second, Credentials: workerCreds,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	d := tinySet()
	req := startJobRequest("j", d, "")
	req.Plan.TileSize, req.Plan.GridCols, req.Plan.Workers = 2000, 2, lb.Addrs

	call := func(s clusterrpc.Security, rank int) error {
		creds, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := clusterrpc.Dial(lb.Addrs[rank], nil, creds)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		r := proto.Clone(req).(*pb.StartJobRequest)
		r.Rank = uint32(rank)
		_, err = pb.NewWorkerClient(conn).StartJob(ctx, r)
		return err
	}
	for _, tc := range []struct {
		name string
		sec  clusterrpc.Security
		code codes.Code
	}{
		{"plaintext", clusterrpc.Security{}, codes.Unavailable},
		{"token, no certificate", clusterrpc.Security{TokenFile: tokenFile}, codes.Unavailable},
		{"certificate, no token", sec["coordinator"], codes.Unauthenticated},
		{"another CA", withToken(other["stranger"]), codes.Unavailable},
	} {
		if err := call(tc.sec, 0); status.Code(err) != tc.code {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.code)
		}
	}
	// The refusals are logged on the worker, rate-limited: the first (the plaintext
	// client's failed TLS handshake) names the peer and the reason; the others, from the
	// same host right after, are suppressed.
	var refused []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "refused a client" {
			refused = append(refused, m)
		}
	}
	if len(refused) != 1 {
		t.Errorf("%d refusal lines; want 1 (the others suppressed):\n%s", len(refused), logs.String())
	} else if l := refused[0]; l["level"] != "WARN" || l["worker"] != lb.Addrs[0] ||
		!strings.HasPrefix(l["peer"].(string), "127.0.0.1:") || !strings.HasPrefix(l["reason"].(string), "TLS handshake: ") {
		t.Errorf("refusal line %v: want WARN, worker %s, the peer 127.0.0.1:port and the TLS handshake's reason", l, lb.Addrs[0])
	}
	if strings.Contains(logs.String(), "s3cret-token") {
		t.Errorf("the log holds the token:\n%s", logs.String())
	}
	// The coordinator with both: a job on both workers, factored with tiles pushed
	// between them over mutual TLS with the token.
	good := withToken(sec["coordinator"])
	creds, err := good.Load()
	if err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	for rank := range 2 {
		if err := call(good, rank); err != nil {
			t.Fatalf("secured StartJob on rank %d: %v", rank, err)
		}
	}
	ctx := t.Context()
	var clients []pb.WorkerClient
	for _, a := range lb.Addrs {
		conn, err := clusterrpc.Dial(a, nil, creds)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := pb.NewWorkerClient(conn)
		clients = append(clients, c)
		if err := upload(ctx, c, "j", d, hdr, data, 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: make([]float64, hessian.Params)}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	for _, c := range clients {
		go func() {
			_, err := c.Factor(ctx, &pb.FactorRequest{JobId: "j", Step: 1})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("secured Factor: %v", err)
		}
	}
	// A bad token file is refused with the flag's name.
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := (clusterrpc.Security{TokenFile: short}).Load(); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("short token: %v; want an error naming --token-file", err)
	}
	if _, err := (clusterrpc.Security{CertFile: "x"}).Load(); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("certificate without key and CA: %v", err)
	}
}
