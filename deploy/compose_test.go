package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeFile is the part of the Compose Specification that compose.yaml and
// compose.secure.yaml use. Decoding is strict, so a key outside it (a typo, or `ports:` on the replicated workers, which
// cannot share one host port) fails the test: add the field here when the file needs it.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]*struct{}      `json:"volumes"`
}

type composeService struct {
	Image           string                      `json:"image"`
	Command         []string                    `json:"command"`
	Deploy          *composeDeploy              `json:"deploy"`
	Expose          []string                    `json:"expose"`
	Healthcheck     *composeHealthcheck         `json:"healthcheck"`
	DependsOn       map[string]composeDependsOn `json:"depends_on"`
	Volumes         []string                    `json:"volumes"`
	StopSignal      string                      `json:"stop_signal"`
	StopGracePeriod string                      `json:"stop_grace_period"`
	ReadOnly        bool                        `json:"read_only"`
	Tmpfs           []string                    `json:"tmpfs"`
	CapDrop         []string                    `json:"cap_drop"`
	SecurityOpt     []string                    `json:"security_opt"`
	Restart         string                      `json:"restart"`
	Profiles        []string                    `json:"profiles"`
}

type composeDeploy struct {
	Replicas int `json:"replicas"`
}

type composeHealthcheck struct {
	Test        []string `json:"test"`
	Interval    string   `json:"interval"`
	Timeout     string   `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod string   `json:"start_period"`
	Disable     bool     `json:"disable"`
}

type composeDependsOn struct {
	Condition string `json:"condition"`
}

var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$`)

// interpolate substitutes ${NAME} and ${NAME:-default} in text as Compose does, taking
// values from env (an unset or empty variable takes the default); $$ is a dollar. Compose
// substitutes in the parsed values, so comments are left out: this test drops the lines
// that are comments (compose.yaml has no comment after a value). Any other use of $ is an
// error, since this test would read it differently from Compose. Errors name the file.
func interpolate(name, text string, env map[string]string) (string, error) {
	lines := strings.Split(text, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			kept = append(kept, l)
		}
	}
	var err error
	out := composeVar.ReplaceAllStringFunc(strings.Join(kept, "\n"), func(s string) string {
		if s == "$$" {
			return "$"
		}
		m := composeVar.FindStringSubmatch(s)
		if m[1] == "" {
			err = fmt.Errorf("%s: a $ that is neither $$ nor ${NAME[:-default]}", name)
			return s
		}
		if v := env[m[1]]; v != "" {
			return v
		}
		if m[2] == "" {
			err = fmt.Errorf("%s: ${%s} has no default; write ${%s:-value}", name, m[1], m[1])
		}
		return m[3]
	})
	return out, err
}

// loadCompose interpolates the text of the file name with env and decodes it strictly.
func loadCompose(name, text string, env map[string]string) (*composeFile, error) {
	s, err := interpolate(name, text, env)
	if err != nil {
		return nil, err
	}
	var cf composeFile
	if err := decodeStrict([]byte(s), &cf); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &cf, nil
}

