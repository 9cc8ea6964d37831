package benchmarks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/sampler"
)

// The bundled model's block_size, which bounds prompts and depths.
const bundledBlockSize = 32

func TestPromptTokensAndDepthBadValues(t *testing.T) {
	for v, values := range map[string][]string{
		"BENCH_PROMPT_TOKENS": {"0", "-3", "1.5", "abc", "64,x", ""},
		"BENCH_DEPTH":         {"-1", "2.5", "x", "0,-512", "8,"},
	} {
		for _, val := range values {
			e := map[string]string{v: val}
			if val == "" { // set but empty reads as unset: test the list's empty item instead
				e[v] = "16,,32"
			}
			_, err := ParamsFromEnv(env(e), testRoot(t))
			require.Error(t, err, "%s=%q", v, e[v])
			assert.Contains(t, err.Error(), v, "%s=%q", v, e[v])
		}
	}
	cfg := filepath.Join(t.TempDir(), "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[benchmark]\ndepth = [0, -2]\n"), 0o644))
	_, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), testRoot(t))
	assert.ErrorContains(t, err, "[benchmark].depth")
	require.NoError(t, os.WriteFile(cfg, []byte("[benchmark]\nprompt_tokens = 1.5\n"), 0o644))
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), testRoot(t))
	assert.ErrorContains(t, err, "[benchmark].prompt_tokens")
	require.NoError(t, os.WriteFile(cfg, []byte("[benchmark]\nprompt_tokens = [128, 512]\ndepth = [0, 16]\n"), 0o644))
	p, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), testRoot(t))
	require.NoError(t, err)
	assert.Equal(t, []int{128, 512}, p.PromptTokens)
	assert.Equal(t, []int{0, 16}, p.Depths)
}

// Names stay as they were without BENCH_DEPTH (make compare pairs them
// with older outputs); with it, every name has the depth key, 0 included.
func TestDepthNames(t *testing.T) {
	p, err := ParamsFromEnv(env(nil), testRoot(t))
	require.NoError(t, err)
	assert.Nil(t, p.Depths)
	cs, err := Configs(&p)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, "src=local/dev=cpu/kv=on/gen=256/dtype=fp32", cs[0].Name())

	p, err = ParamsFromEnv(env(map[string]string{"BENCH_DEPTH": "0, 16", "BENCH_GEN_TOKENS": "4,8"}), testRoot(t))
	require.NoError(t, err)
	cs, err = Configs(&p)
	require.NoError(t, err)
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
	}
	assert.Equal(t, []string{
		"src=local/dev=cpu/kv=on/gen=4/depth=0/dtype=fp32", "src=local/dev=cpu/kv=on/gen=4/depth=16/dtype=fp32",
		"src=local/dev=cpu/kv=on/gen=8/depth=0/dtype=fp32", "src=local/dev=cpu/kv=on/gen=8/depth=16/dtype=fp32",
	}, names)
}

// The default prompt length is clipped to block_size, and the name says
// what runs; an explicit one past block_size is an error.
func TestPromptTokens(t *testing.T) {
	p, err := ParamsFromEnv(env(map[string]string{"BENCH_DTYPE": "fp32,fp16"}), testRoot(t))
	require.NoError(t, err)
	cs, err := PromptConfigs(&p)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	assert.Equal(t, "src=local/dev=cpu/prompt=512/dtype=fp16", cs[1].Name())
	r, err := NewRunner(cs[1], &bytes.Buffer{})
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, "src=local/dev=cpu/prompt=32/dtype=fp16", r.Name())
	assert.Equal(t, bundledBlockSize, r.PromptTokens())
	ids := r.SyntheticIDs()
	require.Len(t, ids, bundledBlockSize)
	assert.Equal(t, SyntheticIDs(bundledBlockSize, 65, SyntheticSeed), ids, "seeded: the same ids every run")
	distinct := map[int]bool{}
	for _, id := range ids {
		require.True(t, id >= 0 && id < 65, "id %d outside the vocab", id)
		distinct[id] = true
	}
	assert.Greater(t, len(distinct), 10, "random ids, not a constant")
	require.NoError(t, r.PrefillPrompt())

	p, err = ParamsFromEnv(env(map[string]string{"BENCH_PROMPT_TOKENS": "8,33"}), testRoot(t))
	require.NoError(t, err)
	cs, err = PromptConfigs(&p)
	require.NoError(t, err)
	r, err = NewRunner(cs[0], &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "src=local/dev=cpu/prompt=8/dtype=fp32", r.Name())
	r.Close()
	_, err = NewRunner(cs[1], &bytes.Buffer{})
	require.ErrorIs(t, err, ErrDepth)
	assert.Contains(t, err.Error(), "33 prompt tokens")
	assert.Contains(t, err.Error(), "block_size 32")
}

func depthConfig(t *testing.T, e map[string]string) Config {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "seed.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[generation]\nseed = 7\n"), 0o644))
	e["BENCH_CONFIG"] = cfg
	return defaultConfig(t, e)
}

