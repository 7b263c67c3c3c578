package hessian

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// knownSpectrum returns the lower triangle of Q diag(lam) Q^T for a random orthogonal Q
// (seeded), in an n x n matrix with leading dimension lda whose other entries are NaN:
// EigenvaluesSym must not read them.
func knownSpectrum(lam []float64, lda int, seed uint64) []float64 {
	n := len(lam)
	r := rand.New(rand.NewPCG(seed, 3))
	g := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			g.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	var qd, a mat.Dense
	qd.Apply(func(_, j int, v float64) float64 { return v * lam[j] }, &q)
	a.Mul(&qd, q.T())
	out := make([]float64, (n-1)*lda+n)
	for i := range out {
		out[i] = math.NaN()
	}
	for i := range n {
		for j := 0; j <= i; j++ {
			out[i*lda+j] = a.At(i, j)
		}
	}
	return out
}

func TestEigenvaluesSymKnownSpectrum(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n    int
		lam  func(i, n int) float64
	}{
		{"one", 1, func(int, int) float64 { return -2.5 }},
		{"two", 2, func(i, _ int) float64 { return float64(i) + 0.5 }},
		// Just above one panel of 32 columns, with a 9-fold eigenvalue and zeros, like a
		// Hessian at W = 0.
		{"repeated", 40, func(i, _ int) float64 {
			return []float64{0, 0, 0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.35, -1}[i%14]
		}},
		// Above parallelSymvMin and the 256-row blocks of the trailing update.
		{"graded", 600, func(i, n int) float64 { return math.Pow(10, -12+16*float64(i)/float64(n-1)) }},
		{"indefinite", 301, func(i, n int) float64 { return float64(i-n/2) / 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lam := make([]float64, tc.n)
			for i := range lam {
				lam[i] = tc.lam(i, tc.n)
			}
			for _, lda := range []int{tc.n, tc.n + 3} {
				a := knownSpectrum(lam, lda, uint64(tc.n))
				got, err := EigenvaluesSymContext(context.Background(), a, tc.n, lda, nil)
				if err != nil {
					t.Fatalf("n=%d lda=%d: %v", tc.n, lda, err)
				}
				want := slices.Clone(lam)
				slices.Sort(want)
				scale := MaxAbs(want)
				for i := range want {
					// Backward stable: errors of a few eps * ||A||, here with n up to 600.
					if d := math.Abs(got[i] - want[i]); d > 1e-13*scale || math.IsNaN(got[i]) {
						t.Errorf("n=%d lda=%d: eigenvalue %d = %.17g; want %.17g (diff %.3g)", tc.n, lda, i, got[i], want[i], d)
						break
					}
				}
			}
		})
	}
}

func TestEigenvaluesSymScalingAndErrors(t *testing.T) {
	t.Parallel()
	lam := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40}
	n := len(lam)
	// Entries near the underflow and overflow thresholds are scaled into range first.
	for _, s := range []float64{1e-300, 1e300} {
		scaled := make([]float64, n)
		for i, v := range lam {
			scaled[i] = s * v
		}
		got, err := EigenvaluesSym(knownSpectrum(scaled, n, 1), n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(got[i]/scaled[i]-1) > 1e-12 {
				t.Errorf("scale %g: eigenvalue %d = %g; want %g", s, i, got[i], scaled[i])
			}
		}
	}
	// A block far below the rest, where Dsterf would scale on its own.
	tiny := []float64{1, 0, 0, 0, 1e-130, 0, 0, 2e-131, 3e-130}
	got, err := EigenvaluesSym(tiny, 3)
	r := math.Hypot(1e-130, 2e-131)
	if want := []float64{2e-130 - r, 2e-130 + r, 1}; err != nil || !closeRel(got, want, 1e-14) {
		t.Errorf("EigenvaluesSym(diag(1, tiny block)) = %v, %v; want %v", got, err, want)
	}
	// All zero, and one NaN in the lower triangle.
	if got, err := EigenvaluesSym(make([]float64, 9), 3); err != nil || got[0] != 0 || got[2] != 0 {
		t.Errorf("EigenvaluesSym(0) = %v, %v; want zeros", got, err)
	}
	a := knownSpectrum(lam, n, 2)
	a[7*n+3] = math.NaN()
	if _, err := EigenvaluesSym(a, n); err == nil || !containsAll(err.Error(), "(7, 3)", "NaN") {
		t.Errorf("NaN at (7, 3): error %v; want one that names the entry", err)
	}
	// Cancellation stops the reduction between panels and says so.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := EigenvaluesSymContext(ctx, knownSpectrum(lam, n, 3), n, n, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v; want context.Canceled", err)
	}
	// Progress reaches its total once per phase.
	var last, total int
	if _, err := EigenvaluesSymContext(t.Context(), knownSpectrum(lam, n, 4), n, n, func(phase string, done, tot int) {
		last, total = done, tot
	}); err != nil || last != total || total == 0 {
		t.Errorf("progress ended at %d of %d (err %v); want the total, > 0", last, total, err)
	}
}

