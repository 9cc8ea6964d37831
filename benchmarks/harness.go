package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	// Sweep is set when the sweep has several devices: then a device that
	// is not available is an error wrapping gpt.ErrNoDevice (the benchmark
	// skips it) instead of upstream's fallback to the CPU, so that no name
	// says cuda for a run on the CPU.
	Sweep bool
	// Depth is the number of tokens the KV cache holds before the timed
	// generation (BENCH_DEPTH): a seeded synthetic prompt prefilled
	// untimed, after which each op decodes GenTokens tokens. 0 is
	// upstream's generation from the prompt, prefill timed. The name has
	// a depth key when BENCH_DEPTH is set (HasDepth).
	Depth    int
	HasDepth bool
	// PromptTokens is set for a prompt-processing configuration
	// (BenchmarkPrompt): each op prefills a seeded synthetic prompt of
	// that many tokens; GenTokens, UseKVCache and Depth do not apply.
	// ClipPrompt says it is the default, clipped to the model's
	// block_size, rather than asked for (which must fit in it).
	PromptTokens int
	ClipPrompt   bool
}

// SyntheticSeed seeds the synthetic token ids of prompt processing and of
// the cache's depth, so every run measures the same tokens.
const SyntheticSeed = 1337

// ErrDepth is wrapped by NewRunner's errors about a configuration's
// depth or prompt length, which the callers name by their variable or
// flag (BENCH_DEPTH, --depth, ...).
var ErrDepth = errors.New("does not fit the model")

// ErrDepthWithoutCache is wrapped by NewRunner's error for a depth > 0
// without the KV cache: there is no cache to fill, and a sweep skips it.
var ErrDepthWithoutCache = errors.New("a depth needs the KV cache (kv=off has no cache to fill)")

// SyntheticIDs returns n token ids drawn uniformly from [0, vocab) by a
// PCG generator seeded with seed: a prompt whose content does not matter
// to the speed, the same on every run.
func SyntheticIDs(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, seed))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(vocab)
	}
	return ids
}

// Name is the configuration as benchfmt name keys, every swept dimension
// on every name: src=local/dev=cpu/kv=on/gen=256/dtype=fp32. It names what
// was asked for; Runner.Name names what ran.
// A prompt-processing configuration is src=local/dev=cpu/prompt=512/dtype=fp32;
// with BENCH_DEPTH set, a generation has depth after gen:
// src=local/dev=cpu/kv=on/gen=128/depth=512/dtype=fp32.
func (c Config) Name() string {
	return c.name(c.Device, c.DType, c.PromptTokens)
}

func (c Config) name(dev, dtype string, prompt int) string {
	if c.PromptTokens > 0 {
		return fmt.Sprintf("src=%s/dev=%s/prompt=%d/dtype=%s", c.Params.Source, dev, prompt, dtype)
	}
	onOff := "off"
	if c.UseKVCache {
		onOff = "on"
	}
	depth := ""
	if c.HasDepth {
		depth = fmt.Sprintf("/depth=%d", c.Depth)
	}
	return fmt.Sprintf("src=%s/dev=%s/kv=%s/gen=%d%s/dtype=%s", c.Params.Source, dev, onOff, c.GenTokens, depth, dtype)
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
					depths := p.Depths
					if depths == nil {
						depths = []int{0}
					}
					for _, d := range depths {
						out = append(out, Config{Params: p, Device: dev, UseKVCache: set.UseKVCache, GenTokens: n, DType: dt,
							Settings: set, Sweep: len(p.Devices) > 1, Depth: d, HasDepth: p.Depths != nil})
					}
				}
			}
		}
	}
	return out, nil
}

