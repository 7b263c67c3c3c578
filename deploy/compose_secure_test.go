package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// composeSecureName names the merged files in errors.
const composeSecureName = "compose.yaml + compose.secure.yaml"

// composeMount is one entry of a service's volumes, "source:target[:mode]".
type composeMount struct{ source, target, mode string }

func parseMount(v string) (composeMount, error) {
	p := strings.Split(v, ":")
	switch len(p) {
	case 2:
		return composeMount{p[0], p[1], "rw"}, nil
	case 3:
		return composeMount{p[0], p[1], p[2]}, nil
	}
	return composeMount{}, fmt.Errorf("volume %q: want source:target[:mode]", v)
}

// mountAtTarget returns the service's volume mounted at target.
func mountAtTarget(s composeService, target string) (composeMount, bool) {
	for _, v := range s.Volumes {
		if m, err := parseMount(v); err == nil && path.Clean(m.target) == path.Clean(target) {
			return m, true
		}
	}
	return composeMount{}, false
}

// mergeCompose applies the override over to base as Compose does with a second -f file
// (the Compose Specification's "Merge and override"), for the keys an override here may
// set: a new service is added; in a service of base, command replaces, healthcheck is
// merged key by key, and volumes are merged by their target path; top-level volumes are
// added. An override that sets any other key of a service of base is an error, since
// this test does not know how Compose merges it (TestComposeSecureMergeMatchesTool checks
// the model against the Compose tool).
func mergeCompose(base, over *composeFile) (*composeFile, error) {
	var out composeFile
	b, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if out.Volumes == nil {
		out.Volumes = map[string]*struct{}{}
	}
	for name, v := range over.Volumes {
		out.Volumes[name] = v
	}
	for name, o := range over.Services {
		s, ok := out.Services[name]
		if !ok {
			out.Services[name] = o
			continue
		}
		rest := o
		rest.Command, rest.Healthcheck, rest.Volumes = nil, nil, nil
		if !reflect.DeepEqual(rest, composeService{}) {
			return nil, fmt.Errorf("the override sets keys of service %s other than command, healthcheck and volumes (%+v): teach mergeCompose how Compose merges them", name, rest)
		}
		if o.Command != nil {
			s.Command = o.Command
		}
		if h := o.Healthcheck; h != nil {
			merged := composeHealthcheck{}
			if s.Healthcheck != nil {
				merged = *s.Healthcheck
			}
			if h.Test != nil {
				merged.Test = h.Test
			}
			for _, f := range []struct{ dst, src *string }{{&merged.Interval, &h.Interval}, {&merged.Timeout, &h.Timeout}, {&merged.StartPeriod, &h.StartPeriod}} {
				if *f.src != "" {
					*f.dst = *f.src
				}
			}
			if h.Retries != 0 {
				merged.Retries = h.Retries
			}
			merged.Disable = merged.Disable || h.Disable
			s.Healthcheck = &merged
		}
		for _, v := range o.Volumes {
			m, err := parseMount(v)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", name, err)
			}
			vols := slices.DeleteFunc(slices.Clone(s.Volumes), func(old string) bool {
				om, err := parseMount(old)
				return err == nil && path.Clean(om.target) == path.Clean(m.target)
			})
			s.Volumes = append(vols, v)
		}
		out.Services[name] = s
	}
	return &out, nil
}

