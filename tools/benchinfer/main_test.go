package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var baseConfig = filepath.Join("..", "..", "testdata", "models", "configs", "base.toml")

func local() []string {
	return []string{"--source", "local", "--checkpoint", filepath.Join(fixture, "ckpt.pt"), "--meta", filepath.Join(fixture, "meta.json")}
}

// Upstream's validation, message for message (argparse's parser.error: exit 2).
func TestValidationMessages(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--source", "local", "--meta", "m.json"}, "--checkpoint is required when --source local."},
		{[]string{"--source", "local", "--checkpoint", "c.pt"}, "--meta is required when --source local."},
		{[]string{"--source", "hf"}, "--repo-id is required when --source hf."},
		{append(local(), "--warmup-tokens", "-1"), "--warmup-tokens must be >= 0."},
		{append(local(), "--gen-tokens", "0"), "--gen-tokens must be > 0."},
		// Refused before any file is read or model loaded (issue 12.5).
		{append(local(), "--gen-tokens", "100000000000"), "--gen-tokens: gpt: generating 100000000000 tokens after a 6-token prompt"},
		{append(local(), "--warmup-tokens", "100000000000"), "--warmup-tokens: gpt: generating 100000000000 tokens"},
		{append(local(), "--iters", "0"), "--iters must be > 0."},
		{append(local(), "--source", "s3"), "argument --source: invalid choice"},
		{append(local(), "--tokenizer", "word"), "argument --tokenizer: invalid choice"},
		{[]string{"--source", "random"}, "--config is required when --source random"},
		{append(local(), "extra"), "unrecognized arguments: extra"},
		{append(local(), "--dtype", "int4"), "argument --dtype: want fp32, fp16 or int8, got \"int4\""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		assert.Equal(t, 2, code, "%v", c.args)
		assert.Contains(t, errb.String(), "benchinfer: error: "+c.want, "%v", c.args)
		assert.Empty(t, out.String())
	}
}

func TestHelpExitsZero(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"--help"}, &out, &errb))
	for _, f := range []string{"-source", "-checkpoint", "-meta", "-repo-id", "-repo-revision", "-tokenizer", "-config", "-prompt",
		"-warmup-tokens", "-gen-tokens", "-iters", "-use-kv-cache", "-no-use-kv-cache", "-stream", "-json-out", "-md-out", "-device",
		"-md-lang", "-version"} {
		assert.Contains(t, out.String(), f) // on stdout, as argparse prints it
	}
	assert.Empty(t, errb.String())
	out.Reset()
	assert.Equal(t, 0, run([]string{"--version"}, &out, &errb))
	assert.True(t, strings.HasPrefix(out.String(), "benchinfer (tokbench) "), out.String())
}

// An unknown flag is argparse's two lines, not the whole usage.
func TestUnknownFlagIsOneLine(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run([]string{"--sorce", "hf"}, &out, &errb))
	assert.Equal(t, "usage: benchinfer [flags] (see --help)\nbenchinfer: error: flag provided but not defined: -sorce\n", errb.String())
	assert.Empty(t, out.String())
}

// copyFile copies the file src into dir and returns the copy's path.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, filepath.Base(src))
	require.NoError(t, os.WriteFile(dst, b, 0o644))
	return dst
}

