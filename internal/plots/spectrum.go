package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is a named list of values, such as the eigenvalues of one matrix.
type Series struct {
	// Name labels the series in titles and legends.
	Name string
	// Values are the values, in any order.
	Values []float64
}

// maxSeries is the largest number of series Spectrum accepts.
const maxSeries = 4

// Spectrum writes the eigenvalues of each series, sorted in decreasing order,
// against their index 1, 2, ..., n on a logarithmic y axis, to path as a PNG
// file. Each series gets its own panel, side by side with a shared y range, and
// with two or more series a last panel overlays them all.
//
// Values <= 0, and values below 1e-18 times the largest value of their series,
// cannot be drawn on the log axis: they are drawn at a floor one decade below
// the smallest drawable value, and the legend says how many there were, as in
// "H (1234 of 7840 values <= 0 shown at 1e-19)". A title of "" becomes
// "Eigenvalue spectrum". Spectrum returns an error for no series, more than 4,
// a series without values, or NaN or ±Inf values.
func Spectrum(path string, series []Series, title string) error {
	fig, _, err := renderSpectrum(series, title)
	if err != nil {
		return err
	}
	return fig.save("Spectrum", path)
}

func validateSeries(series []Series) error {
	if len(series) == 0 {
		return fmt.Errorf("plots: Spectrum: no series")
	}
	if len(series) > maxSeries {
		return fmt.Errorf("plots: Spectrum: %d series, want at most %d", len(series), maxSeries)
	}
	for i, s := range series {
		if len(s.Values) == 0 {
			return fmt.Errorf("plots: Spectrum: series %d (%q) has no values", i, s.Name)
		}
		for j, v := range s.Values {
			if err := checkFinite("Spectrum", fmt.Sprintf("series %d (%q) Values[%d]", i, s.Name, j), v); err != nil {
				return err
			}
		}
	}
	return nil
}

func renderSpectrum(series []Series, title string) (*figure, []panelInfo, error) {
	if err := validateSeries(series); err != nil {
		return nil, nil, err
	}
	if title == "" {
		title = "Eigenvalue spectrum"
	}
	type prepared struct {
		name   string
		sorted []float64
		lc     logClip
	}
	ps := make([]prepared, len(series))
	lo, hi := math.MaxInt, math.MinInt
	for i, s := range series {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("series %d", i+1)
		}
		v := slices.Clone(s.Values)
		slices.SortFunc(v, func(a, b float64) int { return cmp.Compare(b, a) })
		lc := newLogClip(v)
		ps[i] = prepared{name: name, sorted: v, lc: lc}
		lo = min(lo, lc.lowExp())
		hi = max(hi, lc.highExp())
	}
	floor := math.Pow10(lo)

	line := func(i int) *plotter.Line {
		p := ps[i]
		xy := make(plotter.XYs, len(p.sorted))
		for j, v := range p.sorted {
			xy[j] = plotter.XY{X: float64(j + 1), Y: p.lc.clip(v, floor)}
		}
		l, err := plotter.NewLine(xy)
		if err != nil { // cannot happen: the values are finite
			panic(err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		return l
	}
	label := func(i int) string {
		if note := ps[i].lc.note(floor); note != "" {
			return ps[i].name + " (" + note + ")"
		}
		return ps[i].name
	}
	newPanel := func(name string) *plot.Plot {
		p := plot.New()
		stylePanel(p, name, "index i (eigenvalues in decreasing order)", "eigenvalue (log scale)")
		return p
	}

	var plots []*plot.Plot
	var infos []panelInfo
	var ylabels []string
	for i := range ps {
		p := newPanel(ps[i].name)
		p.Add(line(i))
		p.Legend.Add(label(i), line(i))
		p.X.Min = 0
		p.X.Tick.Marker = intTicks{}
		ylabels = append(ylabels, setLogY(p, lo, hi))
		plots = append(plots, p)
		infos = append(infos, panelInfo{p: p, labels: []string{label(i)}})
	}
	if len(ps) > 1 {
		p := newPanel("all series overlaid")
		var labels []string
		for i := range ps {
			l := line(i)
			p.Add(l)
			p.Legend.Add(ps[i].name, l)
			labels = append(labels, ps[i].name)
		}
		p.X.Min = 0
		p.X.Tick.Marker = intTicks{}
		ylabels = append(ylabels, setLogY(p, lo, hi))
		plots = append(plots, p)
		infos = append(infos, panelInfo{p: p, labels: labels})
	}

	subtitle := "eigenvalues in decreasing order against their index, log scale"
	for _, p := range ps {
		if p.lc.clipped > 0 {
			subtitle = fmt.Sprintf("values <= 0 or < 1e-18 x the series maximum cannot be drawn on a log axis and are shown at %s",
				expLabel(lo))
			break
		}
	}
	const panelW, panelH = 5 * vg.Inch, 4.5 * vg.Inch
	w := vg.Length(len(plots)) * panelW
	if sw := textStyle(11, draw.XCenter, draw.YTop).Width(subtitle) + vg.Points(24); sw > w {
		w = sw
	}
	fig := newFigure(w, panelH+headerHeight(title, subtitle))
	c := fig.header(title, subtitle)
	data := drawRow(c, plots, ylabels)
	for i := range infos {
		infos[i].data = data[i]
	}
	return fig, infos, nil
}
