package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rankTestReferenceDir is ../../../shared/reference beside the repository, the
// independent NumPy values (HESS_REFERENCE overrides it).
func rankTestReferenceDir() string {
	if d := os.Getenv("HESS_REFERENCE"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "reference")
}

// rankTestReference decodes one reference JSON file.
func rankTestReference(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rankTestReferenceDir(), name))
	if err != nil {
		t.Fatalf("reference values (set HESS_REFERENCE to the folder): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// rankTestRefRow is one row of rank_vs_batch.json.
type rankTestRefRow struct {
	N       int
	W       string
	RankH   int     `json:"rank_H"`
	RankX   int     `json:"rank_X"`
	Pixels  int     `json:"nonzero_pixels_in_batch"`
	EigMax  float64 `json:"eig_max"`
	MinEig  float64 `json:"smallest_nonzero_eig"`
	NNZ     int     `json:"nnz_H"`
	Tol     float64 `json:"tol"`
	CondRef float64 `json:"cond_on_range"`
}

// rankTestRefRows returns the reference rows by weights ("zero", "random_seed0") and n.
func rankTestRefRows(t *testing.T) map[string]map[int]rankTestRefRow {
	var ref struct{ Rows []rankTestRefRow }
	rankTestReference(t, "rank_vs_batch.json", &ref)
	out := map[string]map[int]rankTestRefRow{}
	for _, r := range ref.Rows {
		if out[r.W] == nil {
			out[r.W] = map[int]rankTestRefRow{}
		}
		out[r.W][r.N] = r
	}
	return out
}

// runRankJSON runs hess rank --json with the arguments and decodes its rows.
func runRankJSON(t *testing.T, args ...string) []rankRow {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), append([]string{"rank", "--json"}, args...), &stdout, &stderr); err != nil {
		t.Fatalf("hess rank %v: %v (stderr: %s)", args, err, stderr.String())
	}
	var rows []rankRow
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var r rankRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("hess rank %v: output is not one JSON object per line: %v", args, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func rankTestRel(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol*math.Abs(want)) {
		t.Errorf("%s = %.17g; want %.17g (relative tolerance %g)", what, got, want, tol)
	}
}

func TestRankJSONAgainstReference(t *testing.T) {
	t.Parallel()
	ref := rankTestRefRows(t)
	for _, tc := range []struct {
		weights, ref string
	}{
		{"zero", "zero"},
		{"normal", "random_seed0"}, // numpy's RandomState(0), reproduced to 1e-15
		{"ref:" + filepath.Join(rankTestReferenceDir(), "W_random_seed0.json"), "random_seed0"},
	} {
		rows := runRankJSON(t, "--batch", "1,5", "--weights", tc.weights)
		if len(rows) != 2 {
			t.Fatalf("--weights %s: %d rows; want 2", tc.weights, len(rows))
		}
		for i, n := range []int{1, 5} {
			r, want := rows[i], ref[tc.ref][n]
			if r.Batch != n || r.Rank != want.RankH || r.Bound != 9*want.RankX || r.RankX != want.RankX || r.Pixels != want.Pixels {
				t.Errorf("--weights %s, batch %d: got batch %d rank %d bound %d rank(X) %d pixels %d; want rank %d bound %d rank(X) %d pixels %d",
					tc.weights, n, r.Batch, r.Rank, r.Bound, r.RankX, r.Pixels, want.RankH, 9*want.RankX, want.RankX, want.Pixels)
			}
			if r.Method != "gram" {
				t.Errorf("--weights %s, batch %d: method %q; want gram for a small batch without eps", tc.weights, n, r.Method)
			}
			rankTestRel(t, "lambda_max", r.LambdaMax, want.EigMax, 1e-12)
			rankTestRel(t, "lambda_min_above_tol", r.LambdaMinAboveTol, want.MinEig, 1e-9)
			rankTestRel(t, "tol", r.Tol, want.Tol, 1e-12)
			if !(r.LambdaMaxBelowTol < r.Tol) {
				t.Errorf("lambda_max_below_tol %g not below tol %g", r.LambdaMaxBelowTol, r.Tol)
			}
		}
	}
}

// TestRankDenseMatchesGram runs the dense path (assembly, restriction to the 166 lit
// pixels, 1660 x 1660 eigenvalues) against the Gram path for the first image.
func TestRankDenseMatchesGram(t *testing.T) {
	t.Parallel()
	gram := runRankJSON(t, "--batch", "1", "--weights", "normal", "--method", "gram")
	dense := runRankJSON(t, "--batch", "1", "--weights", "normal", "--method", "dense")
	if len(gram) != 1 || len(dense) != 1 {
		t.Fatalf("got %d and %d rows; want 1 each", len(gram), len(dense))
	}
	g, d := gram[0], dense[0]
	if d.Method != "dense" || d.Rank != g.Rank || d.Rank != 9 {
		t.Errorf("dense: method %q rank %d; Gram rank %d; want dense, 9, 9", d.Method, d.Rank, g.Rank)
	}
	rankTestRel(t, "dense lambda_max", d.LambdaMax, g.LambdaMax, 1e-12)
	rankTestRel(t, "dense lambda_min_above_tol", d.LambdaMinAboveTol, g.LambdaMinAboveTol, 1e-11)
}

func TestRankTableAndTolerance(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"rank", "--batch", "5"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"tol = lambda_max * 7840 * 2^-52", "9rank(X)", "gram"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// A tolerance above the smallest eigenvalue on the range cuts it off: at W = 0 the
	// first 5 images' spectrum is 0.1 times that of X X^T / 5, each 9 times, so the cut
	// removes a multiple of 9.
	rows := runRankJSON(t, "--batch", "5", "--tol", "1")
	if len(rows) != 1 || rows[0].Tol != 1 || rows[0].Rank >= 45 || rows[0].Rank%9 != 0 || rows[0].LambdaMinAboveTol <= 1 {
		t.Errorf("--tol 1: %+v; want tol 1 and a rank below 45, a multiple of 9, with the smallest kept eigenvalue above 1", rows)
	}
}

func TestRankBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "lanczos"}, `--method "lanczos": want gram or dense`},
		{[]string{"--eps", "-1"}, "--eps -1"},
		{[]string{"--tol", "-1"}, "--tol -1"},
		{[]string{"--method", "gram", "--eps", "0.001"}, "use --method dense"},
		{[]string{"--weights", "/nonexistent/w.npy"}, "/nonexistent/w.npy"},
		{[]string{"--weights", "normal:x"}, "seed must be an integer"},
		{[]string{"--batch", "1,0"}, `--batch "0"`},
		{[]string{"--batch", "1,x"}, `--batch "x"`},
		{[]string{"--batch", "900", "--method", "gram"}, "bigger than the Hessian"},
		{[]string{"--nonsense"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"rank"}, tc.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("hess rank %v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}
