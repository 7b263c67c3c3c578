package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
)

// runHess runs the hess command line in the test process.
func runHess(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(t.Context(), args, &o, &e)
	return o.String(), e.String(), err
}

// jsonSteps decodes the --json step lines of hess train.
func jsonSteps(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestTrainJSONCheckpointResume trains two steps on 200 images with in-process workers,
// checks the JSON keys the README promises, then trains one step, stops, resumes for the
// second, and gets the same weights as the uninterrupted run.
func TestTrainJSONCheckpointResume(t *testing.T) {
	if testing.Short() {
		t.Skip("four factorizations of 7840; run without -short")
	}
	full := t.TempDir()
	out, _, err := runHess(t, "train", "--batch", "200", "--steps", "2", "--json", "--out", full)
	if err != nil {
		t.Fatal(err)
	}
	recs := jsonSteps(t, out)
	if len(recs) != 3 {
		t.Fatalf("%d step records, want 3 (steps 0, 1 and the final state): %s", len(recs), out)
	}
	for _, key := range []string{"step", "objective", "grad_norm", "step_size", "train_acc", "test_acc", "assemble_s", "solve_s", "bytes_sent", "bytes_received"} {
		if _, ok := recs[0][key]; !ok {
			t.Errorf("--json record lacks %q: %v", key, recs[0])
		}
	}
	if recs[0]["bytes_sent"].(float64) <= 0 || recs[0]["peer_bytes"].(float64) <= 0 {
		t.Errorf("step 0 moved no bytes over the in-process workers: %v", recs[0])
	}
	for _, f := range []string{"weights.npy", "checkpoint.json", "training.png", "weights.png"} {
		if _, err := os.Stat(filepath.Join(full, f)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}

	part := t.TempDir()
	if _, _, err := runHess(t, "train", "--batch", "200", "--steps", "1", "--json", "--out", part); err != nil {
		t.Fatal(err)
	}
	_, _, err = runHess(t, "train", "--resume", part, "--eps", "0.01")
	if err == nil || !strings.Contains(err.Error(), "--eps differs from the checkpoint") {
		t.Errorf("resume with another --eps: %v; want it refused", err)
	}
	// A resume of a run that took all its --steps says how to go on.
	_, errOut, err := runHess(t, "train", "--resume", part, "--in-process", "0")
	if err != nil || !strings.Contains(errOut, "give a larger --steps") {
		t.Errorf("resume of a finished --steps 1 run: %v; want a warning naming --steps, got:\n%s", err, errOut)
	}
	// --continue with --out resumes when the checkpoint is there (a restarted job).
	out2, _, err := runHess(t, "train", "--out", part, "--continue", "--steps", "2", "--json", "--in-process", "3")
	if err != nil {
		t.Fatal(err)
	}
	resumed := jsonSteps(t, out2)
	if len(resumed) != 2 || resumed[0]["step"].(float64) != 1 {
		t.Fatalf("resumed records %v; want steps 1 and 2", resumed)
	}
	if d := math.Abs(resumed[0]["objective"].(float64) - recs[1]["objective"].(float64)); d > 1e-12 {
		t.Errorf("resumed step 1 objective differs by %g", d)
	}
	wFull, err := hessian.ReadWeights(filepath.Join(full, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	wRes, err := hessian.ReadWeights(filepath.Join(part, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	var d, m float64
	for i := range wFull {
		d = max(d, math.Abs(wFull[i]-wRes[i]))
		m = max(m, math.Abs(wFull[i]))
	}
	if d > 1e-10*m {
		t.Errorf("resumed weights differ from the uninterrupted run by %.3g (relative)", d/m)
	}
}

// TestTrainWithoutPenaltyFails: eps = 0 makes H singular; both the single-process and
// the cluster path say which column failed and what fixes it.
func TestTrainWithoutPenaltyFails(t *testing.T) {
	for _, inProcess := range []string{"0", "2"} {
		_, _, err := runHess(t, "train", "--batch", "5", "--eps", "0", "--in-process", inProcess)
		if err == nil {
			t.Fatalf("--in-process %s: eps = 0 trained", inProcess)
		}
		for _, want := range []string{"not positive definite", "column 0", "--eps", "--damping"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("--in-process %s: error %q does not mention %q", inProcess, err, want)
			}
		}
	}
}

// TestTrainFlagErrors: flags out of range are refused with the flag's name.
func TestTrainFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--eps", "-1"}, "--eps"},
		{[]string{"--eps", "NaN"}, "--eps"},
		{[]string{"--damping", "-0.5"}, "--damping"},
		{[]string{"--steps", "-1"}, "--steps"},
		{[]string{"--tol", "0"}, "--tol"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--batch", "70000"}, "only 60000"},
		{[]string{"--tile-size", "9000", "--batch", "5"}, "--tile-size"},
		{[]string{"--in-process", "-1", "--batch", "5"}, "--in-process"},
		{[]string{"--workers", "nohost", "--batch", "5"}, "want host:port"},
		{[]string{"--resume", "/nonexistent"}, "--resume"},
		{[]string{"--continue"}, "--continue needs --out"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		_, _, err := runHess(t, append([]string{"train"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: %v; want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// TestSGDBaseline reproduces the seed's baseline: 1000 steps of 100 images at lr 0.5
// reach 0.91 to 0.925 test accuracy.
func TestSGDBaseline(t *testing.T) {
	out, _, err := runHess(t, "sgd")
	if err != nil {
		t.Fatal(err)
	}
	var acc float64
	i := strings.Index(out, "test accuracy ")
	if i < 0 {
		t.Fatalf("sgd printed %q", out)
	}
	if _, err := fmt.Sscan(out[i+len("test accuracy "):], &acc); err != nil {
		t.Fatalf("sgd printed %q: %v", out, err)
	}
	if acc < 0.91 || acc > 0.925 {
		t.Errorf("sgd test accuracy %.4f; the seed's baseline is 0.91 to 0.925", acc)
	}
}
