package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

func init() {
	register("rank", "numerical rank of the Hessian for batches of the first n images", runRank)
}

// gramMaxRows is the largest Gram matrix (10n rows) the automatic method picks: 3000 rows
// take seconds, against minutes for the dense 7840.
const gramMaxRows = 3000

// quietGramRows is the order below which a Gram matrix's eigenvalues take well under
// a second, too short for progress reports.
const quietGramRows = 1500

// eigensolver returns all eigenvalues, ascending, of the Hessian of the objective
// (H + 2 eps (L^T L) kron I) over the images of d at w. localEigenvalues is the
// single-process one; a distributed solver plugs in with the same signature, and rank
// and spectrum do the rest.
type eigensolver func(ctx context.Context, d *hessian.Dataset, w []float64, eps float64, progress hessian.ProgressFunc) ([]float64, error)

// spectrumFlags are the flags shared by rank and spectrum.
type spectrumFlags struct {
	df      dataFlags
	cf      clusterFlags
	weights *string
	eps     *float64
	method  *string
}

func (sf *spectrumFlags) register(fs *flag.FlagSet, defBatch, batchHelp string) {
	sf.df.register(fs, defBatch)
	if batchHelp != "" {
		fs.Lookup("batch").Usage = batchHelp
	}
	sf.cf.register(fs, 0)
	sf.weights = fs.String("weights", "zero", "weights: "+weightsSpecHelp)
	sf.eps = fs.Float64("eps", 0, "add R = 2 eps (L^T L) kron I of the Laplacian penalty (then only the dense method applies)")
	sf.method = fs.String("method", "", "gram (eigenvalues of the 10n x 10n Gram matrix, in this process; eps = 0, n <= 784) or dense (the 7840 x 7840 Hessian: on the workers with --workers or --in-process); default: gram when eps = 0, 10n <= 3000 and no workers, else dense")
}

// check validates the flags that do not need the data, and returns the weights.
func (sf *spectrumFlags) check(cmd string) (w []float64, label string, err error) {
	if err := checkEps(*sf.eps); err != nil {
		return nil, "", err
	}
	switch *sf.method {
	case "", "gram", "dense":
	default:
		return nil, "", fmt.Errorf("%s: --method %q: want gram or dense", cmd, *sf.method)
	}
	if *sf.method == "gram" && *sf.eps > 0 {
		return nil, "", fmt.Errorf("%s: --method gram with --eps %v: the Gram matrix holds the cross-entropy Hessian only (R is full rank); use --method dense", cmd, *sf.eps)
	}
	return loadWeights(*sf.weights)
}

// solverSetup is an eigensolver, where it runs and what stops it.
type solverSetup struct {
	solve   eigensolver
	workers int          // 0: in one process
	close   func() error // stops the workers it started
}

// newEigensolver returns the eigensolver the cluster flags ask for: with --workers or
// --in-process N > 0 the distributed one (assembly and tridiagonal reduction on the
// workers, coordinator.Cluster.Eigenvalues), else the single-process one. Tests
// replace it.
var newEigensolver = func(ctx context.Context, cmd string, cf clusterFlags, stderr io.Writer) (solverSetup, error) {
	if !cf.distributed() {
		return solverSetup{solve: (&localEigenvalues{}).solve, close: func() error { return nil }}, nil
	}
	a, err := newAnalysisCluster(ctx, cf, stderr)
	if err != nil {
		return solverSetup{}, fmt.Errorf("%s: %w", cmd, err)
	}
	return solverSetup{solve: a.eigenvalues, workers: len(a.addrs), close: a.Close}, nil
}

// methodFor returns the method for a batch of n images: the flag, else gram when the
// Gram trick applies and is small and the eigenvalues are not asked of workers (there
// the dense matrix never leaves them).
func methodFor(flagMethod string, n int, eps float64, distributed bool) string {
	if flagMethod != "" {
		return flagMethod
	}
	if !distributed && eps == 0 && hessian.Classes*n <= gramMaxRows {
		return "gram"
	}
	return "dense"
}

// localEigenvalues is the single-process eigensolver: the dense Hessian assembled in one
// 491.7 MB buffer, reused from call to call.
type localEigenvalues struct{ buf []float64 }

func (l *localEigenvalues) solve(ctx context.Context, d *hessian.Dataset, w []float64, eps float64, progress hessian.ProgressFunc) ([]float64, error) {
	if l.buf == nil {
		l.buf = make([]float64, hessian.Params*hessian.Params)
	}
	return hessian.HessianEigenvalues(ctx, l.buf, w, d, eps, progress)
}

// batchEigenvalues returns the eigenvalues, ascending, of the batch's Hessian by the
// method: with gram, the 10n eigenvalues of the Gram matrix (the Hessian's others are
// exactly zero); with dense, all 7840 from solve.
func batchEigenvalues(ctx context.Context, method string, solve eigensolver, d *hessian.Dataset, w []float64, eps float64, progress hessian.ProgressFunc) ([]float64, error) {
	if method == "gram" {
		if hessian.Classes*d.Len() < quietGramRows {
			progress = nil // done in a moment: no progress lines
		}
		return hessian.GramEigenvaluesContext(ctx, w, d, progress)
	}
	return solve(ctx, d, w, eps, progress)
}

// prefixed returns a progress function that names what it works on before the phase.
func prefixed(p *progress, what string) hessian.ProgressFunc {
	return func(phase string, done, total int) { p.report(what+" "+phase, done, total) }
}

// batchOf returns the first n training images, or a sample of n with the seed.
func batchOf(train *hessian.Dataset, n int, seed uint64) (*hessian.Dataset, error) {
	if seed != 0 {
		return train.Sample(n, seed)
	}
	return train.Slice(0, n), nil
}

