// Command benchreport turns the output of the tokbench generation
// benchmark (`go test -bench Generate`, plain or -json) into upstream's
// benchmark report (SPEC §3): the JSON document and the Markdown table
// row of scripts/benchmark_infer.py.
//
// Usage:
//
//	go test ./benchmarks -run '^$' -bench Generate -count 3 -json > bench.json
//	benchreport -in bench.json -vram outputs/vram.json -json-out outputs/bench_infer.json -md-out outputs/bench_infer.md
//
// The input (-in FILE, or standard input) is read as a test2json stream
// when it starts with '{', else as plain `go test` text. Each distinct
// benchmark name (without its -GOMAXPROCS suffix) is one configuration;
// its result lines are its timed iterations. One configuration gives one
// JSON object, several give a JSON array; the Markdown table (header in
// -lang, one row per configuration) is printed to standard output.
// Any failure in the run, missing configuration key or inconsistent VRAM
// sidecar is an error, and then nothing is written.
//
// Other formats (formats.go): -table llama prints llama-bench's Markdown
// table instead of upstream's; -csv, -jsonl and -svg also write the
// configurations as CSV, JSON Lines and a bar chart. Two modes read other
// files, given as arguments: -merge FILE... makes one sorted table of
// report files (tokbench's or upstream's JSON), and -compare -svg FILE
// BASE HEAD charts two go test outputs with benchstat's medians and 95%
// confidence intervals.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/labcoreai/tokbench/benchmarks/report"
	"github.com/labcoreai/tokbench/tools/internal/cli"
	"github.com/labcoreai/tokbench/tools/internal/outfile"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const synopsis = `usage: benchreport [-in FILE] [-vram FILE] [-json-out FILE] [-md-out FILE] [flags]

Turn go test -bench Generate output (plain or -json) into upstream's benchmark report.`

// run is the command with its arguments and streams; it returns the
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	in := fs.String("in", "", "go test -bench output, plain or -json (default: standard input)")
	vramPath := fs.String("vram", "", "VRAM sidecar JSON written by the benchmark (BENCH_VRAM_OUT); required for cuda runs")
	jsonOut := fs.String("json-out", "", "write the JSON report to this file")
	mdOut := fs.String("md-out", "", "write the Markdown table to this file")
	lang := fs.String("lang", "en", "language of the Markdown header: en (upstream's script) or fr (its benchmarks page)")
	var formats formatFlags // -table, -csv, -jsonl, -svg, -merge, -compare: formats.go
	formats.register(fs)
	if err := cli.Parse(fs, synopsis, args, stdout); err != nil {
		if errors.Is(err, cli.ErrDone) {
			return 0
		}
		fmt.Fprintf(stderr, "benchreport: %v\n%s\n", err, cli.Hint("benchreport"))
		return 2
	}
	if err := formats.check(); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 && !formats.takesFiles() {
		fmt.Fprintf(stderr, "benchreport: unexpected argument %q (the input is given with -in)\n", fs.Arg(0))
		return 2
	}
	l, err := report.ParseLang(*lang)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: -lang: %v\n", err)
		return 2
	}
	if formats.merge {
		return runMerge(fs, &formats, l, *mdOut, stdout, stderr)
	}
	if formats.compare {
		return runCompare(fs, formats.svg, stderr)
	}
	// Every output is checked (not an input, not another output,
	// writable) before the input is read, and all are written, or none.
	outputs := []outfile.Output{{Flag: "-json-out", Path: *jsonOut}, {Flag: "-md-out", Path: *mdOut}}
	for _, o := range formats.outputs() {
		outputs = append(outputs, outfile.Output{Flag: o.flag, Path: o.path})
	}
	outs, err := outfile.Prepare([]string{*in, *vramPath}, outputs...)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	defer outs.Discard()
	defer outs.DiscardOnInterrupt()()
	jsonDoc, md, reports, err := makeReport(*in, *vramPath, l, stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	md, extra, err := formats.render(reports, md)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	if err := outs.Write(append([][]byte{append(jsonDoc, '\n'), []byte(md)}, extra...)...); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	if _, err := io.WriteString(stdout, md); err != nil {
		fmt.Fprintf(stderr, "benchreport: writing standard output: %v\n", err)
		return 1
	}
	return 0
}

// makeReport reads the input and the sidecar and returns the JSON
// document (no trailing newline), the Markdown table and the reports.
func makeReport(inPath, vramPath string, lang report.Lang, stdin io.Reader, warn io.Writer) ([]byte, string, []*report.Report, error) {
	name := inPath
	var data []byte
	var err error
	if inPath == "" {
		name = "<stdin>"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(inPath)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading input: %w", err)
	}
	text, err := benchText(data, name)
	if err != nil {
		return nil, "", nil, err
	}
	textName := name
	if isJSONStream(data) {
		textName = name + " (test output)" // line numbers count test output lines
	}
	configs, err := parseResults(text, textName, warn)
	if err != nil {
		return nil, "", nil, err
	}
	var vram map[string]*vramEntry
	if vramPath != "" {
		if vram, err = loadVRAM(vramPath); err != nil {
			return nil, "", nil, err
		}
		known := map[string]bool{}
		for _, c := range configs {
			known[c.name] = true
		}
		var unknown []string
		for k := range vram {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, "", nil, fmt.Errorf("%s: VRAM sidecar names configurations that are not in %s: %q", vramPath, name, unknown)
		}
	}
	reports := make([]*report.Report, len(configs))
	for i, c := range configs {
		if reports[i], err = buildReport(c, vram[c.name], warn); err != nil {
			return nil, "", nil, err
		}
	}
	doc, err := report.MarshalList(reports, len(reports) > 1)
	if err != nil {
		return nil, "", nil, err
	}
	md, err := report.Markdown(lang, reports...)
	if err != nil {
		return nil, "", nil, err
	}
	return doc, md, reports, nil
}

// vramSidecar is the file the benchmark writes at BENCH_VRAM_OUT
// (CONTRACTS.md): peak device memory per configuration that ran on a GPU.
type vramSidecar struct {
	Version *int                  `json:"version"`
	Configs map[string]*vramEntry `json:"configs"`
}

// loadVRAM reads and checks the VRAM sidecar at path.
func loadVRAM(path string) (map[string]*vramEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("VRAM sidecar: %w", err)
	}
	return parseVRAM(path, data)
}

// parseVRAM is loadVRAM on the content data of the file path.
func parseVRAM(path string, data []byte) (map[string]*vramEntry, error) {
	var sc vramSidecar
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("VRAM sidecar %s: not valid JSON: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("VRAM sidecar %s: data after the JSON object", path)
	}
	if sc.Version == nil || *sc.Version != 1 {
		return nil, fmt.Errorf("VRAM sidecar %s: \"version\" must be 1", path)
	}
	if sc.Configs == nil {
		return nil, fmt.Errorf("VRAM sidecar %s: no \"configs\" object", path)
	}
	for k, e := range sc.Configs {
		switch {
		case e == nil:
			return nil, fmt.Errorf("VRAM sidecar %s: configs[%q] is null", path, k)
		case e.PeakBytes == nil:
			return nil, fmt.Errorf("VRAM sidecar %s: configs[%q] has no \"peak_bytes\"", path, k)
		case *e.PeakBytes < 0:
			return nil, fmt.Errorf("VRAM sidecar %s: configs[%q].peak_bytes is negative", path, k)
		}
	}
	return sc.Configs, nil
}