// closeRel reports whether got and want agree elementwise to tol relative to each value.
func closeRel(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !(math.Abs(got[i]-want[i]) <= tol*math.Abs(want[i])) {
			return false
		}
	}
	return true
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestRestrictLower(t *testing.T) {
	t.Parallel()
	const n = 23
	a := make([]float64, n*n)
	for i := range a {
		a[i] = float64(i)
	}
	orig := slices.Clone(a)
	keep := []int{0, 3, 4, 10, 21, 22}
	m := restrictLower(a, n, keep)
	for i := range m {
		for j := 0; j <= i; j++ {
			if got, want := a[i*m+j], orig[keep[i]*n+keep[j]]; got != want {
				t.Errorf("restricted (%d, %d) = %v; want %v", i, j, got, want)
			}
		}
	}
}

// TestRankAtZeroWeights checks MATH.md's exact fact: at W = 0, H = (X^T X / n) kron A with
// A = (I - 11^T/10)/10, so its non-zero eigenvalues are 0.1 times those of X X^T / n, each
// 9 times, and rank(H) = 9 rank(X).
func TestRankAtZeroWeights(t *testing.T) {
	t.Parallel()
	train, _ := loadMNIST(t)
	w := make([]float64, Params)
	for _, n := range []int{1, 5, 10} {
		d := train.Slice(0, n)
		got, err := GramEigenvalues(w, d)
		if err != nil {
			t.Fatal(err)
		}
		// Eigenvalues mu of X X^T / n, from dense images and plain loops.
		k := make([]float64, n*n)
		for s := range n {
			xs := d.Dense(s)
			for u := 0; u <= s; u++ {
				xu := d.Dense(u)
				for j := range xs {
					k[s*n+u] += xs[j] * xu[j] / float64(n)
				}
			}
		}
		mu, err := EigenvaluesSym(k, n)
		if err != nil {
			t.Fatal(err)
		}
		var want []float64
		for range n {
			want = append(want, 0) // C_s 1 = 0: one zero per image
		}
		for _, m := range mu {
			for range 9 {
				want = append(want, 0.1*m)
			}
		}
		slices.Sort(want)
		lmax := want[len(want)-1]
		for i := range want {
			tol := 1e-12 * math.Abs(want[i]) // the non-zero ones, relative
			if want[i] == 0 {
				tol = 1e-13 * lmax // rounding of an exact zero
			}
			if d := math.Abs(got[i] - want[i]); !(d <= tol) {
				t.Errorf("n=%d: eigenvalue %d = %.17g; want %.17g (diff %.3g)", n, i, got[i], want[i], d)
			}
		}
		r := Rank(got, DefaultTol(MaxAbs(got)))
		if rx := MatrixRankX(d); r.Rank != 9*rx || rx != n {
			t.Errorf("n=%d: rank(H) = %d, rank(X) = %d; want 9 rank(X) and rank(X) = %d", n, r.Rank, rx, n)
		}
	}
}

func TestGramReferenceN5(t *testing.T) {
	t.Parallel()
	var ref struct {
		Rank   int     `json:"rank_eigvalsh_default_tol"`
		EigMax float64 `json:"eig_max"`
	}
	readReference(t, "hessian_n5.json", &ref)
	train, _ := loadMNIST(t)
	eigs, err := GramEigenvalues(referenceRandomW(t), train.Slice(0, 5))
	if err != nil {
		t.Fatal(err)
	}
	r := Rank(eigs, DefaultTol(MaxAbs(eigs)))
	if r.Rank != ref.Rank {
		t.Errorf("rank = %d; want %d", r.Rank, ref.Rank)
	}
	relClose(t, "lambda_max", r.LambdaMax, ref.EigMax, 1e-12)
}

