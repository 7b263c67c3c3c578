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

// TestAddBlockAnyRectangle checks blocks of every kind against the dense definition,
// with each kernel. It selects kernels, so it does not run in parallel.
func TestAddBlockAnyRectangle(t *testing.T) {
	d := randomDataset(6, 0.3, 9)
	w := randomWeights(0.2, 4)
	want := naiveHessian(w, d)
	c := NewCurvature(NewIndex(d), w)
	// Blocks that cut pixels (10 parameters) anywhere, cut cells (24 pixels, 240
	// parameters) anywhere, cross the diagonal, are larger than a cell, or are one entry.
	blocks := [][4]int{
		{0, 7840, 0, 7840}, {123, 77, 45, 300}, {7839, 1, 0, 7840}, {300, 300, 300, 300},
		{1005, 1, 1005, 1}, {2560, 1024, 0, 1024}, {7000, 840, 7500, 340}, {235, 10, 235, 10},
		{230, 260, 470, 25}, {4801, 479, 4801, 479}, {0, 1, 7839, 1},
	}
	for _, asm := range kernels() {
		for _, b := range blocks {
			r0, m, c0, n := b[0], b[1], b[2], b[3]
			ld := n + 3
			dst := make([]float64, m*ld)
			for i := range dst {
				dst[i] = 1 // AddBlock adds
			}
			withKernel(asm, func() { c.AddBlock(dst, ld, r0, m, c0, n, 2/float64(d.Len())) })
			var diff, scale float64
			for i := range m {
				for j := range n {
					diff = max(diff, math.Abs(dst[i*ld+j]-1-2*want[(r0+i)*Params+c0+j]))
					scale = max(scale, math.Abs(want[(r0+i)*Params+c0+j]))
				}
				for j := n; j < ld && i*ld+j < len(dst); j++ {
					if dst[i*ld+j] != 1 {
						t.Fatalf("%s: block %v wrote outside its columns at (%d,%d)", kernelName(asm), b, i, j)
					}
				}
			}
			if diff > 1e-15+1e-14*scale { // dst starts at 1: rounding of 1+x is 1.1e-16
				t.Errorf("%s: block %v: max diff %.3g (scale %.3g)", kernelName(asm), b, diff, scale)
			}
		}
	}
}

// TestIndexStreams checks the cell streams of an Index against the images they come from.
func TestIndexStreams(t *testing.T) {
	t.Parallel()
	d := randomDataset(30, 0.25, 5)
	x := NewIndex(d)
	for g := range cells {
		c := &x.cells[g]
		if len(c.start) != len(c.img)+1 && len(c.img) > 0 {
			t.Fatalf("cell %d: %d offsets for %d images", g, len(c.start), len(c.img))
		}
		next := 0 // position in c.img
		for s := range d.Len() {
			pix, val := d.Image(s)
			var wantPix, wantVal []uint8
			for i, j := range pix {
				if int(j)/cellPixels == g {
					wantPix = append(wantPix, uint8(int(j)-g*cellPixels))
					wantVal = append(wantVal, val[i])
				}
			}
			if len(wantPix) == 0 {
				if next < len(c.img) && int(c.img[next]) == s {
					t.Fatalf("cell %d lists image %d, which lights none of its pixels", g, s)
				}
				continue
			}
			if next >= len(c.img) || int(c.img[next]) != s {
				t.Fatalf("cell %d does not list image %d at position %d", g, s, next)
			}
			gotPix, gotVal := c.image(next)
			if fmt.Sprint(gotPix, gotVal) != fmt.Sprint(wantPix, wantVal) {
				t.Fatalf("cell %d image %d: pixels %v values %v; want %v %v", g, s, gotPix, gotVal, wantPix, wantVal)
			}
			next++
		}
		if next != len(c.img) {
			t.Fatalf("cell %d lists %d images; want %d", g, len(c.img), next)
		}
	}
}
