package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// dimension is one thing a sweep can vary, named as the benchmark name
// key that carries it.
type dimension struct {
	key   string
	value func(r *report.Report) string
}

// dimensions are the swept dimensions a chart groups by, in the order
// of the benchmark names.
var dimensions = []dimension{
	{"dev", func(r *report.Report) string { return r.Device.Type }},
	{"dtype", func(r *report.Report) string { return r.Model.DType }},
	{"kv", func(r *report.Report) string {
		if r.Generation.UseKVCache {
			return "on"
		}
		return "off"
	}},
	{"gen", func(r *report.Report) string { return strconv.Itoa(r.Generation.GenTokens) }},
	{"threads", func(r *report.Report) string { return strconv.Itoa(r.Runtime.GOMAXPROCS) }},
	{"depth", func(r *report.Report) string { return strconv.Itoa(r.Generation.Depth) }},
}

// bar is one bar of a chart: its label, group, height and whisker ends.
type bar struct {
	label, group string
	value        float64
	lo, hi       float64 // whisker ends; NaN: none
}

// varied returns the dimensions whose values differ between reports.
func varied(reports []*report.Report) []dimension {
	var out []dimension
	for _, d := range dimensions {
		first := d.value(reports[0])
		for _, r := range reports[1:] {
			if d.value(r) != first {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// label names one configuration by the dimensions given, e.g.
// "dtype=fp16 kv=on".
func label(r *report.Report, dims []dimension) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.key + "=" + d.value(r)
	}
	return strings.Join(parts, " ")
}

// sweepChart draws the reports of one sweep as an SVG bar chart: mean
// tokens/s per configuration with min-max whiskers, bars grouped (and
// coloured) by the first dimension the sweep varied and labelled by the
// others, titled with the model and the machine.
func sweepChart(reports []*report.Report) ([]byte, error) {
	if len(reports) == 0 {
		return nil, errors.New("chart: no reports")
	}
	dims := varied(reports)
	var groupDim []dimension
	labelDims := dims
	if len(dims) > 1 {
		groupDim, labelDims = dims[:1], dims[1:]
	}
	bars := make([]bar, len(reports))
	for i, r := range reports {
		l := label(r, labelDims)
		if l == "" {
			l = report.LlamaTest(r)
		}
		s := r.Results.TokensPerSec
		bars[i] = bar{label: l, group: label(r, groupDim), value: s.Mean, lo: s.Min, hi: s.Max}
	}
	title := fmt.Sprintf("tokbench: %s on %s", modelTitle(reports), machineTitle(reports))
	return drawBars(title, "mean tokens/s, whiskers from min to max", bars, nil)
}

// modelTitle describes the model of the reports, e.g. "labcore_gpt 3x64
// (0.156 M params)", or says that they hold several.
func modelTitle(reports []*report.Report) string {
	desc := func(r *report.Report) string {
		return fmt.Sprintf("labcore_gpt %dx%d (%.3f M params)", r.Model.NLayer, r.Model.NEmbd, r.Model.ParamsM)
	}
	first := desc(reports[0])
	for _, r := range reports[1:] {
		if desc(r) != first {
			return "several models"
		}
	}
	return first
}

// machineTitle names the devices that ran the reports, in order of first
// appearance.
func machineTitle(reports []*report.Report) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range reports {
		n := r.Device.Name
		if r.Device.Type == "cpu" && r.Runtime.GOMAXPROCS > 0 && len(varied(reports)) == 0 {
			n += fmt.Sprintf(" (%d threads)", r.Runtime.GOMAXPROCS)
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, " + ")
}

// series is a second set of bars beside the first (base vs head).
type series struct {
	name string
	bars []bar
}

// drawBars renders bars as an SVG chart titled with title and, on a
// second line, what the bars show. With a second series (compare),
// each position holds the first series' bar and the second's side by
// side, the legend naming the series; otherwise bars of the same group
// share a colour, the legend naming the groups, and groups are set apart
// by a gap.
func drawBars(title, shows string, bars []bar, second *series) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title + "\n" + shows
	p.Y.Label.Text = "tokens/s"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.XOffs = -vg.Points(6) // off the right edge
	width := vg.Points(28)
	var ticks []plot.Tick
	groupColor := map[string]int{}
	var groupOrder []string
	x, top := 0.0, 0.0
	prevGroup := ""
	for i, b := range bars {
		top = max(top, b.value, finiteOr(b.hi, 0))
		if second != nil {
			top = max(top, second.bars[i].value, finiteOr(second.bars[i].hi, 0))
		}
		if i > 0 && b.group != prevGroup && second == nil {
			x += 0.5
		}
		prevGroup = b.group
		ci, ok := groupColor[b.group]
		if !ok {
			ci = len(groupColor)
			groupColor[b.group] = ci
			groupOrder = append(groupOrder, b.group)
		}
		col := plotutil.Color(ci)
		offset := vg.Length(0)
		if second != nil {
			col = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
			offset = -width / 2
		}
		if err := addBar(p, x, offset, width, b, col); err != nil {
			return nil, err
		}
		if second != nil {
			if err := addBar(p, x, width/2, width, second.bars[i], plotutil.Color(0)); err != nil {
				return nil, err
			}
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: strings.ReplaceAll(b.label, " ", "\n")})
		x++
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Max = 1.18 * top // room for the value labels and the legend
	p.X.Min, p.X.Max = -0.75, x-0.25
	if second != nil {
		p.Legend.Add(bars[0].group, swatch(color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}))
		p.Legend.Add(second.name, swatch(plotutil.Color(0)))
	} else if len(groupOrder) > 1 || groupOrder[0] != "" {
		for _, g := range groupOrder {
			p.Legend.Add(g, swatch(plotutil.Color(groupColor[g])))
		}
	}
	w := vg.Length(1.1*float64(len(bars))+1.5) * vg.Inch
	if second != nil {
		w = vg.Length(1.4*float64(len(bars))+1.5) * vg.Inch
	}
	// Wide enough for the title in a font wider than the one measured
	// (a viewer without Liberation Serif substitutes another).
	w = max(w, 5*vg.Inch, vg.Length(7*max(len(title), len(shows)))+vg.Inch)
	wt, err := p.WriterTo(w, 4*vg.Inch, "svg")
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	return buf.Bytes(), nil
}

