// Package benchmarks measures LabCore inference the way upstream's
// scripts/benchmark_infer.py does (SPEC §3), as testing.B benchmarks:
//
//	go test -bench=Generate -benchtime=1x -count=3 ./benchmarks
//
// Its non-test files are the harness both BenchmarkGenerate and
// tools/benchinfer use: parameters (environment over a TOML config over
// SPEC's defaults, resolved in one place), model loading (once per process),
// warmup, timed generations and peak device memory.
package benchmarks

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/weights"
)

// Params are the benchmark's inputs. Lists (Devices, UseKVCache, GenTokens,
// DTypes, Depths; PromptTokens for BenchmarkPrompt) span a sweep: every
// combination is one configuration.
type Params struct {
	Source       string // local, hf or random
	Checkpoint   string
	Meta         string
	Tokenizer    string // "", char or bpe
	RepoID       string
	RepoRevision string
	// ConfigPath is the upstream TOML config; Config is it loaded (nil when
	// none was given).
	ConfigPath string
	Config     *weights.Config
	Devices    []string
	Prompt     string
	// WarmupTokens is the length of the untimed warmup generation.
	WarmupTokens int
	GenTokens    []int
	// UseKVCache is nil when neither the environment nor [benchmark] set it:
	// then gpt.ResolveSettings decides (config, then source).
	UseKVCache []bool
	DTypes     []string
	// PromptTokens are the lengths of BenchmarkPrompt's synthetic prompts
	// (BENCH_PROMPT_TOKENS); nil when unset: then DefaultPromptTokens,
	// clipped to the model's block_size.
	PromptTokens []int
	// Depths are the numbers of tokens the KV cache holds before a timed
	// generation (BENCH_DEPTH); nil when unset: then the generation is
	// upstream's, from the prompt, and names have no depth key.
	Depths  []int
	VRAMOut string
	// Roofline asks BenchmarkGenerate for roofline-% (BENCH_ROOFLINE),
	// which costs a memory bandwidth probe.
	Roofline bool
	// Progress is BENCH_PROGRESS: "on", "off" or "" (auto); see Progress.
	Progress string
	// Warnings are notes on the config file that do not stop the run:
	// unknown keys in upstream's sections, with the closest known key.
	Warnings []string
}

// Defaults of the benchmark: SPEC §3, on the model bundled in testdata.
const (
	DefaultCheckpoint = "testdata/models/learned_bias/ckpt.pt"
	DefaultMeta       = "testdata/models/learned_bias/meta.json"
	DefaultVRAMOut    = "outputs/vram.json"
	// DefaultPromptTokens is BenchmarkPrompt's prompt length when
	// BENCH_PROMPT_TOKENS is unset (llama-bench's pp512), clipped to the
	// model's block_size.
	DefaultPromptTokens = 512
)

// EnvVars lists the environment variables ParamsFromEnv reads, each with
// the [benchmark] key of the TOML config that it overrides.
var EnvVars = []struct{ Env, Key string }{
	{"BENCH_SOURCE", "source"}, {"BENCH_CHECKPOINT", "checkpoint"}, {"BENCH_META", "meta"},
	{"BENCH_TOKENIZER", "tokenizer"}, {"BENCH_REPO_ID", "repo_id"}, {"BENCH_REPO_REVISION", "repo_revision"},
	{"BENCH_CONFIG", ""}, {"BENCH_DEVICE", "device"}, {"BENCH_PROMPT", "prompt"},
	{"BENCH_WARMUP_TOKENS", "warmup_tokens"}, {"BENCH_GEN_TOKENS", "gen_tokens"},
	{"BENCH_USE_KV_CACHE", "use_kv_cache"}, {"BENCH_DTYPE", "dtype"}, {"BENCH_VRAM_OUT", "vram_out"},
	{"BENCH_ROOFLINE", "roofline"}, {"BENCH_PROGRESS", "progress"},
	{"BENCH_PROMPT_TOKENS", "prompt_tokens"}, {"BENCH_DEPTH", "depth"},
}

