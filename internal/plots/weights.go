package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Sizes of the softmax-regression model (MATH.md).
const (
	side    = 28               // side of an MNIST image in pixels
	pixels  = side * side      // 784
	classes = 10               // digits
	params  = pixels * classes // 7840
)

// WeightImages writes the ten columns of the weight matrix W as 28x28 gray
// images, in two rows of five (classes 0-4 above 5-9), to path as a PNG file.
// w is the flat parameter vector of length 7840 with w[10*j+k] = W[j,k] and
// pixel j = 28*row + col, so image k shows W[:,k] upright, row 0 at the top.
// As with matplotlib's imshow(cmap='gray'), each image is scaled to its own
// minimum (black) and maximum (white); the range is printed above the image and
// the class digit below it. A constant image is drawn mid-gray.
// WeightImages returns an error if len(w) != 7840 or w holds NaN or ±Inf.
func WeightImages(path string, w []float64) error {
	fig, _, err := renderWeights(w)
	if err != nil {
		return err
	}
	return fig.save("WeightImages", path)
}

func validateWeights(w []float64) error {
	if len(w) != 7840 {
		return fmt.Errorf("plots: WeightImages: len(w) = %d, want %d (%d pixels x %d classes, w[10*j+k] = W[j,k])",
			len(w), params, pixels, classes)
	}
	for i, x := range w {
		j, k := i/classes, i%classes
		what := fmt.Sprintf("w[%d] (W[%d,%d]: class %d, pixel %d = row %d, col %d)", i, j, k, k, j, j/side, j%side)
		if err := checkFinite("WeightImages", what, x); err != nil {
			return err
		}
	}
	return nil
}

func renderWeights(w []float64) (*figure, []*raster, error) {
	if err := validateWeights(w); err != nil {
		return nil, nil, err
	}
	const cols, rows = 5, 2
	plots := make([][]*plot.Plot, rows)
	rasters := make([]*raster, classes)
	for k := range classes {
		lo, hi := math.Inf(1), math.Inf(-1)
		for j := range pixels {
			lo = math.Min(lo, w[classes*j+k])
			hi = math.Max(hi, w[classes*j+k])
		}
		gray := make([]uint8, pixels)
		for j := range pixels {
			g := 128.0
			if hi > lo {
				g = math.Round(255 * (w[classes*j+k] - lo) / (hi - lo))
			}
			gray[j] = uint8(g)
		}
		r := &raster{
			rows: side, cols: side, gray: gray,
			xmin: 0, xmax: side, ymin: 0, ymax: side,
			uniform: true, frame: color.Gray{Y: 0xa0},
		}
		rasters[k] = r

		p := plot.New()
		p.HideAxes()
		p.X.Padding, p.Y.Padding = 0, 0
		p.Add(r)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, side, 0, side
		p.X.Label.Text = strconv.Itoa(k)
		p.X.Label.TextStyle.Font.Size = 18
		p.X.Label.Padding = vg.Points(4)
		p.Title.Text = rangeLabel(lo, hi)
		p.Title.TextStyle.Font.Size = 9
		p.Title.TextStyle.Color = color.Gray{Y: 0x40}
		p.Title.Padding = vg.Points(4)
		if plots[k/cols] == nil {
			plots[k/cols] = make([]*plot.Plot, cols)
		}
		plots[k/cols][k%cols] = p
	}

	title := "Weights W[:, k] as 28 x 28 images, class k below each"
	subtitle := "gray colour map, each image scaled to its own min/max (black = min, white = max; range above the image)"

	// Size the tiles so that each data area is square and 170 pixels wide:
	// 6 pixels per image pixel, with room for rounding.
	data := vg.Length(170 * vg.Inch.Points() / dpi)
	trial := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: 10 * vg.Inch, Y: 10 * vg.Inch}}}
	da := plots[0][0].DataCanvas(trial)
	ox := 10*vg.Inch - (da.Max.X - da.Min.X)
	oy := 10*vg.Inch - (da.Max.Y - da.Min.Y)
	t := draw.Tiles{
		Rows: rows, Cols: cols,
		PadX: vg.Points(14), PadY: vg.Points(10),
		PadLeft: vg.Points(14), PadRight: vg.Points(14), PadBottom: vg.Points(8),
	}
	wd := cols*(data+ox) + (cols-1)*t.PadX + t.PadLeft + t.PadRight
	if sw := textStyle(11, draw.XCenter, draw.YTop).Width(subtitle) + 2*t.PadLeft; sw > wd {
		wd = sw
	}
	ht := headerHeight(title, subtitle) + rows*(data+oy) + (rows-1)*t.PadY + t.PadBottom
	fig := newFigure(wd, ht)
	c := fig.header(title, subtitle)
	tiles := plot.Align(plots, t, c)
	for i := range rows {
		for j := range cols {
			plots[i][j].Draw(tiles[i][j])
		}
	}
	return fig, rasters, nil
}

// rangeLabel formats the value range of one image.
func rangeLabel(lo, hi float64) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }
	if lo == hi {
		return "constant " + f(lo)
	}
	return "[" + f(lo) + ", " + f(hi) + "]"
}