// Outputs are checked before anything is loaded or measured: an output
// that is an input or the other output, or that cannot be written, is
// refused naming the flag, the path and the cause, and the inputs are
// intact.
func TestOutputsCheckedBeforeMeasuring(t *testing.T) {
	dir := t.TempDir()
	ckpt := copyFile(t, filepath.Join(fixture, "ckpt.pt"), dir)
	meta := copyFile(t, filepath.Join(fixture, "meta.json"), dir)
	cfg := copyFile(t, baseConfig, dir)
	orig, err := os.ReadFile(ckpt)
	require.NoError(t, err)
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o644))
	md := filepath.Join(dir, "r.md")
	for _, c := range []struct {
		outs []string
		want string
	}{
		{[]string{"--json-out", ckpt, "--md-out", md}, "--json-out " + ckpt + ": is the same file as the input " + ckpt},
		{[]string{"--md-out", filepath.Join(dir, ".", "meta.json")}, "is the same file as the input " + meta},
		{[]string{"--json-out", cfg}, "is the same file as the input " + cfg},
		{[]string{"--json-out", md, "--md-out", md}, "--md-out " + md + ": is the same file as --json-out " + md},
		{[]string{"--json-out", md, "--md-out", filepath.Join(notDir, "r.md")}, "--md-out " + filepath.Join(notDir, "r.md") + ": cannot create its directory"},
	} {
		args := append([]string{"--checkpoint", ckpt, "--meta", meta, "--config", cfg, "--gen-tokens", "2", "--iters", "1"}, c.outs...)
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		assert.Equal(t, 1, code, "%v", c.outs)
		assert.Contains(t, errb.String(), c.want, "%v", c.outs)
		assert.NotContains(t, errb.String(), "loading the model", "%v: measured before refusing", c.outs)
		assert.NotContains(t, out.String(), "written to", "%v", c.outs)
	}
	after, err := os.ReadFile(ckpt)
	require.NoError(t, err)
	assert.Equal(t, orig, after, "the checkpoint changed")
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, es, 4, "files left in the directory: %v", es)
}

// A run that fails after the outputs were checked leaves the previous
// reports as they were, and no temporary file.
func TestFailedRunWritesNoReport(t *testing.T) {
	dir := t.TempDir()
	js, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
	require.NoError(t, os.WriteFile(js, []byte("previous"), 0o644))
	var out, errb bytes.Buffer
	code := run(append(local(), "--prompt", "ROMÉO", "--gen-tokens", "2", "--iters", "1", "--json-out", js, "--md-out", md), &out, &errb)
	require.Equal(t, 1, code, errb.String())
	assert.Contains(t, errb.String(), "É")
	b, err := os.ReadFile(js)
	require.NoError(t, err)
	assert.Equal(t, "previous", string(b))
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, es, 1, "files left in the directory: %v", es)
}

// --md-lang fr gives the header of upstream's French benchmarks page.
func TestMarkdownInFrench(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "r.md")
	var out, errb bytes.Buffer
	code := run(append(local(), "--gen-tokens", "2", "--warmup-tokens", "0", "--iters", "1", "--md-lang", "fr", "--md-out", md), &out, &errb)
	require.Equal(t, 0, code, errb.String())
	b, err := os.ReadFile(md)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "| Périphérique | Source | Taille du modèle (params M) | KV-cache | gen_tokens | mean tok/s | pic VRAM MiB |\n"), string(b))
	assert.Contains(t, out.String(), "| Périphérique |")
	out.Reset()
	errb.Reset()
	assert.Equal(t, 2, run(append(local(), "--md-lang", "de"), &out, &errb))
	assert.Contains(t, errb.String(), "argument --md-lang: want en or fr, got \"de\"")
}

// The local example of the benchmarks page, with upstream's base.toml
// (whose `seed = null` is no seed): the report carries the config's
// sampling settings and the checkpoint's model fields.
func TestLocalExampleReport(t *testing.T) {
	rep, md, stderr, code := bench(t, append(local(), "--config", baseConfig, "--device", "cpu", "--stream")...)
	require.Equal(t, 0, code, stderr)
	model := section(t, rep, "model")
	assert.Equal(t, map[string]any{"source": "local", "params_m": 0.156288, "block_size": 32.0, "n_layer": 3.0, "n_head": 4.0, "n_embd": 64.0, "dtype": "fp32"}, model)
	gen := section(t, rep, "generation")
	assert.Equal(t, map[string]any{"prompt": "ROMEO:", "gen_tokens": 8.0, "temperature": 0.6, "top_k": 50.0, "top_p": 0.95,
		"repetition_penalty": 1.1, "use_kv_cache": true, "stream": false}, gen)
	res := section(t, rep, "results")
	assert.Equal(t, 2.0, res["iters"])
	assert.Nil(t, res["vram_peak_mib"])
	tps := res["tokens_per_sec"].(map[string]any)
	assert.LessOrEqual(t, tps["min"].(float64), tps["mean"].(float64))
	assert.LessOrEqual(t, tps["mean"].(float64), tps["max"].(float64))
	assert.Greater(t, tps["min"].(float64), 0.0)
	assert.Equal(t, map[string]any{"type": "cpu", "name": section(t, rep, "runtime")["cpu"]}, section(t, rep, "device"))
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "| Device | Source | Model size (params M) | KV-cache | gen_tokens | mean tok/s | peak VRAM MiB |", lines[0])
	assert.Contains(t, lines[2], "(cpu) | local | 0.156 | on | 8 | ")
	assert.True(t, strings.HasSuffix(lines[2], " | N/A |"))
	assert.Contains(t, stderr, "iteration 2/2")
}

