package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/labcoreai/tokbench/benchmarks/report"
	"github.com/labcoreai/tokbench/tools/internal/outfile"
)

// runMerge is benchreport -merge FILE... (the arguments left in fs): it
// reads report files
// (tokbench's JSON or upstream's), sorts their configurations
// (report.SortEntries) and prints one Markdown table, in the -table
// layout, also written to mdOut when set. It returns the exit status.
func runMerge(fs *flag.FlagSet, f *formatFlags, lang report.Lang, mdOut string, stdout, stderr io.Writer) int {
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "benchreport: -merge: no report files given (benchreport -merge a.json b.json ...)")
		return 2
	}
	if stray := strayFlags(fs, "merge", "table", "lang", "md-out"); len(stray) > 0 {
		fmt.Fprintf(stderr, "benchreport: -merge reads report files and makes a Markdown table (-table, -lang, -md-out); %s is for a benchmark run\n", strings.Join(stray, ", "))
		return 2
	}
	out, err := outfile.Prepare(files, outfile.Output{Flag: "-md-out", Path: mdOut})
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	defer out.Discard()
	md, err := mergeTable(files, f.table, lang)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: -merge: %v\n", err)
		return 1
	}
	if err := out.Write([]byte(md)); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	if _, err := io.WriteString(stdout, md); err != nil {
		fmt.Fprintf(stderr, "benchreport: writing standard output: %v\n", err)
		return 1
	}
	return 0
}

// mergeTable reads the report files and returns their configurations,
// sorted, as one Markdown table in the given layout.
func mergeTable(files []string, layout string, lang report.Lang) (string, error) {
	var entries []report.Entry
	for _, name := range files {
		data, err := readLimited(name, report.MaxFileBytes)
		if err != nil {
			return "", err
		}
		es, err := report.Decode(data, name)
		if err != nil {
			return "", err
		}
		entries = append(entries, es...)
	}
	report.SortEntries(entries)
	if layout == "llama" {
		reports := make([]*report.Report, len(entries))
		for i, e := range entries {
			reports[i] = e.Report
		}
		return report.LlamaMarkdown(reports...)
	}
	return report.EntriesMarkdown(lang, entries)
}

// readLimited reads the file name, refusing more than limit bytes (a
// FIFO or /dev/zero is read only up to the limit).
func readLimited(name string, limit int64) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	if len(data) == 0 {
		return nil, errors.New(name + ": empty file")
	}
	return data, nil
}
