package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
)

// clusterCase is one layout of the equality test.
type clusterCase struct {
	workers, tile, batch int
	factor               bool // also factor and solve (the expensive part)
}

// equalityCases crosses worker counts 1..4 with tile sizes 128, 256, 300 and 1024
// (300 does not divide 7840, 1024 leaves a narrow last tile; 3 workers give a 1x3 grid,
// 4 a 2x2 one) and rotates the batches 1, 5, 200 and 60000 through them, so that every
// worker count and every tile size meets every batch. With -short (the race run) a
// subset is kept, and only one case factors.
func equalityCases(short bool) []clusterCase {
	tiles := []int{128, 256, 300, 1024}
	batches := []int{1, 5, 200, 60000}
	var out []clusterCase
	for i, p := range []int{1, 2, 3, 4} {
		for j, ts := range tiles {
			out = append(out, clusterCase{workers: p, tile: ts, batch: batches[(i+j)%len(batches)], factor: true})
		}
	}
	// By batch, so that one single-process reference (a 491.7 MB Hessian) is alive at a
	// time.
	slices.SortStableFunc(out, func(a, b clusterCase) int { return cmp.Compare(a.batch, b.batch) })
	if short {
		out = []clusterCase{
			{workers: 3, tile: 1024, batch: 5, factor: true},
			{workers: 4, tile: 300, batch: 200},
			{workers: 2, tile: 128, batch: 1},
		}
	}
	return out
}

