package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --prompt-tokens adds prompt processing to the report, --depth fills the
// cache first; the upstream keys and Markdown row stay.
func TestPromptTokensAndDepth(t *testing.T) {
	rep, md, stderr, code := bench(t, append(local(), "--prompt-tokens", "16", "--depth", "20")...)
	require.Equal(t, 0, code, stderr)
	gen := section(t, rep, "generation")
	assert.Equal(t, 16.0, gen["prompt_tokens"])
	assert.Equal(t, 20.0, gen["depth"])
	assert.Equal(t, 8.0, gen["gen_tokens"])
	assert.Equal(t, "ROMEO:", gen["prompt"], "the upstream row keeps its prompt")
	res := section(t, rep, "results")
	pp, ok := res["prompt_tokens_per_sec"].(map[string]any)
	require.True(t, ok, "results.prompt_tokens_per_sec: %v", res)
	assert.Greater(t, pp["min"].(float64), 0.0)
	assert.LessOrEqual(t, pp["min"].(float64), pp["mean"].(float64))
	assert.LessOrEqual(t, pp["mean"].(float64), pp["max"].(float64))
	assert.Contains(t, pp, "stddev", "two iterations")
	tps := res["tokens_per_sec"].(map[string]any)
	assert.Greater(t, tps["min"].(float64), 0.0)
	assert.Contains(t, stderr, "prompt processing 2/2: 16 tokens")
	assert.Contains(t, md, "| on | 8 | ")

	rep, _, stderr, code = bench(t, local()...)
	require.Equal(t, 0, code, stderr)
	for _, k := range []string{"prompt_tokens", "depth"} {
		assert.NotContains(t, section(t, rep, "generation"), k, "not measured: no key")
	}
	assert.NotContains(t, section(t, rep, "results"), "prompt_tokens_per_sec")
}

func TestPromptTokensAndDepthErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prompt-tokens", "-1"}, "benchinfer: error: --prompt-tokens must be >= 0."},
		{[]string{"--depth", "-1"}, "benchinfer: error: --depth must be >= 0."},
		{[]string{"--depth", "1.5"}, `invalid value "1.5" for flag -depth`},
		{[]string{"--prompt-tokens", "x"}, `invalid value "x" for flag -prompt-tokens`},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, 2, run(append(local(), c.args...), &out, &errb), "%v", c.args)
		assert.Contains(t, errb.String(), c.want, "%v", c.args)
	}
	// Past the bundled model's block_size (32), or a depth without a cache.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--depth", "33"}, "benchinfer: --depth: depth 33 does not fit the model: past its block_size 32"},
		{[]string{"--prompt-tokens", "40"}, "benchinfer: --prompt-tokens: 40 prompt tokens does not fit the model: past its block_size 32"},
		{[]string{"--depth", "8", "--no-use-kv-cache"}, "benchinfer: --depth: depth 8: a depth needs the KV cache"},
	} {
		_, _, stderr, code := bench(t, append(local(), c.args...)...)
		assert.Equal(t, 1, code, "%v", c.args)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
}

func TestHelpListsPromptTokensAndDepth(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"--help"}, &out, &errb))
	assert.Contains(t, out.String(), "-prompt-tokens")
	assert.Contains(t, out.String(), "-depth")
}
