package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
)

// checkSpy compares the cluster's spy counts with want cell by cell: they are integers
// and must be equal.
func checkSpy(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d cells; want %d", len(got), len(want))
	}
	var nnz float64
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cell %d: %v non-zeros; want %v", i, got[i], want[i])
		}
		nnz += got[i]
	}
	t.Logf("%.0f non-zeros", nnz)
}

// TestClusterSpyCorner counts the non-zeros of the cornerSet Hessian on the workers and
// compares them with the counts of its trailing block assembled in one process, for
// cells that divide the tiles and cells that straddle them.
func TestClusterSpyCorner(t *testing.T) {
	d := cornerSet(4)
	w := randomWeights(11)
	const r0 = cornerPixel * hessian.Classes // a multiple of the cells below
	m := hessian.Params - r0
	block := make([]float64, m*m)
	hessian.NewCurvature(hessian.NewIndex(d), w).AddBlock(block, m, r0, m, r0, m, 1/float64(d.Len()))
	for i := range m { // keep the lower triangle, then mirror it
		clear(block[i*m+i+1 : (i+1)*m])
	}
	hessian.MirrorLower(block, m)
	lb := startWorkers(t, 2)
	c := newCluster(t, lb.Addrs, 300, 0, d)
	cells := []int{10, 16, 20}
	if testing.Short() {
		cells = []int{16} // straddles the tiles of 300
	}
	for _, cell := range cells {
		t.Run(fmt.Sprintf("cell=%d", cell), func(t *testing.T) {
			g := (hessian.Params + cell - 1) / cell
			want := make([]float64, g*g)
			bc := hessian.SpyTileCounts(block, m, m, m, cell)
			bg := (m + cell - 1) / cell
			for i := range bg {
				for j := range bg {
					want[(r0/cell+i)*g+r0/cell+j] = bc[i*bg+j]
				}
			}
			got, err := c.SpyCounts(t.Context(), w, 0, cell)
			if err != nil {
				t.Fatal(err)
			}
			checkSpy(t, got, want)
		})
	}
	if _, err := c.SpyCounts(t.Context(), w, 0, 3); err == nil {
		t.Error("SpyCounts with cells of 3 entries succeeded")
	}
}

// TestClusterSpyMatchLocal counts the non-zeros of real Hessians (with and without the
// penalty's band) on 2 and 3 workers and compares them with hessian.SpyTileCounts of
// the whole matrix assembled in one process, for cells that divide the tiles and cells
// that do not.
func TestClusterSpyMatchLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("assembles the 491.7 MB matrix in one process; TestClusterSpyCorner covers the race run")
	}
	train, _ := loadMNIST(t)
	w := randomWeights(3)
	d := train.Slice(0, 5)
	for _, tc := range []struct {
		workers, tile int
		eps           float64
	}{
		{2, 300, 0}, {3, 256, 0.001},
	} {
		t.Run(fmt.Sprintf("workers=%d/tile=%d/eps=%g", tc.workers, tc.tile, tc.eps), func(t *testing.T) {
			l, err := hessian.NewLocal(d, tc.eps)
			if err != nil {
				t.Fatal(err)
			}
			h := slices.Clone(l.Hessian(w, 0))
			for i := range hessian.Params {
				clear(h[i*hessian.Params+i+1 : (i+1)*hessian.Params])
			}
			hessian.MirrorLower(h, hessian.Params)
			lb := startWorkers(t, tc.workers)
			c := newCluster(t, lb.Addrs, tc.tile, tc.eps, d)
			for _, cell := range []int{10, 7} {
				got, err := c.SpyCounts(t.Context(), w, 0, cell)
				if err != nil {
					t.Fatal(err)
				}
				checkSpy(t, got, hessian.SpyTileCounts(h, hessian.Params, hessian.Params, hessian.Params, cell))
			}
			// The counts need the assembled tiles: after a factorization they are refused.
			if tc.eps > 0 {
				if _, err := c.Factor(t.Context()); err != nil {
					t.Fatal(err)
				}
				if _, err := c.countNonzeros(t.Context(), 10); status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
					t.Errorf("spy counts after Factor = %v; want FAILED_PRECONDITION", err)
				}
			}
		})
	}
}
