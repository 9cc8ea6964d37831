package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The column names are a contract: appending is allowed, nothing else.
var wantColumns = []string{
	"timestamp", "commit", "device_type", "device_name", "threads",
	"model_source", "model_params_m", "model_dtype", "model_block_size", "model_n_layer", "model_n_head", "model_n_embd",
	"prompt", "gen_tokens", "use_kv_cache", "test", "iters",
	"tokens_per_sec_mean", "tokens_per_sec_min", "tokens_per_sec_max", "tokens_per_sec_stddev",
	"vram_peak_mib", "prefill_ms_mean", "decode_tokens_per_sec_mean",
	"depth", "prompt_tokens", "prompt_tokens_per_sec_mean",
}

func flatSamples() []*Report {
	a := sample()
	a.Device.Name = `AMD "EPYC", 7B13` // quotes and a comma must survive CSV
	a.Runtime.GOMAXPROCS = 2
	a.Results.TokensPerSec = Stats{Mean: 100, Min: 90, Max: 110, StdDev: ptr(10.0)}
	a.Results.PrefillMS = &Stats{Mean: 0.5163, Min: 0.5, Max: 0.53}
	b := sample()
	b.Device = Device{Type: "cuda", Name: "NVIDIA H200"}
	b.Model.DType = "fp16"
	b.Generation.UseKVCache = false
	b.Generation.Prompt = "line1\nline2"
	b.Results.VRAMPeakMiB = ptr(5.25)
	b.Runtime.GOMAXPROCS = 0
	b.Generation.Depth = 16
	b.Generation.PromptTokens = 512
	b.Results.PromptTokensPerSec = &Stats{Mean: 400, Min: 380, Max: 420}
	return []*Report{a, b}
}

func TestCSV(t *testing.T) {
	assert.Equal(t, wantColumns, FlatColumns())
	data, err := CSV(flatSamples()...)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3, "header and one row per report")
	assert.Equal(t, wantColumns, rows[0])
	get := func(row int, col string) string {
		for i, c := range wantColumns {
			if c == col {
				return rows[row][i]
			}
		}
		t.Fatalf("no column %s", col)
		return ""
	}
	assert.Equal(t, `AMD "EPYC", 7B13`, get(1, "device_name"))
	assert.Equal(t, "2", get(1, "threads"))
	assert.Equal(t, "", get(2, "threads"), "unknown thread count is an empty cell")
	assert.Equal(t, "tg256", get(1, "test"))
	assert.Equal(t, "100", get(1, "tokens_per_sec_mean"))
	assert.Equal(t, "0", get(1, "depth"))
	assert.Equal(t, "", get(1, "prompt_tokens"), "no prompt-processing run is an empty cell")
	assert.Equal(t, "", get(1, "prompt_tokens_per_sec_mean"))
	assert.Equal(t, "16", get(2, "depth"))
	assert.Equal(t, "512", get(2, "prompt_tokens"))
	assert.Equal(t, "400", get(2, "prompt_tokens_per_sec_mean"))
	assert.Equal(t, "10", get(1, "tokens_per_sec_stddev"))
	assert.Equal(t, "", get(2, "tokens_per_sec_stddev"))
	assert.Equal(t, "0.5163", get(1, "prefill_ms_mean"))
	assert.Equal(t, "", get(1, "vram_peak_mib"))
	assert.Equal(t, "5.25", get(2, "vram_peak_mib"))
	assert.Equal(t, "false", get(2, "use_kv_cache"))
	assert.Equal(t, "line1\nline2", get(2, "prompt"))
	assert.Equal(t, "fp16", get(2, "model_dtype"))
	assert.Equal(t, "2026-03-01T12:30:05+00:00", get(1, "timestamp"))
}

func TestJSONL(t *testing.T) {
	data, err := JSONL(flatSamples()...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 2, "one line per report")
	for i, line := range lines {
		// Keys in column order.
		dec := json.NewDecoder(strings.NewReader(line))
		tok, err := dec.Token()
		require.NoError(t, err)
		require.Equal(t, json.Delim('{'), tok)
		var keys []string
		for dec.More() {
			k, err := dec.Token()
			require.NoError(t, err)
			keys = append(keys, k.(string))
			var skip json.RawMessage
			require.NoError(t, dec.Decode(&skip))
		}
		assert.Equal(t, wantColumns, keys, "line %d", i)
	}
	var a, b map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &b))
	assert.Equal(t, 2.0, a["threads"])
	assert.Nil(t, b["threads"])
	assert.Equal(t, 10.0, a["tokens_per_sec_stddev"])
	assert.Nil(t, b["tokens_per_sec_stddev"])
	assert.Equal(t, 5.25, b["vram_peak_mib"])
	assert.Equal(t, false, b["use_kv_cache"])
	assert.Equal(t, "cuda", b["device_type"])
}

func TestFlatFormatsRefuseBadReports(t *testing.T) {
	bad := sample()
	bad.Results.TokensPerSec.Mean = 1000 // above max
	for _, f := range []func(...*Report) ([]byte, error){CSV, JSONL} {
		_, err := f(sample(), bad)
		assert.ErrorContains(t, err, "report 1: invalid report: results.tokens_per_sec")
		_, err = f()
		assert.ErrorContains(t, err, "no reports")
		_, err = f(nil)
		assert.ErrorContains(t, err, "report 0: nil")
	}
}
