package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/plots"
)

func init() {
	register("train", "regularized Newton training on MNIST (the main job)", runTrain)
}

// checkpoint is what --out keeps after every step and --resume continues from.
type checkpoint struct {
	Version  int                  `json:"version"`
	NextStep int                  `json:"next_step"`
	Eps      float64              `json:"eps"`
	Damping  float64              `json:"damping"`
	Batch    string               `json:"batch"`
	Seed     uint64               `json:"seed"`
	Data     string               `json:"data"`
	Steps    int                  `json:"steps"` // --steps and --tol of the run; a resume keeps them unless given again
	Tol      float64              `json:"tol"`
	Records  []hessian.StepRecord `json:"records"`
	Weights  []float64            `json:"weights"` // flat order v[10*j+k]; JSON keeps float64 exactly
}

const checkpointFile = "checkpoint.json"

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "[flags]", stderr)
	var (
		df      dataFlags
		cf      clusterFlags
		eps     = fs.Float64("eps", 0.001, "weight of the Laplacian penalty eps * sum_k ||L w_k||^2 (0: none; the Hessian is then singular)")
		damping = fs.Float64("damping", 0, "add tau * I to the Hessian (explicit damping, reported each step)")
		steps   = fs.Int("steps", 50, "Newton steps at most")
		tol     = fs.Float64("tol", 1e-9, "stop when the gradient norm is below this")
		out     = fs.String("out", "", "folder for weights.npy, the checkpoint after each step, and PNGs of the training curve and weights")
		resume  = fs.String("resume", "", "continue from the checkpoint in this folder (its settings are kept)")
		cont    = fs.Bool("continue", false, "with --out: continue from the checkpoint in --out if there is one, else start afresh (for jobs that are restarted)")
		jsonOut = fs.Bool("json", false, "print one JSON object per step instead of a table")
		level   = fs.String("log-level", "info", "log level: debug, info, warn, error")
	)
	df.register(fs, "all")
	cf.register(fs, 2)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	if err := checkEps(*eps); err != nil {
		return err
	}
	if !(*damping >= 0) {
		return fmt.Errorf("--damping %v: want >= 0", *damping)
	}
	if *steps < 0 {
		return fmt.Errorf("--steps %d: want >= 0", *steps)
	}
	if !(*tol > 0) {
		return fmt.Errorf("--tol %v: want > 0", *tol)
	}
	w := make([]float64, hessian.Params)
	var ck checkpoint
	if *cont {
		if *out == "" || *resume != "" {
			return fmt.Errorf("--continue needs --out and no --resume")
		}
		if _, err := os.Stat(filepath.Join(*out, checkpointFile)); err == nil {
			*resume = *out
		}
	}
	if *resume != "" {
		if ck, err = readCheckpoint(*resume); err != nil {
			return err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, same := range map[string]bool{"eps": *eps == ck.Eps, "damping": *damping == ck.Damping, "batch": df.batch == ck.Batch, "seed": df.seed == ck.Seed, "data": df.dir == ck.Data} {
			if set[name] && !same {
				return fmt.Errorf("--%s differs from the checkpoint in %s: a resumed run keeps its settings", name, *resume)
			}
		}
		*eps, *damping, df.batch, df.seed, df.dir = ck.Eps, ck.Damping, ck.Batch, ck.Seed, ck.Data
		if !set["steps"] && ck.Steps > 0 {
			*steps = ck.Steps
		}
		if !set["tol"] && ck.Tol > 0 {
			*tol = ck.Tol
		}
		copy(w, ck.Weights)
		done := converged(ck.Records)
		if n := len(ck.Records); n > 0 && ck.Records[n-1].Step == ck.NextStep {
			ck.Records = ck.Records[:n-1] // the final state's record (no step taken) is made again
		}
		if *out == "" {
			*out = *resume
		}
		logger.Info("resuming", "checkpoint", filepath.Join(*resume, checkpointFile), "step", ck.NextStep)
		if ck.NextStep >= *steps && !done {
			logger.Warn("the checkpoint's run has taken all its steps: give a larger --steps (the total, counted from step 0) to go on", "steps", *steps)
		}
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
	}
	train, test, err := df.load()
	if err != nil {
		return err
	}
	logger.Info("data", "train", train.Len(), "test", test.Len(), "eps", *eps, "blas", hessian.BLAS)
	prog := newProgress(stderr)
	prob, closeProb, err := newProblem(ctx, train, *eps, cf, logger, prog.report)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeProb(); err != nil {
			logger.Warn("ending the job on the workers", "err", err)
		}
	}()

	ck = checkpoint{Version: 1, Eps: *eps, Damping: *damping, Batch: df.batch, Seed: df.seed, Data: df.dir, Steps: *steps, Tol: *tol, Records: ck.Records}
	if !*jsonOut {
		fmt.Fprintf(stdout, "%4s  %-20s %-10s %-6s %-9s %-9s %-10s %-8s\n", "step", "objective", "grad_norm", "t", "train_acc", "test_acc", "assemble_s", "solve_s")
	}
	enc := json.NewEncoder(stdout)
	start := time.Now()
	res, err := hessian.Newton(ctx, prob, w, hessian.NewtonOptions{
		Tol:          *tol,
		MaxSteps:     *steps,
		Damping:      *damping,
		StartStep:    len(ck.Records),
		TestAccuracy: func(w []float64) float64 { return hessian.Accuracy(w, test) },
		OnStep: func(r hessian.StepRecord, w []float64) error {
			if *jsonOut {
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(stdout, "%4d  %-20.15g %-10.3e %-6.3g %-9.5f %-9.4f %-10.2f %-8.2f%s\n", r.Step, r.Objective, r.GradNorm, r.StepSize, r.TrainAcc, r.TestAcc, r.AssembleS, r.SolveS, stepNote(r))
			}
			ck.Records = append(ck.Records, r)
			ck.NextStep = r.Step + 1
			if r.StepSize == 0 { // the final state (converged or out of steps): no step was taken
				ck.NextStep = r.Step // a resumed run evaluates it again
			}
			ck.Weights = w
			if *out != "" {
				return writeCheckpoint(*out, &ck)
			}
			return nil
		},
	})
	if err != nil {
		if ctx.Err() != nil { // SIGINT or SIGTERM: the last completed step is checkpointed
			if *out == "" {
				return fmt.Errorf("train: interrupted at step %d (no --out, so nothing to resume from)", ck.NextStep)
			}
			return fmt.Errorf("train: interrupted; continue with: hess train --resume %s (from step %d)", *out, ck.NextStep)
		}
		return err
	}
	logger.Info("done", "steps", res.Steps, "converged", res.Converged, "objective", res.Final.Objective,
		"grad_norm", res.GradNorm, "test_acc", hessian.Accuracy(w, test), "seconds", time.Since(start).Seconds())
	if *out != "" {
		return writeTrainOutputs(*out, w, ck.Records, logger)
	}
	return nil
}

