package plots

import (
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden PNG files in testdata/")

// decode reads the PNG file at path.
func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return img
}

// lum returns the gray level of the pixel (x, y).
func lum(img image.Image, x, y int) uint8 {
	return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
}

// rgb returns the 8-bit colour of the pixel (x, y).
func rgb(img image.Image, x, y int) (r, g, b int) {
	r32, g32, b32, _ := img.At(x, y).RGBA()
	return int(r32 >> 8), int(g32 >> 8), int(b32 >> 8)
}

// near reports whether a pixel within rad of (x, y) satisfies ok.
func near(img image.Image, x, y float64, rad int, ok func(r, g, b int) bool) bool {
	cx, cy := int(math.Round(x)), int(math.Round(y))
	for dy := -rad; dy <= rad; dy++ {
		for dx := -rad; dx <= rad; dx++ {
			if ok(rgb(img, cx+dx, cy+dy)) {
				return true
			}
		}
	}
	return false
}

// cellPixel returns the PNG pixel at the centre of cell (row, col) of a
// rows x cols grid drawn in rect.
func cellPixel(rect image.Rectangle, rows, cols int, row, col float64) (x, y int) {
	x = rect.Min.X + int((col+0.5)/float64(cols)*float64(rect.Dx()))
	y = rect.Min.Y + int((row+0.5)/float64(rows)*float64(rect.Dy()))
	return x, y
}

// writeSpy renders g with Spy into a temporary file, decodes it, and returns
// it with the pixel rectangle of the matrix.
func writeSpy(t *testing.T, g SpyGrid) (image.Image, image.Rectangle) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spy.png")
	if err := Spy(path, g, "test"); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	_, r, err := renderSpy(g, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !r.drawn.In(img.Bounds()) || r.drawn.Dx() < 100 || r.drawn.Dy() < 100 {
		t.Fatalf("matrix drawn at %v in a %v image", r.drawn, img.Bounds())
	}
	return img, r.drawn
}

func TestSpyHalf(t *testing.T) {
	const n = 20
	g := SpyGrid{Rows: n, Cols: n, Scale: 7, Count: make([]float64, n*n)}
	for i := range n {
		for j := range n / 2 {
			g.Count[i*n+j] = 1
		}
	}
	img, rect := writeSpy(t, g)
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 800 {
		t.Errorf("image is %dx%d, want at least 800x800", b.Dx(), b.Dy())
	}
	if d := rect.Dx() - rect.Dy(); d < -2 || d > 2 {
		t.Errorf("square matrix drawn as %dx%d pixels, want square", rect.Dx(), rect.Dy())
	}
	for i := range n {
		for j := range n {
			x, y := cellPixel(rect, n, n, float64(i), float64(j))
			got := lum(img, x, y)
			if j < n/2 && got > 40 {
				t.Errorf("cell (%d,%d) of the non-zero left half: gray %d at (%d,%d), want dark (<= 40)", i, j, got, x, y)
			}
			if j >= n/2 && got < 245 {
				t.Errorf("cell (%d,%d) of the zero right half: gray %d at (%d,%d), want white (>= 245)", i, j, got, x, y)
			}
		}
	}
}

func TestSpyDiagonal(t *testing.T) {
	const n = 50
	g := SpyGrid{Rows: n, Cols: n, Count: make([]float64, n*n)}
	for i := range n {
		g.Count[i*n+i] = 1
	}
	img, rect := writeSpy(t, g)
	for i := range n {
		x, y := cellPixel(rect, n, n, float64(i), float64(i))
		if got := lum(img, x, y); got > 40 {
			t.Errorf("diagonal cell %d: gray %d at (%d,%d), want dark", i, got, x, y)
		}
		// The anti-diagonal is white except where it crosses the diagonal:
		// with row 0 at the bottom it would be the dark one.
		if j := n - 1 - i; i < n/2-2 || i > n/2+1 {
			x, y := cellPixel(rect, n, n, float64(i), float64(j))
			if got := lum(img, x, y); got < 245 {
				t.Errorf("anti-diagonal cell (%d,%d): gray %d at (%d,%d), want white", i, j, got, x, y)
			}
		}
	}
}

