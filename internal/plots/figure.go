package plots

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// colorBlack is the frame colour of spy plots.
var colorBlack color.Color = color.Black

// dpi is the resolution of every picture, in dots per inch.
const dpi = 96

// palette holds the series colours (matplotlib's tab10 blue, orange, green, red).
var palette = []color.RGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// figure is one picture: an image canvas of a fixed size and resolution.
type figure struct {
	c  *vgimg.Canvas
	dc draw.Canvas
}

func newFigure(w, h vg.Length) *figure {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	return &figure{c: c, dc: draw.New(c)}
}

// textStyle returns a text style in the default plot font.
func textStyle(size vg.Length, xa draw.XAlignment, ya draw.YAlignment) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		XAlign:  xa,
		YAlign:  ya,
		Handler: plot.DefaultTextHandler,
	}
}

// header draws a centred title (and a smaller subtitle when not empty) at the
// top of the figure and returns the canvas below them.
func (f *figure) header(title, subtitle string) draw.Canvas {
	c := f.dc
	pad := vg.Points(6)
	y := c.Max.Y - pad
	ts := textStyle(15, draw.XCenter, draw.YTop)
	c.FillText(ts, vg.Point{X: c.Center().X, Y: y}, title)
	y -= ts.Rectangle(title).Size().Y
	if subtitle != "" {
		ss := textStyle(11, draw.XCenter, draw.YTop)
		ss.Color = color.Gray{Y: 0x40}
		y -= vg.Points(3)
		c.FillText(ss, vg.Point{X: c.Center().X, Y: y}, subtitle)
		y -= ss.Rectangle(subtitle).Size().Y
	}
	c.Max.Y = y - pad
	return c
}

// save writes the figure as a PNG file at path. A partly written file is
// removed.
func (f *figure) save(fn, path string) (err error) {
	if path == "" {
		return fmt.Errorf("plots: %s: empty output path", fn)
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plots: %s: %w", fn, err)
	}
	defer func() {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plots: %s: closing %s: %w", fn, path, cerr)
		}
		if err != nil {
			err = errors.Join(err, removeQuiet(path))
		}
	}()
	if _, err := (vgimg.PngCanvas{Canvas: f.c}).WriteTo(file); err != nil {
		return fmt.Errorf("plots: %s: writing %s: %w", fn, path, err)
	}
	return nil
}

func removeQuiet(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// raster is a plot.Plotter that draws a grid of gray levels (row 0 at the top)
// over the data rectangle [xmin, xmax] x [ymin, ymax]. It resamples the grid to
// the device pixels itself, so the picture is crisp: nearest neighbour when a
// cell covers several pixels, the darkest covered cell when a pixel covers
// several cells.
type raster struct {
	rows, cols             int
	gray                   []uint8 // row-major, row 0 at the top
	xmin, xmax, ymin, ymax float64
	// uniform shrinks the drawn rectangle, centred, to a whole number of
	// device pixels per cell when the grid is enlarged.
	uniform bool
	// frame, when not nil, is the colour of a one-pixel frame just outside
	// the image.
	frame color.Color

	// drawn is the device-pixel rectangle (origin top-left, as in the PNG)
	// the grid covered at the last Plot call; tests use it.
	drawn image.Rectangle
}

var _ plot.Plotter = (*raster)(nil)
var _ plot.DataRanger = (*raster)(nil)

// Plot implements plot.Plotter.
func (r *raster) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	toDots := func(l vg.Length) int { return int(math.Round(float64(l) * dpi / vg.Inch.Points())) }
	x0, x1 := toDots(trX(r.xmin)), toDots(trX(r.xmax))
	y0, y1 := toDots(trY(r.ymin)), toDots(trY(r.ymax)) // y up
	if x1 < x0 {
		x0, x1 = x1, x0
	}
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	w, h := x1-x0, y1-y0
	if w <= 0 || h <= 0 {
		return
	}
	if r.uniform && w >= r.cols && h >= r.rows {
		k := min(w/r.cols, h/r.rows)
		nw, nh := k*r.cols, k*r.rows
		x0 += (w - nw) / 2
		y0 += (h - nh) / 2
		w, h = nw, nh
		x1, y1 = x0+w, y0+h
	}
	img := r.resample(w, h)
	fromDots := func(d int) vg.Length { return vg.Length(float64(d) * vg.Inch.Points() / dpi) }
	rect := vg.Rectangle{
		Min: vg.Point{X: fromDots(x0), Y: fromDots(y0)},
		Max: vg.Point{X: fromDots(x1), Y: fromDots(y1)},
	}
	c.DrawImage(rect, img)
	if r.frame != nil {
		half := fromDots(1) / 2
		sty := draw.LineStyle{Color: r.frame, Width: fromDots(1)}
		c.StrokeLines(sty, []vg.Point{
			{X: rect.Min.X - half, Y: rect.Min.Y - half},
			{X: rect.Max.X + half, Y: rect.Min.Y - half},
			{X: rect.Max.X + half, Y: rect.Max.Y + half},
			{X: rect.Min.X - half, Y: rect.Max.Y + half},
			{X: rect.Min.X - half, Y: rect.Min.Y - half},
		})
	}
	if s, ok := canvasSize(c); ok {
		hd := toDots(s)
		r.drawn = image.Rect(x0, hd-y1, x1, hd-y0)
	}
}