// converged reports whether the last of a run's records is a converged final state.
func converged(recs []hessian.StepRecord) bool {
	return len(recs) > 0 && recs[len(recs)-1].Converged
}

// stepNote flags what a user should notice about a step.
func stepNote(r hessian.StepRecord) string {
	switch {
	case r.Converged:
		return "  converged"
	case r.NoiseLevel:
		return "  (decrease at rounding level, full step taken)"
	case r.Damping > 0:
		return fmt.Sprintf("  (damping %g)", r.Damping)
	}
	return ""
}

// writeTrainOutputs writes the final weights and the pictures of a run.
func writeTrainOutputs(dir string, w []float64, recs []hessian.StepRecord, logger *slog.Logger) error {
	if err := hessian.WriteWeights(filepath.Join(dir, "weights.npy"), w); err != nil {
		return err
	}
	steps := make([]plots.Step, len(recs))
	for i, r := range recs {
		steps[i] = plots.Step{Step: r.Step, Objective: r.Objective, GradNorm: r.GradNorm, TestAcc: r.TestAcc}
	}
	if err := plots.TrainingCurve(filepath.Join(dir, "training.png"), steps); err != nil {
		return err
	}
	if err := plots.WeightImages(filepath.Join(dir, "weights.png"), w); err != nil {
		return err
	}
	logger.Info("wrote", "weights", filepath.Join(dir, "weights.npy"), "curve", filepath.Join(dir, "training.png"), "images", filepath.Join(dir, "weights.png"))
	return nil
}

// writeCheckpoint replaces dir/checkpoint.json atomically: a temporary file in the same
// folder, synced, then renamed over the old one, so a crash leaves the old or the new.
func writeCheckpoint(dir string, ck *checkpoint) error {
	b, err := json.Marshal(ck)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, checkpointFile), b)
}

// writeFileAtomic writes b to path through a synced temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// readCheckpoint reads and checks dir/checkpoint.json.
func readCheckpoint(dir string) (checkpoint, error) {
	path := filepath.Join(dir, checkpointFile)
	var ck checkpoint
	b, err := os.ReadFile(path)
	if err != nil {
		return ck, fmt.Errorf("--resume: %w", err)
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		return ck, fmt.Errorf("--resume: %s: %w", path, err)
	}
	if ck.Version != 1 {
		return ck, fmt.Errorf("--resume: %s: version %d, want 1", path, ck.Version)
	}
	if err := hessian.CheckWeights(ck.Weights); err != nil {
		return ck, fmt.Errorf("--resume: %s: %w", path, err)
	}
	if n := len(ck.Records); n != ck.NextStep && !(n == ck.NextStep+1 && ck.Records[n-1].Step == ck.NextStep) {
		return ck, fmt.Errorf("--resume: %s: %d step records for next step %d", path, len(ck.Records), ck.NextStep)
	}
	return ck, nil
}