func TestSpyOrientationAndShade(t *testing.T) {
	const rows, cols = 4, 8
	g := SpyGrid{Rows: rows, Cols: cols, Scale: 3, Count: make([]float64, rows*cols)}
	g.Count[0*cols+cols-1] = 1     // top right
	g.Count[(rows-1)*cols+0] = 0.5 // bottom left, half full
	img, rect := writeSpy(t, g)
	if ratio := float64(rect.Dx()) / float64(rect.Dy()); math.Abs(ratio-2) > 0.02 {
		t.Errorf("4x8 grid drawn as %dx%d pixels, want width/height 2", rect.Dx(), rect.Dy())
	}
	for _, c := range []struct {
		row, col int
		lo, hi   uint8
	}{
		{0, cols - 1, 0, 10},           // black
		{rows - 1, 0, 70, 90},          // 160*(1-0.5) = 80
		{0, 0, 250, 255},               // white
		{rows - 1, cols - 1, 250, 255}, // white
		{rows - 1, cols - 2, 250, 255}, // white
	} {
		x, y := cellPixel(rect, rows, cols, float64(c.row), float64(c.col))
		if got := lum(img, x, y); got < c.lo || got > c.hi {
			t.Errorf("cell (%d,%d): gray %d at (%d,%d), want in [%d, %d]", c.row, c.col, got, x, y, c.lo, c.hi)
		}
	}
}

// TestSpyReduced checks that a lone non-zero cell of a grid with more cells
// than pixels stays visible.
func TestSpyReduced(t *testing.T) {
	const n = 1500
	g := SpyGrid{Rows: n, Cols: n, Count: make([]float64, n*n)}
	g.Count[700*n+901] = 0.01
	img, rect := writeSpy(t, g)
	if rect.Dx() >= n {
		t.Fatalf("matrix drawn %d pixels wide, want fewer than %d cells for this test", rect.Dx(), n)
	}
	x, y := cellPixel(rect, n, n, 700, 901)
	var dark int
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			if lum(img, x+dx, y+dy) < 200 {
				dark++
			}
		}
	}
	if dark == 0 {
		t.Errorf("the lone non-zero cell (700, 901) is not visible near pixel (%d,%d)", x, y)
	}
}

// barWeights returns weights whose class-3 image is a bright vertical bar at
// columns 19-21, rows 3-24 on 0, whose class-7 image is a bright horizontal bar
// at rows 1-3, columns 4-23 on 0, whose class-9 image is constant, and whose
// other images are seeded noise.
func barWeights() []float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, params)
	for j := range pixels {
		r, c := j/side, j%side
		for k := range classes {
			w[classes*j+k] = 0.1 * rng.NormFloat64()
		}
		w[classes*j+3], w[classes*j+7], w[classes*j+9] = 0, 0, 0.5
		if c >= 19 && c <= 21 && r >= 3 && r <= 24 {
			w[classes*j+3] = 2
		}
		if r >= 1 && r <= 3 && c >= 4 && c <= 23 {
			w[classes*j+7] = 1
		}
	}
	return w
}

