package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

// clusterFlags choose where the Newton system is assembled and solved.
type clusterFlags struct {
	Workers        string
	TileSize       int
	StartupTimeout time.Duration
	Metrics        string
	InProcess      int
}

func (cf *clusterFlags) register(fs *flag.FlagSet) {}

// newProblem is a placeholder until the cluster lands: the single-process reference.
func newProblem(ctx context.Context, train *hessian.Dataset, eps float64, cf clusterFlags, logger *slog.Logger) (hessian.Problem, func() error, error) {
	l, err := hessian.NewLocal(train, eps)
	return l, func() error { return nil }, err
}
