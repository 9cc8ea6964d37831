package gpt

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/labcoreai/tokbench/weights"
)

// Config is a LabCore model's shape: `model_config` in a checkpoint,
// `config.json` in a Hub repo, `[model]` in a TOML config (SPEC §1).
type Config struct {
	VocabSize int     `json:"vocab_size"`
	BlockSize int     `json:"block_size"`
	NLayer    int     `json:"n_layer"`
	NHead     int     `json:"n_head"`
	NEmbd     int     `json:"n_embd"`
	Dropout   float64 `json:"dropout"`
	Bias      bool    `json:"bias"`
	UseRoPE   bool    `json:"use_rope"`
	UseFlash  bool    `json:"use_flash"`
}

// Upper bounds that keep a hostile config from asking for absurd memory.
const (
	maxVocab = 1 << 22
	maxBlock = 1 << 20
	maxEmbd  = 1 << 16
	maxLayer = 1 << 10
)

// DefaultConfig returns upstream's GPTConfig defaults; VocabSize has none
// and is left 0.
func DefaultConfig() Config {
	return Config{BlockSize: 128, NLayer: 6, NHead: 8, NEmbd: 256, Dropout: 0.1, Bias: true}
}

// ConfigFromMap reads a config from decoded plain data (pickle, JSON or
// TOML), filling upstream's defaults for absent fields. where names the
// source in errors, e.g. `ckpt.pt: model_config`. Unknown keys are ignored.
func ConfigFromMap(m map[string]any, where string) (Config, error) {
	c := DefaultConfig()
	if m == nil {
		return c, fmt.Errorf("gpt: %s: missing", where)
	}
	if _, ok := m["vocab_size"]; !ok {
		return c, fmt.Errorf("gpt: %s: vocab_size is missing", where)
	}
	ints := []struct {
		key string
		dst *int
	}{{"vocab_size", &c.VocabSize}, {"block_size", &c.BlockSize}, {"n_layer", &c.NLayer}, {"n_head", &c.NHead}, {"n_embd", &c.NEmbd}}
	for _, f := range ints {
		v, ok := m[f.key]
		if !ok || v == nil {
			continue
		}
		n, err := toInt(v)
		if err != nil {
			return c, fmt.Errorf("gpt: %s: %s: %w", where, f.key, err)
		}
		*f.dst = n
	}
	bools := []struct {
		key string
		dst *bool
	}{{"bias", &c.Bias}, {"use_rope", &c.UseRoPE}, {"use_flash", &c.UseFlash}}
	for _, f := range bools {
		v, ok := m[f.key]
		if !ok || v == nil {
			continue
		}
		b, ok := v.(bool)
		if !ok {
			return c, fmt.Errorf("gpt: %s: %s: want a boolean, got %s", where, f.key, weights.Describe(v))
		}
		*f.dst = b
	}
	if v, ok := m["dropout"]; ok && v != nil {
		switch d := v.(type) {
		case float64:
			c.Dropout = d
		case int64:
			c.Dropout = float64(d)
		case int:
			c.Dropout = float64(d)
		default:
			return c, fmt.Errorf("gpt: %s: dropout: want a number, got %s", where, weights.Describe(v))
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("gpt: %s: %w", where, err)
	}
	return c, nil
}

func toInt(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		if n > math.MaxInt32 || n < math.MinInt32 {
			return 0, fmt.Errorf("%d is out of range", n)
		}
		return int(n), nil
	case float64: // JSON numbers
		if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return 0, fmt.Errorf("want an integer, got %v", n)
		}
		return int(n), nil
	}
	return 0, fmt.Errorf("want an integer, got %s", weights.Describe(v))
}

// Validate checks the rules upstream enforces, plus bounds that keep a
// hostile file from asking for absurd memory.
func (c Config) Validate() error {
	check := []struct {
		name   string
		v, max int
	}{{"vocab_size", c.VocabSize, maxVocab}, {"block_size", c.BlockSize, maxBlock}, {"n_layer", c.NLayer, maxLayer}, {"n_head", c.NHead, maxEmbd}, {"n_embd", c.NEmbd, maxEmbd}}
	for _, f := range check {
		if f.v <= 0 || f.v > f.max {
			return fmt.Errorf("%s must be in 1..%d, got %d", f.name, f.max, f.v)
		}
	}
	if c.NEmbd%c.NHead != 0 {
		return fmt.Errorf("n_embd (%d) must be divisible by n_head (%d)", c.NEmbd, c.NHead)
	}
	if c.UseRoPE && c.HeadSize()%2 != 0 {
		return fmt.Errorf("RoPE requires an even head size, got n_embd/n_head = %d", c.HeadSize())
	}
	return nil
}