func TestWeightImages(t *testing.T) {
	w := barWeights()
	path := filepath.Join(t.TempDir(), "w.png")
	if err := WeightImages(path, w); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	_, rs, err := renderWeights(w)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 5*side*5 || b.Dy() < 2*side*5 {
		t.Errorf("image is %dx%d, too small for 2 x 5 panels of at least 5 pixels per image pixel", b.Dx(), b.Dy())
	}
	// Layout: classes 0-4 left to right in the top row, 5-9 below.
	for k, r := range rs {
		if !r.drawn.In(img.Bounds()) || r.drawn.Dx() != r.drawn.Dy() || r.drawn.Dx()%side != 0 {
			t.Fatalf("class %d drawn at %v, want a square of a multiple of %d pixels inside %v", k, r.drawn, side, img.Bounds())
		}
		if k%5 != 0 && r.drawn.Min.X <= rs[k-1].drawn.Max.X {
			t.Errorf("class %d at %v is not right of class %d at %v", k, r.drawn, k-1, rs[k-1].drawn)
		}
		if k%5 != 0 && r.drawn.Min.Y != rs[k-1].drawn.Min.Y {
			t.Errorf("class %d at %v is not in the row of class %d at %v", k, r.drawn, k-1, rs[k-1].drawn)
		}
		if k >= 5 && r.drawn.Min.Y <= rs[k-5].drawn.Max.Y {
			t.Errorf("class %d at %v is not below class %d at %v", k, r.drawn, k-5, rs[k-5].drawn)
		}
	}
	at := func(k, row, col int) uint8 {
		x, y := cellPixel(rs[k].drawn, side, side, float64(row), float64(col))
		return lum(img, x, y)
	}
	for _, c := range []struct {
		k, row, col int
		lo, hi      uint8
		what        string
	}{
		{3, 14, 20, 250, 255, "class 3 bar (max, white)"},
		{3, 4, 19, 250, 255, "class 3 bar top"},
		{3, 24, 21, 250, 255, "class 3 bar bottom"},
		{3, 14, 8, 0, 5, "class 3 left of the bar (min, black)"},
		{3, 1, 20, 0, 5, "class 3 above the bar"},
		{3, 26, 20, 0, 5, "class 3 below the bar"},
		{3, 20, 14, 0, 5, "class 3 centre"},
		{7, 2, 14, 250, 255, "class 7 bar at the top"},
		{7, 25, 14, 0, 5, "class 7 near the bottom"},
		{7, 14, 2, 0, 5, "class 7 left"},
		{9, 14, 14, 120, 136, "constant class 9 (mid-gray)"},
	} {
		if got := at(c.k, c.row, c.col); got < c.lo || got > c.hi {
			t.Errorf("%s: pixel (row %d, col %d) has gray %d, want in [%d, %d]", c.what, c.row, c.col, got, c.lo, c.hi)
		}
	}
	// Each image is scaled to its own range: the noise images use black
	// and white too.
	for _, k := range []int{0, 5} {
		var lo, hi uint8 = 255, 0
		for row := range side {
			for col := range side {
				g := at(k, row, col)
				lo, hi = min(lo, g), max(hi, g)
			}
		}
		if lo > 5 || hi < 250 {
			t.Errorf("class %d spans gray %d..%d, want 0..255 (own min/max)", k, lo, hi)
		}
	}
}

// logspace returns n values from 10^a down to 10^b, evenly spaced in log.
func logspace(a, b float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Pow(10, a+(b-a)*float64(i)/float64(n-1))
	}
	return v
}

func isBlue(r, g, b int) bool   { return b > 120 && b > r+60 && b > g+20 }
func isOrange(r, g, b int) bool { return r > 200 && g > 80 && g < 180 && b < 90 }
func isGreen(r, g, b int) bool  { return g > 120 && g > r+60 && g > b+60 }
func isWhite(r, g, b int) bool  { return r > 245 && g > 245 && b > 245 }

