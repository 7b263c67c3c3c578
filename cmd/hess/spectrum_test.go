package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/hessian-cluster/hess/hessian"
)

// spectrumTestRead reads an eigenvalue file with npyio (a reader independent of ours):
// shape (7840,), float64, ascending.
func spectrumTestRead(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if sh := r.Header.Descr.Shape; len(sh) != 1 || sh[0] != hessian.Params || strings.Trim(r.Header.Descr.Type, "'") != "<f8" {
		t.Fatalf("%s: shape %v, dtype %s; want (%d,), <f8", path, sh, r.Header.Descr.Type, hessian.Params)
	}
	var v []float64
	if err := r.Read(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !slices.IsSorted(v) {
		t.Errorf("%s is not in ascending order", path)
	}
	return v
}

func TestSpectrumGram(t *testing.T) {
	t.Parallel()
	ref := rankTestRefRows(t)["random_seed0"][5]
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"spectrum", "--batch", "5", "--weights", "normal", "--out", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("hess spectrum: %v (stderr: %s)", err, stderr.String())
	}
	eigs := spectrumTestRead(t, filepath.Join(dir, "eigenvalues.npy"))
	r := hessian.Rank(eigs, hessian.DefaultTol(hessian.MaxAbs(eigs)))
	if r.Rank != ref.RankH {
		t.Errorf("rank of the written spectrum = %d; want %d", r.Rank, ref.RankH)
	}
	rankTestRel(t, "largest eigenvalue", eigs[len(eigs)-1], ref.EigMax, 1e-12)
	rankTestRel(t, "smallest eigenvalue above the tolerance", r.LambdaMinAboveTol, ref.MinEig, 1e-9)
	weightsTestDecodePNG(t, filepath.Join(dir, "spectrum.png"), 400, 200)
	if !strings.Contains(stdout.String(), "rank 45") {
		t.Errorf("summary lacks the rank:\n%s", stdout.String())
	}
}

// TestSpectrumWithEps checks the files and the plot with a regularizer. The dense 7840 x
// 7840 eigenvalues of H + R take minutes, so a stand-in solver returns a known spectrum;
// the cross-entropy part still comes from the Gram matrix.
func TestSpectrumWithEps(t *testing.T) {
	// Not parallel: it replaces newEigensolver.
	orig := newEigensolver
	t.Cleanup(func() { newEigensolver = orig })
	var gotEps float64
	newEigensolver = func(context.Context, string, clusterFlags, io.Writer) (solverSetup, error) {
		return solverSetup{solve: func(_ context.Context, d *hessian.Dataset, _ []float64, eps float64, _ hessian.ProgressFunc) ([]float64, error) {
			gotEps = eps
			v := make([]float64, hessian.Params)
			for i := range v {
				v[i] = eps * float64(i+1)
			}
			return v, nil
		}, close: func() error { return nil }}, nil
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"spectrum", "--batch", "1", "--eps", "0.001", "--out", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("hess spectrum: %v (stderr: %s)", err, stderr.String())
	}
	if gotEps != 0.001 {
		t.Errorf("solver called with eps %g; want 0.001", gotEps)
	}
	v := spectrumTestRead(t, filepath.Join(dir, "eigenvalues.npy"))
	if v[0] != 0.001 || v[len(v)-1] != 0.001*hessian.Params {
		t.Errorf("eigenvalues.npy = [%g ... %g]; want the solver's spectrum of H + R", v[0], v[len(v)-1])
	}
	if _, err := os.Stat(filepath.Join(dir, "eigenvalues_reg.npy")); err == nil {
		t.Error("eigenvalues_reg.npy written: a copy of eigenvalues.npy")
	}
	ce := spectrumTestRead(t, filepath.Join(dir, "eigenvalues_ce.npy"))
	if r := hessian.Rank(ce, hessian.DefaultTol(hessian.MaxAbs(ce))); r.Rank != 9 {
		t.Errorf("eigenvalues_ce.npy has rank %d; want 9 for one image", r.Rank)
	}
	weightsTestDecodePNG(t, filepath.Join(dir, "spectrum.png"), 400, 200)
	if math.IsNaN(ce[0]) {
		t.Error("NaN in eigenvalues_ce.npy")
	}
}

func TestSpectrumBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "5"}, "--out is required"},
		{[]string{"--out", t.TempDir(), "--batch", "1,5"}, `--batch "1,5"`},
		{[]string{"--out", t.TempDir(), "--method", "gram", "--eps", "1e-3"}, "use --method dense"},
		{[]string{"--out", t.TempDir(), "--method", "gram", "--batch", "1000"}, "bigger than the Hessian"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"spectrum"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hess spectrum %v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}