// TestGramReferenceRankVsBatch compares the Gram path with numpy's eigvalsh of the dense
// 7840 x 7840 Hessians of the first n images (rank_vs_batch.json).
func TestGramReferenceRankVsBatch(t *testing.T) {
	t.Parallel()
	type row struct {
		N                 int
		W                 string
		RankH             int     `json:"rank_H"`
		RankX             int     `json:"rank_X"`
		Pixels            int     `json:"nonzero_pixels_in_batch"`
		EigMax            float64 `json:"eig_max"`
		SmallestNonzero   float64 `json:"smallest_nonzero_eig"`
		Tol               float64 `json:"tol"`
		Cond              float64 `json:"cond_on_range"`
		LargestBelowTol   float64 `json:"largest_below_tol_abs"`
		RankHEq9RankX     bool    `json:"rank_H_eq_9_rank_X"`
		NineNonzeroPixels int     `json:"9_nonzero_pixels"`
	}
	var ref struct{ Rows []row }
	readReference(t, "rank_vs_batch.json", &ref)
	train, _ := loadMNIST(t)
	weights := map[string][]float64{"zero": make([]float64, Params), "random_seed0": referenceRandomW(t)}
	want := map[int]bool{1: true, 5: true, 10: true, 100: true, 200: true}
	seen := 0
	for _, rw := range ref.Rows {
		if !want[rw.N] {
			continue
		}
		seen++
		t.Run(fmt.Sprintf("n=%d,W=%s", rw.N, rw.W), func(t *testing.T) {
			t.Parallel()
			w, ok := weights[rw.W]
			if !ok {
				t.Fatalf("unknown weights %q in the reference", rw.W)
			}
			d := train.Slice(0, rw.N)
			eigs, err := GramEigenvalues(w, d)
			if err != nil {
				t.Fatal(err)
			}
			r := Rank(eigs, DefaultTol(MaxAbs(eigs)))
			if r.Rank != rw.RankH {
				t.Errorf("rank = %d; want %d", r.Rank, rw.RankH)
			}
			if got := MatrixRankX(d); got != rw.RankX {
				t.Errorf("rank(X) = %d; want %d", got, rw.RankX)
			}
			if got := PixelsLit(d); got != rw.Pixels {
				t.Errorf("pixels lit = %d; want %d", got, rw.Pixels)
			}
			relClose(t, "lambda_max", r.LambdaMax, rw.EigMax, 1e-12)
			relClose(t, "tolerance", r.Tol, rw.Tol, 1e-12)
			// The smallest eigenvalue on the range is 1.2e-5 for n = 200 at the random W,
			// 1.7e-6 of lambda_max: both computations err by a few eps * lambda_max
			// absolutely, so 1e-9 relative is what agreement can mean there.
			t.Logf("lambda_max %.17g (rel diff %.2g), smallest above tol %.17g (rel diff %.2g)", r.LambdaMax, r.LambdaMax/rw.EigMax-1, r.LambdaMinAboveTol, r.LambdaMinAboveTol/rw.SmallestNonzero-1)
			relClose(t, "smallest eigenvalue above the tolerance", r.LambdaMinAboveTol, rw.SmallestNonzero, 1e-9)
			relClose(t, "condition number on the range", r.Cond, rw.Cond, 1e-9)
			// Below the cut there is only rounding: the Gram path's null space is 10n - rank,
			// the dense one's 7840 - rank; both must be at rounding level.
			if r.LambdaMaxBelowTol > 1e-14*r.LambdaMax {
				t.Errorf("largest |eigenvalue| below the tolerance = %g; want rounding (< 1e-14 lambda_max = %g)", r.LambdaMaxBelowTol, 1e-14*r.LambdaMax)
			}
		})
	}
	if seen != 2*len(want) {
		t.Errorf("found %d reference rows for n in %v; want %d", seen, want, 2*len(want))
	}
}

// TestDenseMatchesGramOneImage compares the dense path (assembly, restriction to the lit
// pixels, EigenvaluesSym of 1660 x 1660) with the Gram path for the first image at the
// random W, and counts the non-zeros of that Hessian for the spy plot.
func TestDenseMatchesGramOneImage(t *testing.T) {
	t.Parallel()
	var ref struct {
		Rows []struct {
			N   int
			W   string
			NNZ int `json:"nnz_H"`
		}
	}
	readReference(t, "rank_vs_batch.json", &ref)
	train, _ := loadMNIST(t)
	d := train.Slice(0, 1)
	w := referenceRandomW(t)
	buf := make([]float64, Params*Params)

	// Spy counts of the full matrix: every entry counted once.
	AssembleLower(buf, NewCurvature(NewIndex(d), w), 0, 0, nil)
	MirrorLower(buf, Params)
	frac := SpyCounts(buf, Params, Params, Classes)
	var nnz float64
	for _, f := range frac {
		nnz += f * Classes * Classes
	}
	wantNNZ := -1
	for _, r := range ref.Rows {
		if r.N == 1 && r.W == "random_seed0" {
			wantNNZ = r.NNZ
		}
	}
	if math.Round(nnz) != float64(wantNNZ) {
		t.Errorf("non-zeros from the spy counts = %g; want %d", nnz, wantNNZ)
	}

	gram, err := GramEigenvalues(w, d)
	if err != nil {
		t.Fatal(err)
	}
	dense, err := HessianEigenvalues(t.Context(), buf, w, d, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dense) != Params || len(gram) != Classes {
		t.Fatalf("got %d dense and %d Gram eigenvalues; want %d and %d", len(dense), len(gram), Params, Classes)
	}
	lmax := gram[len(gram)-1]
	// The top 9 (the Gram matrix's non-zero ones) agree; the rest of the dense spectrum
	// is rounding.
	for i := 1; i <= 9; i++ {
		g, h := gram[len(gram)-i], dense[len(dense)-i]
		if math.Abs(g-h) > 1e-12*lmax {
			t.Errorf("eigenvalue %d from the top: dense %.17g, Gram %.17g (diff %.3g)", i, h, g, math.Abs(g-h))
		}
	}
	for i, v := range dense[:Params-9] {
		if math.Abs(v) > 1e-13*lmax {
			t.Errorf("dense eigenvalue %d = %g; want rounding below 1e-13 lambda_max = %g", i, v, 1e-13*lmax)
			break
		}
	}
}