// checkSecureCompose returns every way in which the secured services of merged (compose.yaml
// with compose.secure.yaml) fall short: worker and train present the certificate and
// the token, from one volume mounted read-only, expect the certificate's name, and
// otherwise run compose.yaml's commands; the certs service writes into that volume,
// for that name.
func checkSecureCompose(base, merged *composeFile) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(composeSecureName+": "+format, a...)) }
	serverName := ""
	if workers, err := requiredFlag(merged.Services["train"].Command, "workers"); err != nil {
		fail("train: %v", err)
	} else if host, _, err := splitHostPort(workers); err != nil {
		fail("train: --workers: %v", err)
	} else {
		serverName = host
	}
	source := map[string]string{}
	for _, name := range []string{"worker", "train"} {
		s := merged.Services[name]
		dir := secretsDir(s.Command)
		if dir == "" {
			fail("%s: --tls-cert, --tls-key, --tls-ca and --token-file are missing or do not name files in one folder", name)
			continue
		}
		for _, err := range checkSecuredArgs(s.Command, dir, serverName) {
			fail("%s: %v", name, err)
		}
		m, ok := mountAtTarget(s, dir)
		switch {
		case !ok:
			fail("%s: nothing is mounted at %s, where the flags find the certificates", name, dir)
		case m.mode != "ro":
			fail("%s: %s:%s mounted %q; want read-only (ro): nothing here writes the certificates", name, m.source, m.target, m.mode)
		case !strings.HasPrefix(m.source, "/") && !strings.HasPrefix(m.source, "."):
			if _, declared := merged.Volumes[m.source]; !declared {
				fail("%s: volume %s is not declared", name, m.source)
			}
		}
		source[name] = m.source
		if want := base.Services[name].Command; !slices.Equal(withoutSecurity(s.Command), want) {
			fail("%s: command %q differs from compose.yaml's %q beyond the security flags", name, withoutSecurity(s.Command), want)
		}
	}
	if source["worker"] != source["train"] {
		fail("worker reads the certificates from %q, train from %q; want one set", source["worker"], source["train"])
	}

	certs, ok := merged.Services["certs"]
	if !ok {
		fail("no certs service to make the certificates")
		return errs
	}
	if len(certs.Command) == 0 || certs.Command[0] != "certs" {
		fail("certs: command %q; want the certs subcommand", certs.Command)
	}
	if certs.Image != merged.Services["worker"].Image {
		fail("certs: image %q; want the workers' %q", certs.Image, merged.Services["worker"].Image)
	}
	if out, err := requiredFlag(certs.Command, "out"); err != nil {
		fail("certs: %v", err)
	} else if m, ok := mountAtTarget(certs, out); !ok || m.source != source["worker"] || m.mode == "ro" {
		fail("certs: --out %s is not a writable mount of %q, where worker and train read the certificates", out, source["worker"])
	}
	if names, err := requiredFlag(certs.Command, "names"); err != nil {
		fail("certs: %v", err)
	} else if !slices.Contains(strings.Split(names, ","), serverName) {
		fail("certs: --names %s lacks %s, the name the workers are dialed by (--tls-server-name)", names, serverName)
	}
	if certs.Healthcheck == nil || !certs.Healthcheck.Disable {
		fail("certs: healthcheck not disabled: nothing serves the image's health check there")
	}
	if !certs.ReadOnly || !slices.Contains(certs.CapDrop, "ALL") || !slices.Contains(certs.SecurityOpt, "no-new-privileges:true") {
		fail("certs: want read_only, cap_drop ALL and no-new-privileges:true")
	}
	return errs
}

// loadSecureCompose loads compose.yaml and compose.secure.yaml (the latter's text given)
// with env and merges them.
func loadSecureCompose(t *testing.T, secureText string, env map[string]string) (base, merged *composeFile, err error) {
	t.Helper()
	if base, err = loadCompose("compose.yaml", readCompose(t), env); err != nil {
		return nil, nil, err
	}
	over, err := loadCompose("compose.secure.yaml", secureText, env)
	if err != nil {
		return nil, nil, err
	}
	merged, err = mergeCompose(base, over)
	return base, merged, err
}

func TestComposeSecureAgrees(t *testing.T) {
	text := readFile(t, "compose.secure.yaml")
	for _, env := range []map[string]string{{}, {"HESS_WORKERS": "5", "HESS_BATCH": "200"}} {
		base, merged, err := loadSecureCompose(t, text, env)
		if err != nil {
			t.Fatalf("env %v: %v", env, err)
		}
		for _, err := range append(checkCompose(composeSecureName, merged), checkSecureCompose(base, merged)...) {
			t.Errorf("env %v: %v", env, err)
		}
	}
}

