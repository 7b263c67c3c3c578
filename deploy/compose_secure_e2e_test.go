package deploy

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// secureBatch and secureSteps: one Newton step on a small batch. The security of the
	// wiring is under test; the step still assembles on the workers and factors with
	// tiles sent between them, over TLS.
	secureBatch = 200
	secureSteps = 1
	// refusalTimeout bounds the wait of a refused client: --timeout of hess health, and
	// --startup-timeout of a hess train that cannot connect.
	refusalTimeout = 5 * time.Second
)

// secureClientFlags are the security flags of compose.secure.yaml's train service, in
// parts: the certificate (with the name of the workers' certificate) and the token.
var (
	secureCertFlags  = []string{"--tls-cert", "/secrets/tls.pem", "--tls-key", "/secrets/tls-key.pem", "--tls-ca", "/secrets/ca.pem", "--tls-server-name", "worker"}
	secureTokenFlags = []string{"--token-file", "/secrets/token"}
)

// TestComposeSecureE2E runs compose.yaml with compose.secure.yaml: the certs service
// makes the certificates and the token into the secrets volume, three workers start with
// mutual TLS and the token and turn healthy through their plaintext health port, and the
// train service trains one Newton step on them. Then clients on the project's network
// that lack the certificate or the token are refused with errors that say why, while one
// with the certificate passes the health check, and the plaintext health port is not
// reachable from another container.
func TestComposeSecureE2E(t *testing.T) {
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
		"HESS_STEPS=" + strconv.Itoa(secureSteps), "HESS_BATCH=" + strconv.Itoa(secureBatch)}
	files := []string{"-p", project, "-f", "compose.yaml", "-f", "compose.secure.yaml"}
	run := func(timeout time.Duration, args ...string) (cmdResult, error) {
		a := append(append(slices.Clone(compose[1:]), files...), args...)
		return runCmd(ctx, timeout, env, compose[0], a...)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		a := append(append(slices.Clone(compose[1:]), files...), "down", "--volumes", "--remove-orphans", "--timeout", "20")
		if _, err := runCmd(dctx, 2*time.Minute, env, compose[0], a...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		removeRun(t, id)
	})

	// The certificates and the token, into the volume.
	res, err := run(dockerQuick, "run", "--rm", "-T", "certs")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("certs: %s", strings.TrimSpace(res.stdout))

	// up starts the workers, waits until their health checks pass, then the job.
	if _, err := run(4*time.Minute, "up", "--detach", "train"); err != nil {
		t.Fatal(err)
	}
	t.Logf("compose up: %.1f s", time.Since(begin).Seconds())
	if res, err = run(dockerQuick, "ps", "-q", "worker"); err != nil {
		t.Fatal(err)
	}
	workers := strings.Fields(res.stdout)
	if len(workers) != e2eWorkers {
		t.Fatalf("compose ps worker: %d containers; want %d replicas", len(workers), e2eWorkers)
	}
	// The workers did start secured (the override took effect).
	for _, w := range workers {
		_, stderr := containerLogs(ctx, w)
		if !strings.Contains(stderr, "msg=security mutual_tls=true token=true") {
			t.Errorf("worker %s does not log mutual_tls=true token=true; stderr:\n%s", w[:12], tail(stderr, 1500))
		}
	}
	if res, err = run(dockerQuick, "ps", "-q", "train"); err != nil {
		t.Fatal(err)
	}
	trainer := strings.TrimSpace(res.stdout)
	if trainer == "" {
		t.Fatal("compose ps train: no container")
	}
	trainStart := time.Now()
	var st containerState
	if err := poll(ctx, 4*time.Minute, time.Second, "the secured train job to end", func() (bool, error) {
		var err error
		st, err = inspectState(ctx, trainer)
		return st.Status == "exited" || st.Status == "dead", err
	}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := containerLogs(ctx, trainer)
	if st.ExitCode != 0 {
		t.Fatalf("secured train job exited with %d; stderr:\n%s", st.ExitCode, tail(stderr, 4000))
	}
	steps, err := parseSteps(stdout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("secured training: %d record(s) in %.1f s", len(steps), time.Since(trainStart).Seconds())
	if len(steps) != secureSteps+1 {
		t.Fatalf("secured train job printed %d records; want %d steps and the evaluation of the final weights", len(steps), secureSteps)
	}
	first, last := steps[0], steps[len(steps)-1]
	t.Logf("step 0: objective %.17g, step size %g, sent %d B, received %d B, %d tiles (%d B) between the workers; final objective %.6g",
		first.Objective, first.StepSize, first.BytesSent, first.BytesReceived, first.PeerTiles, first.PeerBytes, last.Objective)
	// At W = 0 every class has probability 1/10 and the penalty is 0: the objective is
	// ln 10 whatever the batch, computed in double precision.
	if e := relErr(first.Objective, math.Ln10); !(e <= 1e-12) {
		t.Errorf("step 0: objective %.17g; want ln 10 = %.17g (relative difference %.1e)", first.Objective, math.Ln10, e)
	}
	if !(first.StepSize > 0) || first.BytesSent <= 0 || first.BytesReceived <= 0 || first.PeerTiles <= 0 {
		t.Errorf("step 0: step size %g, %d B sent, %d B received, %d tiles between the workers; want a step made on the workers, with factor tiles sent between them",
			first.StepSize, first.BytesSent, first.BytesReceived, first.PeerTiles)
	}
	if !(last.Objective < first.Objective) {
		t.Errorf("objective %.6g after the step, %.6g before; want a decrease", last.Objective, first.Objective)
	}

	// Other clients on the project's network, from the train service's container (which
	// mounts the secrets, but presents only what the flags give).
	timeout := refusalTimeout.String()
	trainArgs := []string{"train", "--workers", "worker:7070", "--expect-workers", strconv.Itoa(e2eWorkers), "--startup-timeout", timeout,
		"--data", "/data", "--batch", strconv.Itoa(secureBatch), "--steps", strconv.Itoa(secureSteps), "--json"}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr []string // substrings of stderr; nil: the command must succeed
	}{
		{"health with the certificate, no token (the health service is exempt from it)",
			append([]string{"health", "--addr", "worker:7070", "--timeout", timeout}, secureCertFlags...), nil},
		{"health without the certificate",
			[]string{"health", "--addr", "worker:7070", "--timeout", timeout},
			[]string{"worker:7070", "closed a plaintext connection", "--tls-cert"}},
		{"health on the plaintext port from another container",
			[]string{"health", "--addr", "worker:7071", "--timeout", timeout},
			[]string{"worker:7071", "connection refused"}},
		{"train with the certificate, no token",
			append(slices.Clone(trainArgs), secureCertFlags...),
			[]string{"Unauthenticated", "missing or wrong token"}},
		{"train with the token, no certificate",
			append(slices.Clone(trainArgs), secureTokenFlags...),
			[]string{"is not serving", "closed a plaintext connection"}},
	} {
		start := time.Now()
		res, err := run(time.Minute, append([]string{"run", "--rm", "--no-deps", "-T", "train"}, tc.args...)...)
		took := time.Since(start).Seconds()
		if tc.wantErr == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else {
				t.Logf("%s: %s (%.1f s)", tc.name, strings.TrimSpace(res.stdout), took)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: succeeded (%s); want refused", tc.name, strings.TrimSpace(res.stdout))
			continue
		}
		// hess's own error line; the Compose tool adds lines of its own around it.
		msg := ""
		for l := range strings.SplitSeq(res.stderr, "\n") {
			if strings.HasPrefix(l, "hess: ") {
				msg = l
			}
		}
		t.Logf("%s: refused in %.1f s: %s", tc.name, took, msg)
		for _, want := range tc.wantErr {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q; want it to contain %q", tc.name, msg, want)
			}
		}
	}
	t.Logf("whole test: %.1f s", time.Since(begin).Seconds())
}