// TestClusterMatchesLocal checks the distributed objective, gradient, Hessian tiles and
// Newton direction against the single-process reference (hessian.Local) to 1e-10
// relative, over real loopback gRPC.
func TestClusterMatchesLocal(t *testing.T) {
	train, _ := loadMNIST(t)
	const eps = 0.001
	ctx := t.Context()
	w := randomWeights(7)
	type reference struct {
		ev   hessian.Eval
		grad []float64
		h    []float64 // lower triangle of H + R
		dir  []float64
	}
	var last *reference
	lastBatch := -1
	// The single-process reference of a batch, computed once (the cases come by batch).
	ref := func(t *testing.T, batch int, factor bool) *reference {
		if r := last; batch == lastBatch && r != nil && (r.dir != nil || !factor) {
			return r
		}
		last = nil // free the previous batch's Hessian first
		l, err := hessian.NewLocal(train.Slice(0, batch), eps)
		if err != nil {
			t.Fatal(err)
		}
		r := &reference{grad: make([]float64, hessian.Params)}
		if r.ev, err = l.Evaluate(ctx, w, r.grad); err != nil {
			t.Fatal(err)
		}
		r.h = append([]float64(nil), l.Hessian(w, 0)...)
		if factor {
			r.dir = make([]float64, hessian.Params)
			if _, err := l.Direction(ctx, w, r.grad, r.dir, 0); err != nil {
				t.Fatal(err)
			}
		}
		last, lastBatch = r, batch
		return r
	}
	for _, tc := range equalityCases(testing.Short()) {
		t.Run(fmt.Sprintf("workers=%d/tile=%d/batch=%d", tc.workers, tc.tile, tc.batch), func(t *testing.T) {
			want := ref(t, tc.batch, tc.factor)
			lb := startWorkers(t, tc.workers)
			c := newCluster(t, lb.Addrs, tc.tile, eps, train.Slice(0, tc.batch))
			grad := make([]float64, hessian.Params)
			ev, err := c.Evaluate(ctx, w, grad)
			if err != nil {
				t.Fatal(err)
			}
			if d := relDiff([]float64{ev.Objective, ev.CE, ev.Penalty}, []float64{want.ev.Objective, want.ev.CE, want.ev.Penalty}); d > 1e-10 {
				t.Errorf("objective %v, want %v (relative difference %.3g)", ev, want.ev, d)
			}
			if ev.TrainAcc != want.ev.TrainAcc {
				t.Errorf("train accuracy %v, want %v", ev.TrainAcc, want.ev.TrainAcc)
			}
			if d := relDiff(grad, want.grad); d > 1e-10 {
				t.Errorf("gradient: relative difference %.3g > 1e-10", d)
			}

			if err := c.Assemble(ctx, w, 0); err != nil {
				t.Fatal(err)
			}
			checkTiles(t, c, want.h)
			if !tc.factor {
				return
			}
			// The same right-hand side as the reference: the gradients differ by
			// rounding (shards are summed in another order), and cond(H + R) = 2e6
			// would carry that into the directions.
			dir := make([]float64, hessian.Params)
			for i, g := range want.grad {
				dir[i] = -g
			}
			if _, err := c.Factor(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Solve(ctx, dir); err != nil {
				t.Fatal(err)
			}
			// The contract is 1e-10. Both solvers refine once with a residual to twice
			// the working precision, which takes them to rounding (0 to 1e-15 here,
			// against up to 5e-11 unrefined at cond(H + R) = 2e6): 1e-12 catches a
			// refinement that stopped working.
			if d := relDiff(dir, want.dir); d > 1e-12 {
				t.Errorf("Newton direction: relative difference %.3g > 1e-12", d)
			} else {
				t.Logf("Newton direction: relative difference %.3g", d)
			}
		})
	}
}

// checkTiles fetches every tile of the assembled matrix and compares it with the lower
// triangle of the reference (row-major Params x Params), normwise over the matrix.
func checkTiles(t *testing.T, c *Cluster, h []float64) {
	t.Helper()
	p := c.Plan()
	var hmax float64
	for i := range hessian.Params {
		for j := 0; j <= i; j++ {
			hmax = max(hmax, abs(h[i*hessian.Params+j]))
		}
	}
	var worst float64
	var at clusterplan.Tile
	for ti := range p.Tiles() {
		for tj := 0; tj <= ti; tj++ {
			tile, err := c.FetchTile(t.Context(), clusterplan.Tile{I: ti, J: tj})
			if err != nil {
				t.Fatal(err)
			}
			r0, m := p.Span(ti)
			c0, n := p.Span(tj)
			for i := range m {
				for j := range n {
					if c0+j > r0+i {
						continue // above the diagonal: the reference leaves it alone
					}
					if d := abs(tile[i*n+j]-h[(r0+i)*hessian.Params+c0+j]) / hmax; d > worst {
						worst, at = d, clusterplan.Tile{I: ti, J: tj}
					}
				}
			}
		}
	}
	if worst > 1e-10 {
		t.Errorf("Hessian tiles: relative difference %.3g > 1e-10 (tile %v)", worst, at)
	} else {
		t.Logf("Hessian tiles: largest relative difference %.3g", worst)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestClusterNotPositiveDefinite factors the cross-entropy Hessian without the penalty:
// it is singular, and the error names the global column and the tile, as the
// single-process factorization does.
func TestClusterNotPositiveDefinite(t *testing.T) {
	train, _ := loadMNIST(t)
	lb := startWorkers(t, 2)
	c := newCluster(t, lb.Addrs, 1024, 0, train.Slice(0, 5))
	ctx := t.Context()
	if err := c.Assemble(ctx, make([]float64, hessian.Params), 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.Factor(ctx)
	var pe *hessian.PivotError
	if !errors.As(err, &pe) || !errors.Is(err, hessian.ErrNotPositiveDefinite) {
		t.Fatalf("Factor = %v; want a *hessian.PivotError", err)
	}
	// The first pixels are unlit in every image: the first pivot, column 0, is zero.
	if pe.Column != 0 || pe.Tile != "(0,0)" {
		t.Errorf("pivot error at column %d, tile %q; want column 0, tile (0,0): %v", pe.Column, pe.Tile, err)
	}
	// Solving after a failed factorization is refused, never answered with garbage.
	if err := c.Solve(ctx, make([]float64, hessian.Params)); err == nil {
		t.Error("Solve after a failed Factor succeeded")
	}
}

// TestClusterNewtonSmallBatch trains on 200 images on 3 workers and on one process: the
// same steps, the same optimum.
func TestClusterNewtonSmallBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("several factorizations of 7840; run without -short")
	}
	train, _ := loadMNIST(t)
	batch := train.Slice(0, 200)
	lb := startWorkers(t, 3)
	c := newCluster(t, lb.Addrs, 0, 0.001, batch)
	l, err := hessian.NewLocal(batch, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	run := func(p hessian.Problem) ([]hessian.StepRecord, []float64) {
		var recs []hessian.StepRecord
		w := make([]float64, hessian.Params)
		_, err := hessian.Newton(context.Background(), p, w, hessian.NewtonOptions{MaxSteps: 4,
			OnStep: func(r hessian.StepRecord, _ []float64) error { recs = append(recs, r); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		return recs, w
	}
	got, wGot := run(c)
	want, wWant := run(l)
	if len(got) != len(want) {
		t.Fatalf("%d steps on the cluster, %d in one process", len(got), len(want))
	}
	for i := range got {
		if d := relDiff([]float64{got[i].Objective}, []float64{want[i].Objective}); d > 1e-10 {
			t.Errorf("step %d: objective %.17g, want %.17g", i, got[i].Objective, want[i].Objective)
		}
		if i < len(got)-1 && (got[i].BytesSent == 0 || got[i].BytesReceived == 0) {
			t.Errorf("step %d: bytes sent %d, received %d; want both counted", i, got[i].BytesSent, got[i].BytesReceived)
		}
	}
	if d := relDiff(wGot, wWant); d > 1e-10 {
		t.Errorf("weights after %d steps: relative difference %.3g", len(got)-1, d)
	}
	// The tiles the workers sent each other equal the layout's lower bound.
	tiles, bytes := c.Plan().FactorTraffic()
	if got[0].PeerTiles != tiles || got[0].PeerBytes != bytes {
		t.Errorf("step 0 moved %d tiles (%d bytes) between workers; the layout needs %d (%d bytes)", got[0].PeerTiles, got[0].PeerBytes, tiles, bytes)
	}
}
