package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/hessian-cluster/hess/hessian"
)

// dataFlags select the data set and the batch of a command.
type dataFlags struct {
	dir   string
	batch string
	seed  uint64
}

func (df *dataFlags) register(fs *flag.FlagSet, defBatch string) {
	fs.StringVar(&df.dir, "data", "", "folder with the four MNIST IDX files, gzip or raw (default: the GoMNIST module's data/ in the Go module cache)")
	fs.StringVar(&df.batch, "batch", defBatch, "training images to use: a count n (the first n, the seed's batches) or all")
	fs.Uint64Var(&df.seed, "seed", 0, "with --batch n: take a random sample of n images with this seed instead of the first n (0: the first n)")
}

// load reads the data set and cuts the training batch.
func (df *dataFlags) load() (train, test *hessian.Dataset, err error) {
	train, test, err = hessian.LoadMNIST(df.dir)
	if err != nil {
		return nil, nil, err
	}
	n, err := parseBatch(df.batch, train.Len())
	if err != nil {
		return nil, nil, err
	}
	switch {
	case n == train.Len() && df.seed == 0:
	case df.seed != 0:
		if train, err = train.Sample(n, df.seed); err != nil {
			return nil, nil, err
		}
	default:
		train = train.Slice(0, n)
	}
	return train, test, nil
}

// parseBatch reads a batch size: a positive count no larger than the data set, or "all".
func parseBatch(s string, total int) (int, error) {
	if s == "all" {
		return total, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--batch %q: want a positive count or all", s)
	}
	if n > total {
		return 0, fmt.Errorf("--batch %d: the training set has only %d images", n, total)
	}
	return n, nil
}

// parseBatches reads a comma-separated list of batch sizes.
func parseBatches(s string, total int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := parseBatch(strings.TrimSpace(f), total)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// checkEps refuses a penalty weight that is negative or not a number.
func checkEps(eps float64) error {
	if !(eps >= 0) || eps > 1e6 {
		return fmt.Errorf("--eps %v: want a number in [0, 1e6]", eps)
	}
	return nil
}