// ParamsFromEnv resolves the parameters: each BENCH_* variable of getenv,
// else the same key of the config's [benchmark] section, else the default.
// Relative paths resolve from root (the module root, so that README's
// commands work from the repository root). A bad value is an error naming
// the variable.
func ParamsFromEnv(getenv func(string) string, root string) (Params, error) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	var cfg *weights.Config
	if path := getenv("BENCH_CONFIG"); path != "" {
		c, err := weights.LoadConfig(abs(path))
		if err != nil {
			return Params{}, fmt.Errorf("BENCH_CONFIG: %w", err)
		}
		cfg = c
	}
	var section map[string]any
	var warnings []string
	if cfg != nil {
		if s, ok := cfg.Raw["benchmark"].(map[string]any); ok {
			section = s
		}
		var err error
		if warnings, err = CheckConfigKeys(cfg); err != nil {
			return Params{}, fmt.Errorf("BENCH_CONFIG: %w", err)
		}
	}
	// get returns the raw value of a setting, naming where it came from.
	get := func(env string) (string, string, bool) {
		if v := getenv(env); v != "" {
			return v, env, true
		}
		for _, e := range EnvVars {
			if e.Env == env && e.Key != "" && section != nil {
				if v, ok := section[e.Key]; ok {
					return tomlString(v), cfg.Path + ": [benchmark]." + e.Key, true
				}
			}
		}
		return "", env, false
	}
	str := func(env, def string) string {
		if v, _, ok := get(env); ok {
			return v
		}
		return def
	}
	p := Params{
		Source:       str("BENCH_SOURCE", "local"),
		Checkpoint:   abs(str("BENCH_CHECKPOINT", DefaultCheckpoint)),
		Meta:         abs(str("BENCH_META", DefaultMeta)),
		Tokenizer:    str("BENCH_TOKENIZER", ""),
		RepoID:       str("BENCH_REPO_ID", ""),
		RepoRevision: str("BENCH_REPO_REVISION", "main"),
		Config:       cfg,
		Prompt:       str("BENCH_PROMPT", "ROMEO:"),
		VRAMOut:      abs(str("BENCH_VRAM_OUT", DefaultVRAMOut)),
		Progress:     str("BENCH_PROGRESS", ""),
		Warnings:     warnings,
	}
	if cfg != nil {
		p.ConfigPath = cfg.Path
	}
	var err error
	if p.Devices, err = list(get, "BENCH_DEVICE", []string{"cpu"}, oneOf("cpu", "cuda")); err != nil {
		return p, err
	}
	if p.DTypes, err = list(get, "BENCH_DTYPE", []string{"fp32"}, oneOf(gpt.DTypes...)); err != nil {
		return p, err
	}
	if p.GenTokens, err = list(get, "BENCH_GEN_TOKENS", []int{256}, positiveInt); err != nil {
		return p, err
	}
	if _, _, ok := get("BENCH_PROMPT_TOKENS"); ok {
		if p.PromptTokens, err = list(get, "BENCH_PROMPT_TOKENS", nil, positiveInt); err != nil {
			return p, err
		}
	}
	if _, _, ok := get("BENCH_DEPTH"); ok {
		if p.Depths, err = list(get, "BENCH_DEPTH", nil, nonNegativeInt); err != nil {
			return p, err
		}
	}
	if v, where, ok := get("BENCH_WARMUP_TOKENS"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return p, fmt.Errorf("%s: want an integer >= 0, got %q", where, v)
		}
		p.WarmupTokens = n
	} else {
		p.WarmupTokens = 64
	}
	if v, where, ok := get("BENCH_ROOFLINE"); ok {
		if p.Roofline, err = parseOnOff(strings.TrimSpace(v)); err != nil {
			return p, fmt.Errorf("%s: %w", where, err)
		}
	}
	if _, err := parseAutoOnOff(p.Progress); err != nil {
		return p, fmt.Errorf("BENCH_PROGRESS: %w", err)
	}
	if _, _, ok := get("BENCH_USE_KV_CACHE"); ok {
		if p.UseKVCache, err = list(get, "BENCH_USE_KV_CACHE", nil, parseOnOff); err != nil {
			return p, err
		}
	}
	return p, p.validate()
}

// CheckEnviron fails on a BENCH_* variable of environ (as os.Environ
// gives it) that the benchmark does not read, naming the closest known
// one: BENCH_GEN_TOKEN=5 must not run 256 tokens unnoticed.
func CheckEnviron(environ []string) error {
	known := make([]string, len(EnvVars))
	for i, e := range EnvVars {
		known[i] = e.Env
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "BENCH_") || slices.Contains(known, name) {
			continue
		}
		return fmt.Errorf("%s: unknown variable (did you mean %s?)", name, closest(name, known))
	}
	return nil
}