// canvasSize returns the height of the underlying image canvas, unwrapping the
// draw.Canvas values that plot.Align and draw.Tiles wrap around it.
func canvasSize(c draw.Canvas) (vg.Length, bool) {
	var v vg.Canvas = c.Canvas
	for range 8 {
		switch cv := v.(type) {
		case *vgimg.Canvas:
			_, h := cv.Size()
			return h, true
		case draw.Canvas:
			v = cv.Canvas
		case *draw.Canvas:
			v = cv.Canvas
		default:
			return 0, false
		}
	}
	return 0, false
}

// resample returns the grid as a w x h gray image.
func (r *raster) resample(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for py := range h {
		r0 := py * r.rows / h
		r1 := max(r0, ((py+1)*r.rows-1)/h)
		for px := range w {
			c0 := px * r.cols / w
			c1 := max(c0, ((px+1)*r.cols-1)/w)
			g := uint8(255)
			for i := r0; i <= r1; i++ {
				for _, v := range r.gray[i*r.cols+c0 : i*r.cols+c1+1] {
					g = min(g, v)
				}
			}
			img.Pix[py*img.Stride+px] = g
		}
	}
	return img
}

// DataRange implements plot.DataRanger.
func (r *raster) DataRange() (xmin, xmax, ymin, ymax float64) {
	return r.xmin, r.xmax, r.ymin, r.ymax
}

// logClip holds a series prepared for a logarithmic axis.
type logClip struct {
	n        int     // number of values
	max      float64 // largest value
	minDraw  float64 // smallest drawable value; 0 when none
	cutoff   float64 // values <= cutoff are not drawable
	clipped  int     // number of values <= cutoff
	nonPos   bool    // every clipped value is <= 0
	floorExp int     // clipped values are drawn at 10^floorExp
}

// relCutoff is the ratio to the series maximum below which values are clipped.
const relCutoff = 1e-18

// noDataExp is the floor exponent used when a series has no positive value.
const noDataExp = -16

func newLogClip(v []float64) logClip {
	lc := logClip{n: len(v), max: math.Inf(-1), nonPos: true}
	for _, x := range v {
		lc.max = math.Max(lc.max, x)
	}
	if lc.max > 0 {
		lc.cutoff = relCutoff * lc.max
	}
	for _, x := range v {
		if x > lc.cutoff {
			if lc.minDraw == 0 || x < lc.minDraw {
				lc.minDraw = x
			}
			continue
		}
		lc.clipped++
		if x > 0 {
			lc.nonPos = false
		}
	}
	if lc.minDraw > 0 {
		lc.floorExp = floorExp(lc.minDraw) - 1
	} else {
		lc.floorExp = noDataExp
	}
	return lc
}

// lowExp returns the exponent of the lowest decade the series needs on the axis.
func (lc logClip) lowExp() int {
	if lc.clipped > 0 || lc.minDraw == 0 {
		return lc.floorExp
	}
	return floorExp(lc.minDraw)
}

// highExp returns the exponent of the highest decade the series needs.
func (lc logClip) highExp() int {
	if lc.minDraw == 0 {
		return lc.floorExp + 1
	}
	return ceilExp(lc.max)
}

// note describes the clipped values for a legend, or returns "".
func (lc logClip) note(floor float64) string {
	if lc.clipped == 0 {
		return ""
	}
	what := "<= 0"
	if !lc.nonPos {
		what = "< " + strconv.FormatFloat(lc.cutoff, 'g', 2, 64)
	}
	if lc.clipped == lc.n {
		return fmt.Sprintf("all %d values %s, shown at %s", lc.n, what, expLabel(expOf(floor)))
	}
	return fmt.Sprintf("%d of %d values %s shown at %s", lc.clipped, lc.n, what, expLabel(expOf(floor)))
}

// clip returns x, or floor when x is not drawable.
func (lc logClip) clip(x, floor float64) float64 {
	if x <= lc.cutoff || x <= 0 {
		return floor
	}
	return x
}

// exactLog10 returns log10(x), rounded to an integer when within 1e-9 of one.
func exactLog10(x float64) float64 {
	e := math.Log10(x)
	if r := math.Round(e); math.Abs(e-r) < 1e-9 {
		return r
	}
	return e
}

func floorExp(x float64) int { return int(math.Floor(exactLog10(x))) }
func ceilExp(x float64) int  { return int(math.Ceil(exactLog10(x))) }
func expOf(x float64) int    { return int(math.Round(math.Log10(x))) } // x a power of 10

// expLabel formats 10^e the way a tick label shows it.
func expLabel(e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(math.Pow10(e), 'f', -1, 64)
	}
	return fmt.Sprintf("1e%d", e)
}