// After FillCache the engine's cache holds exactly the depth tokens at
// positions 0..d-1: decoding a token against it gives the logits of a
// prefill of those tokens and it, and not those of one token fewer.
func TestFillCacheHoldsDepthTokens(t *testing.T) {
	for _, d := range []int{1, 16, bundledBlockSize - 1} {
		r, err := NewRunner(depthConfig(t, map[string]string{"BENCH_DEPTH": strconv.Itoa(d)}), &bytes.Buffer{})
		require.NoError(t, err)
		ids := append([]int(nil), r.SyntheticIDs()...)
		require.Len(t, ids, d)
		require.NoError(t, r.FillCache())
		const x = 5
		got, err := r.Backend.Decode(x)
		require.NoError(t, err)
		got = append([]float32(nil), got...)
		want, err := r.Backend.Prefill(append(append([]int(nil), ids...), x))
		require.NoError(t, err)
		assert.Less(t, maxRelDiff(got, want), 1e-4, "depth %d: decode after FillCache vs prefill of the %d tokens and x", d, d)
		if d > 1 {
			shorter, err := r.Backend.Prefill(append(append([]int(nil), ids[1:]...), x))
			require.NoError(t, err)
			assert.Greater(t, maxRelDiff(got, shorter), 1e-3, "depth %d: a cache of %d tokens must differ", d, d-1)
		}
		r.Close()
	}
}

// At a depth whose generation runs past block_size (and at depth
// block_size, the window full), the decodes slide as the generation loop
// does: the same tokens as gpt's Generate from the same prompt, whose
// sliding window is tested against PyTorch.
func TestDepthSlidesAsGeneration(t *testing.T) {
	for _, d := range []int{bundledBlockSize - 3, bundledBlockSize} {
		const n = 12
		r, err := NewRunner(depthConfig(t, map[string]string{"BENCH_DEPTH": strconv.Itoa(d)}), &bytes.Buffer{})
		require.NoError(t, err)
		require.NoError(t, r.FillCache())
		got, err := r.DecodeSteps(n)
		require.NoError(t, err)
		got = append([]int(nil), got...)
		s, err := sampler.New(r.Config.Settings.Sampling, r.Config.Settings.Seed)
		require.NoError(t, err)
		res, err := gpt.NewGenerator(r.Backend, r.Loaded.Model.Config).Generate(r.SyntheticIDs(), n, true, s)
		require.NoError(t, err)
		assert.Equal(t, res.Tokens, got, "depth %d", d)
		_, err = r.DecodeSteps(n)
		assert.ErrorContains(t, err, "without FillCache", "each op fills the cache first")
		r.Close()
	}
}

func TestDepthThatDoesNotFit(t *testing.T) {
	_, err := NewRunner(defaultConfig(t, map[string]string{"BENCH_DEPTH": "33"}), &bytes.Buffer{})
	require.ErrorIs(t, err, ErrDepth)
	assert.Contains(t, err.Error(), "depth 33")
	assert.Contains(t, err.Error(), "block_size 32")
	_, err = NewRunner(defaultConfig(t, map[string]string{"BENCH_DEPTH": "8", "BENCH_USE_KV_CACHE": "off"}), &bytes.Buffer{})
	require.ErrorIs(t, err, ErrDepthWithoutCache)
	r, err := NewRunner(defaultConfig(t, map[string]string{"BENCH_DEPTH": "0", "BENCH_USE_KV_CACHE": "off"}), &bytes.Buffer{})
	require.NoError(t, err, "depth 0 is upstream's generation, with or without the cache")
	r.Close()
}

// benchOutput runs this test binary's benchmarks matching bench with the
// BENCH_* settings of env (the caller's own left out).
func benchOutput(t *testing.T, bench string, env ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench="+bench, "-test.benchtime=2x", "-test.cpu=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BENCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BENCH_WARMUP_TOKENS=1", "BENCH_PROGRESS=off")
	cmd.Env = append(cmd.Env, env...)
	return cmd.CombinedOutput()
}

// BenchmarkPrompt reports positive prompt tokens/s under its names, and
// BenchmarkGenerate at depth has the depth key on every name; in one
// process both keep one benchfmt configuration (one benchstat table).
func TestBenchmarkPromptAndDepthOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark")
	}
	out, err := benchOutput(t, "^Benchmark(Prompt|Generate)$", "BENCH_DEPTH=0,8", "BENCH_GEN_TOKENS=4", "BENCH_PROMPT_TOKENS=4,32")
	require.NoError(t, err, string(out))
	rd := benchfmt.NewReader(bytes.NewReader(out), "out")
	tps := map[string]float64{}
	for rd.Scan() {
		r, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		v, ok := r.Value("tokens/s")
		require.True(t, ok, "tokens/s on %s", r.Name)
		tps["Benchmark"+r.Name.String()] = v
	}
	require.NoError(t, rd.Err())
	require.Len(t, tps, 4, string(out))
	for _, name := range []string{
		"BenchmarkPrompt/src=local/dev=cpu/prompt=4/dtype=fp32", "BenchmarkPrompt/src=local/dev=cpu/prompt=32/dtype=fp32",
		"BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/depth=0/dtype=fp32", "BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/depth=8/dtype=fp32",
	} {
		assert.Greater(t, tps[name], 0.0, name)
	}

	out, err = benchOutput(t, "^BenchmarkGenerate$", "BENCH_DEPTH=8", "BENCH_GEN_TOKENS=4", "BENCH_USE_KV_CACHE=on,off")
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "[tokbench] src=local/dev=cpu/kv=off/gen=4/depth=8/dtype=fp32: skipped: depth 8: a depth needs the KV cache")
	assert.Contains(t, string(out), "BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/depth=8/dtype=fp32 ")

	out, err = benchOutput(t, "^BenchmarkGenerate$", "BENCH_DEPTH=8,33", "BENCH_GEN_TOKENS=4")
	require.Error(t, err, string(out))
	assert.Contains(t, string(out), "BENCH_DEPTH: depth 33 does not fit the model: past its block_size 32")
	out, err = benchOutput(t, "^BenchmarkPrompt$", "BENCH_PROMPT_TOKENS=64")
	require.Error(t, err, string(out))
	assert.Contains(t, string(out), "BENCH_PROMPT_TOKENS: 64 prompt tokens does not fit the model")
}