// finiteOr returns v, or alt when v is NaN or infinite.
func finiteOr(v, alt float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return alt
	}
	return v
}

// swatch is a legend thumbnail filled with col.
func swatch(col color.Color) plot.Thumbnailer {
	b, _ := plotter.NewBarChart(plotter.Values{1}, vg.Points(10))
	b.Color = col
	b.LineStyle.Width = 0
	return b
}

// addBar adds one bar at x (+ offset) with its whisker and its value
// written above.
func addBar(p *plot.Plot, x float64, offset, width vg.Length, b bar, col color.Color) error {
	bc, err := plotter.NewBarChart(plotter.Values{b.value}, width)
	if err != nil {
		return fmt.Errorf("chart: bar %q: %w", b.label, err)
	}
	bc.XMin = x
	bc.Offset = offset
	bc.Color = col
	bc.LineStyle.Width = 0
	p.Add(bc)
	top := b.value
	if !math.IsNaN(b.lo) && !math.IsNaN(b.hi) && !math.IsInf(b.lo, 0) && !math.IsInf(b.hi, 0) {
		eb, err := plotter.NewYErrorBars(whisker{x: x, y: b.value, lo: b.value - b.lo, hi: b.hi - b.value})
		if err != nil {
			return fmt.Errorf("chart: whisker of %q: %w", b.label, err)
		}
		eb.CapWidth = width / 2
		// Whiskers sit on the bar's centre, which Offset moved.
		p.Add(shifted{eb, offset})
		top = b.hi
	}
	lbl, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: x, Y: top}},
		Labels: []string{fmt.Sprintf("%.0f", b.value)},
	})
	if err != nil {
		return fmt.Errorf("chart: label of %q: %w", b.label, err)
	}
	lbl.Offset = vg.Point{X: offset - width/2, Y: vg.Points(3)}
	p.Add(lbl)
	return nil
}

// whisker is one error bar: at (x, y), from y-lo to y+hi.
type whisker struct{ x, y, lo, hi float64 }

func (w whisker) Len() int                      { return 1 }
func (w whisker) XY(int) (float64, float64)     { return w.x, w.y }
func (w whisker) YError(int) (float64, float64) { return w.lo, w.hi }

// shifted draws a plotter moved right by dx on the canvas.
type shifted struct {
	*plotter.YErrorBars
	dx vg.Length
}

func (s shifted) Plot(c draw.Canvas, p *plot.Plot) {
	c.Rectangle.Min.X += s.dx
	c.Rectangle.Max.X += s.dx
	s.YErrorBars.Plot(c, p)
}
