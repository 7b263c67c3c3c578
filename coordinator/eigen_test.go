package coordinator

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
)

// cornerPixel is the first pixel that cornerSet lights: the images light pixels 736..783
// only (the last four rows of the image), so the Hessian is zero outside its trailing
// block of params 7360..7839.
const cornerPixel = 736

// cornerSet returns n synthetic images that light some of the pixels from cornerPixel
// on, different ones in each image.
func cornerSet(n int) *hessian.Dataset {
	b := hessian.NewBuilder(n)
	for s := range n {
		raw := make([]uint8, hessian.Pixels)
		for j := cornerPixel + s%3; j < hessian.Pixels; j += 1 + (j+s)%4 {
			raw[j] = uint8(30 + (7*j+s)%220)
		}
		b.AddDense(uint8(s%hessian.Classes), raw)
	}
	return b.Dataset()
}

// cornerEigenvalues returns the eigenvalues of the Hessian of a cornerSet batch at w
// (eps = 0) in one process: its trailing block assembled alone, hessian.EigenvaluesSym,
// and the exact zeros of the rest.
func cornerEigenvalues(t *testing.T, d *hessian.Dataset, w []float64) []float64 {
	t.Helper()
	const r0 = cornerPixel * hessian.Classes
	m := hessian.Params - r0
	block := make([]float64, m*m)
	hessian.NewCurvature(hessian.NewIndex(d), w).AddBlock(block, m, r0, m, r0, m, 1/float64(d.Len()))
	eigs, err := hessian.EigenvaluesSym(block, m)
	if err != nil {
		t.Fatal(err)
	}
	eigs = append(eigs, make([]float64, r0)...)
	slices.Sort(eigs)
	return eigs
}

// localEigenvalues caches the single-process eigenvalues of the Hessian of the first n
// training images at randomWeights(3), by eps: 7840 x 7840 eigenvalues take a minute.
var localEigenvalues = struct {
	mu sync.Mutex // protects m
	m  map[[2]float64][]float64
}{m: map[[2]float64][]float64{}}

func mnistEigenvalues(t *testing.T, n int, eps float64) []float64 {
	t.Helper()
	localEigenvalues.mu.Lock()
	defer localEigenvalues.mu.Unlock()
	key := [2]float64{float64(n), eps}
	if e := localEigenvalues.m[key]; e != nil {
		return e
	}
	train, _ := loadMNIST(t)
	e, err := hessian.HessianEigenvalues(t.Context(), nil, randomWeights(3), train.Slice(0, n), eps, nil)
	if err != nil {
		t.Fatal(err)
	}
	localEigenvalues.m[key] = e
	return e
}

// checkEigenvalues compares two ascending spectra entry by entry to tol * lambda_max.
func checkEigenvalues(t *testing.T, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d eigenvalues; want %d", len(got), len(want))
	}
	if !slices.IsSorted(got) {
		t.Error("eigenvalues are not in ascending order")
	}
	lmax := hessian.MaxAbs(want)
	var worst float64
	at := 0
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= worst) {
			worst, at = d, i
		}
	}
	if !(worst <= tol*lmax) {
		t.Errorf("eigenvalue %d = %.17g; want %.17g: difference %.3g lambda_max > %g", at, got[at], want[at], worst/lmax, tol)
	} else {
		t.Logf("largest difference %.3g lambda_max (eigenvalue %d), lambda_max %.6g", worst/lmax, at, lmax)
	}
}

// TestClusterEigenvaluesCorner runs the distributed reduction on a Hessian that is zero
// outside its trailing 480 x 480 block (cheap enough for the race run) and checks the
// eigenvalues against the single-process solver, the refusals that protect the destroyed
// tiles, and that a second run (which assembles again) gives the same numbers bit for
// bit.
func TestClusterEigenvaluesCorner(t *testing.T) {
	d := cornerSet(6)
	w := randomWeights(5)
	want := cornerEigenvalues(t, d, w)
	lb := startWorkers(t, 3)
	c := newCluster(t, lb.Addrs, 300, 0, d)
	ctx := t.Context()
	var reports int
	got, err := c.Eigenvalues(ctx, w, 0, func(phase string, done, total int) {
		if phase != "eigenvalues" || done > total {
			t.Errorf("progress %q %d/%d", phase, done, total)
		}
		reports++
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEigenvalues(t, got, want, 1e-9)
	if reports < 2 {
		t.Errorf("%d progress reports; want several", reports)
	}

	// The tiles are destroyed: no factorization, no second reduction, no spy counts.
	_, err = c.Factor(ctx)
	if status.Code(errors.Unwrap(err)) != codes.FailedPrecondition || !strings.Contains(err.Error(), "tridiagonal reduction") {
		t.Errorf("Factor after Eigenvalues = %v; want FAILED_PRECONDITION naming the reduction", err)
	}
	if _, err := c.reduce(ctx, nil); status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
		t.Errorf("a second reduction of the same assembly = %v; want FAILED_PRECONDITION", err)
	}
	if _, err := c.countNonzeros(ctx, 10); status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
		t.Errorf("spy counts after the reduction = %v; want FAILED_PRECONDITION", err)
	}
	// Eigenvalues assembles again: the same numbers, bit for bit.
	again, err := c.Eigenvalues(ctx, w, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, got) {
		t.Error("a second reduction of the same matrix gave other eigenvalues")
	}
}

// TestClusterEigenvaluesMatchLocal checks the distributed eigenvalues against the
// single-process ones (hessian.HessianEigenvalues: dense assembly, restriction to the
// lit pixels when eps = 0, the blocked LAPACK-style reduction) to 1e-9 lambda_max on
// real MNIST: the first image's Hessian (1660 non-zero rows among 7840) on 1 to 4
// workers and tile sizes that do and do not divide 7840, and the full-rank H + R of
// five images on two workers.
func TestClusterEigenvaluesMatchLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("7840 x 7840 reductions take seconds to minutes; TestClusterEigenvaluesCorner covers the race run")
	}
	train, _ := loadMNIST(t)
	w := randomWeights(3)
	for _, tc := range []struct {
		workers, tile, batch int
		eps                  float64
	}{
		{1, 1024, 1, 0}, {1, 300, 1, 0},
		{2, 128, 1, 0}, {2, 300, 1, 0},
		{3, 256, 1, 0}, {3, 1024, 1, 0},
		{4, 300, 1, 0}, {4, 128, 1, 0},
		{2, 300, 5, 0.001},
	} {
		t.Run(fmt.Sprintf("workers=%d/tile=%d/batch=%d/eps=%g", tc.workers, tc.tile, tc.batch, tc.eps), func(t *testing.T) {
			want := mnistEigenvalues(t, tc.batch, tc.eps)
			lb := startWorkers(t, tc.workers)
			c := newCluster(t, lb.Addrs, tc.tile, tc.eps, train.Slice(0, tc.batch))
			got, err := c.Eigenvalues(t.Context(), w, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkEigenvalues(t, got, want, 1e-9)
		})
	}
}