// use_kv_cache: an explicit flag wins over the config; without either,
// local means on.
func TestKVCacheRules(t *testing.T) {
	rep, _, stderr, code := bench(t, append(local(), "--config", baseConfig, "--no-use-kv-cache")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, false, section(t, rep, "generation")["use_kv_cache"])
	rep, _, stderr, code = bench(t, local()...)
	require.Equal(t, 0, code, stderr)
	gen := section(t, rep, "generation")
	assert.Equal(t, true, gen["use_kv_cache"])
	assert.Equal(t, 0.9, gen["temperature"]) // upstream's defaults without a config
	assert.Equal(t, 40.0, gen["top_k"])
}

func TestStdoutSummaryAndFiles(t *testing.T) {
	dir := t.TempDir()
	jsonOut, mdOut := filepath.Join(dir, "sub", "r.json"), filepath.Join(dir, "r.md")
	var out, errb bytes.Buffer
	code := run(append(local(), "--gen-tokens", "4", "--warmup-tokens", "0", "--iters", "1", "--stream", "--json-out", jsonOut, "--md-out", mdOut), &out, &errb)
	require.Equal(t, 0, code, errb.String())
	s := out.String()
	assert.Contains(t, s, "Note: --stream requested, but benchmark forces stream=False for comparable timing.\n")
	assert.Contains(t, s, "\nInference benchmark summary\n| Device | Source |")
	assert.Contains(t, s, "JSON written to: "+jsonOut+"\n")
	assert.Contains(t, s, "Markdown written to: "+mdOut+"\n")
	md, err := os.ReadFile(mdOut)
	require.NoError(t, err)
	assert.Contains(t, s, string(md))
	_, err = os.Stat(jsonOut)
	assert.NoError(t, err)
}

// --dtype int8: the report's model.dtype says int8, and the Markdown
// Device cell names the precision.
func TestInt8Report(t *testing.T) {
	rep, md, stderr, code := bench(t, append(local(), "--dtype", "int8")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "int8", section(t, rep, "model")["dtype"])
	assert.Contains(t, md, "int8")
}

func TestRandomSourceMeasuresAShape(t *testing.T) {
	rep, _, stderr, code := bench(t, "--source", "random", "--config", tinyConfig, "--meta", filepath.Join(fixture, "meta.json"))
	require.Equal(t, 0, code, stderr)
	m := section(t, rep, "model")
	assert.Equal(t, "random", m["source"])
	assert.Equal(t, 0.156288, m["params_m"])
}

// --threads sizes the CPU backend's worker pool (GOMAXPROCS); the report
// records it as runtime.gomaxprocs. The default is every core the process
// may use.
func TestThreads(t *testing.T) {
	rep, _, stderr, code := bench(t, append(local(), "--threads", "1")...)
	require.Equal(t, 0, code, stderr)
	assert.EqualValues(t, 1, section(t, rep, "runtime")["gomaxprocs"])
	rep, _, stderr, code = bench(t, local()...)
	require.Equal(t, 0, code, stderr)
	assert.EqualValues(t, runtime.GOMAXPROCS(0), section(t, rep, "runtime")["gomaxprocs"])
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run(append(local(), "--threads", "0"), &out, &errb))
	assert.Contains(t, errb.String(), "benchinfer: error: --threads must be > 0.")
}

// A misspelt key of upstream's config sections is a warning naming the
// closest key; the file is still used.
func TestConfigTypoWarns(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[generation]\ntemprature = 0.5\n"), 0o644))
	_, _, stderr, code := bench(t, append(local(), "--config", cfg)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "benchinfer: warning: "+cfg+": [generation].temprature: unknown key, ignored (did you mean temperature?)")
}
