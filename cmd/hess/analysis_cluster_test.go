package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
)

// The analysis commands with workers: rank, spectrum and spy on --in-process loopback
// workers, against the independent NumPy references and the single-process path.

// TestRankClusterAgainstReference runs hess rank --batch 1,5,10,100,200 --in-process 2
// at W = 0 and at the reference random weights: the ranks 9, 45, 90, 900, 1800 of
// rank_vs_batch.json (9 rank(X), with rank(X) = n here), its lambda_max and smallest
// eigenvalue above the tolerance, all from the eigenvalues of the dense Hessian reduced
// on the workers.
func TestRankClusterAgainstReference(t *testing.T) {
	if testing.Short() {
		t.Skip("ten 7840 x 7840 reductions on loopback workers: minutes")
	}
	ref := rankTestRefRows(t)
	batches := []int{1, 5, 10, 100, 200}
	for _, tc := range []struct{ weights, ref string }{
		{"zero", "zero"},
		{"ref:" + filepath.Join(rankTestReferenceDir(), "W_random_seed0.json"), "random_seed0"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			rows := runRankJSON(t, "--batch", "1,5,10,100,200", "--weights", tc.weights, "--in-process", "2")
			if len(rows) != len(batches) {
				t.Fatalf("%d rows; want %d", len(rows), len(batches))
			}
			for i, n := range batches {
				r, want := rows[i], ref[tc.ref][n]
				if r.Batch != n || r.Rank != want.RankH || r.Bound != 9*want.RankX || r.Pixels != want.Pixels {
					t.Errorf("batch %d: got batch %d rank %d bound %d pixels %d; want rank %d bound %d pixels %d",
						n, r.Batch, r.Rank, r.Bound, r.Pixels, want.RankH, 9*want.RankX, want.Pixels)
				}
				if r.Method != "dense" || r.Workers != 2 {
					t.Errorf("batch %d: method %q on %d workers; want dense on 2", n, r.Method, r.Workers)
				}
				rankTestRel(t, fmt.Sprintf("batch %d: lambda_max", n), r.LambdaMax, want.EigMax, 1e-12)
				rankTestRel(t, fmt.Sprintf("batch %d: tol", n), r.Tol, want.Tol, 1e-12)
				// A dense symmetric eigensolver is accurate to a few eps * ||H|| in every
				// eigenvalue (NumPy's included): 1e-9 lambda_max is the contract.
				if d := math.Abs(r.LambdaMinAboveTol - want.MinEig); !(d <= 1e-9*want.EigMax) {
					t.Errorf("batch %d: lambda_min_above_tol = %.17g; want %.17g (difference %.3g lambda_max)", n, r.LambdaMinAboveTol, want.MinEig, d/want.EigMax)
				}
				if !(r.LambdaMaxBelowTol < r.Tol) {
					t.Errorf("batch %d: lambda_max_below_tol %g not below tol %g", n, r.LambdaMaxBelowTol, r.Tol)
				}
			}
		})
	}
}

// TestRankClusterTable runs the table of one batch on one worker: the heading names the
// worker, and the first image's rank is 9 (rank_vs_batch.json).
func TestRankClusterTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"rank", "--batch", "1", "--in-process", "1"}, &stdout, &stderr); err != nil {
		t.Fatalf("hess rank: %v (stderr: %s)", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "dense eigenvalues on 1 worker") {
		t.Fatalf("table of %d lines, heading %q; want 3 lines and the worker named:\n%s", len(lines), lines[0], stdout.String())
	}
	if f := strings.Fields(lines[2]); len(f) < 2 || f[0] != "1" || f[1] != fmt.Sprint(rankTestRefRows(t)["zero"][1].RankH) || !strings.Contains(lines[2], "dense") {
		t.Errorf("row %q; want batch 1, rank %d, dense", lines[2], rankTestRefRows(t)["zero"][1].RankH)
	}
}

// TestSpectrumCluster writes the spectrum of the first 5 images at the reference random
// weights from workers, and checks it against the reference and the single-process
// (Gram) spectrum.
func TestSpectrumCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a 7840 x 7840 reduction on loopback workers")
	}
	ref := rankTestRefRows(t)["random_seed0"][5]
	single, cluster := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		dir  string
		args []string
	}{
		{single, nil},
		{cluster, []string{"--in-process", "2", "--tile-size", "300"}},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"spectrum", "--batch", "5", "--weights", "normal", "--out", tc.dir}, tc.args...)
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Fatalf("hess %v: %v (stderr: %s)", args, err, stderr.String())
		}
		if tc.dir == cluster && !strings.Contains(stdout.String(), "dense on 2 workers") {
			t.Errorf("summary does not say the eigenvalues came from 2 workers:\n%s", stdout.String())
		}
	}
	want := spectrumTestRead(t, filepath.Join(single, "eigenvalues.npy"))
	got := spectrumTestRead(t, filepath.Join(cluster, "eigenvalues.npy"))
	lmax := want[len(want)-1]
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= 1e-9*lmax) {
			t.Fatalf("eigenvalue %d = %.17g; want %.17g (difference %.3g lambda_max)", i, got[i], want[i], d/lmax)
		}
	}
	r := hessian.Rank(got, hessian.DefaultTol(hessian.MaxAbs(got)))
	if r.Rank != ref.RankH {
		t.Errorf("rank of the cluster's spectrum = %d; want %d", r.Rank, ref.RankH)
	}
	rankTestRel(t, "largest eigenvalue", got[len(got)-1], ref.EigMax, 1e-12)
	weightsTestDecodePNG(t, filepath.Join(cluster, "spectrum.png"), 400, 200)
}

// TestSpyCluster draws the sparsity pictures from counts made on the workers: the same
// non-zero counts as the reference Hessians, and the same PNG files, byte for byte, as
// the single-process path.
func TestSpyCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("assembles the 491.7 MB matrix in one process for the comparison")
	}
	ref := rankTestRefRows(t)
	single, cluster := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		dir   string
		args  []string
		where string
	}{
		{single, nil, "in one process"},
		{cluster, []string{"--in-process", "3", "--tile-size", "256"}, "on 3 workers"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"spy", "--batch", "1,5", "--out", tc.dir}, tc.args...)
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Fatalf("hess %v: %v (stderr: %s)", args, err, stderr.String())
		}
		for _, n := range []int{1, 5} {
			want := fmt.Sprintf("wrote %s: %d images, %d non-zeros", filepath.Join(tc.dir, fmt.Sprintf("spy_n%d.png", n)), n, ref["zero"][n].NNZ)
			if !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), tc.where) {
				t.Errorf("output lacks %q and %q:\n%s", want, tc.where, stdout.String())
			}
		}
	}
	for _, n := range []int{1, 5} {
		name := fmt.Sprintf("spy_n%d.png", n)
		a, err := os.ReadFile(filepath.Join(single, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(cluster, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s from the workers differs from the single-process one", name)
		}
	}
}

func TestAnalysisClusterBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rank", "--in-process", "2", "--tile-size", "-1"}, "--tile-size -1"},
		{[]string{"rank", "--in-process", "65"}, "--in-process 65"},
		{[]string{"spectrum", "--out", t.TempDir(), "--in-process", "1", "--startup-timeout", "0s"}, "--startup-timeout 0s"},
		{[]string{"spy", "--out", t.TempDir(), "--in-process", "2", "--cell", "2"}, "--cell 2 with workers"},
		{[]string{"rank", "--workers", "127.0.0.1:1", "--startup-timeout", "200ms"}, "127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hess %v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}
