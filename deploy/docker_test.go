package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every object the end-to-end tests make on the Docker engine carries the label
// runLabel=<run id>, and every Compose project they start is named projectPrefix+<run id>.
// A run id starts with the Unix time of the run, so that leftovers of a run that crashed
// (or was killed at its timeout before its cleanup ran) are recognised by age and removed
// by the next run, while the objects of a run going on at the same time on the same
// engine are left alone.
const (
	runLabel      = "hess.e2e.run"
	projectPrefix = "hesse2e"
	// staleAfter is the age past which a labelled object is a leftover: well above the
	// deadline of any run (e2eTimeout).
	staleAfter = 30 * time.Minute
	// e2eTimeout bounds each end-to-end test, under go test's default -timeout of 10m.
	e2eTimeout = 9 * time.Minute
	// dockerQuick bounds a docker command that only inspects or changes state.
	dockerQuick = 60 * time.Second
)

// newRunID returns a fresh run id: the Unix time and 16 random bits.
func newRunID() string {
	return fmt.Sprintf("%d%04x", time.Now().Unix(), rand.Uint32()&0xffff)
}

// runIDTime returns the time a run id was made at.
func runIDTime(id string) (time.Time, bool) {
	if len(id) < 10 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(id[:10], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// cmdResult is what a finished command printed.
type cmdResult struct {
	stdout, stderr string
	elapsed        time.Duration
}

// runCmd runs name args under timeout (and ctx), with extra environment variables, and
// returns its output; the error names the command and quotes its stderr.
func runCmd(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) (cmdResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	// If the command is killed at the deadline, don't wait on pipes held by its children.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := cmdResult{stdout.String(), stderr.String(), time.Since(start)}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (deadline %v)", err, timeout)
		}
		return res, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(res.stderr, 4000))
	}
	return res, nil
}

// docker runs the docker client.
func docker(ctx context.Context, timeout time.Duration, args ...string) (cmdResult, error) {
	return runCmd(ctx, timeout, nil, "docker", args...)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// requireDocker skips the test, saying why, when no Docker engine answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("HESS_REQUIRE_DOCKER") != "" {
			t.Fatal("HESS_REQUIRE_DOCKER is set (.ci/run sets it) but there is no docker client on PATH")
		}
		t.Skip("SKIP: no docker client on PATH, so no Docker engine to run the image on (.ci/run installs and requires one)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := docker(ctx, 30*time.Second, "info", "--format", "{{.ServerVersion}}"); err != nil {
		if os.Getenv("HESS_REQUIRE_DOCKER") != "" {
			t.Fatalf("HESS_REQUIRE_DOCKER is set (.ci/run sets it) but no Docker engine answers: %v", err)
		}
		t.Skipf("SKIP: no Docker engine answers (%v); .ci/run starts and requires one", err)
	}
}

// composeCommand returns the command line of the Compose tool, `docker compose` (v2) or
// `docker-compose` (v1, Debian's), and skips the test, saying why, if there is neither.
func composeCommand(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := runCmd(ctx, 30*time.Second, nil, "docker", "compose", "version"); err == nil {
		return []string{"docker", "compose"}
	}
	if _, err := runCmd(ctx, 30*time.Second, nil, "docker-compose", "version"); err == nil {
		return []string{"docker-compose"}
	}
	if os.Getenv("HESS_REQUIRE_DOCKER") != "" {
		t.Fatal("HESS_REQUIRE_DOCKER is set (.ci/run sets it) but neither `docker compose` nor `docker-compose` runs")
	}
	t.Skip("SKIP: neither `docker compose` nor `docker-compose` runs here (.ci/run requires one)")
	return nil
}

// sweepStale removes the containers, networks and volumes left by e2e runs that started
// more than staleAfter ago, and images tagged by them.
func sweepStale(ctx context.Context, t *testing.T) {
	t.Helper()
	stale := func(id string) bool {
		at, ok := runIDTime(id)
		return ok && time.Since(at) > staleAfter
	}
	type kind struct{ list, remove []string }
	for _, label := range []string{runLabel, "com.docker.compose.project"} {
		for _, k := range []kind{
			{[]string{"ps", "-a"}, []string{"rm", "-f", "-v"}},
			{[]string{"network", "ls"}, []string{"network", "rm"}},
			{[]string{"volume", "ls"}, []string{"volume", "rm", "-f"}},
		} {
			idField := "{{.ID}}"
			if k.list[0] == "volume" {
				idField = "{{.Name}}"
			}
			args := append(slices.Clone(k.list), "--filter", "label="+label, "--format", idField+` {{.Label "`+label+`"}}`)
			res, err := docker(ctx, dockerQuick, args...)
			if err != nil {
				t.Logf("looking for leftovers: %v", err)
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
				id, val, _ := strings.Cut(line, " ")
				if label != runLabel {
					var ok bool
					if val, ok = strings.CutPrefix(val, projectPrefix); !ok {
						continue // another project's
					}
				}
				if id == "" || !stale(val) {
					continue
				}
				t.Logf("removing a leftover of e2e run %s: %s %s", val, k.list[0], id)
				if _, err := docker(ctx, dockerQuick, append(slices.Clone(k.remove), id)...); err != nil {
					t.Logf("removing leftover: %v", err)
				}
			}
		}
	}
	res, err := docker(ctx, dockerQuick, "images", "--filter", "reference=hess-e2e", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		t.Logf("looking for leftover images: %v", err)
		return
	}
	for _, ref := range strings.Fields(res.stdout) {
		if _, tag, _ := strings.Cut(ref, ":"); stale(tag) {
			t.Logf("removing leftover image %s", ref)
			if _, err := docker(ctx, dockerQuick, "rmi", ref); err != nil {
				t.Logf("removing leftover image: %v", err)
			}
		}
	}
}