// rankRow is one batch's line of hess rank --json.
type rankRow struct {
	Batch             int     `json:"batch"`
	Rank              int     `json:"rank"`
	Bound             int     `json:"bound"`
	RankX             int     `json:"rank_x"`
	Pixels            int     `json:"pixels"`
	LambdaMax         float64 `json:"lambda_max"`
	LambdaMin         float64 `json:"lambda_min"`
	LambdaMinAboveTol float64 `json:"lambda_min_above_tol"`
	LambdaMaxBelowTol float64 `json:"lambda_max_below_tol"`
	Tol               float64 `json:"tol"`
	Cond              float64 `json:"cond"`
	Eps               float64 `json:"eps"`
	Weights           string  `json:"weights"`
	Method            string  `json:"method"`
	Workers           int     `json:"workers"` // where dense eigenvalues ran: 0 in this process
	Seconds           float64 `json:"seconds"`
}

func runRank(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rank", "--batch 1,5,10,100,200 [flags]", stderr)
	var sf spectrumFlags
	sf.register(fs, "1,5,10,100,200", "comma-separated batch sizes: the first n training images each (or all)")
	var (
		tol     = fs.Float64("tol", 0, "count eigenvalues with |lambda| above this (0: lambda_max * 7840 * 2^-52, numpy's matrix_rank default)")
		jsonOut = fs.Bool("json", false, "print one JSON object per batch instead of a table")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !(*tol >= 0) {
		return fmt.Errorf("rank: --tol %v: want >= 0 (0 for the default)", *tol)
	}
	w, label, err := sf.check("rank")
	if err != nil {
		return err
	}
	setup, err := newEigensolver(ctx, "rank", sf.cf, stderr)
	if err != nil {
		return err
	}
	defer setup.close()
	distributed := sf.cf.distributed()
	train, _, err := hessian.LoadMNIST(sf.df.dir)
	if err != nil {
		return err
	}
	batches, err := parseBatches(sf.df.batch, train.Len())
	if err != nil {
		return err
	}
	for _, n := range batches {
		if m := methodFor(*sf.method, n, *sf.eps, distributed); m == "gram" && n > hessian.MaxGramImages {
			return fmt.Errorf("rank: --method gram with --batch %d: the Gram matrix is 10n x 10n, bigger than the Hessian beyond %d images; use --method dense", n, hessian.MaxGramImages)
		}
	}

	prog := newProgress(stderr)
	enc := json.NewEncoder(stdout)
	if !*jsonOut {
		rule := "lambda_max * 7840 * 2^-52"
		if *tol > 0 {
			rule = fmt.Sprintf("%g (--tol)", *tol)
		}
		fmt.Fprintf(stdout, "Hessian of the mean cross-entropy%s at %s; rank = #{|lambda| > tol}, tol = %s; %s\n",
			epsNote(*sf.eps), label, rule, methodNote(setup.workers))
		fmt.Fprintf(stdout, "%6s %6s %9s %6s %12s %15s %15s %11s %10s %6s %8s\n",
			"batch", "rank", "9rank(X)", "pixels", "lambda_max", "min|l|>tol", "max|l|<=tol", "cond", "tol", "method", "seconds")
	}
	for _, n := range batches {
		d, err := batchOf(train, n, sf.df.seed)
		if err != nil {
			return err
		}
		method := methodFor(*sf.method, n, *sf.eps, distributed)
		start := time.Now()
		eigs, err := batchEigenvalues(ctx, method, setup.solve, d, w, *sf.eps, prefixed(prog, fmt.Sprintf("n=%d", n)))
		if err != nil {
			return fmt.Errorf("rank: batch %d: %w", n, err)
		}
		t := *tol
		if t == 0 {
			t = hessian.DefaultTol(hessian.MaxAbs(eigs))
		}
		r := hessian.Rank(eigs, t)
		r.Batch, r.RankX, r.Pixels = n, hessian.MatrixRankX(d), hessian.PixelsLit(d)
		r.Bound = 9 * r.RankX
		row := rankRow{Batch: r.Batch, Rank: r.Rank, Bound: r.Bound, RankX: r.RankX, Pixels: r.Pixels,
			LambdaMax: r.LambdaMax, LambdaMin: r.LambdaMin, LambdaMinAboveTol: r.LambdaMinAboveTol,
			LambdaMaxBelowTol: r.LambdaMaxBelowTol, Tol: r.Tol, Cond: r.Cond,
			Eps: *sf.eps, Weights: label, Method: method, Seconds: time.Since(start).Seconds()}
		if method == "dense" {
			row.Workers = setup.workers
		}
		if *jsonOut {
			if err := enc.Encode(row); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%6d %6d %9d %6d %12.6g %15.6g %15.3g %11.4g %10.3g %6s %8.2f\n",
			row.Batch, row.Rank, row.Bound, row.Pixels, row.LambdaMax, row.LambdaMinAboveTol,
			row.LambdaMaxBelowTol, row.Cond, row.Tol, row.Method, row.Seconds)
	}
	return nil
}

// epsNote describes the regularizer in a heading.
func epsNote(eps float64) string {
	if eps == 0 {
		return ""
	}
	return fmt.Sprintf(" + R (Laplacian penalty, eps %g; 9 rank(X) bounds the cross-entropy part alone)", eps)
}

// methodNote says in the table's heading how the eigenvalues are found: on workers always
// densely, in one process by the method column of each row.
func methodNote(workers int) string {
	if workers > 0 {
		return "dense eigenvalues " + workersNote(workers)
	}
	return "eigenvalues in one process, of the 10n x 10n Gram matrix (method gram) or of the Hessian (dense)"
}
