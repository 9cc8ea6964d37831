package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promptSample is a report that measured prompt processing beside a
// generation at depth.
func promptSample() *Report {
	r := sample()
	r.Generation.GenTokens = 128
	r.Generation.PromptTokens = 512
	r.Generation.Depth = 512
	r.Results.PromptTokensPerSec = &Stats{Mean: 2000, Min: 1900, Max: 2100, StdDev: ptr(100.0)}
	return r
}

// The added keys come after the schema's keys of their object, and only
// when set: a report without them is written as before.
func TestPromptAndDepthKeys(t *testing.T) {
	data, err := Marshal(promptSample())
	require.NoError(t, err)
	s := string(data)
	assert.Contains(t, s, `"stream": false,
    "prompt_tokens": 512,
    "depth": 512
  },`)
	assert.Contains(t, s, `"prompt_tokens_per_sec": {
      "mean": 2000.0,
      "min": 1900.0,
      "max": 2100.0,
      "stddev": 100.0
    }
  },`)
	var doc struct{ Generation map[string]any }
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, 512.0, doc.Generation["prompt_tokens"])
	assert.Equal(t, 512.0, doc.Generation["depth"])

	plain, err := Marshal(sample())
	require.NoError(t, err)
	for _, k := range []string{"prompt_tokens", "depth"} {
		assert.NotContains(t, string(plain), `"`+k+`"`)
	}
}

func TestPromptAndDepthValidate(t *testing.T) {
	for want, mutate := range map[string]func(r *Report){
		"generation.prompt_tokens: -1 is negative":  func(r *Report) { r.Generation.PromptTokens = -1; r.Results.PromptTokensPerSec = nil },
		"results.prompt_tokens_per_sec: missing":    func(r *Report) { r.Results.PromptTokensPerSec = nil },
		"generation.prompt_tokens: missing":         func(r *Report) { r.Generation.PromptTokens = 0 },
		"generation.depth: -4 is negative":          func(r *Report) { r.Generation.Depth = -4 },
		"results.prompt_tokens_per_sec: min 1900 <": func(r *Report) { r.Results.PromptTokensPerSec.Mean = 1 },
	} {
		r := promptSample()
		mutate(r)
		err := r.Validate()
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
	}
	require.NoError(t, promptSample().Validate())
}

// Decode reads the added keys back, so -merge keeps them; a hostile
// value is refused naming the key.
func TestPromptAndDepthDecode(t *testing.T) {
	data, err := Marshal(promptSample())
	require.NoError(t, err)
	es, err := Decode(data, "pp.json")
	require.NoError(t, err)
	assert.Equal(t, promptSample(), es[0].Report)

	bad := strings.Replace(string(data), `"depth": 512`, `"depth": -512`, 1)
	_, err = Decode([]byte(bad), "bad.json")
	assert.ErrorContains(t, err, "bad.json: invalid report: generation.depth: -512 is negative")
	bad = strings.Replace(string(data), `"prompt_tokens": 512`, `"prompt_tokens": "512"`, 1)
	_, err = Decode([]byte(bad), "bad.json")
	assert.ErrorContains(t, err, "prompt_tokens")
}

// The llama table gives a report with prompt processing a pp<N> row with
// its prompt tokens/s before its generation row, and a generation at
// depth the " @ d<depth>" suffix, as llama-bench prints them.
func TestLlamaPromptAndDepthRows(t *testing.T) {
	got, err := LlamaMarkdown(promptSample())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	require.Len(t, lines, 4, got)
	assert.Equal(t, "| labcore_gpt 6x256 F32          |   3.81 MiB |     1.00 M | CPU        |       2 |           pp512 |     2000.00 ± 100.00 |", lines[2])
	assert.Equal(t, "| labcore_gpt 6x256 F32          |   3.81 MiB |     1.00 M | CPU        |       2 |    tg128 @ d512 |         100.00 ± N/A |", lines[3])
	assert.Equal(t, "tg128 @ d512", LlamaTest(promptSample()))
	assert.Equal(t, "tg256", LlamaTest(sample()))
}

// The upstream row of a generation at depth says the depth in its Device
// cell, so that it does not look like the same configuration at depth 0.
func TestMarkdownRowSaysDepth(t *testing.T) {
	deep := sample()
	deep.Generation.Depth = 96
	md, err := Markdown(English, sample(), deep)
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSuffix(md, "\n"), "\n")[2:]
	assert.True(t, strings.HasPrefix(rows[0], "| AMD EPYC 7B13 (cpu) | local |"), rows[0])
	assert.True(t, strings.HasPrefix(rows[1], "| AMD EPYC 7B13 (cpu, depth 96) | local |"), rows[1])
}
