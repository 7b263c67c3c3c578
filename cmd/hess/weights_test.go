package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
)

// weightsTestDecodePNG fails the test unless path is a PNG of at least minW x minH pixels.
func weightsTestDecodePNG(t *testing.T, path string, minW, minH int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < minW || b.Dy() < minH {
		t.Errorf("%s is %d x %d pixels; want at least %d x %d", path, b.Dx(), b.Dy(), minW, minH)
	}
}

// TestNumpyNormalMatchesReference compares our MT19937 and polar Box-Muller with
// numpy.random.RandomState(0).normal(0, 0.1, (784, 10)).
func TestNumpyNormalMatchesReference(t *testing.T) {
	t.Parallel()
	var ref struct{ W []float64 }
	rankTestReference(t, "W_random_seed0.json", &ref)
	got := numpyNormalWeights(0, 0.1)
	if len(ref.W) != len(got) {
		t.Fatalf("reference has %d values; want %d", len(ref.W), len(got))
	}
	exact := 0
	for i := range got {
		if got[i] == ref.W[i] {
			exact++
		} else if math.Abs(got[i]-ref.W[i]) > 1e-15*math.Abs(ref.W[i]) {
			// log and sqrt of Go and of the C library may differ in the last bit or two.
			t.Fatalf("value %d = %.17g; want %.17g", i, got[i], ref.W[i])
		}
	}
	t.Logf("%d of %d values bit for bit", exact, len(got))
	if exact < len(got)*9/10 {
		t.Errorf("%d of %d values bit for bit; want nearly all", exact, len(got))
	}
	if other := numpyNormalWeights(1, 0.1); other[0] == got[0] {
		t.Errorf("seeds 0 and 1 give the same first value %g", got[0])
	}
}

func TestWeightsWritesPNG(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	npy := filepath.Join(dir, "w.npy")
	if err := hessian.WriteWeights(npy, numpyNormalWeights(3, 0.1)); err != nil {
		t.Fatal(err)
	}
	for i, spec := range []string{npy, "normal", "ref:" + filepath.Join(rankTestReferenceDir(), "W_random_seed0.json")} {
		out := filepath.Join(dir, "weights"+string(rune('a'+i))+".png")
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{"weights", "--weights", spec, "--out", out}, &stdout, &stderr); err != nil {
			t.Fatalf("hess weights --weights %s: %v", spec, err)
		}
		if !strings.Contains(stdout.String(), out) {
			t.Errorf("output %q does not name %s", stdout.String(), out)
		}
		weightsTestDecodePNG(t, out, 100, 50)
	}
}

func TestWeightsBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"W": [1, 2, 3]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "x.json")
	if err := os.WriteFile(notJSON, []byte(`[1, 2`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--weights is required"},
		{[]string{"--weights", filepath.Join(dir, "none.npy")}, "none.npy"},
		{[]string{"--weights", bad}, "3 values, want 7840"},
		{[]string{"--weights", notJSON}, "not a JSON object"},
		{[]string{"--weights", "normal", "--out", filepath.Join(dir, "no", "such", "dir", "w.png")}, "w.png"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"weights"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hess weights %v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}
