package main

import (
	"flag"
	"fmt"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// formatFlags are the output formats beside upstream's report: the
// table layout, CSV, JSONL and the SVG chart, and the modes that read
// other files: -merge (report files) and -compare (two go test outputs).
type formatFlags struct {
	table, csv, jsonl, svg string
	merge, compare         bool
}

// register defines the flags on fs.
func (f *formatFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.table, "table", "upstream", "Markdown layout: upstream (the benchmarks page's row) or llama (llama-bench's table: model, size, params, backend, threads, test, t/s avg ± sd)")
	fs.StringVar(&f.csv, "csv", "", "also write the configurations as CSV, one row each (columns: see README)")
	fs.StringVar(&f.jsonl, "jsonl", "", "also write the configurations as JSON Lines, one object each (same keys as -csv)")
	fs.StringVar(&f.svg, "svg", "", "also draw tokens/s per configuration (min-max whiskers) as an SVG chart")
	fs.BoolVar(&f.merge, "merge", false, "read the report files given as arguments (tokbench's or upstream's JSON) and print one sorted Markdown table")
	fs.BoolVar(&f.compare, "compare", false, "with -svg FILE and two go test outputs BASE HEAD as arguments: chart base vs head tokens/s, median and 95% confidence interval as benchstat computes them")
}

// takesFiles reports whether the mode reads the files given as arguments
// (-merge, -compare) instead of -in.
func (f *formatFlags) takesFiles() bool { return f.merge || f.compare }

// check validates the flag values before any input is read.
func (f *formatFlags) check() error {
	if f.merge && f.compare {
		return fmt.Errorf("-merge and -compare: one mode at a time")
	}
	switch f.table {
	case "upstream", "llama":
		return nil
	}
	return fmt.Errorf("-table: unknown layout %q (want upstream or llama)", f.table)
}

// outputFlag is one output file of the formats: its flag and path.
type outputFlag struct{ flag, path string }

// outputs are the files the format flags ask for, in a fixed order (the
// order of render's data).
func (f *formatFlags) outputs() []outputFlag {
	return []outputFlag{{"-csv", f.csv}, {"-jsonl", f.jsonl}, {"-svg", f.svg}}
}

// render returns the Markdown table to print (upstreamMD, upstream's
// layout, unless -table llama) and the content of each of outputs(), nil
// for those not asked for.
func (f *formatFlags) render(reports []*report.Report, upstreamMD string) (string, [][]byte, error) {
	md := upstreamMD
	if f.table == "llama" {
		var err error
		if md, err = report.LlamaMarkdown(reports...); err != nil {
			return "", nil, err
		}
	}
	data := make([][]byte, 3)
	var err error
	if f.csv != "" {
		if data[0], err = report.CSV(reports...); err != nil {
			return "", nil, err
		}
	}
	if f.jsonl != "" {
		if data[1], err = report.JSONL(reports...); err != nil {
			return "", nil, err
		}
	}
	if f.svg != "" {
		if data[2], err = sweepChart(reports); err != nil {
			return "", nil, err
		}
	}
	return md, data, nil
}
