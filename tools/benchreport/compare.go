package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/labcoreai/tokbench/tools/internal/outfile"
)

// compareConfidence is the confidence level of benchstat's intervals.
const compareConfidence = 0.95

// runCompare is benchreport -compare -svg FILE BASE HEAD (the arguments
// left in fs): it reads two `go test -bench` outputs, as make compare
// writes them, and draws each configuration's tokens/s at BASE and at
// HEAD as benchstat summarises them: the median with its 95% confidence
// interval (golang.org/x/perf/benchmath, making no assumption about the
// distribution, as benchstat does). It returns the exit status.
func runCompare(fs *flag.FlagSet, svgPath string, stderr io.Writer) int {
	files := fs.Args()
	if len(files) != 2 || svgPath == "" {
		fmt.Fprintln(stderr, "benchreport: -compare needs -svg FILE and two go test outputs: benchreport -compare -svg FILE BASE HEAD")
		return 2
	}
	if stray := strayFlags(fs, "compare", "svg"); len(stray) > 0 {
		fmt.Fprintf(stderr, "benchreport: -compare draws a chart (-svg) only; %s is for a benchmark run\n", strings.Join(stray, ", "))
		return 2
	}
	out, err := outfile.Prepare(files, outfile.Output{Flag: "-svg", Path: svgPath})
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	defer out.Discard()
	svg, err := compareChart(files[0], files[1], stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: -compare: %v\n", err)
		return 1
	}
	if err := out.Write(svg); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	return 0
}

// samples reads the tokens/s values of each benchmark in a go test
// output (plain or -json), by full name (the -N GOMAXPROCS suffix
// included, as benchstat keys them), in order of first appearance.
func samples(path string) ([]string, map[string][]float64, error) {
	data, err := readLimited(path, 1<<30)
	if err != nil {
		return nil, nil, err
	}
	text, err := benchText(data, path)
	if err != nil {
		return nil, nil, err
	}
	rd := benchfmt.NewReader(bytes.NewReader(text), path)
	var order []string
	values := map[string][]float64{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, nil, rec
		case *benchfmt.Result:
			v, ok := rec.Value(unitTokensPerSec)
			if !ok {
				continue
			}
			name := "Benchmark" + string(rec.Name.Full())
			if _, seen := values[name]; !seen {
				order = append(order, name)
			}
			values[name] = append(values[name], v)
		}
	}
	if err := rd.Err(); err != nil {
		return nil, nil, err
	}
	if len(order) == 0 {
		return nil, nil, fmt.Errorf("%s: no results with a %s metric", path, unitTokensPerSec)
	}
	return order, values, nil
}

// compareChart draws base vs head for the configurations both outputs
// measured; the others are named on warn.
func compareChart(basePath, headPath string, warn io.Writer) ([]byte, error) {
	baseOrder, base, err := samples(basePath)
	if err != nil {
		return nil, err
	}
	headOrder, head, err := samples(headPath)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range headOrder {
		if _, ok := base[n]; ok {
			names = append(names, n)
		} else {
			fmt.Fprintf(warn, "benchreport: %s: only in %s, not charted\n", n, headPath)
		}
	}
	for _, n := range baseOrder {
		if _, ok := head[n]; !ok {
			fmt.Fprintf(warn, "benchreport: %s: only in %s, not charted\n", n, basePath)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s and %s have no configuration in common", basePath, headPath)
	}
	labels := nameLabels(names)
	baseBars := make([]bar, len(names))
	headBars := make([]bar, len(names))
	for i, n := range names {
		for _, side := range []struct {
			vals  []float64
			dst   *bar
			group string
		}{{base[n], &baseBars[i], "base"}, {head[n], &headBars[i], "head"}} {
			s := benchmath.AssumeNothing.Summary(benchmath.NewSample(side.vals, &benchmath.DefaultThresholds), compareConfidence)
			for _, w := range s.Warnings {
				fmt.Fprintf(warn, "benchreport: %s (%s): %v\n", n, side.group, w)
			}
			*side.dst = bar{label: labels[i], group: side.group, value: s.Center, lo: s.Lo, hi: s.Hi}
			if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) {
				side.dst.lo, side.dst.hi = math.NaN(), math.NaN() // no finite interval: no whisker
			}
		}
	}
	return drawBars("tokbench: base vs head", "median tokens/s, whiskers at the 95% confidence interval (benchstat)",
		baseBars, &series{name: "head", bars: headBars})
}

// nameLabels labels benchmark names by the parts that differ between
// them (e.g. "kv=on", "dtype=fp16 -2"), or by the whole name past the
// benchmark's own when none differ.
func nameLabels(names []string) []string {
	split := make([][]string, len(names))
	width := 0
	for i, n := range names {
		_, rest, _ := strings.Cut(n, "/")
		base, procs, ok := cutProcs(rest)
		split[i] = strings.Split(base, "/")
		if ok {
			split[i] = append(split[i], "-"+procs)
		}
		width = max(width, len(split[i]))
	}
	vary := make([]bool, width)
	for j := range width {
		for _, s := range split[1:] {
			if part(s, j) != part(split[0], j) {
				vary[j] = true
			}
		}
	}
	labels := make([]string, len(names))
	for i, s := range split {
		var keep []string
		for j := range width {
			if vary[j] && part(s, j) != "" {
				keep = append(keep, part(s, j))
			}
		}
		if len(keep) == 0 {
			keep = s
		}
		labels[i] = strings.Join(keep, " ")
	}
	return labels
}

func part(s []string, j int) string {
	if j < len(s) {
		return s[j]
	}
	return ""
}

// cutProcs splits the -N GOMAXPROCS suffix off a benchmark name.
func cutProcs(name string) (string, string, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 {
		return name, "", false
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return name, "", false
		}
	}
	return name[:i], name[i+1:], true
}

// strayFlags returns, as "-name", the flags set on fs that are not among
// allowed, in the order flag.Visit gives them.
func strayFlags(fs *flag.FlagSet, allowed ...string) []string {
	var stray []string
	fs.Visit(func(fl *flag.Flag) {
		if !slices.Contains(allowed, fl.Name) {
			stray = append(stray, "-"+fl.Name)
		}
	})
	return stray
}
