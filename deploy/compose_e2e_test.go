package deploy

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

const (
	// trainGrace is the stop_grace_period of compose.yaml's train service.
	trainGrace = 30 * time.Second
	// composeBatch is the training batch of the Compose test: the wiring is under test
	// here, not the numbers (TestDockerE2E checks those on the full set), and a small batch
	// keeps each step to the factorization.
	composeBatch = 2000
	// composeSteps is more steps than the test lets finish, so that the job is busy when it
	// is stopped.
	composeSteps = 6
)

// TestComposeE2E runs deploy/compose.yaml itself with the Compose tool: three worker
// replicas that the train service finds by the service's DNS name after they are healthy,
// outputs in a volume. It stops the train job with SIGTERM after its first step (it must
// end within its grace period with that step in /out/checkpoint.json), continues it with
// --resume, and then stops a worker with SIGTERM in the middle of a step: the worker
// must exit 0 within its grace period.
func TestComposeE2E(t *testing.T) {
	requireDocker(t)
	compose := composeCommand(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()
	sweepStale(ctx, t)
	tag, _ := buildTestImage(t)
	id := newRunID()
	project := projectPrefix + id
	env := []string{"HESS_IMAGE=" + tag, "HESS_WORKERS=" + strconv.Itoa(e2eWorkers),
		"HESS_STEPS=" + strconv.Itoa(composeSteps), "HESS_BATCH=" + strconv.Itoa(composeBatch)}
	run := func(timeout time.Duration, args ...string) (cmdResult, error) {
		a := append(slices.Clone(compose[1:]), "-p", project, "-f", "compose.yaml")
		return runCmd(ctx, timeout, env, compose[0], append(a, args...)...)
	}
	t.Cleanup(func() {
		// The test's ctx is done by now; down gets its own deadline, then removeRun
		// removes by label whatever down left and checks that nothing is left.
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		a := append(slices.Clone(compose[1:]), "-p", project, "-f", "compose.yaml", "down", "--volumes", "--remove-orphans", "--timeout", "20")
		if _, err := runCmd(dctx, 2*time.Minute, env, compose[0], a...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		removeRun(t, id)
	})

	// up starts the workers, waits until they are healthy (depends_on), then the job.
	if _, err := run(4*time.Minute, "up", "--detach", "train"); err != nil {
		t.Fatal(err)
	}
	t.Logf("compose up: %.1f s", time.Since(begin).Seconds())
	res, err := run(dockerQuick, "ps", "-q", "worker")
	if err != nil {
		t.Fatal(err)
	}
	workers := strings.Fields(res.stdout)
	if len(workers) != e2eWorkers {
		t.Fatalf("compose ps worker: %d containers; want %d replicas", len(workers), e2eWorkers)
	}
	for _, w := range workers {
		if st, err := inspectState(ctx, w); err != nil || st.Health != "healthy" {
			t.Errorf("worker %s: %+v, %v; want healthy before train started", w[:12], st, err)
		}
	}
	if res, err = run(dockerQuick, "ps", "-q", "train"); err != nil {
		t.Fatal(err)
	}
	trainer := strings.TrimSpace(res.stdout)
	if trainer == "" {
		t.Fatal("compose ps train: no container")
	}

	// SIGTERM to the job after its first step: it checkpoints and ends in time.
	if _, err := waitSteps(ctx, trainer, 1); err != nil {
		t.Fatal(err)
	}
	r, err := stopContainer(ctx, trainer, trainGrace)
	if err != nil {
		t.Fatal(err)
	}
	checkStop(t, "train job", r, trainGrace, false)
	stdout, stderr := containerLogs(ctx, trainer)
	t.Logf("train job's last log lines after SIGTERM:\n%s", tail(stderr, 600))
	printed, err := parseSteps(stdout)
	if err != nil {
		t.Fatal(err)
	}
	ckPath, err := copyOut(ctx, trainer, "/out/checkpoint.json", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ck, err := readCheckpointFile(ckPath)
	if err != nil {
		t.Fatal(err)
	}
	if ck.NextStep != len(printed) || len(ck.Records) != len(printed) {
		t.Fatalf("checkpoint after SIGTERM: next_step %d with %d records; the job printed %d steps", ck.NextStep, len(ck.Records), len(printed))
	}
	for i := range printed {
		if ck.Records[i].Objective != printed[i].Objective {
			t.Errorf("checkpoint record %d: objective %.17g; printed %.17g", i, ck.Records[i].Objective, printed[i].Objective)
		}
	}
	t.Logf("train job stopped after %d step(s); checkpoint next_step %d", len(printed), ck.NextStep)

	// --resume continues from the checkpoint in the volume.
	res, err = run(2*time.Minute, "run", "--detach", "train", "train", "--workers", "worker:7070",
		"--expect-workers", strconv.Itoa(e2eWorkers), "--resume", "/out", "--steps", strconv.Itoa(composeSteps), "--json")
	if err != nil {
		t.Fatal(err)
	}
	resumed := strings.TrimSpace(lastLine(res.stdout))
	steps, err := waitSteps(ctx, resumed, 1)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Step != ck.NextStep {
		t.Errorf("resumed job's first step is %d; want the checkpoint's next_step %d", steps[0].Step, ck.NextStep)
	}

	// The resumed job has started its next step: stop a worker in the middle of it.
	r, err = stopContainer(ctx, workers[0], workerGrace)
	if err != nil {
		t.Fatal(err)
	}
	checkStop(t, "worker during a step", r, workerGrace, true)
	_, werr := containerLogs(ctx, workers[0])
	t.Logf("stopped worker's last log lines:\n%s", tail(werr, 1500))
	if r, err = stopContainer(ctx, resumed, trainGrace); err != nil {
		t.Fatal(err)
	}
	checkStop(t, "resumed train job", r, trainGrace, false)
	// The job was still training when its worker went: it had not printed all its steps.
	stdout, stderr = containerLogs(ctx, resumed)
	if steps, err = parseSteps(stdout); err != nil {
		t.Fatal(err)
	} else if last := steps[len(steps)-1]; last.Step >= composeSteps || last.Converged {
		t.Errorf("the resumed job had finished (last step %d of %d) before the worker was stopped: the stop was not during a step", last.Step, composeSteps)
	}
	t.Logf("resumed job after its worker stopped: %d step(s) printed; last log lines:\n%s", len(steps), tail(stderr, 1200))
	t.Logf("whole test: %.1f s", time.Since(begin).Seconds())
}

// waitSteps waits until the container has printed at least n JSON step lines and returns
// them; it fails with the container's stderr if the container ends first.
func waitSteps(ctx context.Context, id string, n int) ([]hessian.StepRecord, error) {
	var steps []hessian.StepRecord
	err := poll(ctx, 4*time.Minute, time.Second, fmt.Sprintf("%d step(s) from %s", n, id), func() (bool, error) {
		stdout, stderr := containerLogs(ctx, id)
		var err error
		if steps, err = parseSteps(stdout); err != nil {
			return false, err
		}
		if len(steps) >= n {
			return true, nil
		}
		st, err := inspectState(ctx, id)
		if err != nil {
			return false, err
		}
		if st.Status == "exited" || st.Status == "dead" {
			return false, fmt.Errorf("container %s ended (exit %d) after %d step(s); stderr:\n%s", id, st.ExitCode, len(steps), tail(stderr, 4000))
		}
		return false, nil
	})
	return steps, err
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
