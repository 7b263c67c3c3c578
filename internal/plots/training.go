package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Step is the record of one Newton step, the input of [TrainingCurve].
type Step struct {
	// Step is the step number, usually 0 for the starting point.
	Step int
	// Objective is the objective F at the step's iterate.
	Objective float64
	// GradNorm is the norm of the gradient of F there; >= 0.
	GradNorm float64
	// TestAcc is the test accuracy as a fraction in [0, 1].
	TestAcc float64
}

// TrainingCurve writes a Newton training run to path as a PNG file: three
// panels side by side against the step number, namely the objective gap
// F - F(last step) on a log scale (for a single step, the objective itself),
// the gradient norm on a log scale, and the test accuracy in percent. Values a
// log axis cannot show, such as a gradient norm of exactly 0, are drawn at a
// floor one decade below the smallest drawable value and counted in the legend.
// steps are drawn in the order given. TrainingCurve returns an error for no
// steps, a NaN or ±Inf objective, a negative, NaN or ±Inf gradient norm, or a
// test accuracy outside [0, 1].
func TrainingCurve(path string, steps []Step) error {
	fig, _, err := renderTraining(steps)
	if err != nil {
		return err
	}
	return fig.save("TrainingCurve", path)
}

func validateSteps(steps []Step) error {
	const fn = "TrainingCurve"
	if len(steps) == 0 {
		return fmt.Errorf("plots: %s: no steps", fn)
	}
	for i, s := range steps {
		if err := checkFinite(fn, fmt.Sprintf("steps[%d].Objective (step %d)", i, s.Step), s.Objective); err != nil {
			return err
		}
		if err := checkFinite(fn, fmt.Sprintf("steps[%d].GradNorm (step %d)", i, s.Step), s.GradNorm); err != nil {
			return err
		}
		if s.GradNorm < 0 {
			return fmt.Errorf("plots: %s: steps[%d].GradNorm (step %d) = %v, want >= 0", fn, i, s.Step, s.GradNorm)
		}
		if !(s.TestAcc >= 0 && s.TestAcc <= 1) {
			return fmt.Errorf("plots: %s: steps[%d].TestAcc (step %d) = %v, want a fraction in [0, 1]", fn, i, s.Step, s.TestAcc)
		}
	}
	return nil
}

func renderTraining(steps []Step) (*figure, []panelInfo, error) {
	if err := validateSteps(steps); err != nil {
		return nil, nil, err
	}
	n := len(steps)
	last := steps[n-1]

	newPanel := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		stylePanel(p, title, "Newton step", ylabel)
		p.X.Tick.Marker = intTicks{}
		return p
	}
	addLine := func(p *plot.Plot, xy plotter.XYs, i int) *plotter.Line {
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil { // cannot happen: the values are finite
			panic(err)
		}
		l.Color = palette[i]
		l.Width = vg.Points(1.5)
		s.Color = palette[i]
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(2.5)
		p.Add(l, s)
		return l
	}
	// logPanel plots ys against the step numbers of the first len(ys) steps.
	var ylabels []string
	logPanel := func(title, ylabel, name string, ys []float64, i int) (*plot.Plot, string) {
		p := newPanel(title, ylabel)
		lc := newLogClip(ys)
		floor := math.Pow10(lc.lowExp())
		xy := make(plotter.XYs, len(ys))
		for j, y := range ys {
			xy[j] = plotter.XY{X: float64(steps[j].Step), Y: lc.clip(y, floor)}
		}
		l := addLine(p, xy, i)
		label := name
		if note := lc.note(floor); note != "" {
			label += " (" + note + ")"
		}
		p.Legend.Add(label, l)
		ylabels = append(ylabels, setLogY(p, lc.lowExp(), lc.highExp()))
		return p, label
	}

	var plots []*plot.Plot
	var infos []panelInfo
	if n >= 2 {
		gap := make([]float64, n-1)
		for j := range gap {
			gap[j] = steps[j].Objective - last.Objective
		}
		p, label := logPanel(fmt.Sprintf("objective gap, F(last) = %.8g", last.Objective),
			"F - F(last step) (log scale)", "F - F(last)", gap, 0)
		plots = append(plots, p)
		infos = append(infos, panelInfo{p: p, labels: []string{label}})
	} else {
		p := newPanel("objective", "objective F")
		addLine(p, plotter.XYs{{X: float64(last.Step), Y: last.Objective}}, 0)
		ylabels = append(ylabels, "")
		plots = append(plots, p)
		infos = append(infos, panelInfo{p: p})
	}

	gn := make([]float64, n)
	for j, s := range steps {
		gn[j] = s.GradNorm
	}
	p, label := logPanel("gradient norm", "gradient norm (log scale)", "||g||", gn, 1)
	plots = append(plots, p)
	infos = append(infos, panelInfo{p: p, labels: []string{label}})

	acc := make(plotter.XYs, n)
	for j, s := range steps {
		acc[j] = plotter.XY{X: float64(s.Step), Y: 100 * s.TestAcc}
	}
	p = newPanel("test accuracy", "test accuracy (%)")
	addLine(p, acc, 2)
	ylabels = append(ylabels, "")
	plots = append(plots, p)
	infos = append(infos, panelInfo{p: p})

	// The same step range on every panel, although the gap has no last point.
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, s := range steps {
		xmin, xmax = math.Min(xmin, float64(s.Step)), math.Max(xmax, float64(s.Step))
	}
	for _, p := range plots {
		p.X.Min, p.X.Max = xmin, xmax
	}

	title := "Newton training"
	plural := "s"
	if n == 1 {
		plural = ""
	}
	subtitle := fmt.Sprintf("%d step%s; last step %d: F = %.8g, gradient norm = %.3g, test accuracy = %.2f%%",
		n, plural, last.Step, last.Objective, last.GradNorm, 100*last.TestAcc)
	const panelW, panelH = 4.4 * vg.Inch, 4 * vg.Inch
	fig := newFigure(vg.Length(len(plots))*panelW, panelH+headerHeight(title, subtitle))
	c := fig.header(title, subtitle)
	data := drawRow(c, plots, ylabels)
	for i := range infos {
		infos[i].data = data[i]
	}
	return fig, infos, nil
}
