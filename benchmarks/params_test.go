package benchmarks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func testRoot(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	require.NoError(t, err)
	return root
}

func TestDefaultsRunTheBundledModel(t *testing.T) {
	root := testRoot(t)
	p, err := ParamsFromEnv(env(nil), root)
	require.NoError(t, err)
	assert.Equal(t, "local", p.Source)
	assert.Equal(t, filepath.Join(root, DefaultCheckpoint), p.Checkpoint)
	assert.Equal(t, filepath.Join(root, DefaultMeta), p.Meta)
	assert.Equal(t, []string{"cpu"}, p.Devices)
	assert.Equal(t, []int{256}, p.GenTokens)
	assert.Equal(t, 64, p.WarmupTokens)
	assert.Equal(t, "ROMEO:", p.Prompt)
	assert.Nil(t, p.UseKVCache)
	cs, err := Configs(&p)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, "src=local/dev=cpu/kv=on/gen=256/dtype=fp32", cs[0].Name())
	assert.Equal(t, 0.9, cs[0].Settings.Sampling.Temperature)
	assert.Nil(t, cs[0].Settings.Seed)
}

// Environment over the config's [benchmark] section over the defaults;
// [generation] gives the sampling settings, and `seed = null` is no seed.
func TestPrecedence(t *testing.T) {
	root := testRoot(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bench.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
[model]
n_layer = 3

[generation]
temperature = 0.5
top_k = 5
seed = null
use_kv_cache = false

[benchmark]
prompt = "JULIET:"
gen_tokens = [64, 128]
warmup_tokens = 0
device = "cpu"
`), 0o644))
	p, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg, "BENCH_GEN_TOKENS": "32"}), root)
	require.NoError(t, err)
	assert.Equal(t, "JULIET:", p.Prompt, "[benchmark] over the default")
	assert.Equal(t, []int{32}, p.GenTokens, "the environment over [benchmark]")
	assert.Equal(t, 0, p.WarmupTokens)
	cs, err := Configs(&p)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.False(t, cs[0].UseKVCache, "[generation].use_kv_cache")
	assert.Equal(t, 0.5, cs[0].Settings.Sampling.Temperature)
	assert.Equal(t, 5, cs[0].Settings.Sampling.TopK)
	assert.Nil(t, cs[0].Settings.Seed, "seed = null is no seed")

	p, err = ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg, "BENCH_USE_KV_CACHE": "on"}), root)
	require.NoError(t, err)
	cs, err = Configs(&p)
	require.NoError(t, err)
	assert.True(t, cs[0].UseKVCache, "the environment over [generation]")
	assert.Len(t, cs, 2, "gen_tokens = [64, 128] sweeps")
}

// use_kv_cache defaults: on for local, off for hf, and on whenever a config
// file is given that does not say.
func TestKVCacheDefaults(t *testing.T) {
	root := testRoot(t)
	hf, err := ParamsFromEnv(env(map[string]string{"BENCH_SOURCE": "hf", "BENCH_REPO_ID": "org/name"}), root)
	require.NoError(t, err)
	cs, err := Configs(&hf)
	require.NoError(t, err)
	assert.Equal(t, "src=hf/dev=cpu/kv=off/gen=256/dtype=fp32", cs[0].Name())
	cfg := filepath.Join(t.TempDir(), "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[generation]\ntop_k = 3\n"), 0o644))
	hf, err = ParamsFromEnv(env(map[string]string{"BENCH_SOURCE": "hf", "BENCH_REPO_ID": "org/name", "BENCH_CONFIG": cfg}), root)
	require.NoError(t, err)
	cs, err = Configs(&hf)
	require.NoError(t, err)
	assert.True(t, cs[0].UseKVCache)
}

func TestSweepNames(t *testing.T) {
	p, err := ParamsFromEnv(env(map[string]string{"BENCH_USE_KV_CACHE": "on,off", "BENCH_GEN_TOKENS": "64,256", "BENCH_DEVICE": "cpu,cuda", "BENCH_DTYPE": "fp32,fp16"}), testRoot(t))
	require.NoError(t, err)
	cs, err := Configs(&p)
	require.NoError(t, err)
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
	}
	assert.Len(t, names, 16)
	assert.Contains(t, names, "src=local/dev=cuda/kv=off/gen=64/dtype=fp16")
	assert.Contains(t, names, "src=local/dev=cpu/kv=on/gen=256/dtype=fp32")
	for _, c := range cs {
		assert.True(t, c.Sweep, "two devices: no fallback")
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"BENCH_SOURCE":        {"BENCH_SOURCE": "s3"},
		"BENCH_GEN_TOKENS":    {"BENCH_GEN_TOKENS": "64,zero"},
		"BENCH_WARMUP_TOKENS": {"BENCH_WARMUP_TOKENS": "-1"},
		"BENCH_USE_KV_CACHE":  {"BENCH_USE_KV_CACHE": "maybe"},
		"BENCH_DEVICE":        {"BENCH_DEVICE": "tpu"},
		"BENCH_DTYPE":         {"BENCH_DTYPE": "int4"},
		"BENCH_TOKENIZER":     {"BENCH_TOKENIZER": "word"},
		"BENCH_REPO_ID":       {"BENCH_SOURCE": "hf"},
		"BENCH_CONFIG":        {"BENCH_CONFIG": "no/such.toml"},
	}
	for want, e := range cases {
		_, err := ParamsFromEnv(env(e), testRoot(t))
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
	}
	// A bad [benchmark] value names the file and key.
	cfg := filepath.Join(t.TempDir(), "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[benchmark]\ngen_tokens = -4\n"), 0o644))
	_, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), testRoot(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[benchmark].gen_tokens")
	// [generation] type errors name the key.
	require.NoError(t, os.WriteFile(cfg, []byte("[generation]\nuse_kv_cache = \"yes\"\n"), 0o644))
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), testRoot(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "use_kv_cache")
}

// A BENCH_* variable the benchmark does not read is an error naming the
// closest known one.
// A generation too long for the memory limit is refused with the
// parameters, before anything loads, naming the variable (issue 12.5).
func TestGenTokensBoundedUpFront(t *testing.T) {
	root := testRoot(t)
	_, err := ParamsFromEnv(env(map[string]string{"BENCH_GEN_TOKENS": "256,100000000000"}), root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BENCH_GEN_TOKENS: gpt: generating 100000000000 tokens")
	assert.Contains(t, err.Error(), "GOMEMLIMIT")
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_WARMUP_TOKENS": "100000000000"}), root)
	assert.ErrorContains(t, err, "BENCH_WARMUP_TOKENS: gpt: generating 100000000000 tokens")
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_GEN_TOKENS": "100000"}), root)
	assert.NoError(t, err)
}

func TestUnknownVariableNamesTheClosest(t *testing.T) {
	err := CheckEnviron([]string{"HOME=/root", "BENCH_GEN_TOKEN=5"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BENCH_GEN_TOKEN: unknown variable (did you mean BENCH_GEN_TOKENS?)")
	err = CheckEnviron([]string{"BENCH_DEVICES=cpu"})
	assert.ErrorContains(t, err, "did you mean BENCH_DEVICE?")
	assert.NoError(t, CheckEnviron([]string{"BENCH_GEN_TOKENS=5", "BENCH_ROOFLINE=on", "TOKBENCH_PYREF=x", "BENCHMARK=1"}))
}

// An unknown [benchmark] key is an error naming the closest; an unknown
// key of upstream's sections is a warning with the closest, and the file
// is still accepted.
func TestConfigTyposNameTheClosestKey(t *testing.T) {
	root := testRoot(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[benchmark]\ngen_token = 5\n"), 0o644))
	_, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[benchmark].gen_token: unknown key (did you mean gen_tokens?)")
	assert.Contains(t, err.Error(), cfg)

	require.NoError(t, os.WriteFile(cfg, []byte(`
[model]
n_layer = 2
n_embd = 64
n_head = 4

[generation]
temprature = 0.5
use_kv_cach = false

[training]
max_iters = 10
`), 0o644))
	p, err := ParamsFromEnv(env(map[string]string{"BENCH_CONFIG": cfg}), root)
	require.NoError(t, err)
	assert.Equal(t, []string{
		cfg + ": [generation].temprature: unknown key, ignored (did you mean temperature?)",
		cfg + ": [generation].use_kv_cach: unknown key, ignored (did you mean use_kv_cache?)",
	}, p.Warnings)
	cs, err := Configs(&p)
	require.NoError(t, err)
	assert.Equal(t, 0.9, cs[0].Settings.Sampling.Temperature, "the misspelt key is ignored, as upstream does")
}

func TestRooflineAndProgressSettings(t *testing.T) {
	root := testRoot(t)
	p, err := ParamsFromEnv(env(nil), root)
	require.NoError(t, err)
	assert.False(t, p.Roofline, "no bandwidth probe unless asked for")
	p, err = ParamsFromEnv(env(map[string]string{"BENCH_ROOFLINE": "on", "BENCH_PROGRESS": "off"}), root)
	require.NoError(t, err)
	assert.True(t, p.Roofline)
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_ROOFLINE": "sometimes"}), root)
	assert.ErrorContains(t, err, "BENCH_ROOFLINE")
	_, err = ParamsFromEnv(env(map[string]string{"BENCH_PROGRESS": "loud"}), root)
	assert.ErrorContains(t, err, "BENCH_PROGRESS")
}
