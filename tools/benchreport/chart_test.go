package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

func chartReport(dtype string, kv bool, mean, lo, hi float64) *report.Report {
	cpu := "AMD EPYC 7B13"
	return &report.Report{
		Timestamp:  time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		Platform:   report.Platform{OS: "Linux-6.1-x86_64"},
		Device:     report.Device{Type: "cpu", Name: cpu},
		Model:      report.Model{Source: "local", ParamsM: 0.156, BlockSize: 32, NLayer: 3, NHead: 4, NEmbd: 64, DType: dtype},
		Generation: report.Generation{Prompt: "ROMEO:", GenTokens: 256, Temperature: 0.9, TopK: 40, TopP: 1, RepetitionPenalty: 1, UseKVCache: kv},
		Results:    report.Results{Iters: 3, TokensPerSec: report.Stats{Mean: mean, Min: lo, Max: hi}},
		Runtime:    report.Runtime{Engine: report.Engine, Go: "go1.26", GOOS: "linux", GOARCH: "amd64", GOMAXPROCS: 2, CPU: &cpu},
	}
}

// svgDoc is what the tests read from a chart: its texts and its filled
// shapes, parsed with encoding/xml.
type svgDoc struct {
	texts   []string
	fills   []svgShape
	strokes []svgShape // lines and outlines
}

type svgShape struct {
	color                  string
	minX, maxX, minY, maxY float64
}

func parseSVG(t *testing.T, data []byte) svgDoc {
	t.Helper()
	var doc svgDoc
	dec := xml.NewDecoder(bytes.NewReader(data))
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the chart is well-formed XML")
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "text":
				inText = true
				doc.texts = append(doc.texts, "")
			case "path":
				var d, style string
				for _, a := range el.Attr {
					switch a.Name.Local {
					case "d":
						d = a.Value
					case "style":
						style = a.Value
					}
				}
				fill, ok := strings.CutPrefix(style, "fill:")
				if !ok {
					continue
				}
				sh := svgShape{color: strings.SplitN(fill, ";", 2)[0], minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)}
				for _, pt := range strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' || r == 'Z' }) {
					var x, y float64
					_, err := fmt.Sscanf(pt, "%g,%g", &x, &y)
					require.NoError(t, err, "path point %q", pt)
					sh.minX, sh.maxX = math.Min(sh.minX, x), math.Max(sh.maxX, x)
					sh.minY, sh.maxY = math.Min(sh.minY, y), math.Max(sh.maxY, y)
				}
				if sh.color == "none" {
					doc.strokes = append(doc.strokes, sh)
				} else {
					doc.fills = append(doc.fills, sh)
				}
			}
		case xml.CharData:
			if inText {
				doc.texts[len(doc.texts)-1] += string(el)
			}
		case xml.EndElement:
			if el.Name.Local == "text" {
				inText = false
			}
		}
	}
	return doc
}

// bars returns the filled shapes of bar width (28 pt: the legend's
// swatches are smaller, the background larger), left to right.
func (d svgDoc) bars() []svgShape {
	var out []svgShape
	for _, f := range d.fills {
		if w := f.maxX - f.minX; math.Abs(w-28) < 0.01 {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].minX < out[j].minX })
	return out
}

func count(texts []string, s string) int {
	n := 0
	for _, t := range texts {
		if t == s {
			n++
		}
	}
	return n
}

// A dtype x kv sweep: one bar per configuration, in order, its height in
// proportion to its mean, coloured by dtype (the first varied dimension,
// named in the legend), labelled by kv, with its value above it.
func TestSweepChart(t *testing.T) {
	reports := []*report.Report{
		chartReport("fp32", true, 59000, 57000, 60000),
		chartReport("fp32", false, 9000, 8500, 9500),
		chartReport("fp16", true, 70000, 65000, 71000),
		chartReport("fp16", false, 12000, 11000, 12500),
	}
	svg, err := sweepChart(reports)
	require.NoError(t, err)
	doc := parseSVG(t, svg)
	assert.Contains(t, doc.texts, "tokbench: labcore_gpt 3x64 (0.156 M params) on AMD EPYC 7B13", "title: model and machine")
	assert.Contains(t, doc.texts, "mean tokens/s, whiskers from min to max", "title: what the bars show")
	assert.Contains(t, doc.texts, "dtype=fp32", "legend names the groups")
	assert.Contains(t, doc.texts, "dtype=fp16")
	assert.Equal(t, 2, count(doc.texts, "kv=on"), "each configuration's label")
	assert.Equal(t, 2, count(doc.texts, "kv=off"))
	for _, v := range []string{"59000", "9000", "70000", "12000"} {
		assert.Equal(t, 1, count(doc.texts, v), "value label %s", v)
	}
	bars := doc.bars()
	require.Len(t, bars, 4, "one bar per configuration")
	assert.Equal(t, bars[0].color, bars[1].color, "same dtype, same colour")
	assert.Equal(t, bars[2].color, bars[3].color)
	assert.NotEqual(t, bars[0].color, bars[2].color)
	unit := (bars[0].maxY - bars[0].minY) / 59000
	for i, r := range reports {
		assert.InDelta(t, r.Results.TokensPerSec.Mean*unit, bars[i].maxY-bars[i].minY, 0.05, "bar %d height", i)
	}
	assert.Greater(t, bars[2].minX-bars[1].maxX, bars[1].minX-bars[0].maxX, "a gap between groups")
}

// Every swept dimension is found; without one, the bar is named by its
// llama-bench test.
func TestChartDimensions(t *testing.T) {
	a := chartReport("fp32", true, 100, 90, 110)
	b := chartReport("fp32", true, 200, 190, 210)
	b.Runtime.GOMAXPROCS = 1
	b.Generation.GenTokens = 64
	svg, err := sweepChart([]*report.Report{a, b})
	require.NoError(t, err)
	doc := parseSVG(t, svg)
	assert.Contains(t, doc.texts, "gen=256", "gen varies: the groups")
	assert.Contains(t, doc.texts, "threads=2", "threads vary: the labels")
	assert.Contains(t, doc.texts, "threads=1")

	c := chartReport("fp16", true, 100, 90, 110)
	c.Device = report.Device{Type: "cuda", Name: "NVIDIA H200"}
	svg, err = sweepChart([]*report.Report{a, c})
	require.NoError(t, err)
	doc = parseSVG(t, svg)
	assert.Contains(t, doc.texts, "tokbench: labcore_gpt 3x64 (0.156 M params) on AMD EPYC 7B13 + NVIDIA H200")
	assert.Contains(t, doc.texts, "dev=cpu")
	assert.Contains(t, doc.texts, "dtype=fp16")

	svg, err = sweepChart([]*report.Report{a})
	require.NoError(t, err)
	doc = parseSVG(t, svg)
	assert.Contains(t, doc.texts, "tg256")
	assert.Contains(t, doc.texts, "tokbench: labcore_gpt 3x64 (0.156 M params) on AMD EPYC 7B13 (2 threads)")
	assert.Len(t, doc.bars(), 1)

	_, err = sweepChart(nil)
	assert.ErrorContains(t, err, "no reports")
}