// upstreamKeys are the keys of the sections of upstream's TOML configs
// (configs/*.toml of LabCore LLM; SPEC §1, §3, §4).
var upstreamKeys = map[string][]string{
	"general":    {"project", "run_name", "seed", "tokenizer"},
	"data":       {"dataset", "processed_dir", "tokenizer"},
	"model":      {"vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "use_rope", "use_flash"},
	"optimizer":  {"learning_rate", "weight_decay", "beta1", "beta2", "grad_clip"},
	"generation": {"max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "deterministic", "use_kv_cache"},
	"training": {"batch_size", "max_iters", "eval_interval", "eval_iters", "log_interval", "learning_rate", "weight_decay",
		"grad_clip", "grad_accum_steps", "gradient_accumulation_steps", "warmup_iters", "lr_decay_iters", "min_lr",
		"save_interval", "precision", "device", "checkpoint_dir", "data_format"},
}

// CheckConfigKeys checks the keys of cfg's sections. An unknown key of
// tokbench's [benchmark] section is an error naming the closest known key;
// an unknown key of one of upstream's sections is a warning with the
// closest known key (upstream ignores such keys, and its files must still
// be accepted).
func CheckConfigKeys(cfg *weights.Config) (warnings []string, err error) {
	var benchKeys []string
	for _, e := range EnvVars {
		if e.Key != "" {
			benchKeys = append(benchKeys, e.Key)
		}
	}
	if sec, ok := cfg.Raw["benchmark"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(sec)) {
			if !slices.Contains(benchKeys, k) {
				return nil, fmt.Errorf("%s: [benchmark].%s: unknown key (did you mean %s?)", cfg.Path, k, closest(k, benchKeys))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(upstreamKeys)) {
		sec, ok := cfg.Raw[name].(map[string]any)
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(sec)) {
			if !slices.Contains(upstreamKeys[name], k) {
				warnings = append(warnings, fmt.Sprintf("%s: [%s].%s: unknown key, ignored (did you mean %s?)", cfg.Path, name, k, closest(k, upstreamKeys[name])))
			}
		}
	}
	return warnings, nil
}

// closest returns the candidate nearest to s in edit distance.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (p *Params) validate() error {
	switch p.Source {
	case "local", "hf", "random":
	default:
		return fmt.Errorf("BENCH_SOURCE: want local, hf or random, got %q", p.Source)
	}
	switch p.Tokenizer {
	case "", "char", "bpe":
	default:
		return fmt.Errorf("BENCH_TOKENIZER: want char or bpe, got %q", p.Tokenizer)
	}
	if p.Source == "hf" && p.RepoID == "" {
		return errors.New("BENCH_REPO_ID: required with BENCH_SOURCE=hf")
	}
	if p.Source == "random" && p.Config == nil {
		return errors.New("BENCH_CONFIG: required with BENCH_SOURCE=random (its [model] section gives the shape)")
	}
	if p.Prompt == "" {
		return errors.New("BENCH_PROMPT: the prompt must not be empty")
	}
	// Before anything loads: the prompt's bytes bound its token count.
	for _, n := range p.GenTokens {
		if err := gpt.CheckGenTokens(len(p.Prompt), n); err != nil {
			return fmt.Errorf("BENCH_GEN_TOKENS: %w", err)
		}
	}
	if err := gpt.CheckGenTokens(len(p.Prompt), p.WarmupTokens); err != nil {
		return fmt.Errorf("BENCH_WARMUP_TOKENS: %w", err)
	}
	return nil
}

func tomlString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = tomlString(e)
		}
		return strings.Join(parts, ",")
	case bool:
		if x {
			return "on"
		}
		return "off"
	}
	return fmt.Sprint(v)
}

// list parses a comma-separated setting.
func list[T any](get func(string) (string, string, bool), env string, def []T, parse func(string) (T, error)) ([]T, error) {
	v, where, ok := get(env)
	if !ok {
		return def, nil
	}
	var out []T
	for part := range strings.SplitSeq(v, ",") {
		x, err := parse(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func oneOf(allowed ...string) func(string) (string, error) {
	return func(s string) (string, error) {
		for _, a := range allowed {
			if s == a {
				return s, nil
			}
		}
		return "", fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want an integer > 0, got %q", s)
	}
	return n, nil
}

func nonNegativeInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want an integer >= 0, got %q", s)
	}
	return n, nil
}

func parseOnOff(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "true", "1", "yes":
		return true, nil
	case "off", "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("want on or off, got %q", s)
}

// ModuleRoot returns the directory of the tokbench go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/labcoreai/tokbench") {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("benchmarks: no tokbench go.mod at or above %s", dir)
		}
		d = parent
	}
}