func TestSpectrum(t *testing.T) {
	want := logspace(1, -6, 50) // decreasing
	shuffled := slices.Clone(want)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	clipped := slices.Clone(shuffled)
	for _, i := range []int{3, 9, 17, 30, 41} {
		clipped[i] = -1e-3 * float64(i%2) // 0 or negative
	}
	series := []Series{{Name: "A", Values: shuffled}, {Name: "B", Values: clipped}}
	path := filepath.Join(t.TempDir(), "spec.png")
	if err := Spectrum(path, series, "test spectrum"); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	_, panels, err := renderSpectrum(series, "test spectrum")
	if err != nil {
		t.Fatal(err)
	}
	if len(panels) != 3 {
		t.Fatalf("2 series gave %d panels, want 3 (one each, side by side, and the overlay)", len(panels))
	}
	for i := 1; i < len(panels); i++ {
		if panels[i].data.Min.X <= panels[i-1].data.Max.X {
			t.Errorf("panel %d is not right of panel %d", i, i-1)
		}
		if panels[i].data.Min.Y != panels[0].data.Min.Y || panels[i].data.Max.Y != panels[0].data.Max.Y {
			t.Errorf("panel %d data area %v is not aligned with panel 0's %v", i, panels[i].data.Rectangle, panels[0].data.Rectangle)
		}
	}
	if got := panels[0].labels[0]; got != "A" {
		t.Errorf("legend of A = %q, want %q", got, "A")
	}
	if got := panels[1].labels[0]; got != "B (5 of 50 values <= 0 shown at 1e-7)" {
		t.Errorf("legend of B = %q, want %q", got, "B (5 of 50 values <= 0 shown at 1e-7)")
	}
	if lo, hi := panels[0].p.Y.Min, panels[0].p.Y.Max; lo != 1e-7 || hi != 10 {
		t.Errorf("y range [%g, %g], want [1e-07, 10]", lo, hi)
	}
	h := img.Bounds().Dy()
	// A is drawn in blue at (i+1, want[i]) on the log axis: sorted, log-scaled.
	for _, i := range []int{0, 7, 24, 36, 49} {
		x, y := panels[0].toPixel(float64(i+1), want[i], h)
		if !near(img, x, y, 2, isBlue) {
			t.Errorf("no blue pixel near (%.0f,%.0f), the point (%d, %g) of A", x, y, i+1, want[i])
		}
		if x, y := panels[0].toPixel(float64(i+1), want[49-i], h); i != 24 && near(img, x, y, 2, func(r, g, b int) bool { return !isWhite(r, g, b) }) {
			t.Errorf("pixel near (%.0f,%.0f), the point (%d, %g) off the curve of A, is not white", x, y, i+1, want[49-i])
		}
	}
	// B's last 5 values are clipped to the floor, drawn in orange.
	x, y := panels[1].toPixel(48, 1e-7, h)
	if !near(img, x, y, 2, isOrange) {
		t.Errorf("no orange pixel near (%.0f,%.0f), the clipped value 48 of B at the floor", x, y)
	}
	// Both in the overlay.
	x, y = panels[2].toPixel(25, want[24], h)
	if !near(img, x, y, 2, isBlue) && !near(img, x, y, 2, isOrange) {
		t.Errorf("overlay: no series colour near (%.0f,%.0f)", x, y)
	}

	// One series: one panel.
	_, panels, err = renderSpectrum(series[:1], "")
	if err != nil {
		t.Fatal(err)
	}
	if len(panels) != 1 {
		t.Errorf("1 series gave %d panels, want 1", len(panels))
	}
}

func TestSpectrumNoPositiveValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zero.png")
	s := []Series{{Name: "zero", Values: []float64{0, 0, -1e-20}}}
	if err := Spectrum(path, s, "zero matrix"); err != nil {
		t.Fatal(err)
	}
	_, panels, err := renderSpectrum(s, "zero matrix")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := panels[0].labels[0], "zero (all 3 values <= 0, shown at 1e-16)"; got != want {
		t.Errorf("legend = %q, want %q", got, want)
	}
}

// newtonSteps is a converging Newton run whose last gradient norm is exactly 0.
var newtonSteps = []Step{
	{0, 2.302585, 1.31, 0.098},
	{1, 0.86, 0.27, 0.81},
	{2, 0.47, 0.061, 0.874},
	{3, 0.33, 4.2e-3, 0.902},
	{4, 0.3051, 2.3e-5, 0.9141},
	{5, 0.30503, 8.1e-10, 0.9153},
	{6, 0.305029999, 0, 0.9153},
}

