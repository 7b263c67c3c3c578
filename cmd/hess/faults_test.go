package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

// metricAbove reports whether the Prometheus text at url has a sample of a metric whose
// line starts with prefix and whose value is above zero.
func metricAbove(url, prefix string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			f := strings.Fields(rest)
			if len(f) > 0 && f[len(f)-1] != "0" {
				return true
			}
		}
	}
	return false
}

// lastRecord returns the last JSON step record in out.
func lastRecord(t *testing.T, out string) map[string]any {
	t.Helper()
	recs := jsonSteps(t, jsonLines(out))
	if len(recs) == 0 {
		t.Fatalf("no step records in:\n%s", out)
	}
	return recs[len(recs)-1]
}

// TestWorkerKilledDuringFactorization starts three `hess worker` processes, trains one
// Newton step on 200 images on them, and kills one with SIGKILL while the workers factor
// (its metrics show tile updates running): the step completes on the two survivors with
// the fault-free result.
func TestWorkerKilledDuringFactorization(t *testing.T) {
	if testing.Short() {
		t.Skip("factorizations of 7840 on worker processes; run without -short")
	}
	ref, _, err := runHess(t, "train", "--batch", "200", "--steps", "1", "--json", "--in-process", "0")
	if err != nil {
		t.Fatal(err)
	}
	want := lastRecord(t, ref)

	var addrs []string
	var workers []*proc
	victimMetrics := ""
	for i := range 3 {
		a := freeAddr(t)
		args := []string{"worker", "--listen", a}
		if i == 2 {
			m := freeAddr(t)
			victimMetrics = "http://" + m + "/metrics"
			args = append(args, "--metrics", m)
		}
		workers = append(workers, startHess(t, args...))
		addrs = append(addrs, a)
	}
	tr := startHess(t, "train", "--workers", strings.Join(addrs, ","), "--batch", "200", "--steps", "1", "--json", "--startup-timeout", "30s")
	deadline := time.Now().Add(10 * time.Minute)
	for !metricAbove(victimMetrics, `hess_worker_tasks_total{kind="gemm"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("the factorization never began on the victim; train output:\n%s", tr.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	workers[2].cmd.Process.Kill()
	if err := tr.wait(t, 15*time.Minute); err != nil {
		t.Fatalf("train after the kill: %v\n%s", err, tr.out.String())
	}
	got := lastRecord(t, tr.out.String())
	f, fWant := got["objective"].(float64), want["objective"].(float64)
	if math.Abs(f-fWant) > 1e-10*math.Abs(fWant) {
		t.Errorf("objective after the step with a killed worker %.17g; fault-free %.17g", f, fWant)
	}
	if out := tr.out.String(); !strings.Contains(out, "restarting") || !strings.Contains(out, addrs[2]) {
		t.Errorf("the coordinator's log does not say it restarted without %s:\n%s", addrs[2], out)
	}
}

// TestCoordinatorKilledAndResumed kills `hess train` with SIGKILL after its first
// checkpoint, resumes it, and gets the weights of an uninterrupted run.
func TestCoordinatorKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("several factorizations of 7840; run without -short")
	}
	full := t.TempDir()
	if _, _, err := runHess(t, "train", "--batch", "200", "--steps", "3", "--out", full, "--in-process", "0"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := startHess(t, "train", "--batch", "200", "--steps", "3", "--out", dir)
	ck := filepath.Join(dir, checkpointFile)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var c checkpoint
		if b, err := os.ReadFile(ck); err == nil && json.Unmarshal(b, &c) == nil && c.NextStep >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after a step; train output:\n%s", tr.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tr.cmd.Process.Kill()
	tr.wait(t, time.Minute)
	// The checkpoint is whole: it reads back, whatever the moment of the kill.
	if _, err := readCheckpoint(dir); err != nil {
		t.Fatalf("checkpoint after SIGKILL: %v", err)
	}
	res := startHess(t, "train", "--resume", dir)
	if err := res.wait(t, 15*time.Minute); err != nil {
		t.Fatalf("resume: %v\n%s", err, res.out.String())
	}
	a, err := hessian.ReadWeights(filepath.Join(full, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hessian.ReadWeights(filepath.Join(dir, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	var d, m float64
	for i := range a {
		d, m = max(d, math.Abs(a[i]-b[i])), max(m, math.Abs(a[i]))
	}
	if d > 1e-10*m {
		t.Errorf("resumed weights differ from the uninterrupted run's by %.3g relative", d/m)
	}
}

// TestTrainStopsOnSIGTERM: SIGTERM in the middle of a step ends hess train within a few
// seconds, with its checkpoint readable and a note on how to resume.
func TestTrainStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("a factorization of 7840; run without -short")
	}
	dir := t.TempDir()
	tr := startHess(t, "train", "--batch", "200", "--steps", "5", "--out", dir)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, checkpointFile)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint; output:\n%s", tr.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the next step's work
	start := time.Now()
	tr.cmd.Process.Signal(syscall.SIGTERM)
	err := tr.wait(t, 30*time.Second)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("train took %v to stop after SIGTERM", d)
	}
	if err == nil {
		t.Errorf("train exited 0 after SIGTERM mid-run; want the interruption reported")
	}
	if out := tr.out.String(); !strings.Contains(out, "--resume") {
		t.Errorf("train's output does not say how to resume:\n%s", out)
	}
	if _, err := readCheckpoint(dir); err != nil {
		t.Errorf("checkpoint after SIGTERM: %v", err)
	}
}
