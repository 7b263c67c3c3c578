package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

// Helpers of the end-to-end tests that watch, stop and read containers.

// containerState is what docker inspect says about a container's process.
type containerState struct {
	Status    string // created, running, exited, ...
	ExitCode  int
	OOMKilled bool
	Health    string // starting, healthy, unhealthy, or "" without a healthcheck
}

func inspectState(ctx context.Context, id string) (containerState, error) {
	res, err := docker(ctx, dockerQuick, "inspect", "--format",
		"{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
	if err != nil {
		return containerState{}, err
	}
	f := strings.Fields(res.stdout)
	if len(f) < 3 {
		return containerState{}, fmt.Errorf("docker inspect %s: unexpected %q", id, res.stdout)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return containerState{}, fmt.Errorf("docker inspect %s: exit code %q", id, f[1])
	}
	st := containerState{Status: f[0], ExitCode: code, OOMKilled: f[2] == "true"}
	if len(f) > 3 {
		st.Health = f[3]
	}
	return st, nil
}

// containerLogs returns what a container wrote to stdout and to stderr.
func containerLogs(ctx context.Context, id string) (stdout, stderr string) {
	res, err := docker(ctx, dockerQuick, "logs", id)
	if err != nil {
		return "", err.Error()
	}
	return res.stdout, res.stderr
}

// poll calls f every interval until it returns done or an error, or until timeout.
func poll(ctx context.Context, timeout, interval time.Duration, what string, f func() (done bool, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %v", what, timeout)
		case <-tick.C:
		}
	}
}

// waitHealthy waits until every container's healthcheck says healthy, and fails at once
// with its logs if one stops.
func waitHealthy(ctx context.Context, timeout time.Duration, ids ...string) error {
	for _, id := range ids {
		err := poll(ctx, timeout, 500*time.Millisecond, "container "+id+" healthy", func() (bool, error) {
			st, err := inspectState(ctx, id)
			if err != nil {
				return false, err
			}
			if st.Status != "running" && st.Status != "created" {
				_, errOut := containerLogs(ctx, id)
				return false, fmt.Errorf("container %s is %s (exit %d) before it was healthy:\n%s", id, st.Status, st.ExitCode, tail(errOut, 3000))
			}
			return st.Health == "healthy", nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stopResult is how a container ended under docker stop.
type stopResult struct {
	elapsed time.Duration
	state   containerState
}

// stopContainer sends SIGTERM through docker stop with a grace period and reports how
// long the container took to end and how it ended.
func stopContainer(ctx context.Context, id string, grace time.Duration) (stopResult, error) {
	start := time.Now()
	if _, err := docker(ctx, grace+dockerQuick, "stop", "-t", strconv.Itoa(int(grace/time.Second)), id); err != nil {
		return stopResult{}, err
	}
	elapsed := time.Since(start)
	st, err := inspectState(ctx, id)
	return stopResult{elapsed, st}, err
}

// checkStop fails the test unless the container ended by itself within the grace period:
// exit status 0 when wantZero (a worker), any status but SIGKILL's 137 otherwise.
func checkStop(t *testing.T, what string, r stopResult, grace time.Duration, wantZero bool) {
	t.Helper()
	t.Logf("docker stop -t %d %s: ended in %.2f s with exit code %d (OOM-killed %v)", int(grace/time.Second), what, r.elapsed.Seconds(), r.state.ExitCode, r.state.OOMKilled)
	if r.state.Status != "exited" {
		t.Errorf("%s after docker stop: status %s; want exited", what, r.state.Status)
	}
	if r.state.ExitCode == 137 || r.elapsed >= grace {
		t.Errorf("%s: docker stop took %.2f s and exit code %d: it needed SIGKILL after the %v grace period", what, r.elapsed.Seconds(), r.state.ExitCode, grace)
	}
	if wantZero && r.state.ExitCode != 0 {
		t.Errorf("%s: exit code %d after SIGTERM; want 0 (drained)", what, r.state.ExitCode)
	}
	if r.state.OOMKilled {
		t.Errorf("%s was OOM-killed", what)
	}
}

// copyOut copies a file out of a container (running or not) into dir and returns its path.
func copyOut(ctx context.Context, id, path, dir string) (string, error) {
	dst := filepath.Join(dir, filepath.Base(path))
	_, err := docker(ctx, dockerQuick, "cp", id+":"+path, dst)
	return dst, err
}

// stepKeys are the keys that `hess train --json` promises in every step object.
var stepKeys = []string{"step", "objective", "grad_norm", "step_size", "train_acc", "test_acc", "assemble_s", "solve_s", "bytes_sent", "bytes_received"}

// parseSteps reads the JSON objects that `hess train --json` prints, one a line, and
// checks that each has the promised keys.
func parseSteps(stdout string) ([]hessian.StepRecord, error) {
	var recs []hessian.StepRecord
	for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &keys); err != nil {
			return nil, fmt.Errorf("stdout line %d is not a JSON object: %v: %q", i+1, err, line)
		}
		for _, k := range stepKeys {
			if _, ok := keys[k]; !ok {
				return nil, fmt.Errorf("stdout line %d has no key %q: %s", i+1, k, line)
			}
		}
		var r hessian.StepRecord
		dec := json.NewDecoder(bytes.NewReader([]byte(line)))
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("stdout line %d: %v", i+1, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// relErr returns |got - want| / |want| (|got - want| when want is 0).
func relErr(got, want float64) float64 {
	d := math.Abs(got - want)
	if want != 0 {
		d /= math.Abs(want)
	}
	return d
}

// relNormErr returns ||got - want|| / ||want|| in the 2-norm.
func relNormErr(got, want []float64) float64 {
	var d, n float64
	for i := range want {
		d += (got[i] - want[i]) * (got[i] - want[i])
		n += want[i] * want[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// trainCheckpoint is the part of `hess train --out`'s checkpoint.json the tests read.
type trainCheckpoint struct {
	NextStep int                  `json:"next_step"`
	Records  []hessian.StepRecord `json:"records"`
	Weights  []float64            `json:"weights"`
}

func readCheckpointFile(path string) (trainCheckpoint, error) {
	var ck trainCheckpoint
	b, err := os.ReadFile(path)
	if err != nil {
		return ck, err
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		return ck, fmt.Errorf("%s: %w", path, err)
	}
	return ck, nil
}

// peakMemory returns the most memory the container's cgroup has used so far, in bytes,
// where the engine's cgroups are visible on this host (cgroup v1 with the cgroupfs
// driver, or v2 with systemd); ok is false elsewhere.
func peakMemory(fullID string) (bytes int64, ok bool) {
	for _, p := range []string{
		"/sys/fs/cgroup/memory/docker/" + fullID + "/memory.max_usage_in_bytes",
		"/sys/fs/cgroup/system.slice/docker-" + fullID + ".scope/memory.peak",
	} {
		if b, err := os.ReadFile(p); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// gcLive matches the heap sizes of a GODEBUG=gctrace=1 line: "A->B->C MB", C being the
// heap marked live by that collection (the runtime's MB are 2^20 bytes).
var gcLive = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// peakLiveHeap returns the largest live heap that the gctrace lines in a container's
// stderr report, in bytes; ok is false if there are none.
func peakLiveHeap(stderr string) (bytes int64, ok bool) {
	for _, m := range gcLive.FindAllStringSubmatch(stderr, -1) {
		if n, err := strconv.ParseInt(m[3], 10, 64); err == nil {
			bytes, ok = max(bytes, n<<20), true
		}
	}
	return bytes, ok
}