func TestTrainingCurve(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train.png")
	if err := TrainingCurve(path, newtonSteps); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	_, panels, err := renderTraining(newtonSteps)
	if err != nil {
		t.Fatal(err)
	}
	if len(panels) != 3 {
		t.Fatalf("%d panels, want 3", len(panels))
	}
	h := img.Bounds().Dy()
	last := newtonSteps[len(newtonSteps)-1]
	for i, s := range newtonSteps {
		if i < len(newtonSteps)-1 {
			gap := s.Objective - last.Objective
			if x, y := panels[0].toPixel(float64(s.Step), gap, h); !near(img, x, y, 2, isBlue) {
				t.Errorf("objective gap: no blue pixel near (%.0f,%.0f), step %d gap %g", x, y, s.Step, gap)
			}
		}
		g := s.GradNorm
		if g == 0 {
			g = panels[1].p.Y.Min // the floor
		}
		if x, y := panels[1].toPixel(float64(s.Step), g, h); !near(img, x, y, 2, isOrange) {
			t.Errorf("gradient norm: no orange pixel near (%.0f,%.0f), step %d norm %g", x, y, s.Step, g)
		}
		if x, y := panels[2].toPixel(float64(s.Step), 100*s.TestAcc, h); !near(img, x, y, 2, isGreen) {
			t.Errorf("accuracy: no green pixel near (%.0f,%.0f), step %d accuracy %g", x, y, s.Step, s.TestAcc)
		}
	}
	if got, want := panels[1].labels[0], "||g|| (1 of 7 values <= 0 shown at 1e-11)"; got != want {
		t.Errorf("gradient norm legend = %q, want %q", got, want)
	}
	// The floor is a decade below the decade of the smallest norm, 8.1e-10.
	if got := panels[1].p.Y.Min; got != 1e-11 {
		t.Errorf("gradient norm axis starts at %g, want 1e-11", got)
	}
	if gap, got := newtonSteps[5].Objective-last.Objective, panels[0].p.Y.Min; got > gap || got < gap/10 {
		t.Errorf("objective gap axis starts at %g, want the decade below the smallest gap %g", got, gap)
	}
}

func TestTrainingCurveOneStep(t *testing.T) {
	steps := []Step{{Step: 0, Objective: math.Log(10), GradNorm: 0, TestAcc: 0.1}}
	path := filepath.Join(t.TempDir(), "one.png")
	if err := TrainingCurve(path, steps); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	_, panels, err := renderTraining(steps)
	if err != nil {
		t.Fatal(err)
	}
	h := img.Bounds().Dy()
	if x, y := panels[0].toPixel(0, math.Log(10), h); !near(img, x, y, 2, isBlue) {
		t.Errorf("objective: no blue pixel near (%.0f,%.0f)", x, y)
	}
	if x, y := panels[1].toPixel(0, panels[1].p.Y.Min, h); !near(img, x, y, 2, isOrange) {
		t.Errorf("gradient norm 0: no orange pixel at the floor near (%.0f,%.0f)", x, y)
	}
	if got, want := panels[1].labels[0], "||g|| (all 1 values <= 0, shown at 1e-16)"; got != want {
		t.Errorf("gradient norm legend = %q, want %q", got, want)
	}
}

func TestLogTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi     float64
		wantLabels []string
		wantMinor  bool
	}{
		{1e-3, 10, []string{"0.001", "0.01", "0.1", "1", "10"}, true},
		{1e-18, 10, []string{"1e-18", "1e-15", "1e-12", "1e-9", "1e-6", "0.001", "1"}, false},
		{1e-10, 1e10, []string{"1e-9", "1e-6", "0.001", "1", "1000", "1e6", "1e9"}, false},
	} {
		var got []string
		minor := false
		for _, tk := range (logTicks{}).Ticks(c.lo, c.hi) {
			if tk.Value < c.lo*(1-1e-9) || tk.Value > c.hi*(1+1e-9) {
				t.Errorf("[%g, %g]: tick %g out of range", c.lo, c.hi, tk.Value)
			}
			if tk.Label != "" {
				got = append(got, tk.Label)
			} else if e := exactLog10(tk.Value); e != math.Trunc(e) {
				minor = true
			}
		}
		if !slices.Equal(got, c.wantLabels) || minor != c.wantMinor {
			t.Errorf("[%g, %g]: labels %q, minor ticks %v; want %q, %v", c.lo, c.hi, got, minor, c.wantLabels, c.wantMinor)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	okGrid := SpyGrid{Rows: 2, Cols: 3, Count: make([]float64, 6)}
	nanW := barWeights()
	nanW[10*100+3] = math.NaN()
	infW := barWeights()
	infW[7839] = math.Inf(-1)
	ok := []Series{{Name: "H", Values: []float64{1, 2}}}
	missing := filepath.Join(dir, "no-such-dir", "out.png")

	for _, c := range []struct {
		name string
		call func(path string) error
		want []string
	}{
		{"spy/zero rows", func(p string) error { return Spy(p, SpyGrid{Cols: 3}, "") }, []string{"plots: Spy:", "0 x 3", "Rows > 0"}},
		{"spy/short count", func(p string) error {
			return Spy(p, SpyGrid{Rows: 2, Cols: 3, Count: make([]float64, 5)}, "")
		}, []string{"len(Count) = 5", "want Rows*Cols = 2*3 = 6"}},
		{"spy/NaN", func(p string) error {
			g := okGrid
			g.Count = []float64{0, 0, 0, 0, 0, math.NaN()}
			return Spy(p, g, "")
		}, []string{"Count[5] (cell row 1, col 2) = NaN", "[0, 1]"}},
		{"spy/fraction above 1", func(p string) error {
			g := okGrid
			g.Count = []float64{0, 1.5, 0, 0, 0, 0}
			return Spy(p, g, "")
		}, []string{"Count[1] (cell row 0, col 1) = 1.5"}},
		{"spy/negative scale", func(p string) error { g := okGrid; g.Scale = -2; return Spy(p, g, "") }, []string{"Scale = -2"}},
		{"weights/short", func(p string) error { return WeightImages(p, make([]float64, 7839)) }, []string{"plots: WeightImages:", "len(w) = 7839, want 7840"}},
		{"weights/nil", func(p string) error { return WeightImages(p, nil) }, []string{"len(w) = 0, want 7840"}},
		{"weights/NaN", func(p string) error { return WeightImages(p, nanW) }, []string{"w[1003]", "class 3", "pixel 100 = row 3, col 16", "NaN"}},
		{"weights/Inf", func(p string) error { return WeightImages(p, infW) }, []string{"w[7839]", "class 9", "-Inf"}},
		{"spectrum/no series", func(p string) error { return Spectrum(p, nil, "") }, []string{"plots: Spectrum: no series"}},
		{"spectrum/empty series", func(p string) error {
			return Spectrum(p, []Series{ok[0], {Name: "H + R"}}, "")
		}, []string{`series 1 ("H + R") has no values`}},
		{"spectrum/NaN", func(p string) error {
			return Spectrum(p, []Series{{Name: "H", Values: []float64{1, 2, math.NaN()}}}, "")
		}, []string{`series 0 ("H") Values[2] = NaN`}},
		{"spectrum/too many", func(p string) error { return Spectrum(p, slices.Repeat(ok, 5), "") }, []string{"5 series, want at most 4"}},
		{"training/no steps", func(p string) error { return TrainingCurve(p, nil) }, []string{"plots: TrainingCurve: no steps"}},
		{"training/NaN objective", func(p string) error {
			s := slices.Clone(newtonSteps)
			s[1].Objective = math.NaN()
			return TrainingCurve(p, s)
		}, []string{"steps[1].Objective (step 1) = NaN"}},
		{"training/negative gradient norm", func(p string) error {
			s := slices.Clone(newtonSteps)
			s[0].GradNorm = -1
			return TrainingCurve(p, s)
		}, []string{"steps[0].GradNorm (step 0) = -1, want >= 0"}},
		{"training/accuracy in percent", func(p string) error {
			s := slices.Clone(newtonSteps)
			s[2].TestAcc = 87.4
			return TrainingCurve(p, s)
		}, []string{"steps[2].TestAcc (step 2) = 87.4", "fraction in [0, 1]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, "/", "_")+".png")
			err := c.call(path)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("input error left a file at %s (stat: %v)", path, serr)
			}
		})
	}

	// Unwritable paths: each function names the path.
	for _, c := range []struct {
		name string
		call func(path string) error
	}{
		{"Spy", func(p string) error { return Spy(p, okGrid, "") }},
		{"WeightImages", func(p string) error { return WeightImages(p, barWeights()) }},
		{"Spectrum", func(p string) error { return Spectrum(p, ok, "") }},
		{"TrainingCurve", func(p string) error { return TrainingCurve(p, newtonSteps) }},
	} {
		t.Run(c.name+"/unwritable", func(t *testing.T) {
			for _, p := range []string{missing, dir, ""} {
				err := c.call(p)
				if err == nil {
					t.Fatalf("path %q: got no error", p)
				}
				if !strings.HasPrefix(err.Error(), "plots: "+c.name+": ") || !strings.Contains(err.Error(), p) {
					t.Errorf("path %q: error %q does not start with %q and name the path", p, err, "plots: "+c.name+": ")
				}
			}
		})
	}
}
