package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/sampler"
)

// Config is one point of a sweep: one benchmark configuration.
type Config struct {
	Params     *Params
	Device     string // requested device
	UseKVCache bool
	GenTokens  int
	DType      string
	// Settings are the resolved generation settings.
	Settings gpt.Settings
}

// Name is the configuration as benchfmt name keys, e.g.
// src=local/dev=cpu/kv=on/gen=256 (dtype=fp16 is added when not fp32).
func (c Config) Name() string {
	kv := "off"
	if c.UseKVCache {
		kv = "on"
	}
	n := fmt.Sprintf("src=%s/dev=%s/kv=%s/gen=%d", c.Params.Source, c.Device, kv, c.GenTokens)
	if c.DType != "" && c.DType != "fp32" {
		n += "/dtype=" + c.DType
	}
	return n
}

// Configs expands the sweep of p, resolving generation settings once.
func Configs(p *Params) ([]Config, error) {
	kvs := p.UseKVCache
	if kvs == nil {
		kvs = []bool{false} // placeholder: resolved below
	}
	var out []Config
	for _, dev := range p.Devices {
		for _, dt := range p.DTypes {
			for _, kv := range kvs {
				var o gpt.Overrides
				if p.UseKVCache != nil {
					o.UseKVCache = &kv
				}
				set, err := gpt.ResolveSettings(p.Config, o, p.Source != "hf")
				if err != nil {
					return nil, fmt.Errorf("%s: [generation]: %w", p.ConfigPath, err)
				}
				for _, n := range p.GenTokens {
					out = append(out, Config{Params: p, Device: dev, UseKVCache: set.UseKVCache, GenTokens: n, DType: dt, Settings: set})
				}
			}
		}
	}
	return out, nil
}

var (
	loadMu sync.Mutex
	loaded = map[string]*gpt.Loaded{}
)

// Load returns the model of p, loading it once per process.
func Load(p *Params, dtype string) (*gpt.Loaded, error) {
	key := strings.Join([]string{p.Source, p.Checkpoint, p.Meta, p.Tokenizer, p.RepoID, p.RepoRevision, p.ConfigPath, dtype}, "\x00")
	loadMu.Lock()
	defer loadMu.Unlock()
	if ld, ok := loaded[key]; ok {
		return ld, nil
	}
	ld, err := gpt.Load(context.Background(), gpt.Source{Kind: p.Source, Checkpoint: p.Checkpoint, Meta: p.Meta,
		RepoID: p.RepoID, Revision: p.RepoRevision, Tokenizer: p.Tokenizer, Config: p.Config, Seed: gpt.RandomSeed})
	if err != nil {
		return nil, err
	}
	if dtype != "" {
		if err := ld.Model.ConvertTo(dtype); err != nil {
			return nil, fmt.Errorf("BENCH_DTYPE: %w", err)
		}
	}
	loaded[key] = ld
	return ld, nil
}

// Runner holds what one configuration needs to generate: the model, its
// backend, the encoded prompt and the sampler.
type Runner struct {
	Config  Config
	Loaded  *gpt.Loaded
	Backend gpt.Backend
	Prompt  []int
	gen     *gpt.Generator
	sampler *sampler.Sampler
}

// NewRunner loads the model (once per process), opens the device (with
// upstream's CUDA fallback message on w) and encodes the prompt.
func NewRunner(c Config, w io.Writer) (*Runner, error) {
	ld, err := Load(c.Params, c.DType)
	if err != nil {
		return nil, err
	}
	ids, err := ld.Tokenizer.Encode(c.Params.Prompt)
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("prompt: must produce at least one token")
	}
	b, err := gpt.OpenDevice(c.Device, ld.Model, w)
	if err != nil {
		return nil, err
	}
	s, err := sampler.New(c.Settings.Sampling, c.Settings.Seed)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Runner{Config: c, Loaded: ld, Backend: b, Prompt: ids, gen: gpt.NewGenerator(b, ld.Model.Config), sampler: s}, nil
}

// Generate runs one generation of n tokens.
func (r *Runner) Generate(n int) (gpt.Result, error) {
	return r.gen.Generate(r.Prompt, n, r.Config.UseKVCache, r.sampler)
}

