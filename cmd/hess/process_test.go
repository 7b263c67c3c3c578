package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binDir holds the hess binary that the process tests build; TestMain removes it.
var binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "hess-bin") })

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := binDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// hessBinary builds the hess binary once per test run.
var hessBinary = sync.OnceValues(func() (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hess")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a hess process started by a test.
type proc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan struct{}
	waited error
	hwm    atomic.Int64 // the largest VmHWM read from /proc while it ran, in bytes
}

// startHess starts the hess binary with args; the test kills it at the end if it still
// runs.
func startHess(t *testing.T, args ...string) *proc {
	t.Helper()
	bin, err := hessBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waited = p.cmd.Wait()
		close(p.done)
	}()
	go p.watchMemory() // ends with the process
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit, at most d.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waited
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v did not exit within %v; output:\n%s", p.cmd.Args, d, p.out.String())
		return nil
	}
}

// watchMemory reads the process's VmHWM (its resident high-water mark) from
// /proc/PID/status every 50 ms until it exits. The rusage of wait4 cannot serve: Go
// starts children with vfork semantics (CLONE_VM), and Linux folds the high-water mark of
// the shared address space, the test process's own, into the child's ru_maxrss at exec,
// so a child of a 1.2 GB test process would report 1.2 GB.
func (p *proc) watchMemory() {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if hwm, ok := readVmHWM(path); ok && hwm > p.hwm.Load() {
			p.hwm.Store(hwm)
		}
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
	}
}

// readVmHWM returns the VmHWM line of a /proc/PID/status file in bytes.
func readVmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, false
			}
			return kb * 1024, true
		}
	}
	return 0, false
}

// maxRSS returns the peak resident memory seen while the process ran, in bytes: its
// VmHWM at the last reading, at most 50 ms before it exited. It fails the test where
// /proc gave no reading at all.
func (p *proc) maxRSS(t *testing.T) int64 {
	t.Helper()
	hwm := p.hwm.Load()
	if hwm == 0 {
		t.Fatalf("no VmHWM read from /proc for %v", p.cmd.Args)
	}
	return hwm
}

// TestTrainOnWorkerProcesses is the README's cluster: two `hess worker` processes, and
// `hess train --workers A,B` on all 60000 images as a third. It reaches the reference
// optimum, and the peak memory of each process stays within the budget of the cluster
// issue: coordinator under 150 MB; each worker under 1.5 x (491.7 MB / 2) + the data set
// (28 MB) + 100 MB.
func TestTrainOnWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("full-data Newton training on worker processes takes minutes; run without -short")
	}
	a, b := freeAddr(t), freeAddr(t)
	wa := startHess(t, "worker", "--listen", a)
	wb := startHess(t, "worker", "--listen", b)
	out := t.TempDir()
	tr := startHess(t, "train", "--workers", a+","+b, "--json", "--out", out, "--startup-timeout", "30s")
	if err := tr.wait(t, 40*time.Minute); err != nil {
		t.Fatalf("train: %v\n%s", err, tr.out.String())
	}
	recs := jsonSteps(t, jsonLines(tr.out.String()))
	last := recs[len(recs)-1]
	if last["converged"] != true || len(recs) > 13 {
		t.Errorf("%d records, last %v; want convergence within 12 steps", len(recs), last)
	}
	const optimum = 0.366332031336147 // the reference run (newton_eps1e-3.json)
	if f := last["objective"].(float64); math.Abs(f-optimum) > 1e-10*optimum {
		t.Errorf("final objective %.17g; want %.17g to 1e-10", f, optimum)
	}
	if acc := last["test_acc"].(float64); acc != 0.9141 {
		t.Errorf("final test accuracy %v; want 0.9141", acc)
	}
	for _, w := range []*proc{wa, wb} {
		w.cmd.Process.Signal(syscall.SIGTERM)
		if err := w.wait(t, 30*time.Second); err != nil {
			t.Errorf("worker after SIGTERM: %v\n%s", err, w.out.String())
		}
	}
	const mb = 1 << 20
	if rss := tr.maxRSS(t); rss > 150*mb {
		t.Errorf("coordinator peak RSS %d MB; want under 150 MB", rss/mb)
	} else {
		t.Logf("coordinator peak RSS %d MB", rss/mb)
	}
	tiles := 1.5 * 491.7 / 2 // MB
	budget := int64(tiles*mb) + 28*mb + 100*mb
	for i, w := range []*proc{wa, wb} {
		if rss := w.maxRSS(t); rss > budget {
			t.Errorf("worker %d peak RSS %d MB; want under %d MB", i, rss/mb, budget/mb)
		} else {
			t.Logf("worker %d peak RSS %d MB (budget %d MB)", i, rss/mb, budget/mb)
		}
	}
}

// jsonLines keeps the lines of out that are JSON objects (the step records), dropping
// the log lines that share the stream.
func jsonLines(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
