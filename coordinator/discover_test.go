package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hessian-cluster/hess/internal/logbuf"
	"github.com/hessian-cluster/hess/worker"
)

// fakeResolver answers from a table that a test may change while Resolve polls it.
type fakeResolver struct {
	mu    sync.Mutex // protects hosts
	hosts map[string][]string
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.hosts[host]; ok {
		return slices.Clone(a), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeResolver) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = addrs
}

func TestResolve(t *testing.T) {
	r := &fakeResolver{hosts: map[string][]string{
		"workers":   {"10.0.0.12", "10.0.0.3", "10.0.0.7"}, // a headless Service: sorted by address
		"localhost": {"::1", "127.0.0.1"},                  // both families: one worker
		"one":       {"10.1.1.1"},
		"v6only":    {"fd00::2", "fd00::1"},
	}}
	ctx := t.Context()
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"workers:7070", []string{"10.0.0.3:7070", "10.0.0.7:7070", "10.0.0.12:7070"}},
		{"localhost:7071, localhost:7072", []string{"localhost:7071", "localhost:7072"}},
		{"one:1,10.9.9.9:2", []string{"one:1", "10.9.9.9:2"}},
		{"v6only:7070", []string{"[fd00::1]:7070", "[fd00::2]:7070"}},
		{"[::1]:7070", []string{"[::1]:7070"}},
	} {
		got, err := Resolve(ctx, r, tc.list, 0, time.Second)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ list, want string }{
		{"", "empty"},
		{" , ", "empty"},
		{"workers", "want host:port"},
		{":7070", "host is empty"},
		{"nosuch:7070", "no such host"},
		{"one:1,10.1.1.1:1,one:1", "listed twice"},
		{"workers:7070,10.0.0.7:7070", "10.0.0.7:7070 is listed twice"},
	} {
		if _, err := Resolve(ctx, r, tc.list, 0, time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%q) error = %v; want one saying %q", tc.list, err, tc.want)
		}
	}
}

// TestResolveExpect waits for workers that register in DNS late, and gives up with an
// error that says how many it found.
func TestResolveExpect(t *testing.T) {
	r := &fakeResolver{hosts: map[string][]string{"svc": {"10.0.0.1"}}}
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.set("svc", "10.0.0.1", "10.0.0.2")
		time.Sleep(300 * time.Millisecond)
		r.set("svc", "10.0.0.1", "10.0.0.2", "10.0.0.3")
	}()
	got, err := Resolve(t.Context(), r, "svc:7070", 3, 10*time.Second)
	if want := []string{"10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Resolve(expect 3) = %v, %v; want %v", got, err, want)
	}
	start := time.Now()
	_, err = Resolve(t.Context(), r, "svc:7070", 5, 700*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "gives 3 workers") || !strings.Contains(err.Error(), "waiting for 5") {
		t.Errorf("Resolve(expect 5 of 3) error = %v; want it to say 3 found, 5 awaited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Resolve gave up after %v; want about its 700 ms timeout", d)
	}
	if _, err := Resolve(t.Context(), r, "svc:7070", 2, time.Second); err == nil || !strings.Contains(err.Error(), "more than the 2 expected") {
		t.Errorf("Resolve(expect 2 of 3) error = %v; want 'more than expected'", err)
	}
}

