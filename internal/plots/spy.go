package plots

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// SpyGrid is the sparsity pattern of a matrix on a coarse grid of cells, the
// input of [Spy]. Cell (r, c) covers the Scale x Scale matrix entries with rows
// r*Scale .. (r+1)*Scale-1 and columns c*Scale .. (c+1)*Scale-1; for example a
// 7840 x 7840 Hessian on a 784 x 784 grid has Scale 10.
type SpyGrid struct {
	// Rows and Cols are the numbers of cell rows and columns; both > 0.
	Rows, Cols int
	// Scale is the number of matrix entries along each side of a cell; the
	// axes are labelled in matrix entries, Rows*Scale by Cols*Scale.
	// Zero means 1 (one entry per cell).
	Scale int
	// Count holds, row-major with len Rows*Cols, the fraction in [0, 1] of
	// the entries of each cell that are non-zero.
	Count []float64
}

// spyGray is the gray level of the faintest non-zero cell; fraction 1 is black.
const spyGray = 160

// Spy writes a spy plot of g to path as a PNG file, like matplotlib's spy:
// white where a cell has no non-zero entry, gray to black as the fraction of
// non-zero entries grows from just above 0 to 1, matrix row 0 at the top. The
// axes are labelled "column" and "row" in matrix entries, and the subtitle gives
// the matrix size, the cell size and the density. A title of "" becomes
// "Sparsity pattern". The plot area has the aspect ratio of the matrix and its
// long side is about 8.5 inches (816 pixels), so a 784-cell grid keeps a pixel
// per cell.
func Spy(path string, g SpyGrid, title string) error {
	fig, _, err := renderSpy(g, title)
	if err != nil {
		return err
	}
	return fig.save("Spy", path)
}

func (g SpyGrid) validate() error {
	if g.Rows <= 0 || g.Cols <= 0 {
		return fmt.Errorf("plots: Spy: grid is %d x %d cells, want Rows > 0 and Cols > 0", g.Rows, g.Cols)
	}
	if g.Scale < 0 {
		return fmt.Errorf("plots: Spy: Scale = %d, want >= 0 (entries per cell side; 0 means 1)", g.Scale)
	}
	if len(g.Count) != g.Rows*g.Cols {
		return fmt.Errorf("plots: Spy: len(Count) = %d, want Rows*Cols = %d*%d = %d",
			len(g.Count), g.Rows, g.Cols, g.Rows*g.Cols)
	}
	for i, f := range g.Count {
		if math.IsNaN(f) || f < 0 || f > 1 {
			return fmt.Errorf("plots: Spy: Count[%d] (cell row %d, col %d) = %v, want a fraction in [0, 1]",
				i, i/g.Cols, i%g.Cols, f)
		}
	}
	return nil
}

// entryTicks labels an axis in whole matrix entries. When reversed, the data
// coordinate is n - row, so that row 0 is at the top, and the labels are rows.
type entryTicks struct {
	n        float64
	reversed bool
}

// Ticks implements plot.Ticker.
func (t entryTicks) Ticks(lo, hi float64) []plot.Tick {
	if t.reversed {
		lo, hi = t.n-hi, t.n-lo
	}
	ts := intTicks{}.Ticks(lo, hi)
	if t.reversed {
		for i := range ts {
			ts[i].Value = t.n - ts[i].Value
		}
	}
	return ts
}

func renderSpy(g SpyGrid, title string) (*figure, *raster, error) {
	if err := g.validate(); err != nil {
		return nil, nil, err
	}
	if title == "" {
		title = "Sparsity pattern"
	}
	scale := max(g.Scale, 1)
	nr, nc := g.Rows*scale, g.Cols*scale

	gray := make([]uint8, len(g.Count))
	var sum float64
	for i, f := range g.Count {
		sum += f
		gray[i] = 255
		if f > 0 {
			gray[i] = uint8(math.Round(spyGray * (1 - f)))
		}
	}
	density := sum / float64(len(g.Count))

	r := &raster{
		rows: g.Rows, cols: g.Cols, gray: gray,
		xmin: 0, xmax: float64(nc), ymin: 0, ymax: float64(nr),
		frame: colorBlack,
	}
	p := plot.New()
	stylePanel(p, "", "column", "row")
	p.X.Padding, p.Y.Padding = 0, 0
	p.Add(r)
	p.X.Min, p.X.Max = 0, float64(nc)
	p.Y.Min, p.Y.Max = 0, float64(nr)
	p.X.Tick.Marker = entryTicks{n: float64(nc)}
	p.Y.Tick.Marker = entryTicks{n: float64(nr), reversed: true}

	binary := true
	for _, f := range g.Count {
		binary = binary && (f == 0 || f == 1)
	}
	shade := "white = no non-zero, darker = more (black = all)"
	if binary {
		shade = "white = zero, black = non-zero"
	}
	var subtitle string
	if scale == 1 {
		subtitle = fmt.Sprintf("%d x %d matrix, density %s; %s", nr, nc, percent(density), shade)
	} else {
		subtitle = fmt.Sprintf("%d x %d matrix in cells of %d x %d entries, density %s; %s",
			nr, nc, scale, scale, percent(density), shade)
	}

	// Size the canvas so that the data area has the matrix's aspect ratio.
	const long = 8.5 * vg.Inch
	const short = 1.5 * vg.Inch
	m := float64(max(g.Rows, g.Cols))
	dw := max(long*vg.Length(float64(g.Cols)/m), short)
	dh := max(long*vg.Length(float64(g.Rows)/m), short)
	trial := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: 20 * vg.Inch, Y: 20 * vg.Inch}}}
	da := p.DataCanvas(trial)
	ox := 20*vg.Inch - (da.Max.X - da.Min.X)
	oy := 20*vg.Inch - (da.Max.Y - da.Min.Y)
	const pad = 12 // points, right and bottom margins
	hh := headerHeight(title, subtitle)
	// The subtitle must fit: widen the canvas (and the margins) if needed.
	w := dw + ox + 2*pad
	if sw := textStyle(11, draw.XCenter, draw.YTop).Width(subtitle) + 2*pad; sw > w {
		w = sw
	}
	h := dh + oy + hh + pad
	fig := newFigure(w, h)
	c := fig.header(title, subtitle)
	extra := w - (dw + ox + 2*pad)
	c = draw.Crop(c, pad+extra/2, -pad-extra/2, pad, 0)
	p.Draw(c)
	return fig, r, nil
}

// headerHeight returns the height figure.header uses for title and subtitle.
func headerHeight(title, subtitle string) vg.Length {
	h := 2*vg.Points(6) + textStyle(15, draw.XCenter, draw.YTop).Rectangle(title).Size().Y
	if subtitle != "" {
		h += vg.Points(3) + textStyle(11, draw.XCenter, draw.YTop).Rectangle(subtitle).Size().Y
	}
	return h
}

// percent formats a fraction as a percentage with 3 significant digits.
func percent(f float64) string {
	return strconv.FormatFloat(100*f, 'g', 3, 64) + "%"
}