// logTicks wraps plot.LogTicks: it labels decades as 0.01, 1e-18, ... and, when
// the axis spans more than 8 decades, drops the minor ticks and labels only
// every k-th decade so the labels do not collide.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	elo, ehi := floorExp(lo), ceilExp(hi)
	span := ehi - elo
	step := 1
	if span > 8 {
		step = (span + 7) / 8
	}
	var out []plot.Tick
	if span <= 8 {
		for _, t := range (plot.LogTicks{Prec: -1}).Ticks(lo, hi) {
			if e := exactLog10(t.Value); e != math.Trunc(e) {
				out = append(out, plot.Tick{Value: t.Value}) // minor tick
			}
		}
	}
	// plot.LogTicks may start one decade late when log10(lo) is rounded up,
	// so the decades are listed here.
	for e := elo; e <= ehi; e++ {
		v := math.Pow10(e)
		if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
			continue
		}
		label := ""
		if e%step == 0 {
			label = expLabel(e)
		}
		out = append(out, plot.Tick{Value: v, Label: label})
	}
	return out
}

// intTicks labels only integer values (step numbers, indices); every integer
// when the range spans at most 12.
type intTicks struct{}

// Ticks implements plot.Ticker.
func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if hi-lo <= 12 {
		for v := math.Ceil(lo); v <= hi; v++ {
			out = append(out, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		return out
	}
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.Itoa(int(t.Value))
		}
		out = append(out, t)
	}
	return out
}

// setLogY puts p's Y axis on a log scale from 10^lo to 10^hi.
//
// plot.Plot reserves room for the Y label as if it were centred on the
// arithmetic midpoint of the axis range, which on a log axis lies near the
// top, and so shrinks the data area from the top. setLogY therefore keeps a
// one-space placeholder label, which reserves the same width, and returns the
// text that drawRow draws in its place.
func setLogY(p *plot.Plot, lo, hi int) (ylabel string) {
	if hi <= lo {
		hi = lo + 1
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Y.Min, p.Y.Max = math.Pow10(lo), math.Pow10(hi)
	ylabel, p.Y.Label.Text = p.Y.Label.Text, placeholder
	return ylabel
}

// placeholder is the Y label text of log panels; see setLogY.
const placeholder = " "

// stylePanel sets the fonts and legend of a panel.
func stylePanel(p *plot.Plot, title, xlabel, ylabel string) {
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 12
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	p.Legend.TextStyle.Font.Size = 9
	p.Legend.Left = true // bottom left, where decreasing curves leave room
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(16)
	p.Legend.Padding = vg.Points(2)
}

// panelInfo records, for tests, the plot and data canvas of one panel.
type panelInfo struct {
	p      *plot.Plot
	data   draw.Canvas
	labels []string
}

// toPixel maps the data point (x, y) of a panel to PNG pixel coordinates.
func (pi panelInfo) toPixel(x, y float64, imgH int) (px, py float64) {
	trX, trY := pi.p.Transforms(&pi.data)
	s := dpi / vg.Inch.Points()
	return float64(trX(x)) * s, float64(imgH) - float64(trY(y))*s
}

// drawRow draws plots side by side in c with aligned data areas and returns
// each panel's data canvas. The plot titles are drawn on one line, centred
// over the data areas, and ylabels[i] is drawn as the Y label of a panel whose
// label is the placeholder of setLogY.
func drawRow(c draw.Canvas, plots []*plot.Plot, ylabels []string) []draw.Canvas {
	titles := make([]string, len(plots))
	var th vg.Length
	for i, p := range plots {
		titles[i] = p.Title.Text
		if p.Title.Text != "" {
			th = max(th, p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y+p.Title.Padding)
		}
		p.Title.Text = ""
	}
	top := c.Max.Y
	c.Max.Y -= th
	t := draw.Tiles{
		Rows: 1, Cols: len(plots),
		PadX: vg.Points(24), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadBottom: vg.Points(6),
	}
	cs := plot.Align([][]*plot.Plot{plots}, t, c)
	data := make([]draw.Canvas, len(plots))
	for i, p := range plots {
		tile := cs[0][i]
		p.Draw(tile)
		data[i] = p.DataCanvas(tile)
		if titles[i] != "" {
			sty := p.Title.TextStyle
			sty.YAlign = draw.YTop
			c.FillText(sty, vg.Point{X: data[i].Center().X, Y: top}, titles[i])
		}
		if p.Y.Label.Text == placeholder && ylabels[i] != "" {
			// As plot's verticalAxis.draw places a centred label.
			sty := p.Y.Label.TextStyle
			sty.Rotation += math.Pi / 2
			x := tile.Min.X + p.Y.Label.TextStyle.Height(ylabels[i]) - p.Y.Label.TextStyle.FontExtents().Descent
			tile.FillText(sty, vg.Point{X: x, Y: data[i].Center().Y}, ylabels[i])
		}
	}
	return data
}

// checkFinite returns an error naming what when x is NaN or infinite.
func checkFinite(fn, what string, x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("plots: %s: %s = %v, want a finite number", fn, what, x)
	}
	return nil
}