// HeadSize is n_embd / n_head.
func (c Config) HeadSize() int { return c.NEmbd / c.NHead }

// NumParams counts every distinct parameter once, the tied wte/lm_head
// matrix once, with wpe, LayerNorms and biases (SPEC §1: params_m x 1e6).
func (c Config) NumParams() int64 {
	C, V := int64(c.NEmbd), int64(c.VocabSize)
	n := V * C
	if !c.UseRoPE {
		n += int64(c.BlockSize) * C
	}
	per := 2*C + 3*C*C + C*C + 2*C + 4*C*C + 4*C*C // LNs and weights
	if c.Bias {
		per += 3*C + C + 4*C + C
	}
	n += int64(c.NLayer) * per
	n += 2 * C // ln_f
	return n
}

// ParamsM is NumParams in millions, as the report's params_m.
func (c Config) ParamsM() float64 { return float64(c.NumParams()) / 1e6 }

// DefaultMemoryLimit is the memory a model built on request (source random)
// and a generation may ask for when GOMEMLIMIT is not set: 16 GiB.
const DefaultMemoryLimit int64 = 16 << 30

// MemoryLimit is the most memory a model built on request and a generation
// may ask for: the process's GOMEMLIMIT when set (a bigger machine raises
// it, e.g. GOMEMLIMIT=64GiB), else DefaultMemoryLimit. A checkpoint is
// bounded by its file instead.
func MemoryLimit() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	return DefaultMemoryLimit
}

// overLimit is the error for a request of need bytes over MemoryLimit.
func overLimit(what string, need int64) error {
	return fmt.Errorf("%s would need %d MiB, more than the %d MiB memory limit (set GOMEMLIMIT, e.g. GOMEMLIMIT=64GiB, to allow more on a bigger machine)",
		what, need>>20, MemoryLimit()>>20)
}

// MemoryBytes is the host memory a model of config c takes with fp32
// weights: the weights, block_size rows of activations and KV cache, and
// the logits. Validate's bounds keep it from overflowing.
func (c Config) MemoryBytes() int64 {
	return 4 * (c.NumParams() + c.blockBufferFloats() + 2*int64(c.VocabSize))
}

// blockBufferFloats is the float count of what a backend holds per
// block_size row, over every row: activations (11·n_embd floats) and the KV
// cache (2·n_layer·n_embd).
func (c Config) blockBufferFloats() int64 {
	return int64(c.BlockSize) * int64(c.NEmbd) * (11 + 2*int64(c.NLayer))
}

// checkRequested applies to a model built on request the bounds a
// checkpoint gets from its file: the block_size buffers in proportion to
// the weights, and the whole within MemoryLimit.
func (c Config) checkRequested() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := checkBlockBuffers(c); err != nil {
		return err
	}
	if need := c.MemoryBytes(); need > MemoryLimit() {
		return overLimit(fmt.Sprintf("a model of %d parameters (vocab_size %d, block_size %d, n_layer %d, n_embd %d) with its buffers",
			c.NumParams(), c.VocabSize, c.BlockSize, c.NLayer, c.NEmbd), need)
	}
	return nil
}

// CheckGenTokens refuses a generation of n tokens after a prompt of
// promptLen tokens whose token buffer would not fit in MemoryLimit (or a
// negative n). Generate calls it; a tool may call it before loading a model
// to fail early.
func CheckGenTokens(promptLen, n int) error {
	if n < 0 {
		return fmt.Errorf("gpt: cannot generate %d tokens", n)
	}
	const perToken = 8 // one int in the token buffer
	if limit := MemoryLimit() / perToken; int64(n) > limit || int64(promptLen) > limit-int64(n) {
		need := perToken * (min(int64(n), math.MaxInt64/perToken/2) + min(int64(promptLen), math.MaxInt64/perToken/2))
		return fmt.Errorf("gpt: %w", overLimit(fmt.Sprintf("generating %d tokens after a %d-token prompt", n, promptLen), need))
	}
	return nil
}
