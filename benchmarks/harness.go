package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
}

// Name is the configuration as benchfmt name keys, every swept dimension
// on every name: src=local/dev=cpu/kv=on/gen=256/dtype=fp32. It names what
// was asked for; Runner.Name names what ran.
func (c Config) Name() string {
	return configName(c.Params.Source, c.Device, c.UseKVCache, c.GenTokens, c.DType)
}

func configName(src, dev string, kv bool, gen int, dtype string) string {
	onOff := "off"
	if kv {
		onOff = "on"
	}
	return fmt.Sprintf("src=%s/dev=%s/kv=%s/gen=%d/dtype=%s", src, dev, onOff, gen, dtype)
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
					out = append(out, Config{Params: p, Device: dev, UseKVCache: set.UseKVCache, GenTokens: n, DType: dt,
						Settings: set, Sweep: len(p.Devices) > 1})
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
	// threads is GOMAXPROCS when the backend was opened: the size of the
	// CPU backend's worker pool.
	threads int
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
	return &Runner{Config: c, Loaded: ld, Backend: b, Prompt: ids, gen: gpt.NewGenerator(b, ld.Model.Config), sampler: s, threads: threads}, nil
}

// Name is the configuration as benchfmt name keys saying what runs: the
// device that was opened (cpu after a fallback) and the precision it runs
// the weights in (fp16 on cuda), e.g. src=local/dev=cpu/kv=on/gen=256/dtype=fp32.
func (r *Runner) Name() string {
	d := r.Backend.Device()
	return configName(r.Config.Params.Source, d.Type, r.Config.UseKVCache, r.Config.GenTokens, d.WeightDType(r.Loaded.Model))
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
