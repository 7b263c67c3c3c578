package deploy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// What the secured Compose and Kubernetes files have in common: the flags of a secured
// member (cmd/hess/security.go) and the files they name.

// securityFiles maps each flag of a secured member that names a file to the file's name
// as `hess certs` writes it, which is also its key in the Kubernetes Secret hess-tls.
var securityFiles = map[string]string{
	"tls-cert":   "tls.pem",
	"tls-key":    "tls-key.pem",
	"tls-ca":     "ca.pem",
	"token-file": "token",
}

// securityFlagNames are the flags that a secured command line adds to a plaintext one,
// each with a value: the four files, the name expected in the workers' certificate, and
// the worker's plaintext health port.
var securityFlagNames = []string{"tls-cert", "tls-key", "tls-ca", "token-file", "tls-server-name", "health-listen"}

// withoutSecurity returns args without the security flags and their values, for the
// comparison of a secured command line with its plaintext original.
func withoutSecurity(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		key, _, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && slices.Contains(securityFlagNames, key) {
			if !hasVal {
				i++ // the value
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// checkSecuredArgs checks that a secured command line names all four files under dir,
// with the file names of securityFiles, and expects the certificate name serverName.
func checkSecuredArgs(args []string, dir, serverName string) []error {
	var errs []error
	for _, flag := range slices.Sorted(mapKeys(securityFiles)) {
		v, err := requiredFlag(args, flag)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := path.Join(dir, securityFiles[flag]); path.Clean(v) != want {
			errs = append(errs, fmt.Errorf("--%s %s; want %s (the file %s of the secrets mounted at %s)", flag, v, want, securityFiles[flag], dir))
		}
	}
	if v, err := requiredFlag(args, "tls-server-name"); err != nil {
		errs = append(errs, fmt.Errorf("%w: the workers are dialed by IP address, so the name in their certificate must be given", err))
	} else if v != serverName {
		errs = append(errs, fmt.Errorf("--tls-server-name %s; want %s, the name the workers are reached by and their certificate carries", v, serverName))
	}
	return errs
}

// secretsDir returns the one folder under which those flags of securityFiles that args
// has name their files ("" if there are none, or they are not all in one folder).
func secretsDir(args []string) string {
	dir := ""
	for flag := range securityFiles {
		v, ok, err := flagValue(args, flag)
		if err != nil {
			return ""
		}
		if !ok {
			continue
		}
		d := path.Dir(path.Clean(v))
		if dir != "" && d != dir {
			return ""
		}
		dir = d
	}
	return dir
}

func TestWithoutSecurity(t *testing.T) {
	args := []string{"worker", "--listen", ":7070", "--tls-cert", "/s/tls.pem", "--tls-key=/s/k", "-token-file", "/s/token", "--health-listen", ":7071", "--metrics", ":9090"}
	want := []string{"worker", "--listen", ":7070", "--metrics", ":9090"}
	if got := withoutSecurity(args); !slices.Equal(got, want) {
		t.Errorf("withoutSecurity(%q) = %q; want %q", args, got, want)
	}
	if got := secretsDir([]string{"--tls-cert", "/s/tls.pem", "--tls-key", "/s/tls-key.pem", "--tls-ca", "/s/ca.pem", "--token-file", "/s/token"}); got != "/s" {
		t.Errorf("secretsDir = %q; want /s", got)
	}
	if got := secretsDir([]string{"--tls-cert", "/s/tls.pem", "--tls-key", "/t/tls-key.pem", "--tls-ca", "/s/ca.pem", "--token-file", "/s/token"}); got != "" {
		t.Errorf("secretsDir of files in two folders = %q; want \"\"", got)
	}
	if got := secretsDir([]string{"--tls-cert", "/s/tls.pem"}); got != "/s" {
		t.Errorf("secretsDir of one file = %q; want /s", got)
	}
	if got := secretsDir([]string{"--listen", ":7070"}); got != "" {
		t.Errorf("secretsDir without the flags = %q; want \"\"", got)
	}
}
