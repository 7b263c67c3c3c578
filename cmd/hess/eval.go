package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hessian-cluster/hess/hessian"
)

func init() {
	register("eval", "accuracy and objective of saved weights", runEval)
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "--weights SPEC [flags]", stderr)
	var (
		df      dataFlags
		weights = fs.String("weights", "", "the weights to evaluate: "+weightsSpecHelp+" (required)")
		eps     = fs.Float64("eps", 0.001, "weight of the Laplacian penalty in the reported objective")
	)
	df.register(fs, "all")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *weights == "" {
		fs.Usage()
		return fmt.Errorf("eval: --weights is required")
	}
	if err := checkEps(*eps); err != nil {
		return err
	}
	w, _, err := loadWeights(*weights)
	if err != nil {
		return err
	}
	train, test, err := df.load()
	if err != nil {
		return err
	}
	for _, set := range []struct {
		name string
		d    *hessian.Dataset
	}{{"train", train}, {"test", test}} {
		s := hessian.LossSums(w, set.d, false)
		ev := hessian.FinishEval(&s, w, *eps, nil)
		fmt.Fprintf(stdout, "%-5s %6d images: accuracy %.4f, cross-entropy %.12g, objective (eps %g) %.15g\n",
			set.name, set.d.Len(), ev.TrainAcc, ev.CE, *eps, ev.Objective)
	}
	return nil
}