// removeRun removes everything labelled with run id (and the Compose project of that run),
// then checks that nothing is left: it reports leftovers as test errors.
func removeRun(t *testing.T, id string) {
	t.Helper()
	// t.Context is done by the time cleanups run: use a fresh deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	filters := []string{"label=" + runLabel + "=" + id, "label=com.docker.compose.project=" + projectPrefix + id}
	for _, f := range filters {
		for _, k := range [][2][]string{
			{{"ps", "-a", "-q"}, {"rm", "-f", "-v"}},
			{{"network", "ls", "-q"}, {"network", "rm"}},
			{{"volume", "ls", "-q"}, {"volume", "rm", "-f"}},
		} {
			res, err := docker(ctx, dockerQuick, append(slices.Clone(k[0]), "--filter", f)...)
			if err != nil {
				t.Errorf("cleanup: %v", err)
				continue
			}
			if ids := strings.Fields(res.stdout); len(ids) > 0 {
				if _, err := docker(ctx, dockerQuick, append(slices.Clone(k[1]), ids...)...); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
	}
	for _, f := range filters {
		for _, list := range [][]string{{"ps", "-a", "-q"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
			res, err := docker(ctx, dockerQuick, append(slices.Clone(list), "--filter", f)...)
			if err == nil && strings.TrimSpace(res.stdout) != "" {
				t.Errorf("cleanup left behind (docker %s --filter %s): %s", list[0], f, res.stdout)
			}
		}
	}
}

// The image is built once per test binary, by the first test that needs it, and removed
// by TestMain.
var testImage struct {
	once sync.Once
	tag  string
	bin  string // the same static binary, for the in-process runs on the host
	err  error
}

// buildTestImage builds the static binary and the image from it under the tag
// hess-e2e:<run id>, the way `make image` does, and returns the tag and the binary.
func buildTestImage(t *testing.T) (tag, bin string) {
	t.Helper()
	testImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "hess-e2e-bin")
		if err != nil {
			testImage.err = err
			return
		}
		bin := filepath.Join(dir, "hess")
		start := time.Now()
		if _, err := runCmd(ctx, 5*time.Minute, []string{"CGO_ENABLED=0"}, "go", "build", "-o", bin, "../cmd/hess"); err != nil {
			testImage.err = err
			return
		}
		id := newRunID()
		tag := "hess-e2e:" + id
		if _, err := runCmd(ctx, 5*time.Minute, nil, "./image.sh", bin, tag, "--label", runLabel+"="+id); err != nil {
			testImage.err = err
			return
		}
		testImage.tag, testImage.bin = tag, bin
		t.Logf("built %s and %s in %.1f s", bin, tag, time.Since(start).Seconds())
	})
	if testImage.err != nil {
		t.Fatalf("building the image: %v", testImage.err)
	}
	return testImage.tag, testImage.bin
}

// removeTestImage removes the image and binary that buildTestImage made, if it did.
func removeTestImage() error {
	var errs []error
	if testImage.tag != "" {
		ctx, cancel := context.WithTimeout(context.Background(), dockerQuick)
		defer cancel()
		if _, err := docker(ctx, dockerQuick, "rmi", testImage.tag); err != nil {
			errs = append(errs, err)
		}
	}
	if testImage.bin != "" {
		errs = append(errs, os.RemoveAll(filepath.Dir(testImage.bin)))
	}
	return errors.Join(errs...)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := removeTestImage(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy: removing the test image:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func TestRunIDTime(t *testing.T) {
	id := newRunID()
	at, ok := runIDTime(id)
	if !ok || time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		t.Errorf("runIDTime(newRunID() = %q) = %v, %v; want about now", id, at, ok)
	}
	for _, bad := range []string{"", "123", "abcdefghijk"} {
		if _, ok := runIDTime(bad); ok {
			t.Errorf("runIDTime(%q) ok; want not a run id", bad)
		}
	}
}

// TestSweepStale leaves a network labelled as by a run an hour old and one by a run going
// on now, and checks that the sweep removes only the first.
func TestSweepStale(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	oldID := fmt.Sprintf("%d%04x", time.Now().Add(-time.Hour).Unix(), rand.Uint32()&0xffff)
	newID := newRunID()
	t.Cleanup(func() { removeRun(t, oldID); removeRun(t, newID) })
	for _, id := range []string{oldID, newID} {
		if _, err := docker(ctx, dockerQuick, "network", "create", "--internal", "--label", runLabel+"="+id, projectPrefix+id); err != nil {
			t.Fatal(err)
		}
	}
	sweepStale(ctx, t)
	for id, wantLeft := range map[string]bool{oldID: false, newID: true} {
		res, err := docker(ctx, dockerQuick, "network", "ls", "-q", "--filter", "label="+runLabel+"="+id)
		if err != nil {
			t.Fatal(err)
		}
		if left := strings.TrimSpace(res.stdout) != ""; left != wantLeft {
			t.Errorf("network of run %s (started %v ago) left by the sweep: %v; want %v", id, time.Since(must(runIDTime(id))).Round(time.Minute), left, wantLeft)
		}
	}
}

func must(at time.Time, ok bool) time.Time {
	if !ok {
		panic("deploy: not a run id")
	}
	return at
}
