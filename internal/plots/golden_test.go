package plots

import (
	"image"
	"image/draw"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Golden images are compared pixel by pixel: a pixel differs when one of its
// channels differs by more than goldenLevel, and the test fails when more than
// goldenFrac of the pixels differ, which leaves room for small changes in font
// rasterization but not for a moved, missing or recoloured element.
const (
	goldenLevel = 16
	goldenFrac  = 0.005
)

// goldenSpyGrid is the block pattern of a Hessian for a batch of three
// synthetic images: block (j, j') is non-zero when some image has both pixels
// j and j' non-zero, so the 784 x 784 grid of 10 x 10 blocks has fractions 0
// or 1. Border pixels are zero in every image.
func goldenSpyGrid() SpyGrid {
	rng := rand.New(rand.NewPCG(5, 6))
	g := SpyGrid{Rows: pixels, Cols: pixels, Scale: classes, Count: make([]float64, pixels*pixels)}
	for range 3 {
		var on []int
		for j := range pixels {
			r, c := j/side, j%side
			dr, dc := float64(r)-13.5, float64(c)-13.5
			if dr*dr/90+dc*dc/40 < 1 && rng.Float64() < 0.3 {
				on = append(on, j)
			}
		}
		for _, a := range on {
			for _, b := range on {
				g.Count[a*pixels+b] = 1
			}
		}
	}
	return g
}

// goldenWeights has a Gaussian blob in each image, moving from the top left
// (class 0) to the bottom right (class 9), on a gentle left-to-right ramp, and
// a bright vertical bar on the right of image 3.
func goldenWeights() []float64 {
	w := make([]float64, params)
	for j := range pixels {
		r, c := float64(j/side), float64(j%side)
		for k := range classes {
			br, bc := 4+2*float64(k), 4+2*float64(k)
			w[classes*j+k] = math.Exp(-((r-br)*(r-br)+(c-bc)*(c-bc))/18) + 0.01*c
		}
		if c >= 19 && c <= 21 && r >= 3 && r <= 24 {
			w[classes*j+3] = 1.5
		}
	}
	return w
}

// goldenSeries are the spectra of a singular H, whose last 1840 eigenvalues are
// rounding noise of both signs, and of a regularized H + R.
func goldenSeries() []Series {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, rank = params, 6000
	h := make([]float64, n)
	hr := make([]float64, n)
	for i := range n {
		if i < rank {
			h[i] = 5 * math.Pow(1e-7, float64(i)/(rank-1))
		} else {
			h[i] = 3e-16 * rng.NormFloat64()
		}
		hr[i] = math.Abs(h[i]) + 2e-4*math.Pow(30, -float64(i)/n)
	}
	rng.Shuffle(n, func(i, j int) { h[i], h[j] = h[j], h[i] })
	return []Series{{Name: "H", Values: h}, {Name: "H + R", Values: hr}}
}

func TestGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		draw func(path string) error
	}{
		{"spy", func(p string) error { return Spy(p, goldenSpyGrid(), "Hessian sparsity, batch of 3 images") }},
		{"weights", func(p string) error { return WeightImages(p, goldenWeights()) }},
		{"spectrum", func(p string) error { return Spectrum(p, goldenSeries(), "Eigenvalues of H and H + R") }},
		{"training", func(p string) error { return TrainingCurve(p, newtonSteps) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := filepath.Join(t.TempDir(), c.name+".png")
			if err := c.draw(got); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.name+"_golden.png")
			if *update {
				b, err := os.ReadFile(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", golden)
				return
			}
			if _, err := os.Stat(golden); err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			frac, err := diffFraction(decode(t, got), decode(t, golden))
			if err == "" && frac <= goldenFrac {
				return
			}
			failed := filepath.Join("testdata", c.name+"_failed.png")
			if b, rerr := os.ReadFile(got); rerr == nil {
				_ = os.WriteFile(failed, b, 0o644)
			}
			if err != "" {
				t.Fatalf("%s: %s; got written to %s", golden, err, failed)
			}
			t.Fatalf("%s: %.2f%% of the pixels differ, want <= %.2f%%; got written to %s (go test -update rewrites the goldens)",
				golden, 100*frac, 100*goldenFrac, failed)
		})
	}
}

// diffFraction returns the fraction of pixels of a and b that differ by more
// than goldenLevel in a channel, or a reason why they cannot be compared.
func diffFraction(a, b image.Image) (float64, string) {
	if a.Bounds() != b.Bounds() {
		return 0, "got size " + a.Bounds().Size().String() + ", golden size " + b.Bounds().Size().String()
	}
	pa, pb := toRGBA(a), toRGBA(b)
	abs := func(x int) int { return max(x, -x) }
	var n int
	for i := 0; i < len(pa.Pix); i += 4 {
		for c := range 3 {
			if abs(int(pa.Pix[i+c])-int(pb.Pix[i+c])) > goldenLevel {
				n++
				break
			}
		}
	}
	return float64(n) / float64(len(pa.Pix)/4), ""
}

// toRGBA returns img as an *image.RGBA with bounds at the origin.
func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

func TestDiffFraction(t *testing.T) {
	a := image.NewGray(image.Rect(0, 0, 10, 10))
	b := image.NewGray(image.Rect(0, 0, 10, 10))
	b.Pix[0], b.Pix[1], b.Pix[2] = goldenLevel, goldenLevel+1, 255
	if got, why := diffFraction(a, b); why != "" || got != 0.02 {
		t.Errorf("diffFraction = %v, %q; want 0.02 (2 of 100 pixels beyond the level)", got, why)
	}
	if _, why := diffFraction(a, image.NewGray(image.Rect(0, 0, 10, 11))); why == "" {
		t.Error("images of different sizes compared without a reason")
	}
}