// TestStartupTimeout: a worker that never answers fails New within the startup timeout,
// and the error names its address.
func TestStartupTimeout(t *testing.T) {
	train, _ := loadMNIST(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	lb := startWorkers(t, 1)
	start := time.Now()
	_, err = New(t.Context(), Config{Workers: []string{lb.Addrs[0], addr}, Eps: 0.001, StartupTimeout: 800 * time.Millisecond}, train.Slice(0, 5))
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "startup timeout") {
		t.Fatalf("New with a dead worker: %v; want an error naming %s and the startup timeout", err, addr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("New gave up after %v; want about the 800 ms startup timeout", d)
	}
}

// TestStartupTimeoutLogsAndNamesAll: while workers are not serving, the coordinator
// logs each of them (with its address and the time left) every waitLogInterval; when the
// startup timeout expires, the error names every worker still not serving.
func TestStartupTimeoutLogsAndNamesAll(t *testing.T) {
	defer func(d time.Duration) { waitLogInterval = d }(waitLogInterval)
	waitLogInterval = 100 * time.Millisecond
	train, _ := loadMNIST(t)
	var dead []string
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, lis.Addr().String())
		lis.Close() // nothing listens there now
	}
	lb := startWorkers(t, 1)
	var buf logbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	_, err := New(t.Context(), Config{Workers: []string{dead[0], lb.Addrs[0], dead[1]}, Eps: 0.001,
		StartupTimeout: 700 * time.Millisecond, Logger: log}, train.Slice(0, 5))
	if err == nil {
		t.Fatal("New with two dead workers succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans lines; want one line (a command prints it as its error line)", msg)
	}
	for _, a := range dead {
		if !strings.Contains(msg, "worker "+a+" is not serving: ") {
			t.Errorf("error %q does not name %s as not serving", msg, a)
		}
	}
	if strings.Contains(msg, lb.Addrs[0]) {
		t.Errorf("error %q names the serving worker %s", msg, lb.Addrs[0])
	}
	if n := strings.Count(msg, "(startup timeout 700ms)"); n != 2 {
		t.Errorf("error %q gives the startup timeout %d times; want once per dead worker", msg, n)
	}
	waits := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Level, Msg, Worker, Err string
			Left                    int64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg != "worker not serving yet; waiting" {
			continue
		}
		if rec.Level != "INFO" || rec.Err == "" || rec.Left <= 0 || rec.Left > int64(700*time.Millisecond) {
			t.Errorf("waiting line %s: want level INFO, an err and 0 < left <= 700ms", line)
		}
		waits[rec.Worker]++
	}
	for _, a := range dead {
		if waits[a] < 2 {
			t.Errorf("%d waiting lines for %s; want one every 100 ms of the 700 ms (log:\n%s)", waits[a], a, buf.String())
		}
	}
}

// TestLateWorker: a worker that starts listening after the coordinator began waiting is
// found and used.
func TestLateWorker(t *testing.T) {
	train, _ := loadMNIST(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	s, err := worker.New(worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			done <- err
			return
		}
		done <- s.Serve(ctx, l)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("late worker: %v", err)
		}
	}()
	c, err := New(t.Context(), Config{Workers: []string{addr}, Eps: 0.001, StartupTimeout: 20 * time.Second}, train.Slice(0, 5))
	if err != nil {
		t.Fatalf("New with a late worker: %v", err)
	}
	defer c.Close()
	if _, err := c.Evaluate(t.Context(), randomWeights(1), nil); err != nil {
		t.Errorf("Evaluate on the late worker: %v", err)
	}
}

// TestDataCachedAcrossJobs: a second job with the same training set sends no data.
func TestDataCachedAcrossJobs(t *testing.T) {
	train, _ := loadMNIST(t)
	lb := startWorkers(t, 2)
	batch := train.Slice(0, 1000)
	c1 := newCluster(t, lb.Addrs, 0, 0.001, batch)
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	var first []uint64
	for _, s := range lb.Servers {
		first = append(first, s.DataBytesReceived())
		if s.DataBytesReceived() == 0 {
			t.Fatalf("the first job sent no data")
		}
	}
	c2 := newCluster(t, lb.Addrs, 0, 0.001, batch)
	sent, _ := c2.Traffic()
	for i, s := range lb.Servers {
		if s.DataBytesReceived() != first[i] {
			t.Errorf("worker %d received %d more data bytes for the second job", i, s.DataBytesReceived()-first[i])
		}
	}
	if sent > 10_000 {
		t.Errorf("the second job sent %d bytes to start; want only the small StartJob calls", sent)
	}
	// Another set is sent again.
	c3 := newCluster(t, lb.Addrs, 0, 0.001, train.Slice(1000, 1500))
	if s3, _ := c3.Traffic(); s3 < 3*500*100 {
		t.Errorf("a job with new data sent only %d bytes", s3)
	}
}

// TestCancelStopsFactor cancels a factorization: Factor returns at once with the
// cancellation, and the workers accept a new step afterwards.
func TestCancelStopsFactor(t *testing.T) {
	train, _ := loadMNIST(t)
	lb := startWorkers(t, 2)
	c := newCluster(t, lb.Addrs, 0, 0.001, train.Slice(0, 5))
	w := randomWeights(3)
	if err := c.Assemble(t.Context(), w, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Factor(ctx)
	if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "Canceled") {
		t.Fatalf("Factor after cancel: %v; want a cancellation", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Factor returned %v after the cancel; want promptly", d)
	}
	// The job goes on: the next step assembles again.
	if err := c.Assemble(t.Context(), w, 0); err != nil {
		t.Errorf("Assemble after a cancelled Factor: %v", err)
	}
}