// checkCompose returns every way in which the worker and train services of the Compose
// file name (or merged files) disagree.
func checkCompose(name string, cf *composeFile) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(name+": "+format, a...)) }
	w, okW := cf.Services["worker"]
	tr, okT := cf.Services["train"]
	if !okW || !okT {
		fail("services %v; want worker and train", slices.Sorted(mapKeys(cf.Services)))
		return errs
	}
	// Any other service is a tool run by hand (`run --rm certs`), in a profile, so that
	// `up` does not start it.
	for n, s := range cf.Services {
		if n != "worker" && n != "train" && len(s.Profiles) == 0 {
			fail("service %s is not in a profile: `up` would start it beside worker and train", n)
		}
	}
	if w.Image == "" || w.Image != tr.Image {
		fail("images %q and %q: want the same hess image", w.Image, tr.Image)
	}

	// worker: replicated, on all interfaces, health-checked on its port.
	if len(w.Command) == 0 || w.Command[0] != "worker" {
		fail("worker: command %q; want the worker subcommand first", w.Command)
	}
	replicas := 0
	if w.Deploy == nil || w.Deploy.Replicas < 2 {
		fail("worker: deploy.replicas %v; want at least 2", w.Deploy)
	} else {
		replicas = w.Deploy.Replicas
	}
	port := 0
	if listen, err := requiredFlag(w.Command, "listen"); err != nil {
		fail("worker: %v", err)
	} else if host, p, err := splitHostPort(listen); err != nil {
		fail("worker: --listen: %v", err)
	} else if host != "" && host != "0.0.0.0" {
		fail("worker: --listen %s; want all interfaces (:%d), or no other container can connect", listen, p)
	} else {
		port = p
	}
	if port != 0 && !slices.Contains(w.Expose, fmt.Sprint(port)) {
		fail("worker: expose %q does not list the gRPC port %d", w.Expose, port)
	}
	// The health check runs in the container: on the gRPC port, or on the plaintext
	// health port (--health-listen) where the gRPC port wants certificates.
	healthAddr := fmt.Sprintf("127.0.0.1:%d", port)
	if hl, ok, err := flagValue(w.Command, "health-listen"); err != nil {
		fail("worker: %v", err)
	} else if ok {
		healthAddr = hl
		if host, _, err := splitHostPort(hl); err != nil {
			fail("worker: --health-listen: %v", err)
		} else if host != "127.0.0.1" {
			fail("worker: --health-listen %s; want 127.0.0.1: only the check in the container needs the plaintext port", hl)
		}
	} else if _, tls, _ := flagValue(w.Command, "tls-cert"); tls {
		fail("worker: --tls-cert without --health-listen: the health check cannot present a certificate")
	}
	if hc := w.Healthcheck; hc == nil || hc.Disable || !slices.Contains(hc.Test, "health") {
		fail("worker: healthcheck %+v; want hess health", hc)
	} else if addr, err := requiredFlag(hc.Test, "addr"); err != nil {
		fail("worker: healthcheck: %v", err)
	} else if addr != healthAddr {
		fail("worker: healthcheck --addr %s; want %s", addr, healthAddr)
	}

	// train: finds the workers by the service's DNS name, expects all replicas, waits for
	// them to be healthy, and keeps its outputs in a volume.
	if len(tr.Command) == 0 || tr.Command[0] != "train" {
		fail("train: command %q; want the train subcommand first", tr.Command)
	}
	if workers, err := requiredFlag(tr.Command, "workers"); err != nil {
		fail("train: %v", err)
	} else if want := fmt.Sprintf("worker:%d", port); workers != want {
		fail("train: --workers %s; want %s (the worker service's DNS name and port)", workers, want)
	}
	if n, err := intFlag(tr.Command, "expect-workers"); err != nil {
		fail("train: %v", err)
	} else if n != replicas {
		fail("train: --expect-workers %d but the worker service has %d replicas", n, replicas)
	}
	if d, ok := tr.DependsOn["worker"]; !ok || d.Condition != "service_healthy" {
		fail("train: depends_on worker %+v; want condition service_healthy", d)
	}
	if tr.Healthcheck == nil || !tr.Healthcheck.Disable {
		fail("train: healthcheck not disabled: nothing serves the image's health check there")
	}
	for _, flag := range []string{"out", "data"} {
		dir, err := requiredFlag(tr.Command, flag)
		if err != nil {
			fail("train: %v", err)
			continue
		}
		vol := ""
		for _, v := range tr.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == dir {
				vol = parts[0]
			}
		}
		if _, ok := cf.Volumes[vol]; vol == "" || !ok && !strings.HasPrefix(vol, "/") && !strings.HasPrefix(vol, ".") {
			fail("train: --%s %s is not on a declared volume or a bind mount", flag, dir)
		}
	}

	// Both: SIGTERM, a grace period, no privileges.
	for name, s := range map[string]composeService{"worker": w, "train": tr} {
		if s.StopSignal != "SIGTERM" {
			fail("%s: stop_signal %q; want SIGTERM", name, s.StopSignal)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d < 10*time.Second {
			fail("%s: stop_grace_period %q; want at least 10s", name, s.StopGracePeriod)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			fail("%s: want read_only, cap_drop ALL and no-new-privileges:true", name)
		}
	}
	return errs
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func readCompose(t *testing.T) string { return readFile(t, "compose.yaml") }

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComposeAgrees(t *testing.T) {
	text := readCompose(t)
	for _, env := range []map[string]string{
		{},                                       // the defaults
		{"HESS_WORKERS": "5", "HESS_STEPS": "2"}, // one knob moves replicas and --expect-workers together
	} {
		cf, err := loadCompose("compose.yaml", text, env)
		if err != nil {
			t.Fatalf("env %v: %v", env, err)
		}
		for _, err := range checkCompose("compose.yaml", cf) {
			t.Errorf("env %v: %v", env, err)
		}
		if want := env["HESS_WORKERS"]; want != "" && fmt.Sprint(cf.Services["worker"].Deploy.Replicas) != want {
			t.Errorf("HESS_WORKERS=%s: replicas %d", want, cf.Services["worker"].Deploy.Replicas)
		}
	}
}

// TestComposeChecksCatchMistakes breaks compose.yaml one way at a time.
func TestComposeChecksCatchMistakes(t *testing.T) {
	text := readCompose(t)
	for _, tc := range []struct{ name, old, new, wantErr string }{
		{"misspelt key", "stop_grace_period: 20s", "stop_grace_periode: 20s", "unknown field"},
		{"published port", "    expose:\n", "    ports: [\"7070:7070\"]\n    expose:\n", "unknown field"},
		{"wrong service name", "- worker:7070", "- workers:7070", "--workers workers:7070"},
		{"expect disagrees", `"${HESS_WORKERS:-3}"`, `"2"`, "--expect-workers 2"},
		{"no wait for health", "condition: service_healthy", "condition: service_started", "service_healthy"},
		{"short grace", "stop_grace_period: 20s", "stop_grace_period: 1s", "stop_grace_period"},
		{"loopback worker", `"--listen", ":7070"`, `"--listen", "127.0.0.1:7070"`, "all interfaces"},
		{"output not in a volume", "      - out:/out\n", "", "--out /out"},
		{"interpolation without default", "${HESS_STEPS:-50}", "${HESS_STEPS}", "no default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("compose.yaml does not contain %q: update the test", tc.old)
			}
			cf, err := loadCompose("compose.yaml", strings.Replace(text, tc.old, tc.new, 1), nil)
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				errs = checkCompose("compose.yaml", cf)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.wantErr) {
					return
				}
			}
			t.Errorf("compose.yaml with %q -> %q: errors %v; want one containing %q", tc.old, tc.new, errs, tc.wantErr)
		})
	}
}

// TestComposeConfig has the Compose tool itself validate the file, alone and with the
// secured override.
func TestComposeConfig(t *testing.T) {
	compose := composeCommand(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, files := range [][]string{{"-f", "compose.yaml"}, {"-f", "compose.yaml", "-f", "compose.secure.yaml"}} {
		args := append(append(slices.Clone(compose[1:]), files...), "config", "--quiet")
		out, err := exec.CommandContext(ctx, compose[0], args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s %s: %v\n%s", compose[0], strings.Join(args, " "), err, out)
		}
	}
}
