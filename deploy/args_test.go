package deploy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// flagValue returns the value of the flag --name in a command line given as separate
// arguments, written "--name value" or "--name=value" (one or two dashes). ok is false when
// the flag is absent; a flag given twice is an error, since which one wins is the
// program's business and a manifest should not rely on it.
func flagValue(args []string, name string) (value string, ok bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		key, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if key != name {
			continue
		}
		if ok {
			return "", false, fmt.Errorf("flag --%s given twice in %q", name, args)
		}
		ok = true
		if hasVal {
			value = val
			continue
		}
		if i+1 >= len(args) {
			return "", false, fmt.Errorf("flag --%s has no value in %q", name, args)
		}
		i++
		value = args[i]
	}
	return value, ok, nil
}

// requiredFlag is flagValue for a flag that must be there.
func requiredFlag(args []string, name string) (string, error) {
	v, ok, err := flagValue(args, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("no --%s in %q", name, args)
	}
	return v, nil
}

// intFlag is requiredFlag for a positive integer.
func intFlag(args []string, name string) (int, error) {
	v, err := requiredFlag(args, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--%s %q: want a positive integer", name, v)
	}
	return n, nil
}

// splitHostPort splits host:port and checks the port.
func splitHostPort(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number in [1, 65535]", addr, p)
	}
	return h, n, nil
}

// parseGoMemLimit reads a GOMEMLIMIT value: a byte count with an optional unit B, KiB,
// MiB, GiB or TiB (the runtime's syntax), in bytes.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("GOMEMLIMIT %q: want a positive byte count like 450MiB", s)
	}
	return n * mult, nil
}

func TestFlagValue(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		value         string
		ok, wantError bool
	}{
		{[]string{"train", "--workers", "w:7070"}, "w:7070", true, false},
		{[]string{"train", "-workers=w:7070"}, "w:7070", true, false},
		{[]string{"train", "--workersx", "w:7070"}, "", false, false},
		{[]string{"train"}, "", false, false},
		{[]string{"train", "--workers"}, "", false, true},
		{[]string{"train", "--workers", "a:1", "--workers=b:2"}, "", false, true},
	} {
		v, ok, err := flagValue(tc.args, "workers")
		if v != tc.value || ok != tc.ok || (err != nil) != tc.wantError {
			t.Errorf("flagValue(%q, workers) = %q, %v, %v; want %q, %v, error %v", tc.args, v, ok, err, tc.value, tc.ok, tc.wantError)
		}
	}
}

func TestParseGoMemLimit(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int64
	}{{"450MiB", 450 << 20}, {"1GiB", 1 << 30}, {"1000", 1000}, {"12B", 12}, {"x", 0}, {"-1MiB", 0}, {"", 0}} {
		got, err := parseGoMemLimit(tc.s)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("parseGoMemLimit(%q) = %d, %v; want %d", tc.s, got, err, tc.want)
		}
	}
}