// Warmup runs the untimed warmup generation (none when WarmupTokens is 0)
// and then resets the device's peak-memory counter.
func (r *Runner) Warmup() error {
	if n := r.Config.Params.WarmupTokens; n > 0 {
		if _, err := r.Generate(n); err != nil {
			return fmt.Errorf("warmup: %w", err)
		}
	}
	if mt, ok := r.Backend.(gpt.MemoryTracker); ok {
		mt.ResetPeak()
	}
	return nil
}

// PeakBytes is the device memory high-water mark since the warmup, and
// false on the CPU.
func (r *Runner) PeakBytes() (int64, bool) {
	if mt, ok := r.Backend.(gpt.MemoryTracker); ok && r.Backend.Device().Type != "cpu" {
		return mt.PeakBytes(), true
	}
	return 0, false
}

// Close releases the backend.
func (r *Runner) Close() error { return r.Backend.Close() }

// Facts are the benchfmt configuration lines that describe a configuration,
// in print order.
func (r *Runner) Facts(now time.Time, root string) [][2]string {
	m := r.Loaded.Model.Config
	d := r.Backend.Device()
	set := r.Config.Settings
	seed := "none"
	if set.Seed != nil {
		seed = strconv.FormatInt(int64(*set.Seed), 10)
	}
	return [][2]string{
		{"tokbench-commit", GitCommit(root)},
		{"timestamp", now.UTC().Format(time.RFC3339Nano)},
		{"platform-os", PlatformOS()},
		{"go-version", runtime.Version()},
		{"device-type", d.Type},
		{"device-name", d.Name},
		{"cuda-driver", d.Driver},
		{"model-source", r.Loaded.Source},
		{"model-params-m", strconv.FormatFloat(m.ParamsM(), 'g', -1, 64)},
		{"model-block-size", strconv.Itoa(m.BlockSize)},
		{"model-n-layer", strconv.Itoa(m.NLayer)},
		{"model-n-head", strconv.Itoa(m.NHead)},
		{"model-n-embd", strconv.Itoa(m.NEmbd)},
		{"model-dtype", d.WeightDType(r.Loaded.Model)},
		{"gen-prompt", strconv.Quote(r.Config.Params.Prompt)},
		{"gen-temperature", strconv.FormatFloat(set.Sampling.Temperature, 'g', -1, 64)},
		{"gen-top-k", strconv.Itoa(set.Sampling.TopK)},
		{"gen-top-p", strconv.FormatFloat(set.Sampling.TopP, 'g', -1, 64)},
		{"gen-repetition-penalty", strconv.FormatFloat(set.Sampling.RepetitionPenalty, 'g', -1, 64)},
		{"gen-seed", seed},
		{"gen-warmup-tokens", strconv.Itoa(r.Config.Params.WarmupTokens)},
	}
}

// GitCommit returns the commit checked out at root, or "" (read from .git
// as upstream's script does, without running git).
func GitCommit(root string) string {
	gitDir := filepath.Join(root, ".git")
	if fi, err := os.Stat(gitDir); err == nil && !fi.IsDir() {
		data, err := os.ReadFile(gitDir)
		if err != nil {
			return ""
		}
		d, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
		if !ok {
			return ""
		}
		gitDir = strings.TrimSpace(d)
		if !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(root, gitDir)
		}
	}
	head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return ""
	}
	h := strings.TrimSpace(string(head))
	if ref, ok := strings.CutPrefix(h, "ref:"); ok {
		ref = strings.TrimSpace(ref)
		if data, err := os.ReadFile(filepath.Join(gitDir, ref)); err == nil {
			h = strings.TrimSpace(string(data))
		} else if packed, err := os.ReadFile(filepath.Join(gitDir, "packed-refs")); err == nil {
			h = ""
			for line := range strings.SplitSeq(string(packed), "\n") {
				if sha, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == ref {
					h = sha
				}
			}
		} else {
			return ""
		}
	}
	if len(h) != 40 || strings.Trim(h, "0123456789abcdefABCDEF") != "" {
		return ""
	}
	return h
}
