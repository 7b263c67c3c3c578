package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/hessian-cluster/hess/hessian"
)

func init() {
	register("sgd", "the seed's baseline: minibatch gradient descent", runSGD)
}

func runSGD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sgd", "[flags]", stderr)
	var (
		df    dataFlags
		lr    = fs.Float64("lr", 0.5, "learning rate")
		batch = fs.Int("minibatch", 100, "images per gradient step")
		steps = fs.Int("steps", 1000, "gradient steps")
		eps   = fs.Float64("eps", 0, "weight of the Laplacian penalty (0: plain cross-entropy, as the seed)")
		init  = fs.String("init", "zeros", "initial weights: zeros or normal (stddev 0.1)")
		seed  = fs.Uint64("shuffle-seed", 1, "seed of the minibatch order and of --init normal")
		out   = fs.String("out", "", "write the final weights to this .npy file")
	)
	df.register(fs, "all")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !(*lr > 0) || *batch < 1 || *steps < 0 {
		return fmt.Errorf("sgd: --lr %v, --minibatch %d, --steps %d: want lr > 0, minibatch >= 1, steps >= 0", *lr, *batch, *steps)
	}
	if err := checkEps(*eps); err != nil {
		return err
	}
	train, test, err := df.load()
	if err != nil {
		return err
	}
	if *batch > train.Len() {
		return fmt.Errorf("sgd: --minibatch %d is larger than the %d training images", *batch, train.Len())
	}
	r := rand.New(rand.NewPCG(*seed, 2))
	w := make([]float64, hessian.Params)
	switch *init {
	case "zeros":
	case "normal":
		for i := range w {
			w[i] = 0.1 * r.NormFloat64()
		}
	default:
		return fmt.Errorf("sgd: --init %q: want zeros or normal", *init)
	}
	// Minibatches are consecutive slices of a shuffled order, reshuffled each epoch, as
	// the seed's mnist.train.next_batch does.
	perm := r.Perm(train.Len())
	pos := 0
	grad := make([]float64, hessian.Params)
	idx := make([]int, *batch)
	prog := newProgress(stderr)
	for step := range *steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range idx {
			if pos == len(perm) {
				perm, pos = r.Perm(train.Len()), 0
			}
			idx[i] = perm[pos]
			pos++
		}
		s := hessian.LossSums(w, train.Subset(idx), true)
		clear(grad)
		hessian.FinishEval(&s, w, *eps, grad)
		for i, g := range grad {
			w[i] -= *lr * g
		}
		prog.report("sgd", step+1, *steps)
	}
	s := hessian.LossSums(w, test, false)
	ev := hessian.FinishEval(&s, w, *eps, nil)
	fmt.Fprintf(stdout, "sgd: %d steps of %d images, lr %g, eps %g, init %s: test accuracy %.4f, test objective %.6f\n",
		*steps, *batch, *lr, *eps, *init, ev.TrainAcc, ev.Objective)
	if *out != "" {
		return hessian.WriteWeights(*out, w)
	}
	return nil
}
