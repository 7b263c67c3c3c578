package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hessian-cluster/hess/hessian"
)

const (
	// e2eSteps Newton steps of full-data training, in the containers and on the host.
	e2eSteps = 2
	// e2eRelTol is the agreement asked of the cluster with the in-process run: the same
	// code, differing only in how the tiles are laid out over 3 workers instead of 2, hence
	// in the order of floating-point sums.
	e2eRelTol = 1e-10
	// workerGrace is the stop_grace_period of compose.yaml's workers.
	workerGrace = 20 * time.Second
	// e2eWorkers is the number of worker containers.
	e2eWorkers = 3
)

// TestDockerE2E builds the image, starts three worker containers on a private network,
// trains two Newton steps on the full data set from a fourth container, and checks the
// result against `hess train` in one process on the host. The containers run as in
// production: read-only root, no capabilities, no new privileges, and the memory limits
// and tile size of the Kubernetes manifests. At the end each worker is stopped with
// SIGTERM and must exit 0 within its grace period.
func TestDockerE2E(t *testing.T) {
	requireDocker(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()

	// The sizes under test are those of deploy/k8s.
	m := mustLoadManifests(t)
	wc, jc := worker(m), job(m)
	// The Job's --tile-size, if it has one (else both runs let the coordinator choose).
	var tileArgs []string
	if v, ok, err := flagValue(jc.Args, "tile-size"); err != nil {
		t.Fatalf("train-job.yaml: %v", err)
	} else if ok {
		tileArgs = []string{"--tile-size", v}
	}
	workerMem, jobMem := wc.Resources.Limits.Memory().Value(), jc.Resources.Limits.Memory().Value()

	sweepStale(ctx, t)
	tag, bin := buildTestImage(t)
	id := newRunID()
	t.Cleanup(func() { removeRun(t, id) })
	prefix := projectPrefix + id
	label := runLabel + "=" + id
	hardened := []string{"--label", label, "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"}
	limits := func(c *corev1.Container, bytes int64) []string {
		a := []string{"--memory", fmt.Sprint(bytes), "--memory-swap", fmt.Sprint(bytes)}
		for _, e := range c.Env {
			a = append(a, "--env", e.Name+"="+e.Value)
		}
		// Each collection prints the live heap to stderr: what the sizing is checked on.
		return append(a, "--env", "GODEBUG=gctrace=1")
	}

	// A private network: the containers reach one another by name and nothing else.
	if _, err := docker(ctx, dockerQuick, "network", "create", "--internal", "--label", label, prefix); err != nil {
		t.Fatal(err)
	}
	var workerIDs, addrs []string
	for i := range e2eWorkers {
		name := fmt.Sprintf("%s-w%d", prefix, i)
		args := append([]string{"run", "--detach", "--name", name, "--network", prefix}, hardened...)
		args = append(append(args, limits(wc, workerMem)...), tag) // the image's CMD: hess worker --listen :7070
		res, err := docker(ctx, dockerQuick, args...)
		if err != nil {
			t.Fatal(err)
		}
		workerIDs = append(workerIDs, strings.TrimSpace(res.stdout))
		addrs = append(addrs, name+":7070")
	}
	if err := waitHealthy(ctx, 90*time.Second, workerIDs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d workers healthy after %.1f s", e2eWorkers, time.Since(begin).Seconds())

	// The training job, from a fourth container; its outputs go to a volume.
	vol := prefix + "-out"
	if _, err := docker(ctx, dockerQuick, "volume", "create", "--label", label, vol); err != nil {
		t.Fatal(err)
	}
	trainArgs := append([]string{"train", "--workers", strings.Join(addrs, ","), "--steps", strconv.Itoa(e2eSteps),
		"--json", "--data", "/data", "--out", "/out"}, tileArgs...)
	args := append([]string{"run", "--detach", "--name", prefix + "-train", "--network", prefix, "--no-healthcheck",
		"--volume", vol + ":/out"}, hardened...)
	args = append(append(append(args, limits(jc, jobMem)...), tag), trainArgs...)
	res, err := docker(ctx, dockerQuick, args...)
	if err != nil {
		t.Fatal(err)
	}
	trainer := strings.TrimSpace(res.stdout)
	trainStart := time.Now()
	peaks := map[string]int64{}
	peakSeen := false
	var st containerState
	err = poll(ctx, 6*time.Minute, time.Second, "training in the containers", func() (bool, error) {
		for _, c := range append([]string{trainer}, workerIDs...) {
			if p, ok := peakMemory(c); ok {
				peakSeen = true
				peaks[c] = max(peaks[c], p)
			}
		}
		var err error
		st, err = inspectState(ctx, trainer)
		return st.Status == "exited", err
	})
	trainS := time.Since(trainStart).Seconds()
	stdout, stderr := containerLogs(ctx, trainer)
	if err != nil {
		t.Fatalf("%v\ntrainer stderr:\n%s", err, tail(stderr, 4000))
	}
	if st.ExitCode != 0 || st.OOMKilled {
		for _, w := range workerIDs {
			_, werr := containerLogs(ctx, w)
			t.Logf("worker %s stderr:\n%s", w[:12], tail(werr, 2000))
		}
		t.Fatalf("trainer exited with %d (OOM-killed %v); stderr:\n%s", st.ExitCode, st.OOMKilled, tail(stderr, 4000))
	}
	t.Logf("cluster training: %d steps in %.1f s", e2eSteps, trainS)
	if peakSeen {
		t.Logf("peak memory (cgroup, page cache included): trainer %.0f MB of its %.0f MB limit; workers %.0f, %.0f, %.0f MB of %.0f MB",
			float64(peaks[trainer])/1e6, float64(jobMem)/1e6, float64(peaks[workerIDs[0]])/1e6, float64(peaks[workerIDs[1]])/1e6, float64(peaks[workerIDs[2]])/1e6, float64(workerMem)/1e6)
	} else {
		t.Logf("peak memory: the engine's cgroups are not visible on this host; the --memory limits still applied")
	}
	got, err := parseSteps(stdout)
	if err != nil {
		t.Fatalf("trainer stdout: %v", err)
	}
	checkLiveHeaps(ctx, t, trainer, workerIDs, jc, wc, tileArgs)
	dir := t.TempDir()
	wPath, err := copyOut(ctx, trainer, "/out/weights.npy", dir)
	if err != nil {
		t.Fatal(err)
	}
	gotW, err := hessian.ReadWeights(wPath)
	if err != nil {
		t.Fatal(err)
	}
	ckPath, err := copyOut(ctx, trainer, "/out/checkpoint.json", dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := readCheckpointFile(ckPath)
	if err != nil {
		t.Fatal(err)
	}

	// The same training in one process on the host, from the same binary.
	refDir := t.TempDir()
	refStart := time.Now()
	ref, err := runCmd(ctx, 6*time.Minute, nil, bin, append([]string{"train", "--steps", strconv.Itoa(e2eSteps), "--json", "--out", refDir}, tileArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in-process training: %d steps in %.1f s", e2eSteps, time.Since(refStart).Seconds())
	want, err := parseSteps(ref.stdout)
	if err != nil {
		t.Fatalf("in-process stdout: %v", err)
	}
	wantW, err := hessian.ReadWeights(refDir + "/weights.npy")
	if err != nil {
		t.Fatal(err)
	}

	compareRuns(t, got, want, gotW, wantW)
	if len(ck.Records) != len(got) || relNormErr(ck.Weights, gotW) != 0 {
		t.Errorf("checkpoint.json: %d records and weights %g from weights.npy; want the %d records printed and the same weights",
			len(ck.Records), relNormErr(ck.Weights, gotW), len(got))
	}

	// SIGTERM ends each worker, drained, within its grace period.
	for i, w := range workerIDs {
		r, err := stopContainer(ctx, w, workerGrace)
		if err != nil {
			t.Fatal(err)
		}
		checkStop(t, fmt.Sprintf("worker %d", i), r, workerGrace, true)
	}
	t.Logf("whole test: %.1f s", time.Since(begin).Seconds())
}

// compareRuns checks the cluster's steps and weights against the in-process run's.
func compareRuns(t *testing.T, got, want []hessian.StepRecord, gotW, wantW []float64) {
	t.Helper()
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("cluster printed %d steps, in-process %d; want the same, at least 1", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		t.Logf("step %d: objective %.17g (cluster) %.17g (in-process), rel. diff %.1e; grad_norm %.3e / %.3e; assemble %.1f / %.1f s, solve %.1f / %.1f s; cluster sent %d B, received %d B",
			w.Step, g.Objective, w.Objective, relErr(g.Objective, w.Objective), g.GradNorm, w.GradNorm, g.AssembleS, w.AssembleS, g.SolveS, w.SolveS, g.BytesSent, g.BytesReceived)
		if g.Step != w.Step {
			t.Errorf("record %d: step %d (cluster), %d (in-process)", i, g.Step, w.Step)
		}
		if e := relErr(g.Objective, w.Objective); !(e <= e2eRelTol) {
			t.Errorf("step %d: objective %.17g (cluster), %.17g (in-process): relative difference %.2e > %g", w.Step, g.Objective, w.Objective, e, e2eRelTol)
		}
		// The line search makes the same choices on objectives that agree to 1e-10.
		if g.StepSize != w.StepSize {
			t.Errorf("step %d: step size %g (cluster), %g (in-process)", w.Step, g.StepSize, w.StepSize)
		}
		// The workers did the work: the coordinator sent them data and received answers
		// in every step (the last record only evaluates the final weights).
		if g.StepSize > 0 && (g.BytesSent <= 0 || g.BytesReceived <= 0) {
			t.Errorf("step %d: the cluster run sent %d and received %d bytes; want both > 0", w.Step, g.BytesSent, g.BytesReceived)
		}
	}
	if len(gotW) != len(wantW) {
		t.Fatalf("weights: %d values (cluster), %d (in-process)", len(gotW), len(wantW))
	}
	e := relNormErr(gotW, wantW)
	t.Logf("weights.npy: relative difference %.2e in the 2-norm", e)
	if !(e <= e2eRelTol) {
		t.Errorf("weights.npy: ||cluster - in-process|| / ||in-process|| = %.2e > %g", e, e2eRelTol)
	}
}

// checkLiveHeaps checks the largest live heaps that the containers' garbage collectors
// reported against the sizing of the manifests: each worker's under workerMemoryNeed, the
// trainer's under the Job's memory request.
func checkLiveHeaps(ctx context.Context, t *testing.T, trainer string, workers []string, jc, wc *corev1.Container, tileArgs []string) {
	t.Helper()
	tile, err := tileSize(tileArgs, len(workers))
	if err != nil {
		t.Fatal(err)
	}
	need, err := workerMemoryNeed(len(workers), tile)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range workers {
		_, stderr := containerLogs(ctx, w)
		live, ok := peakLiveHeap(stderr)
		if !ok {
			t.Errorf("worker %d printed no gctrace line; cannot check its memory", i)
			continue
		}
		t.Logf("worker %d: peak live heap %.0f MB; sizing %.0f MB (tiles of %d), request %s", i, float64(live)/1e6, need/1e6, tile, wc.Resources.Requests.Memory())
		// The live heap holds the tiles, the received tiles, the data and part of the
		// runtime's share (gRPC buffers); the sizing must cover it. (The container's
		// resident memory is larger: the collector lets garbage grow up to GOMEMLIMIT.)
		if float64(live) > need {
			t.Errorf("worker %d: live heap %.0f MB exceeds the sizing %.0f MB", i, float64(live)/1e6, need/1e6)
		}
	}
	_, stderr := containerLogs(ctx, trainer)
	if live, ok := peakLiveHeap(stderr); !ok {
		t.Errorf("trainer printed no gctrace line; cannot check its memory")
	} else {
		req := jc.Resources.Requests.Memory()
		t.Logf("trainer: peak live heap %.0f MB; request %s", float64(live)/1e6, req)
		if live > req.Value() {
			t.Errorf("trainer: live heap %.0f MB exceeds its memory request %s", float64(live)/1e6, req)
		}
	}
}
