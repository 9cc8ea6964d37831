package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// go test -cpu 1,2 runs every name with and without a -2 suffix: each is
// its own configuration (benchfmt counts the suffix in a benchmark's
// identity), reported with its thread count, and the Markdown rows say
// which is which.
func TestThreadCountsKeptApart(t *testing.T) {
	doc, md, err := makeReportFile(t, td("threads.txt"))
	require.NoError(t, err)
	var reports []map[string]any
	require.NoError(t, json.Unmarshal(doc, &reports))
	require.Len(t, reports, 6, "3 configurations x 2 thread counts")
	stamps := map[string]bool{}
	for i, r := range reports {
		results := r["results"].(map[string]any)
		assert.EqualValues(t, 3, results["iters"], "report %d: -count 3 per thread count, not 6 merged", i)
		procs := r["runtime"].(map[string]any)["gomaxprocs"]
		assert.EqualValues(t, 1+i%2, procs, "report %d", i)
		stamps[r["timestamp"].(string)] = true
	}
	assert.Len(t, stamps, 3, "one timestamp per configuration (shared by its -cpu runs)")
	rows := strings.Split(strings.TrimSpace(md), "\n")[2:]
	require.Len(t, rows, 6)
	assert.Contains(t, rows[0], "| AMD EPYC 7B13 (cpu, fp32, 1 thread) | local | 0.148 | on | 64 |")
	assert.Contains(t, rows[1], "| AMD EPYC 7B13 (cpu, fp32, 2 threads) | local | 0.148 | on | 64 |")
	assert.Contains(t, rows[5], "| AMD EPYC 7B13 (cpu, fp16, 2 threads) | local | 0.148 | on | 64 |")
}

// tokens/s is computed from ns/op (exact to the nanosecond), not from
// the tokens/s metric, which go test prints rounded.
func TestTokensPerSecFromNsPerOp(t *testing.T) {
	data, err := os.ReadFile(td("one.txt"))
	require.NoError(t, err)
	rd := benchfmt.NewReader(bytes.NewReader(data), "one.txt")
	var want []float64
	for rd.Scan() {
		if r, ok := rd.Result().(*benchfmt.Result); ok {
			sec, ok := r.Value("sec/op")
			require.True(t, ok)
			require.Equal(t, "ns/op", r.Values[0].OrigUnit)
			want = append(want, 64e9/r.Values[0].OrigValue)
			rounded, ok := r.Value("tokens/s")
			require.True(t, ok)
			assert.InEpsilon(t, rounded, 64/sec, 1e-3, "the metric is about the same figure")
		}
	}
	require.Len(t, want, 3)
	doc, _, err := makeReportFile(t, td("one.txt"))
	require.NoError(t, err)
	var r struct {
		Results struct {
			PerIter   []float64              `json:"per_iter_tokens_per_sec"`
			PrefillMS struct{ Mean float64 } `json:"prefill_ms"`
		}
	}
	require.NoError(t, json.Unmarshal(doc, &r))
	assert.Equal(t, want, r.Results.PerIter)
	for _, v := range r.Results.PerIter {
		assert.NotEqual(t, v, float64(int64(v)), "not the integer the metric shows")
	}
	assert.Greater(t, r.Results.PrefillMS.Mean, 0.0)
}

func makeReportFile(t *testing.T, path string) ([]byte, string, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text, err := benchText(data, path)
	require.NoError(t, err)
	configs, err := parseResults(text, path, &bytes.Buffer{})
	if err != nil {
		return nil, "", err
	}
	reports := make([]*report.Report, len(configs))
	for i, c := range configs {
		if reports[i], err = buildReport(c, nil, &bytes.Buffer{}); err != nil {
			return nil, "", err
		}
	}
	doc, err := report.MarshalList(reports, len(reports) > 1)
	require.NoError(t, err)
	md, err := report.Markdown(report.English, reports...)
	require.NoError(t, err)
	return doc, md, nil
}

// A configuration's own facts come from its "# tokbench-config" line:
// a missing line, a malformed one, or one that contradicts the name is an
// error naming the configuration.
func TestConfigLineErrors(t *testing.T) {
	data, err := os.ReadFile(td("one.txt"))
	require.NoError(t, err)
	text := string(data)
	line := text[strings.Index(text, "# tokbench-config"):]
	line = line[:strings.Index(line, "\n")+1]
	cases := map[string]struct{ text, want string }{
		"no line":            {strings.Replace(text, line, "", 1), `dtype=fp32-2: no "# tokbench-config" line for it`},
		"not JSON":           {strings.Replace(text, line, "# tokbench-config {\"name\":\n", 1), "one.txt:20: # tokbench-config line: unexpected EOF"},
		"unknown field":      {strings.Replace(text, `"model-dtype"`, `"model-dtyp"`, 1), `unknown field "model-dtyp"`},
		"device contradicts": {strings.Replace(text, `"device-type":"cpu"`, `"device-type":"cuda"`, 1), `name says dev=cpu but the configuration line's device-type is "cuda"`},
		"dtype contradicts":  {strings.Replace(text, `"model-dtype":"fp32"`, `"model-dtype":"fp16"`, 1), `name says dtype=fp32 but the configuration line's model-dtype is "fp16"`},
		"bad timestamp":      {strings.Replace(text, `"timestamp":"2`, `"timestamp":"yesterday 2`, 1), `timestamp "yesterday 2`},
		"no dtype in name":   {strings.ReplaceAll(text, "/dtype=fp32", ""), "benchmark name has no dtype= part"},
		"two lines differ":   {strings.Replace(text, line, line+strings.Replace(line, "AMD EPYC 7B13", "Other", 1), 1), "one.txt:20"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeTemp(t, "one.txt", []byte(c.text))
			code, stdout, stderr := runTool(t, "-in", path)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, c.want)
		})
	}
}
