package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hessian-cluster/hess/hessian"
)

func init() {
	register("hessian", "write the exact Hessian of the objective as a .npy", runHessian)
}

func runHessian(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hessian", "--batch N --out H.npy [flags]", stderr)
	var (
		df      dataFlags
		weights = fs.String("weights", "zero", "weights: "+weightsSpecHelp)
		eps     = fs.Float64("eps", 0, "include R = 2 eps (L^T L) kron I of the Laplacian penalty")
		out     = fs.String("out", "", "output .npy: float64, C order, 7840 x 7840 (491.7 MB) (required)")
	)
	df.register(fs, "5")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("hessian: --out is required")
	}
	if err := checkEps(*eps); err != nil {
		return err
	}
	w, _, err := loadWeights(*weights)
	if err != nil {
		return err
	}
	train, _, err := df.load()
	if err != nil {
		return err
	}
	l, err := hessian.NewLocal(train, *eps)
	if err != nil {
		return err
	}
	prog := newProgress(stderr)
	l.Progress = prog.report
	h := l.Hessian(w, 0)
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	n := hessian.Params
	err = hessian.WriteMatrixNPY(bw, n, n, func(i int, dst []float64) {
		copy(dst[:i+1], h[i*n:i*n+i+1])
		for j := i + 1; j < n; j++ {
			dst[j] = h[j*n+i] // the upper triangle mirrors the lower
		}
		prog.report("write", i+1, n)
	})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: Hessian of %d images (eps %g), %d x %d float64\n", *out, train.Len(), *eps, n, n)
	return nil
}
