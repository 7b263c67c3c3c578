package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/plots"
)

func init() {
	register("spectrum", "all eigenvalues of the Hessian of a batch, as .npy and a log-scale PNG", runSpectrum)
}

func runSpectrum(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("spectrum", "--batch N --out DIR [flags]", stderr)
	var sf spectrumFlags
	sf.register(fs, "5", "")
	out := fs.String("out", "", "folder for eigenvalues.npy (of the objective's Hessian: H, or H + R with --eps), eigenvalues_ce.npy (H, with --eps) and spectrum.png (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("spectrum: --out is required")
	}
	w, label, err := sf.check("spectrum")
	if err != nil {
		return err
	}
	setup, err := newEigensolver(ctx, "spectrum", sf.cf, stderr)
	if err != nil {
		return err
	}
	defer setup.close()
	solve := setup.solve
	train, _, err := sf.df.load()
	if err != nil {
		return err
	}
	n := train.Len()
	eps := *sf.eps
	// The cross-entropy part: by the Gram matrix or densely.
	ceMethod := methodFor(*sf.method, n, 0, sf.cf.distributed())
	if ceMethod == "gram" && n > hessian.MaxGramImages {
		return fmt.Errorf("spectrum: --method gram with --batch %d: the Gram matrix is 10n x 10n, bigger than the Hessian beyond %d images; use --method dense", n, hessian.MaxGramImages)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("spectrum: %w", err)
	}
	prog := newProgress(stderr)

	var series []plots.Series
	if eps > 0 {
		start := time.Now()
		reg, err := solve(ctx, train, w, eps, prefixed(prog, "H+R"))
		if err != nil {
			return fmt.Errorf("spectrum: H + R: %w", err)
		}
		fmt.Fprintf(stdout, "H + R (eps %g): %s [dense %s, %.1f s]\n", eps, spectrumSummary(reg), workersNote(setup.workers), time.Since(start).Seconds())
		if err := writeVectorNPY(filepath.Join(*out, "eigenvalues.npy"), reg); err != nil {
			return err
		}
		series = append(series, plots.Series{Name: fmt.Sprintf("H + R (eps %g)", eps), Values: reg})
	}
	start := time.Now()
	ce, err := batchEigenvalues(ctx, ceMethod, solve, train, w, 0, prefixed(prog, "H"))
	if err != nil {
		return fmt.Errorf("spectrum: H: %w", err)
	}
	if len(ce) < hessian.Params {
		// The Gram matrix gives 10n of them; the Hessian's other eigenvalues are exactly 0.
		ce = append(make([]float64, hessian.Params-len(ce)), ce...)
		slices.Sort(ce)
	}
	where := ceMethod
	if ceMethod == "dense" {
		where += " " + workersNote(setup.workers)
	}
	fmt.Fprintf(stdout, "H (cross-entropy): %s [%s, %.1f s]\n", spectrumSummary(ce), where, time.Since(start).Seconds())
	ceName := "eigenvalues.npy"
	if eps > 0 {
		ceName = "eigenvalues_ce.npy"
	}
	if err := writeVectorNPY(filepath.Join(*out, ceName), ce); err != nil {
		return err
	}
	written := []string{ceName}
	if eps > 0 {
		written = []string{"eigenvalues.npy (H + R)", "eigenvalues_ce.npy (H)"}
	}
	series = append(series, plots.Series{Name: "H (cross-entropy)", Values: ce})
	png := filepath.Join(*out, "spectrum.png")
	title := fmt.Sprintf("Hessian spectrum, %s, %s", batchLabel(n, sf.df.seed), label)
	if err := plots.Spectrum(png, series, title); err != nil {
		return fmt.Errorf("spectrum: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s and, in %s, %s: eigenvalues in ascending order, float64, shape (%d,)\n",
		png, *out, strings.Join(written, ", "), hessian.Params)
	return nil
}

// spectrumSummary gives the rank and range of a spectrum in one line.
func spectrumSummary(eigs []float64) string {
	r := hessian.Rank(eigs, hessian.DefaultTol(hessian.MaxAbs(eigs)))
	return fmt.Sprintf("rank %d (tol %.3g), lambda_max %.6g, smallest above tol %.6g, cond %.4g, lambda_min %.3g",
		r.Rank, r.Tol, r.LambdaMax, r.LambdaMinAboveTol, r.Cond, r.LambdaMin)
}

// batchLabel names a batch in titles.
func batchLabel(n int, seed uint64) string {
	if seed != 0 {
		return fmt.Sprintf("%d images sampled with seed %d", n, seed)
	}
	if n == 1 {
		return "first image"
	}
	return fmt.Sprintf("first %d images", n)
}

// writeVectorNPY writes v to path as a float64 .npy of shape (len(v),).
func writeVectorNPY(path string, v []float64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("spectrum: %w", err)
	}
	err = hessian.WriteVectorNPY(f, v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("spectrum: writing %s: %w", path, err)
	}
	return nil
}
