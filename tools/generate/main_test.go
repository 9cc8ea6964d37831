package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixtureFiles(name string) (ckpt, meta string) {
	return gpttest.Checkpoint(name), gpttest.Meta(name)
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// Greedy text through the cache and without it, through the slide, equal to
// what PyTorch generated (ref.json), and nothing but the text on stdout.
func TestGreedyTextMatchesPyTorch(t *testing.T) {
	for _, name := range []string{"learned_bias", "rope_nobias", "fp16"} {
		ckpt, meta := fixtureFiles(name)
		ref, err := gpttest.LoadRef(name)
		require.NoError(t, err)
		n := strconv.Itoa(ref.Greedy.NNew)
		for _, c := range []struct {
			flags []string
			text  string
		}{
			{nil, ref.Greedy.KV.Text},
			{[]string{"--no-use-kv-cache"}, ref.Greedy.NoCache.Text},
			{[]string{"-no-use-kv-cache", "--use-kv-cache"}, ref.Greedy.KV.Text}, // the last one wins
		} {
			args := append([]string{"--checkpoint", ckpt, "--meta", meta, "--prompt", "ROMEO:", "--max-new-tokens", n, "--top-k", "1"}, c.flags...)
			out, errOut, code := runCmd(t, args...)
			require.Equal(t, 0, code, errOut)
			assert.Equal(t, "ROMEO:"+c.text+"\n", out, "%s %v", name, c.flags)
		}
	}
}

func TestSeedRepeatsAndStdoutIsOnlyText(t *testing.T) {
	ckpt, meta := fixtureFiles("learned_bias")
	args := []string{"--checkpoint", ckpt, "--meta", meta, "--prompt", "ROMEO:", "--max-new-tokens", "80", "--seed", "7", "--temperature", "1.2", "--top-p", "0.9", "--repetition-penalty", "1.3"}
	a, errA, code := runCmd(t, args...)
	require.Equal(t, 0, code, errA)
	b, _, _ := runCmd(t, args...)
	assert.Equal(t, a, b)
	assert.True(t, strings.HasPrefix(a, "ROMEO:") && strings.HasSuffix(a, "\n"))
	assert.Len(t, []rune(strings.TrimSuffix(a, "\n")), 6+80)
	assert.Contains(t, errA, "Generation seed: 7")
}

func TestBadInputIsAClearError(t *testing.T) {
	ckpt, meta := fixtureFiles("learned_bias")
	base := []string{"--checkpoint", ckpt, "--meta", meta}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--prompt", "ROMÉO"}, 1, `--prompt: tokenizer: prompt has characters outside the char vocab: "É"`},
		{[]string{"--prompt", ""}, 1, "at least one token"},
		{[]string{"--top-p", "0"}, 1, "top_p must be in the interval (0, 1]"},
		{[]string{"--top-p", "1.5"}, 1, "top_p"},
		{[]string{"--repetition-penalty", "0"}, 1, "repetition_penalty must be > 0"},
		{[]string{"--max-new-tokens", "-1"}, 2, "--max-new-tokens"},
		{[]string{"--tokenizer", "word"}, 2, "--tokenizer"},
		{[]string{"--device", "tpu"}, 1, `device "tpu"`},
		{[]string{"--dtype", "int4"}, 2, "--dtype"},
		{[]string{"--top-k", "x"}, 2, "top-k"},
		{[]string{"--source", "hf"}, 2, "--repo-id is required"},
	}
	for _, c := range cases {
		out, errOut, code := runCmd(t, append(append([]string{}, base...), c.args...)...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.want, "%v", c.args)
		assert.Empty(t, out, "%v", c.args)
	}
	_, errOut, code := runCmd(t, "--checkpoint", filepath.Join(t.TempDir(), "none.pt"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "none.pt")
}

func TestCUDAFallsBackToCPU(t *testing.T) {
	ckpt, meta := fixtureFiles("learned_bias")
	out, errOut, code := runCmd(t, "--checkpoint", ckpt, "--meta", meta, "--device", "cuda", "--max-new-tokens", "5", "--top-k", "1")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "CUDA not available, falling back to CPU.")
	assert.Contains(t, errOut, "-tags cuda")
	assert.True(t, strings.HasPrefix(out, "To be"))
}

// [generation] max_new_tokens of --config is the default length; an
// explicit --max-new-tokens wins; a negative one is an error naming the
// file and the key.
func TestConfigMaxNewTokens(t *testing.T) {
	ckpt, meta := fixtureFiles("learned_bias")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gen.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[generation]\nmax_new_tokens = 7\ntop_k = 1\n"), 0o644))
	base := []string{"--checkpoint", ckpt, "--meta", meta, "--prompt", "ROMEO:", "--config", cfg}
	out, errOut, code := runCmd(t, base...)
	require.Equal(t, 0, code, errOut)
	assert.Len(t, []rune(strings.TrimSuffix(out, "\n")), 6+7)
	out, errOut, code = runCmd(t, append(base, "--max-new-tokens", "3")...)
	require.Equal(t, 0, code, errOut)
	assert.Len(t, []rune(strings.TrimSuffix(out, "\n")), 6+3)
	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[generation]\nmax_new_tokens = -2\n"), 0o644))
	out, errOut, code = runCmd(t, "--checkpoint", ckpt, "--meta", meta, "--config", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, bad+": [generation] max_new_tokens must be >= 0, got -2")
	assert.Empty(t, out)
}

// -h and --version exit 0 with their text on stdout, as the other tools.
func TestHelpAndVersionExitZero(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		out, errOut, code := runCmd(t, arg)
		assert.Equal(t, 0, code, arg)
		assert.Contains(t, out, "usage: generate [flags]")
		assert.Contains(t, out, "-max-new-tokens")
		assert.Empty(t, errOut)
	}
	out, _, code := runCmd(t, "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "generate (tokbench) "), out)
}

// An unknown flag is one line and a pointer to --help, not the usage.
func TestUnknownFlagIsOneLine(t *testing.T) {
	out, errOut, code := runCmd(t, "--max-new-token", "5")
	assert.Equal(t, 2, code)
	assert.Equal(t, "generate: flag provided but not defined: -max-new-token\nRun 'generate --help' for the list of flags.\n", errOut)
	assert.Empty(t, out)
}
