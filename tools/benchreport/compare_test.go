package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchOutput is plain go test output with the tokens/s of each
// configuration (kv=on, kv=off) on its result lines.
func benchOutput(on, off []float64) string {
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/labcoreai/tokbench/benchmarks\n")
	for _, c := range []struct {
		kv   string
		vals []float64
	}{{"on", on}, {"off", off}} {
		for _, v := range c.vals {
			fmt.Fprintf(&b, "BenchmarkGenerate/src=local/dev=cpu/kv=%s/gen=256-2   \t       1\t  %d ns/op\t %g tokens/s\n", c.kv, int(256e9/v), v)
		}
	}
	b.WriteString("PASS\nok  \tgithub.com/labcoreai/tokbench/benchmarks\t3.2s\n")
	return b.String()
}

// make compare's chart: per configuration, base and head side by side at
// their medians, whiskers at benchstat's 95% confidence interval (with 6
// runs: from the smallest to the largest value), none where benchstat
// has no finite interval (5 runs), which is said on stderr.
func TestCompareChart(t *testing.T) {
	dir := t.TempDir()
	base := writeInput(t, dir, "base.txt", benchOutput([]float64{101, 103, 99, 102, 100, 101}, []float64{51, 52, 50, 51, 53, 49}))
	head := writeInput(t, dir, "head.txt", benchOutput([]float64{201, 211, 191, 206, 196, 201}, []float64{61, 62, 60, 61, 63}))
	svgPath := filepath.Join(dir, "compare.svg")
	code, stdout, stderr := runTool(t, "-compare", "-svg", svgPath, base, head)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "BenchmarkGenerate/src=local/dev=cpu/kv=off/gen=256-2 (head): need >= 6 samples for confidence interval at level 0.95")
	data, err := os.ReadFile(svgPath)
	require.NoError(t, err)
	doc := parseSVG(t, data)
	assert.Contains(t, doc.texts, "tokbench: base vs head")
	assert.Contains(t, doc.texts, "median tokens/s, whiskers at the 95% confidence interval (benchstat)")
	for _, s := range []string{"base", "head", "kv=on", "kv=off", "101", "201", "51", "61"} {
		assert.Equal(t, 1, count(doc.texts, s), "text %q", s)
	}
	bars := doc.bars()
	require.Len(t, bars, 4, "base and head for each configuration")
	medians := []float64{101, 201, 51, 61} // base on, head on, base off, head off, left to right
	unit := (bars[0].maxY - bars[0].minY) / medians[0]
	for i, m := range medians {
		assert.InDelta(t, m*unit, bars[i].maxY-bars[i].minY, 0.05, "bar %d at the median", i)
	}
	whisker := func(b svgShape) (lo, hi float64, ok bool) {
		centre := (b.minX + b.maxX) / 2
		for _, s := range doc.strokes {
			if math.Abs(s.minX-centre) < 0.01 && math.Abs(s.maxX-centre) < 0.01 && s.maxY > s.minY {
				return (s.minY - b.minY) / unit, (s.maxY - b.minY) / unit, true
			}
		}
		return 0, 0, false
	}
	for i, want := range [][2]float64{{99, 103}, {191, 211}, {49, 53}} {
		lo, hi, ok := whisker(bars[i])
		require.True(t, ok, "bar %d has a whisker", i)
		assert.InDelta(t, want[0], lo, 0.05, "bar %d CI low", i)
		assert.InDelta(t, want[1], hi, 0.05, "bar %d CI high", i)
	}
	_, _, ok := whisker(bars[3])
	assert.False(t, ok, "5 runs: no finite interval, no whisker")
}

func TestCompareRefuses(t *testing.T) {
	dir := t.TempDir()
	base := writeInput(t, dir, "base.txt", benchOutput([]float64{1, 2}, []float64{1, 2}))
	other := writeInput(t, dir, "other.txt", strings.ReplaceAll(benchOutput([]float64{1, 2}, nil), "gen=256", "gen=64"))
	noTPS := writeInput(t, dir, "notps.txt", "BenchmarkMatVec-2   \t 100\t 50 ns/op\nPASS\n")
	failed := writeInput(t, dir, "failed.txt", "BenchmarkGenerate/src=local-2 \t 1\t 5 ns/op\t 3 tokens/s\n--- FAIL: BenchmarkGenerate\nFAIL\n")
	svg := filepath.Join(dir, "c.svg")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-compare", "-svg", svg, base}, 2, "two go test outputs"},
		{[]string{"-compare", base, base}, 2, "needs -svg FILE"},
		{[]string{"-compare", "-svg", svg, "-csv", filepath.Join(dir, "x.csv"), base, base}, 2, "-csv is for a benchmark run"},
		{[]string{"-compare", "-svg", svg, base, other}, 1, "have no configuration in common"},
		{[]string{"-compare", "-svg", svg, noTPS, base}, 1, noTPS + ": no results with a tokens/s metric"},
		{[]string{"-compare", "-svg", svg, base, failed}, 1, failed + ": the run failed"},
		{[]string{"-compare", "-svg", svg, base, filepath.Join(dir, "nope.txt")}, 1, "nope.txt"},
		{[]string{"-compare", "-svg", base, base, other}, 1, "is the same file as the input"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			code, _, stderr := runTool(t, c.args...)
			assert.Equal(t, c.code, code)
			assert.Contains(t, stderr, c.want)
		})
	}
	_, err := os.Stat(svg)
	assert.True(t, os.IsNotExist(err), "no chart written")
}
