package hessian

import (
	"fmt"
	"math"
	"testing"
)

func TestAssembleLowerMatchesDefinition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n       int
		density float64
		sd      float64
	}{{1, 0.2, 0}, {5, 0.2, 0.1}, {7, 0.05, 1}, {3, 0.9, 0.3}} {
		t.Run(fmt.Sprintf("n=%d,density=%g,sd=%g", tc.n, tc.density, tc.sd), func(t *testing.T) {
			d := randomDataset(tc.n, tc.density, uint64(tc.n))
			w := randomWeights(tc.sd, 3)
			want := naiveHessian(w, d)
			got := make([]float64, Params*Params)
			AssembleLower(got, NewCurvature(NewIndex(d), w), 0, 0, nil)
			MirrorLower(got, Params)
			diff, scale := maxAbsDiff(got, want)
			if diff > 1e-15*scale {
				t.Errorf("max |H - naive| = %.3g (max |H| = %.3g)", diff, scale)
			}
		})
	}
}

func TestAddBlockAnyRectangle(t *testing.T) {
	t.Parallel()
	d := randomDataset(6, 0.3, 9)
	w := randomWeights(0.2, 4)
	want := naiveHessian(w, d)
	c := NewCurvature(NewIndex(d), w)
	// Blocks that cut pixels (10 parameters) anywhere, cross the diagonal, or are larger
	// than the 24-pixel accumulator.
	for _, b := range [][4]int{{0, 7840, 0, 7840}, {123, 77, 45, 300}, {7839, 1, 0, 7840}, {300, 300, 300, 300}, {1005, 1, 1005, 1}, {2560, 1024, 0, 1024}, {7000, 840, 7500, 340}} {
		r0, m, c0, n := b[0], b[1], b[2], b[3]
		ld := n + 3
		dst := make([]float64, m*ld)
		for i := range dst {
			dst[i] = 1 // AddBlock adds
		}
		c.AddBlock(dst, ld, r0, m, c0, n, 2/float64(d.Len()))
		var diff, scale float64
		for i := range m {
			for j := range n {
				diff = max(diff, math.Abs(dst[i*ld+j]-1-2*want[(r0+i)*Params+c0+j]))
				scale = max(scale, math.Abs(want[(r0+i)*Params+c0+j]))
			}
			for j := n; j < ld && i*ld+j < len(dst); j++ {
				if dst[i*ld+j] != 1 {
					t.Fatalf("block %v wrote outside its columns at (%d,%d)", b, i, j)
				}
			}
		}
		if diff > 1e-15+1e-14*scale { // dst starts at 1: rounding of 1+x is 1.1e-16
			t.Errorf("block %v: max diff %.3g (scale %.3g)", b, diff, scale)
		}
	}
}

func TestBucketMaskAndRange(t *testing.T) {
	t.Parallel()
	d := randomDataset(20, 0.25, 5)
	x := NewIndex(d)
	for s := range d.Len() {
		pix, _ := d.Image(s)
		for _, r := range [][2]int{{0, 784}, {0, 1}, {15, 17}, {16, 32}, {100, 700}, {783, 784}, {500, 501}} {
			lo, hi := x.rangeOf(s, r[0], r[1])
			var want []uint16
			for _, j := range pix {
				if int(j) >= r[0] && int(j) < r[1] {
					want = append(want, j)
				}
			}
			got := d.Pixel[lo:hi]
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("image %d range %v: got %v want %v", s, r, got, want)
			}
			if len(want) > 0 && x.mask[s]&bucketMask(r[0], r[1]) == 0 {
				t.Fatalf("image %d range %v: mask says empty", s, r)
			}
		}
	}
	if got := bucketMask(0, 784); got != 1<<49-1 {
		t.Errorf("bucketMask(0,784) = %b", got)
	}
	if got := bucketMask(16, 48); got != 0b110 {
		t.Errorf("bucketMask(16,48) = %b", got)
	}
}
