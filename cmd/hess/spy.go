package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hessian-cluster/hess/coordinator"
	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/plots"
)

func init() {
	register("spy", "sparsity pattern of the Hessian for batches of the first n images, as PNGs", runSpy)
}

func runSpy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("spy", "--batch 1,5,10,100,200 --out DIR [flags]", stderr)
	var (
		df dataFlags
		cf clusterFlags
	)
	df.register(fs, "1,5,10,100,200")
	cf.register(fs, 0)
	fs.Lookup("batch").Usage = "comma-separated batch sizes: the first n training images each (or all)"
	var (
		spec = fs.String("weights", "zero", "weights: "+weightsSpecHelp)
		eps  = fs.Float64("eps", 0, "add R = 2 eps (L^T L) kron I of the Laplacian penalty (its 5x5-pixel stencil fills the band)")
		cell = fs.Int("cell", hessian.Classes, "matrix entries per side of a plotted cell (10: one cell per pixel pair, a 784 x 784 grid)")
		out  = fs.String("out", "", "folder for spy_n{N}.png, one per batch (required)")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("spy: --out is required")
	}
	if *cell < 1 || *cell > hessian.Params {
		return fmt.Errorf("spy: --cell %d: want 1 to %d entries", *cell, hessian.Params)
	}
	if cf.distributed() && *cell < coordinator.MinSpyCell {
		return fmt.Errorf("spy: --cell %d with workers: want at least %d (the coordinator holds the grid of counts, which approaches the matrix's size as cells shrink)", *cell, coordinator.MinSpyCell)
	}
	if err := checkEps(*eps); err != nil {
		return err
	}
	w, label, err := loadWeights(*spec)
	if err != nil {
		return err
	}
	train, _, err := hessian.LoadMNIST(df.dir)
	if err != nil {
		return err
	}
	batches, err := parseBatches(df.batch, train.Len())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("spy: %w", err)
	}
	prog := newProgress(stderr)
	const n = hessian.Params
	where := "in one process"
	// The counts of a batch: on the workers (each counts its tiles), or from one 491.7 MB
	// matrix in this process, reused for all batches.
	var counts func(d *hessian.Dataset, progress hessian.ProgressFunc) ([]float64, error)
	if cf.distributed() {
		a, err := newAnalysisCluster(ctx, cf, stderr)
		if err != nil {
			return fmt.Errorf("spy: %w", err)
		}
		defer a.Close()
		where = workersNote(len(a.addrs))
		counts = func(d *hessian.Dataset, progress hessian.ProgressFunc) ([]float64, error) {
			return a.spyCounts(ctx, d, w, *eps, *cell, progress)
		}
	} else {
		var h []float64
		counts = func(d *hessian.Dataset, progress hessian.ProgressFunc) ([]float64, error) {
			if h == nil {
				h = make([]float64, n*n)
			}
			hessian.AssembleLower(h, hessian.NewCurvature(hessian.NewIndex(d), w), *eps, 0, progress)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			hessian.MirrorLower(h, n)
			return hessian.SpyTileCounts(h, n, n, n, *cell), nil
		}
	}
	for _, b := range batches {
		d, err := batchOf(train, b, df.seed)
		if err != nil {
			return err
		}
		frac, err := counts(d, prefixed(prog, fmt.Sprintf("n=%d", b)))
		if err != nil {
			return fmt.Errorf("spy: batch %d: %w", b, err)
		}
		var nnz float64
		for _, c := range frac {
			nnz += c
		}
		hessian.SpyNormalize(frac, n, n, *cell)
		g := (n + *cell - 1) / *cell
		path := filepath.Join(*out, fmt.Sprintf("spy_n%d.png", b))
		title := fmt.Sprintf("Hessian sparsity, %s, %s%s", batchLabel(b, df.seed), label, epsTitle(*eps))
		if err := plots.Spy(path, plots.SpyGrid{Rows: g, Cols: g, Scale: *cell, Count: frac}, title); err != nil {
			return fmt.Errorf("spy: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s: %d images, %.0f non-zeros of %d (%.2f%%), %d pixels lit; counted %s\n",
			path, b, nnz, n*n, 100*nnz/float64(n*n), hessian.PixelsLit(d), where)
	}
	return nil
}

// epsTitle adds the regularizer to a title when there is one.
func epsTitle(eps float64) string {
	if eps == 0 {
		return ""
	}
	return fmt.Sprintf(", + R (eps %g)", eps)
}
