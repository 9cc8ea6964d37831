package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

const promptHead = `tokbench-commit: 3f2c9b1e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e
platform-os: Linux-6.1.0-28-cloud-amd64-x86_64-with-glibc2.36
go-version: go1.26.8
model-source: local
model-params-m: 0.148224
model-block-size: 128
model-n-layer: 6
model-n-head: 8
model-n-embd: 64
gen-prompt: "ROMEO:"
gen-temperature: 0.9
gen-top-k: 40
gen-top-p: 1
gen-repetition-penalty: 1
gen-seed: none
gen-warmup-tokens: 64
goos: linux
goarch: amd64
pkg: github.com/labcoreai/tokbench/benchmarks
cpu: AMD EPYC
`

// promptOutput is go test output of BenchmarkGenerate and BenchmarkPrompt
// with these names (without "Benchmark"), each with its configuration
// line and two result lines of 2 ms and 4 ms per op.
func promptOutput(names ...string) []byte {
	var b strings.Builder
	b.WriteString(promptHead)
	for _, n := range names {
		fmt.Fprintf(&b, `# tokbench-config {"name":"Benchmark%s","timestamp":"2026-11-28T10:00:00Z","device-type":"cpu","device-name":"AMD EPYC","cuda-driver":"","model-dtype":"fp32"}`+"\n", n)
	}
	for _, n := range names {
		for _, ns := range []int{2000000, 4000000} {
			fmt.Fprintf(&b, "Benchmark%s \t 20\t %d ns/op\t 1000 tokens/s\n", n, ns)
		}
	}
	b.WriteString("PASS\nok  \tgithub.com/labcoreai/tokbench/benchmarks\t0.2s\n")
	return []byte(b.String())
}

func reportsOf(t *testing.T, text []byte) ([]*report.Report, string, error) {
	t.Helper()
	var warn bytes.Buffer
	configs, err := parseResults(text, "out.txt", &warn)
	if err != nil {
		return nil, warn.String(), err
	}
	var reports []*report.Report
	for _, c := range configs {
		r, err := buildReport(c, nil, &warn)
		if err != nil {
			return nil, warn.String(), err
		}
		reports = append(reports, r)
	}
	return reports, warn.String(), nil
}

// BENCH_DEPTH's key gives generation.depth; BenchmarkPrompt's results join
// the reports of the same src, dev, dtype and threads as
// prompt_tokens / prompt_tokens_per_sec, from the exact ns/op.
func TestPromptAndDepthReports(t *testing.T) {
	reports, warn, err := reportsOf(t, promptOutput(
		"Generate/src=local/dev=cpu/kv=on/gen=64/depth=0/dtype=fp32-2",
		"Generate/src=local/dev=cpu/kv=on/gen=64/depth=96/dtype=fp32-2",
		"Prompt/src=local/dev=cpu/prompt=128/dtype=fp32-2",
		"Prompt/src=local/dev=cpu/prompt=128/dtype=fp32", // another thread count: no generation to join
	))
	require.NoError(t, err)
	require.Len(t, reports, 2)
	assert.Equal(t, 0, reports[0].Generation.Depth)
	assert.Equal(t, 96, reports[1].Generation.Depth)
	for _, r := range reports {
		assert.Equal(t, 128, r.Generation.PromptTokens)
		require.NotNil(t, r.Results.PromptTokensPerSec)
		s := *r.Results.PromptTokensPerSec
		assert.Equal(t, 128/0.004, s.Min)
		assert.Equal(t, 128/0.002, s.Max)
		assert.Equal(t, (128/0.002+128/0.004)/2, s.Mean)
		assert.Equal(t, (64/0.002+64/0.004)/2, r.Results.TokensPerSec.Mean, "tokens/s stays the generation's")
	}
	assert.Contains(t, warn, "skipping BenchmarkPrompt/src=local/dev=cpu/prompt=128/dtype=fp32: no BenchmarkGenerate configuration")
	md, err := report.LlamaMarkdown(reports...)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(md, " pp128 |"), md)
	assert.Contains(t, md, " tg64 @ d96 |")

	// Without BENCH_DEPTH and BenchmarkPrompt, reports have neither key.
	reports, _, err = reportsOf(t, promptOutput("Generate/src=local/dev=cpu/kv=on/gen=64/dtype=fp32"))
	require.NoError(t, err)
	assert.Zero(t, reports[0].Generation.Depth)
	assert.Nil(t, reports[0].Results.PromptTokensPerSec)
}

func TestPromptAndDepthRefused(t *testing.T) {
	for want, names := range map[string][]string{
		"a report holds one prompt length": {"Generate/src=local/dev=cpu/kv=on/gen=64/dtype=fp32",
			"Prompt/src=local/dev=cpu/prompt=128/dtype=fp32", "Prompt/src=local/dev=cpu/prompt=512/dtype=fp32"},
		"name part depth=-3 is not an integer >= 0": {"Generate/src=local/dev=cpu/kv=on/gen=64/depth=-3/dtype=fp32"},
		"name part depth=x is not an integer >= 0":  {"Generate/src=local/dev=cpu/kv=on/gen=64/depth=x/dtype=fp32"},
		"name part prompt=0 is not a positive integer": {"Generate/src=local/dev=cpu/kv=on/gen=64/dtype=fp32",
			"Prompt/src=local/dev=cpu/prompt=0/dtype=fp32"},
		"no BenchmarkGenerate results": {"Prompt/src=local/dev=cpu/prompt=128/dtype=fp32"},
	} {
		_, _, err := reportsOf(t, promptOutput(names...))
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
	}
}

// A sweep over depth is charted by depth: each bar is labelled with it.
func TestChartLabelsDepth(t *testing.T) {
	reports, _, err := reportsOf(t, promptOutput(
		"Generate/src=local/dev=cpu/kv=on/gen=64/depth=0/dtype=fp32",
		"Generate/src=local/dev=cpu/kv=on/gen=64/depth=96/dtype=fp32",
	))
	require.NoError(t, err)
	svg, err := sweepChart(reports)
	require.NoError(t, err)
	var labels []string
	dec := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			inText = tk.Name.Local == "text"
		case xml.CharData:
			if inText {
				labels = append(labels, strings.TrimSpace(string(tk)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	assert.Contains(t, labels, "depth=0")
	assert.Contains(t, labels, "depth=96")
}