// TestSpyTilesAddUp checks that cell counts of tiles, added at their cells, give the
// counts of the whole matrix, and those the definition, with partial cells at the edges.
func TestSpyTilesAddUp(t *testing.T) {
	t.Parallel()
	const n, cell = 95, 10 // 10 cells a side, the last one 5 entries wide
	r := rand.New(rand.NewPCG(5, 5))
	a := make([]float64, n*n)
	for i := range a {
		if r.Float64() < 0.3 {
			a[i] = r.NormFloat64()
		}
	}
	whole := SpyCounts(a, n, n, cell)
	g := (n + cell - 1) / cell
	for ci := range g {
		for cj := range g {
			var cnt, size float64
			for i := ci * cell; i < min(n, (ci+1)*cell); i++ {
				for j := cj * cell; j < min(n, (cj+1)*cell); j++ {
					size++
					if a[i*n+j] != 0 {
						cnt++
					}
				}
			}
			if got := whole[ci*g+cj]; math.Abs(got-cnt/size) > 1e-15 {
				t.Errorf("cell (%d, %d) = %v; want %v", ci, cj, got, cnt/size)
			}
		}
	}
	// Tiles of 30 x 40 (multiples of the cell) and their remainders.
	sum := make([]float64, g*g)
	for r0 := 0; r0 < n; r0 += 30 {
		for c0 := 0; c0 < n; c0 += 40 {
			m, k := min(30, n-r0), min(40, n-c0)
			tc := SpyTileCounts(a[r0*n+c0:], n, m, k, cell)
			tg := (k + cell - 1) / cell
			for i := range (m + cell - 1) / cell {
				for j := range tg {
					sum[(r0/cell+i)*g+c0/cell+j] += tc[i*tg+j]
				}
			}
		}
	}
	SpyNormalize(sum, n, n, cell)
	if !slices.Equal(sum, whole) {
		t.Errorf("tile counts added up differ from the whole matrix's")
	}
}

func TestRankReport(t *testing.T) {
	t.Parallel()
	eigs := []float64{-3e-15, 0, 2e-15, 1e-3, 0.5, 2}
	r := Rank(eigs, 1e-12)
	want := RankReport{Rank: 3, LambdaMax: 2, LambdaMin: -3e-15, LambdaMinAboveTol: 1e-3, LambdaMaxBelowTol: 3e-15, Tol: 1e-12, Cond: 2000}
	if r != want {
		t.Errorf("Rank(%v, 1e-12) = %+v; want %+v", eigs, r, want)
	}
	if r := Rank([]float64{0, 1e-20}, 1e-12); r.Rank != 0 || r.Cond != 0 || r.LambdaMinAboveTol != 0 {
		t.Errorf("Rank of a zero spectrum = %+v; want rank 0, cond 0", r)
	}
	if got, want := DefaultTol(2), 2*7840*math.Pow(2, -52); got != want {
		t.Errorf("DefaultTol(2) = %g; want %g", got, want)
	}
}

// BenchmarkEigenvaluesSym times all eigenvalues of a random symmetric matrix. n = 7840,
// the Hessian's order, takes minutes and runs only when named:
// -bench 'EigenvaluesSym/n=7840' -benchtime 1x.
func BenchmarkEigenvaluesSym(b *testing.B) {
	for _, n := range []int{500, 1000, 2000, 3000, Params} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n == Params {
				requireExplicit(b, "n=7840")
			}
			r := rand.New(rand.NewPCG(1, 1))
			src := make([]float64, n*n)
			for i := range src {
				src[i] = r.NormFloat64()
			}
			a := make([]float64, n*n)
			for b.Loop() {
				copy(a, src)
				if _, err := EigenvaluesSym(a, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(4*math.Pow(float64(n), 3)/3/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
		})
	}
}