// PromptConfigs expands the sweep of prompt processing (BenchmarkPrompt):
// every device, dtype and prompt length of p.
func PromptConfigs(p *Params) ([]Config, error) {
	set, err := gpt.ResolveSettings(p.Config, gpt.Overrides{}, p.Source != "hf")
	if err != nil {
		return nil, fmt.Errorf("%s: [generation]: %w", p.ConfigPath, err)
	}
	lengths, clip := p.PromptTokens, false
	if lengths == nil {
		lengths, clip = []int{DefaultPromptTokens}, true
	}
	var out []Config
	for _, dev := range p.Devices {
		for _, dt := range p.DTypes {
			for _, n := range lengths {
				out = append(out, Config{Params: p, Device: dev, DType: dt, Settings: set, Sweep: len(p.Devices) > 1,
					PromptTokens: n, ClipPrompt: clip, UseKVCache: true})
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
	// threads is GOMAXPROCS when the backend was opened: the size of the
	// CPU backend's worker pool.
	threads int
	// synthetic holds the seeded ids of the prompt of a prompt-processing
	// configuration, or of the cache's depth.
	synthetic []int
	// promptTokens is the prompt length that runs (the default clipped).
	promptTokens int
	logits       []float32
	decoded      []int
}

// NewRunner loads the model (once per process), opens the device and
// encodes the prompt. Alone, a cuda request without a usable GPU falls back
// to the CPU with upstream's message and tokbench's hint on w; in a sweep
// (c.Sweep) it is an error wrapping gpt.ErrNoDevice.
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
	bs := ld.Model.Config.BlockSize
	prompt := c.PromptTokens
	switch {
	case c.PromptTokens > 0 && c.ClipPrompt:
		prompt = min(prompt, bs)
	case c.PromptTokens > bs:
		return nil, fmt.Errorf("%d prompt tokens %w: past its block_size %d (a prefill runs at most block_size tokens)", c.PromptTokens, ErrDepth, bs)
	case c.Depth > bs:
		return nil, fmt.Errorf("depth %d %w: past its block_size %d (the cache holds at most block_size tokens; generation past it slides)", c.Depth, ErrDepth, bs)
	case c.Depth > 0 && !c.UseKVCache:
		return nil, fmt.Errorf("depth %d: %w", c.Depth, ErrDepthWithoutCache)
	}
	var synthetic []int
	switch {
	case prompt > 0:
		synthetic = SyntheticIDs(prompt, ld.Model.Config.VocabSize, SyntheticSeed)
	case c.Depth > 0:
		synthetic = SyntheticIDs(c.Depth, ld.Model.Config.VocabSize, SyntheticSeed)
	}
	threads := runtime.GOMAXPROCS(0)
	var b gpt.Backend
	if c.Sweep {
		b, err = gpt.Open(c.Device, ld.Model)
		if errors.Is(err, gpt.ErrNoDevice) && !slices.Contains(gpt.Devices(), c.Device) {
			err = fmt.Errorf("%w: this binary was built without %s support (build it with -tags %s)", err, c.Device, c.Device)
		}
	} else {
		b, err = gpt.OpenDevice(c.Device, ld.Model, w)
	}
	if err != nil {
		return nil, err
	}
	s, err := sampler.New(c.Settings.Sampling, c.Settings.Seed)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Runner{Config: c, Loaded: ld, Backend: b, Prompt: ids, gen: gpt.NewGenerator(b, ld.Model.Config), sampler: s, threads: threads,
		synthetic: synthetic, promptTokens: prompt}, nil
}

// Name is the configuration as benchfmt name keys saying what runs: the
// device that was opened (cpu after a fallback) and the precision it runs
// the weights in (fp16 on cuda), e.g. src=local/dev=cpu/kv=on/gen=256/dtype=fp32.
// A prompt-processing configuration names the prompt length that runs
// (the default clipped to block_size).
func (r *Runner) Name() string {
	d := r.Backend.Device()
	return r.Config.name(d.Type, d.WeightDType(r.Loaded.Model), r.promptTokens)
}

// PromptTokens is the length of the synthetic prompt a prompt-processing
// configuration prefills (the default clipped to block_size), else 0.
func (r *Runner) PromptTokens() int { return r.promptTokens }

// SyntheticIDs are the seeded ids of the synthetic prompt of a
// prompt-processing configuration, or of the cache's depth; nil for
// upstream's generation. The slice is the runner's own.
func (r *Runner) SyntheticIDs() []int { return r.synthetic }

// sync waits for the backend's queued work, where it is asynchronous.
func (r *Runner) sync() error {
	if sy, ok := r.Backend.(gpt.Synchronizer); ok {
		return sy.Sync()
	}
	return nil
}

// PrefillPrompt is one op of prompt processing: the synthetic prompt
// prefilled from an empty cache, with the device synchronised.
func (r *Runner) PrefillPrompt() error {
	if r.promptTokens == 0 {
		return errors.New("benchmarks: PrefillPrompt on a configuration without prompt tokens")
	}
	if _, err := r.Backend.Prefill(r.synthetic); err != nil {
		return err
	}
	return r.sync()
}

// FillCache is the untimed part of a generation at depth: the cache is
// emptied and the Depth synthetic tokens prefilled, with the device
// synchronised. DecodeSteps continues from it.
func (r *Runner) FillCache() error {
	if r.Config.Depth == 0 {
		return errors.New("benchmarks: FillCache on a configuration without depth")
	}
	logits, err := r.Backend.Prefill(r.synthetic)
	if err != nil {
		return err
	}
	r.logits = logits
	return r.sync()
}

// DecodeSteps is the timed part of a generation at depth: n times, a
// token sampled from the last logits (the sampler reset first, as a
// generation does) is decoded against the cache under the sliding-window
// rules, as llama-bench's tg runs n decodes; the device is synchronised
// at the end. It returns the decoded tokens (the slice is reused by the
// next call). FillCache must run before each call.
func (r *Runner) DecodeSteps(n int) ([]int, error) {
	if r.logits == nil {
		return nil, errors.New("benchmarks: DecodeSteps without FillCache")
	}
	r.sampler.Reset()
	r.decoded = r.decoded[:0]
	logits := r.logits
	r.logits = nil
	for range n {
		tok := r.sampler.Sample(logits)
		r.decoded = append(r.decoded, tok)
		var err error
		if logits, err = r.Backend.Decode(tok); err != nil {
			return nil, err
		}
	}
	return r.decoded, r.sync()
}

// FollowThreads reopens a CPU backend whose worker pool was sized for
// another GOMAXPROCS than the current one, so that a benchmark run with
// -cpu 1,2 computes on 1 and then 2 threads (go test sets GOMAXPROCS per
// sub-benchmark run, after the backend was opened). Other backends are
// kept.
func (r *Runner) FollowThreads() error {
	n := runtime.GOMAXPROCS(0)
	if n == r.threads || r.Backend.Device().Type != "cpu" {
		return nil
	}
	b, err := gpt.Open("cpu", r.Loaded.Model)
	if err != nil {
		return err
	}
	r.Backend.Close()
	r.Backend, r.gen, r.threads = b, gpt.NewGenerator(b, r.Loaded.Model.Config), n
	return nil
}

// Threads is the GOMAXPROCS the backend was opened with.
func (r *Runner) Threads() int { return r.threads }

// Generate runs one generation of n tokens.
func (r *Runner) Generate(n int) (gpt.Result, error) {
	return r.gen.Generate(r.Prompt, n, r.Config.UseKVCache, r.sampler)
}

// TimedOp is one timed op of a generation configuration, as
// BenchmarkGenerate and benchinfer run it: at a depth, the cache filled
// (its time is the prefill) between pause and resume, which stop and
// restart the caller's timer (nil for none), then n decodes; else a
// generation of n tokens from the prompt. It returns the prefill and
// decode times and the number of tokens generated.
func (r *Runner) TimedOp(n int, pause, resume func()) (prefill, decode time.Duration, tokens int, err error) {
	if r.Config.Depth == 0 {
		res, err := r.Generate(n)
		if err != nil {
			return 0, 0, 0, err
		}
		return res.Prefill, res.Total - res.Prefill, len(res.Tokens), nil
	}
	if pause != nil {
		pause()
	}
	start := time.Now()
	if err := r.FillCache(); err != nil {
		return 0, 0, 0, err
	}
	prefill = time.Since(start)
	if resume != nil {
		resume()
	}
	start = time.Now()
	toks, err := r.DecodeSteps(n)
	if err != nil {
		return 0, 0, 0, err
	}
	return prefill, time.Since(start), len(toks), nil
}

// Warmup runs the untimed warmup (none when WarmupTokens is 0) and then
// resets the device's peak-memory counter: a generation of WarmupTokens,
// and for prompt processing a prefill of the synthetic prompt, and at a
// depth the cache filled and WarmupTokens decoded.
func (r *Runner) Warmup() error {
	if n := r.Config.Params.WarmupTokens; n > 0 {
		var err error
		switch {
		case r.promptTokens > 0:
			err = r.PrefillPrompt()
		case r.Config.Depth > 0:
			if err = r.FillCache(); err == nil {
				_, err = r.DecodeSteps(n)
			}
		default:
			_, err = r.Generate(n)
		}
		if err != nil {
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

// Facts are the benchfmt configuration lines that describe a run, in
// print order: only facts that every configuration of a process shares,
// since a configuration line whose value changes between configurations
// splits benchstat's tables. What varies per configuration is in the name
// (Name) and in its ConfigLine.
func (r *Runner) Facts(root string) [][2]string {
	m := r.Loaded.Model.Config
	set := r.Config.Settings
	seed := "none"
	if set.Seed != nil {
		seed = strconv.FormatInt(int64(*set.Seed), 10)
	}
	return [][2]string{
		{"tokbench-commit", GitCommit(root)},
		{"platform-os", PlatformOS()},
		{"go-version", runtime.Version()},
		{"model-source", r.Loaded.Source},
		{"model-params-m", strconv.FormatFloat(m.ParamsM(), 'g', -1, 64)},
		{"model-block-size", strconv.Itoa(m.BlockSize)},
		{"model-n-layer", strconv.Itoa(m.NLayer)},
		{"model-n-head", strconv.Itoa(m.NHead)},
		{"model-n-embd", strconv.Itoa(m.NEmbd)},
		{"gen-prompt", strconv.Quote(r.Config.Params.Prompt)},
		{"gen-temperature", strconv.FormatFloat(set.Sampling.Temperature, 'g', -1, 64)},
		{"gen-top-k", strconv.Itoa(set.Sampling.TopK)},
		{"gen-top-p", strconv.FormatFloat(set.Sampling.TopP, 'g', -1, 64)},
		{"gen-repetition-penalty", strconv.FormatFloat(set.Sampling.RepetitionPenalty, 'g', -1, 64)},
		{"gen-seed", seed},
		{"gen-warmup-tokens", strconv.Itoa(r.Config.Params.WarmupTokens)},
	}
}

// ConfigLinePrefix starts the line that carries a configuration's own
// facts in the benchmark output. benchfmt readers (benchstat) skip it, so
// that these facts, which differ between configurations, do not split
// benchstat's tables; tools/benchreport reads it.
const ConfigLinePrefix = "# tokbench-config "

// ConfigFacts are what a ConfigLine holds: one configuration's facts.
type ConfigFacts struct {
	// Name is the full benchmark name as go test prints it, with the
	// -GOMAXPROCS suffix when GOMAXPROCS is not 1.
	Name string `json:"name"`
	// Timestamp is when the configuration started, RFC 3339 in UTC.
	Timestamp  string `json:"timestamp"`
	DeviceType string `json:"device-type"`
	DeviceName string `json:"device-name"`
	CUDADriver string `json:"cuda-driver"`
	// ModelDType is the precision the device runs the weights in.
	ModelDType string `json:"model-dtype"`
}

// ConfigLine is the line, without a newline, that states the facts of the
// configuration run under the full benchmark name (with its -GOMAXPROCS
// suffix) from now: ConfigLinePrefix and ConfigFacts as JSON.
func (r *Runner) ConfigLine(name string, now time.Time) string {
	d := r.Backend.Device()
	data, _ := json.Marshal(ConfigFacts{Name: name, Timestamp: now.UTC().Format(time.RFC3339Nano),
		DeviceType: d.Type, DeviceName: d.Name, CUDADriver: d.Driver, ModelDType: d.WeightDType(r.Loaded.Model)})
	return ConfigLinePrefix + string(data)
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
