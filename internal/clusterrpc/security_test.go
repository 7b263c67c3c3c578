package clusterrpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/internal/logbuf"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// logLines returns the JSON log lines written to b so far.
func logLines(t *testing.T, b *logbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRefusedTokenLogged: a call with a wrong token is logged once at Warn with the peer
// and the reason, not the token; further refusals from the same host right after are
// suppressed.
func TestRefusedTokenLogged(t *testing.T) {
	const token, wrong = "the-cluster-token-0123", "a-wrong-token-456789"
	var buf logbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	srv := grpc.NewServer(ServerOptions(nil, &Credentials{token: token}, func() *slog.Logger { return log })...)
	pb.RegisterWorkerServer(srv, pb.UnimplementedWorkerServer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	call := func(creds *Credentials) {
		t.Helper()
		conn, err := Dial(lis.Addr().String(), nil, creds)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = pb.NewWorkerClient(conn).StartJob(ctx, &pb.StartJobRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("StartJob with token %q: %v; want Unauthenticated", creds.token, err)
		}
	}
	call(&Credentials{token: wrong})
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines after a refused call; want 1:\n%s", len(lines), buf.String())
	}
	l := lines[0]
	if l["level"] != "WARN" || l["reason"] != "wrong token" || l["method"] != "/hessian.v1.Worker/StartJob" ||
		!strings.HasPrefix(l["peer"].(string), "127.0.0.1:") {
		t.Errorf("refusal line %v: want WARN, reason \"wrong token\", the method and the peer 127.0.0.1:port", l)
	}
	if s := buf.String(); strings.Contains(s, wrong) || strings.Contains(s, token) {
		t.Errorf("the log holds a token: %s", s)
	}
	call(&Credentials{token: wrong}) // another connection, the same host
	if n := len(logLines(t, &buf)); n != 1 {
		t.Errorf("%d log lines after a second refusal right away; want it suppressed:\n%s", n, buf.String())
	}
}

// TestRefusalsRateLimit: one line per host per interval, counting the suppressed ones;
// hosts are limited apart.
func TestRefusalsRateLimit(t *testing.T) {
	var buf logbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	now := time.Unix(1000, 0)
	r := &refusals{log: func() *slog.Logger { return log }, every: 10 * time.Second, now: func() time.Time { return now }}
	r.refuse("10.0.0.1:5000", "no token")
	r.refuse("10.0.0.1:5001", "no token") // suppressed
	r.refuse("10.0.0.2:5000", "wrong token")
	now = now.Add(5 * time.Second)
	r.refuse("10.0.0.1:5002", "no token") // suppressed
	now = now.Add(6 * time.Second)
	r.refuse("10.0.0.1:5003", "wrong token")
	lines := logLines(t, &buf)
	type got struct {
		peer, reason string
		suppressed   float64
	}
	want := []got{{"10.0.0.1:5000", "no token", 0}, {"10.0.0.2:5000", "wrong token", 0}, {"10.0.0.1:5003", "wrong token", 2}}
	if len(lines) != len(want) {
		t.Fatalf("%d lines; want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if g := (got{l["peer"].(string), l["reason"].(string), l["suppressed"].(float64)}); g != want[i] {
			t.Errorf("line %d: %+v; want %+v", i, g, want[i])
		}
	}
	var nilR *refusals
	nilR.refuse("10.0.0.1:1", "no token") // logs nothing, does not panic
}
