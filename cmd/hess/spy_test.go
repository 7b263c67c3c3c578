package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpyWritesPNGs draws the first 1 and 5 images' sparsity and checks the non-zero
// counts against the reference Hessians.
func TestSpyWritesPNGs(t *testing.T) {
	t.Parallel()
	ref := rankTestRefRows(t)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"spy", "--batch", "1,5", "--out", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("hess spy: %v (stderr: %s)", err, stderr.String())
	}
	for _, n := range []int{1, 5} {
		path := filepath.Join(dir, fmt.Sprintf("spy_n%d.png", n))
		weightsTestDecodePNG(t, path, 400, 400)
		want := fmt.Sprintf("wrote %s: %d images, %d non-zeros", path, n, ref["zero"][n].NNZ)
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestSpyBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "1"}, "--out is required"},
		{[]string{"--out", t.TempDir(), "--cell", "0"}, "--cell 0"},
		{[]string{"--out", t.TempDir(), "--eps", "NaN"}, "--eps NaN"},
		{[]string{"--out", t.TempDir(), "--weights", "normal:-1"}, "seed must be an integer"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"spy"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hess spy %v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}
