package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// A sweep's output (three configurations) through every format flag:
// -table llama on stdout and -md-out, one CSV row, one JSONL line and one
// bar per configuration.
func TestFormatFlags(t *testing.T) {
	dir := t.TempDir()
	out := func(name string) string { return filepath.Join(dir, name) }
	code, stdout, stderr := runTool(t, "-in", td("multi.txt"), "-table", "llama", "-md-out", out("t.md"),
		"-csv", out("r.csv"), "-jsonl", out("r.jsonl"), "-svg", out("r.svg"))
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 5, "llama header, separator, 3 rows")
	assert.True(t, strings.HasPrefix(lines[0], "| model                          |       size |     params | backend    | threads |"), lines[0])
	md, err := os.ReadFile(out("t.md"))
	require.NoError(t, err)
	assert.Equal(t, stdout, string(md))

	data, err := os.ReadFile(out("r.csv"))
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header + 3 configurations")
	assert.Equal(t, report.FlatColumns(), rows[0])

	data, err = os.ReadFile(out("r.jsonl"))
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), 3)

	data, err = os.ReadFile(out("r.svg"))
	require.NoError(t, err)
	assert.Len(t, parseSVG(t, data).bars(), 3)
}

// README documents every CSV / JSONL column by name.
func TestREADMEDocumentsColumns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	for _, c := range report.FlatColumns() {
		assert.Contains(t, string(data), "`"+c+"`", "README names column %s", c)
	}
}

// README's chart is what benchreport draws from the sweep output kept
// beside it (docs/results/sweep.jsonl), with the command README gives.
func TestREADMEChartIsFromItsData(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "results")
	out := filepath.Join(t.TempDir(), "sweep.svg")
	code, _, stderr := runTool(t, "-in", filepath.Join(dir, "sweep.jsonl"), "-table", "llama", "-svg", out)
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, "sweep.svg"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "docs/results/sweep.svg is not what benchreport draws from docs/results/sweep.jsonl: regenerate it with README's command")
	assert.Len(t, parseSVG(t, got).bars(), 4, "fp32/fp16 x kv on/off")
}