// TestComposeSecureChecksCatchMistakes breaks compose.secure.yaml one way at a time.
func TestComposeSecureChecksCatchMistakes(t *testing.T) {
	text := readFile(t, "compose.secure.yaml")
	for _, tc := range []struct{ name, old, new, wantErr string }{
		{"misspelt key", "profiles: [certs]", "profile: [certs]", "unknown field"},
		{"train without the token", "      - --token-file\n      - /secrets/token\n    # Added", "    # Added", "train: no --token-file"},
		{"worker without the CA", "      - --tls-ca\n      - /secrets/ca.pem\n      - --tls-server-name\n      - worker\n      - --token-file\n      - /secrets/token\n    # Compose",
			"      - --tls-server-name\n      - worker\n      - --token-file\n      - /secrets/token\n    # Compose", "worker: no --tls-ca"},
		{"key in another folder", "      - /secrets/tls-key.pem", "      - /tmp/tls-key.pem", "worker: --tls-cert, --tls-key, --tls-ca and --token-file are missing or do not name files in one folder"},
		{"writable mount", "      - secrets:/secrets:ro", "      - secrets:/secrets", "want read-only"},
		{"no mount in train", "    volumes:\n      - secrets:/secrets:ro\n\n  # Makes", "\n  # Makes", "train: nothing is mounted at /secrets"},
		{"health check on the TLS port", `"--addr", "127.0.0.1:7071"`, `"--addr", "127.0.0.1:7070"`, "healthcheck --addr 127.0.0.1:7070; want 127.0.0.1:7071"},
		{"plaintext health on all interfaces", "      - 127.0.0.1:7071", "      - :7071", "--health-listen :7071; want 127.0.0.1"},
		{"no health port", "      - --health-listen\n      - 127.0.0.1:7071\n", "", "--tls-cert without --health-listen"},
		{"another server name", "      - --tls-server-name\n      - worker", "      - --tls-server-name\n      - hess-worker", "--tls-server-name hess-worker; want worker"},
		{"certificate for another name", `"--names", "worker"]`, `"--names", "hess-worker"]`, "--names hess-worker lacks worker"},
		{"certs writes elsewhere", "      - secrets:/secrets\n    healthcheck", "      - secrets:/tmp\n    healthcheck", "certs: --out /secrets is not a writable mount"},
		{"certs started by up", "    profiles: [certs]\n", "", "certs is not in a profile"},
		{"train command drifts", `"${HESS_STEPS:-50}"`, `"${HESS_STEPS:-5}"`, "beyond the security flags"},
		{"a key the merge does not know", "  worker:\n", "  worker:\n    stop_grace_period: 5s\n", "teach mergeCompose"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("compose.secure.yaml does not contain %q: update the test", tc.old)
			}
			base, merged, err := loadSecureCompose(t, strings.Replace(text, tc.old, tc.new, 1), nil)
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				errs = append(checkCompose(composeSecureName, merged), checkSecureCompose(base, merged)...)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.wantErr) {
					return
				}
			}
			t.Errorf("compose.secure.yaml with %q -> %q: errors %v; want one containing %q", tc.old, tc.new, errs, tc.wantErr)
		})
	}
}

// toolService is what TestComposeSecureMergeMatchesTool reads of the Compose tool's
// merged configuration, in the forms of docker-compose 1.29 and of docker compose v2.
type toolService struct {
	Command     []string `json:"command"`
	Volumes     []any    `json:"volumes"` // "src:dst:mode" (v1) or {source, target, read_only} (v2)
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
}

// mounts returns the service's volumes as "source:target:mode".
func (s toolService) mounts() ([]string, error) {
	var out []string
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			m, err := parseMount(v)
			if err != nil {
				return nil, err
			}
			out = append(out, m.source+":"+m.target+":"+m.mode)
		case map[string]any:
			mode := "rw"
			if ro, _ := v["read_only"].(bool); ro {
				mode = "ro"
			}
			out = append(out, fmt.Sprintf("%v:%v:%s", v["source"], v["target"], mode))
		default:
			return nil, fmt.Errorf("volume %v: neither the short nor the long syntax", v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// TestComposeSecureMergeMatchesTool has the Compose tool merge the two files and checks
// that mergeCompose, on which the checks above run, gives the same commands, health
// checks and mounts.
func TestComposeSecureMergeMatchesTool(t *testing.T) {
	compose := composeCommand(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	env := map[string]string{"HESS_WORKERS": "4", "HESS_STEPS": "7", "HESS_BATCH": "300", "HESS_IMAGE": "hess:merge-test"}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	res, err := runCmd(ctx, 60*time.Second, envList, compose[0], append(slices.Clone(compose[1:]), "-f", "compose.yaml", "-f", "compose.secure.yaml", "config")...)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON([]byte(res.stdout))
	if err != nil {
		t.Fatalf("compose config output: %v", err)
	}
	var tool struct {
		Services map[string]toolService `json:"services"`
	}
	if err := json.Unmarshal(j, &tool); err != nil {
		t.Fatalf("compose config output: %v", err)
	}
	_, merged, err := loadSecureCompose(t, readFile(t, "compose.secure.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(mapKeys(tool.Services)), slices.Sorted(mapKeys(merged.Services)); !slices.Equal(got, want) {
		t.Errorf("services: the tool has %q, mergeCompose %q", got, want)
	}
	for name, ts := range tool.Services {
		ms := merged.Services[name]
		if !slices.Equal(ts.Command, ms.Command) {
			t.Errorf("%s: command %q (tool), %q (mergeCompose)", name, ts.Command, ms.Command)
		}
		got, err := ts.mounts()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want []string
		for _, v := range ms.Volumes {
			m, _ := parseMount(v)
			want = append(want, m.source+":"+m.target+":"+m.mode)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: volumes %q (tool), %q (mergeCompose)", name, got, want)
		}
		// A disabled check is test: [NONE] in the tool's output.
		if ms.Healthcheck != nil && !ms.Healthcheck.Disable {
			if ts.Healthcheck == nil || !slices.Equal(ts.Healthcheck.Test, ms.Healthcheck.Test) {
				t.Errorf("%s: healthcheck %+v (tool), test %q (mergeCompose)", name, ts.Healthcheck, ms.Healthcheck.Test)
			}
		}
	}
}
