// Package report holds the benchmark report of SPEC §3 and writes it in
// upstream's two formats: the JSON document of scripts/benchmark_infer.py
// (json.dumps with indent=2 and ensure_ascii=False, key order and JSON
// types as upstream writes them) and the Markdown table row of the
// benchmarks page, with its English or French header.
//
// A Report is filled either directly from measurements (tools/benchinfer)
// or from `go test -bench` output (tools/benchreport).
package report

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Engine is the value of runtime.engine in every report.
const Engine = "tokbench"

// Report is one benchmark report: one configuration measured over
// Results.Iters timed generations. Pointer fields are written as null
// when nil.
type Report struct {
	// Timestamp is when the configuration was measured; it is written
	// in UTC, ISO 8601, as Python's isoformat() writes it.
	Timestamp time.Time
	// Commit is the git commit of the suite's checkout, or nil.
	Commit     *string
	Platform   Platform
	Torch      Torch
	Device     Device
	Model      Model
	Generation Generation
	Results    Results
	// Runtime is tokbench's own addition: what ran the benchmark.
	Runtime Runtime
}

// Platform is the report's "platform" object.
type Platform struct {
	// OS is the platform string, e.g. "Linux-6.1.0-28-cloud-amd64-x86_64".
	OS string
	// Python is always nil for tokbench: no Python in the loop.
	Python *string
}

// Torch is the report's "torch" object; both fields are nil for tokbench.
type Torch struct {
	Version *string
	CUDA    *string
}

// Device is the report's "device" object: what actually ran.
type Device struct {
	// Type is "cpu" or "cuda".
	Type string
	// Name is the CPU model or the GPU name.
	Name string
}

// Model is the report's "model" object.
type Model struct {
	// Source is "local", "hf" or "random".
	Source string
	// ParamsM is the parameter count in millions (SPEC §1).
	ParamsM   float64
	BlockSize int
	NLayer    int
	NHead     int
	NEmbd     int
	// DType is "fp32", "fp16" or "int8" (written as the added key model.dtype).
	DType string
}

// Generation is the report's "generation" object.
type Generation struct {
	Prompt            string
	GenTokens         int
	Temperature       float64
	TopK              int
	TopP              float64
	RepetitionPenalty float64
	UseKVCache        bool
	// Stream is always false in upstream's reports.
	Stream bool
	// PromptTokens (added key "prompt_tokens") is the length of the
	// synthetic prompt whose processing Results.PromptTokensPerSec
	// measures; 0 when none was measured, and then the key is omitted.
	PromptTokens int
	// Depth (added key "depth") is the number of tokens the KV cache held
	// before each timed generation, llama-bench's -d; 0, and the key
	// omitted, for upstream's generation from the prompt.
	Depth int
}

// Stats summarises per-iteration measurements.
type Stats struct {
	Mean, Min, Max float64
	// StdDev (added key "stddev") is the sample standard deviation
	// (n-1 in the denominator); nil with fewer than two values, where it
	// is undefined, and in upstream's reports, which do not have it.
	StdDev *float64
}

// Results is the report's "results" object.
type Results struct {
	Iters        int
	TokensPerSec Stats
	// VRAMPeakMiB is the peak device memory in MiB (bytes / 2^20);
	// nil on the CPU, required on cuda.
	VRAMPeakMiB *float64
	// PerIterTokensPerSec (added key) holds one value per iteration, in
	// order; omitted when nil.
	PerIterTokensPerSec []float64
	// PrefillMS (added key) summarises the prefill time in milliseconds;
	// omitted when nil.
	PrefillMS *Stats
	// DecodeTokensPerSec (added key) summarises decode-only throughput;
	// omitted when nil.
	DecodeTokensPerSec *Stats
	// PromptTokensPerSec (added key "prompt_tokens_per_sec") summarises
	// prompt processing: Generation.PromptTokens prefilled per second,
	// one value per timed prefill; set exactly when PromptTokens is.
	PromptTokensPerSec *Stats
}

// Runtime is the added "runtime" object.
type Runtime struct {
	// Engine is always Engine ("tokbench").
	Engine string
	// Go is the Go version, e.g. "go1.26.8".
	Go     string
	GOOS   string
	GOARCH string
	// GOMAXPROCS is the number of threads the configuration ran with (Go's
	// GOMAXPROCS, which sizes the CPU backend's worker pool: the -N suffix
	// of a benchmark name, benchinfer's --threads); 0 when unknown,
	// written as null.
	GOMAXPROCS int
	// CPU is the host CPU model, or nil when unknown.
	CPU *string
	// CUDADriver is the CUDA driver version, or nil when none was used.
	CUDADriver *string
}

// NewStats returns the mean, minimum and maximum of values. The mean is
// the correctly rounded mean of the exact values (as Python's
// statistics.mean gives). It fails on an empty slice or a value that is
// not finite.
func NewStats(values []float64) (Stats, error) {
	if len(values) == 0 {
		return Stats{}, errors.New("no values")
	}
	sum := new(big.Float).SetPrec(2300)
	s := Stats{Min: values[0], Max: values[0]}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Stats{}, fmt.Errorf("value %d is %v", i, v)
		}
		s.Min = math.Min(s.Min, v)
		s.Max = math.Max(s.Max, v)
		sum.Add(sum, big.NewFloat(v))
	}
	mean := new(big.Float).SetPrec(53).SetMode(big.ToNearestEven)
	mean.Quo(sum, new(big.Float).SetInt64(int64(len(values))))
	s.Mean, _ = mean.Float64()
	s.StdDev = sampleStdDev(values, s.Mean)
	return s, nil
}

// Validate reports the first field of r that upstream's schema or
// SPEC §3 does not allow, naming it by its JSON path.
func (r *Report) Validate() error {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	finite := func(path string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(path, "%v is not a finite number", v)
			return false
		}
		return true
	}
	if r.Timestamp.IsZero() {
		bad("timestamp", "not set")
	}
	if r.Platform.OS == "" {
		bad("platform.os", "empty")
	}
	switch r.Device.Type {
	case "cpu", "cuda":
	default:
		bad("device.type", "%q is not cpu or cuda", r.Device.Type)
	}
	if r.Device.Name == "" {
		bad("device.name", "empty")
	}
	switch r.Model.Source {
	case "local", "hf", "random":
	default:
		bad("model.source", "%q is not local, hf or random", r.Model.Source)
	}
	if finite("model.params_m", r.Model.ParamsM) && r.Model.ParamsM < 0 {
		bad("model.params_m", "%v is negative", r.Model.ParamsM)
	}
	for _, f := range []struct {
		path string
		v    int
	}{{"model.block_size", r.Model.BlockSize}, {"model.n_layer", r.Model.NLayer},
		{"model.n_head", r.Model.NHead}, {"model.n_embd", r.Model.NEmbd},
		{"generation.gen_tokens", r.Generation.GenTokens}, {"results.iters", r.Results.Iters}} {
		if f.v <= 0 {
			bad(f.path, "%d is not positive", f.v)
		}
	}
	switch r.Model.DType {
	case "fp32", "fp16", "int8":
	default:
		bad("model.dtype", "%q is not fp32, fp16 or int8", r.Model.DType)
	}
	g := r.Generation
	if finite("generation.temperature", g.Temperature) && g.Temperature < 0 {
		bad("generation.temperature", "%v is negative", g.Temperature)
	}
	if g.TopK < 0 {
		bad("generation.top_k", "%d is negative", g.TopK)
	}
	if finite("generation.top_p", g.TopP) && (g.TopP <= 0 || g.TopP > 1) {
		bad("generation.top_p", "%v is not in (0, 1]", g.TopP)
	}
	if finite("generation.repetition_penalty", g.RepetitionPenalty) && g.RepetitionPenalty <= 0 {
		bad("generation.repetition_penalty", "%v is not positive", g.RepetitionPenalty)
	}
	checkStats := func(path string, s Stats) {
		ok := finite(path+".mean", s.Mean)
		ok = finite(path+".min", s.Min) && ok
		ok = finite(path+".max", s.Max) && ok
		if ok && !(s.Min <= s.Mean && s.Mean <= s.Max) {
			bad(path, "min %v <= mean %v <= max %v does not hold", s.Min, s.Mean, s.Max)
		}
		if s.StdDev != nil && finite(path+".stddev", *s.StdDev) && *s.StdDev < 0 {
			bad(path+".stddev", "%v is negative", *s.StdDev)
		}
	}
	res := r.Results
	checkStats("results.tokens_per_sec", res.TokensPerSec)
	if res.PrefillMS != nil {
		checkStats("results.prefill_ms", *res.PrefillMS)
	}
	if res.DecodeTokensPerSec != nil {
		checkStats("results.decode_tokens_per_sec", *res.DecodeTokensPerSec)
	}
	switch {
	case g.PromptTokens < 0:
		bad("generation.prompt_tokens", "%d is negative", g.PromptTokens)
	case g.PromptTokens > 0 && res.PromptTokensPerSec == nil:
		bad("results.prompt_tokens_per_sec", "missing with generation.prompt_tokens %d", g.PromptTokens)
	case g.PromptTokens == 0 && res.PromptTokensPerSec != nil:
		bad("generation.prompt_tokens", "missing with results.prompt_tokens_per_sec")
	case res.PromptTokensPerSec != nil:
		checkStats("results.prompt_tokens_per_sec", *res.PromptTokensPerSec)
	}
	if g.Depth < 0 {
		bad("generation.depth", "%d is negative", g.Depth)
	}
	if res.PerIterTokensPerSec != nil {
		if len(res.PerIterTokensPerSec) != res.Iters {
			bad("results.per_iter_tokens_per_sec", "%d values for %d iterations", len(res.PerIterTokensPerSec), res.Iters)
		}
		for i, v := range res.PerIterTokensPerSec {
			finite(fmt.Sprintf("results.per_iter_tokens_per_sec[%d]", i), v)
		}
	}
	switch {
	case res.VRAMPeakMiB != nil && r.Device.Type == "cpu":
		bad("results.vram_peak_mib", "set for a cpu run (must be null)")
	case res.VRAMPeakMiB == nil && r.Device.Type == "cuda":
		bad("results.vram_peak_mib", "missing for a cuda run")
	case res.VRAMPeakMiB != nil:
		if finite("results.vram_peak_mib", *res.VRAMPeakMiB) && *res.VRAMPeakMiB < 0 {
			bad("results.vram_peak_mib", "%v is negative", *res.VRAMPeakMiB)
		}
	}
	if r.Runtime.Engine == "" {
		bad("runtime.engine", "empty")
	}
	if r.Runtime.Go == "" {
		bad("runtime.go", "empty")
	}
	if r.Runtime.GOOS == "" {
		bad("runtime.goos", "empty")
	}
	if r.Runtime.GOARCH == "" {
		bad("runtime.goarch", "empty")
	}
	if r.Runtime.GOMAXPROCS < 0 {
		bad("runtime.gomaxprocs", "%d is negative", r.Runtime.GOMAXPROCS)
	}
	if len(errs) > 0 {
		return errors.New("invalid report: " + strings.Join(errs, "; "))
	}
	return nil
}

// tree returns r as an ordered JSON tree: the schema's keys in the
// schema's order, tokbench's added keys after the schema's keys of the
// same object, and the added "runtime" object last.
func (r *Report) tree() node {
	stats := func(s Stats) node {
		o := newObject().add("mean", floatNode(s.Mean)).add("min", floatNode(s.Min)).add("max", floatNode(s.Max))
		if s.StdDev != nil {
			o.add("stddev", floatNode(*s.StdDev))
		}
		return o.n
	}
	results := newObject().
		add("iters", intNode(r.Results.Iters)).
		add("tokens_per_sec", stats(r.Results.TokensPerSec)).
		add("vram_peak_mib", optFloat(r.Results.VRAMPeakMiB))
	if r.Results.PerIterTokensPerSec != nil {
		items := make([]node, len(r.Results.PerIterTokensPerSec))
		for i, v := range r.Results.PerIterTokensPerSec {
			items[i] = floatNode(v)
		}
		results.add("per_iter_tokens_per_sec", arrayNode(items))
	}
	if r.Results.PrefillMS != nil {
		results.add("prefill_ms", stats(*r.Results.PrefillMS))
	}
	if r.Results.DecodeTokensPerSec != nil {
		results.add("decode_tokens_per_sec", stats(*r.Results.DecodeTokensPerSec))
	}
	if r.Results.PromptTokensPerSec != nil {
		results.add("prompt_tokens_per_sec", stats(*r.Results.PromptTokensPerSec))
	}
	g := r.Generation
	generation := newObject().
		add("prompt", strNode(g.Prompt)).
		add("gen_tokens", intNode(g.GenTokens)).
		add("temperature", floatNode(g.Temperature)).
		add("top_k", intNode(g.TopK)).
		add("top_p", floatNode(g.TopP)).
		add("repetition_penalty", floatNode(g.RepetitionPenalty)).
		add("use_kv_cache", boolNode(g.UseKVCache)).
		add("stream", boolNode(g.Stream))
	if g.PromptTokens != 0 {
		generation.add("prompt_tokens", intNode(g.PromptTokens))
	}
	if g.Depth != 0 {
		generation.add("depth", intNode(g.Depth))
	}
	return newObject().
		add("timestamp", strNode(isoformat(r.Timestamp))).
		add("commit", optStr(r.Commit)).
		add("platform", newObject().add("os", strNode(r.Platform.OS)).add("python", optStr(r.Platform.Python)).n).
		add("torch", newObject().add("version", optStr(r.Torch.Version)).add("cuda", optStr(r.Torch.CUDA)).n).
		add("device", newObject().add("type", strNode(r.Device.Type)).add("name", strNode(r.Device.Name)).n).
		add("model", newObject().
			add("source", strNode(r.Model.Source)).
			add("params_m", floatNode(r.Model.ParamsM)).
			add("block_size", intNode(r.Model.BlockSize)).
			add("n_layer", intNode(r.Model.NLayer)).
			add("n_head", intNode(r.Model.NHead)).
			add("n_embd", intNode(r.Model.NEmbd)).
			add("dtype", strNode(r.Model.DType)).n).
		add("generation", generation.n).
		add("results", results.n).
		add("runtime", newObject().
			add("engine", strNode(r.Runtime.Engine)).
			add("go", strNode(r.Runtime.Go)).
			add("goos", strNode(r.Runtime.GOOS)).
			add("goarch", strNode(r.Runtime.GOARCH)).
			add("gomaxprocs", optInt(r.Runtime.GOMAXPROCS)).
			add("cpu", optStr(r.Runtime.CPU)).
			add("cuda_driver", optStr(r.Runtime.CUDADriver)).n).n
}

// Marshal validates r and returns it as upstream writes its JSON report:
// Python's json.dumps(report, indent=2, ensure_ascii=False), with no
// trailing newline.
func Marshal(r *Report) ([]byte, error) {
	return MarshalList([]*Report{r}, false)
}

// MarshalList validates the reports and returns them in the same format:
// as a JSON array when asArray is true, else as the single report's
// object (which then requires exactly one report).
func MarshalList(reports []*Report, asArray bool) ([]byte, error) {
	if !asArray && len(reports) != 1 {
		return nil, fmt.Errorf("report: %d reports for a single JSON object", len(reports))
	}
	items := make([]node, len(reports))
	for i, r := range reports {
		if r == nil {
			return nil, fmt.Errorf("report %d: nil", i)
		}
		if err := r.Validate(); err != nil {
			if len(reports) > 1 {
				return nil, fmt.Errorf("report %d: %w", i, err)
			}
			return nil, err
		}
		items[i] = r.tree()
	}
	doc := arrayNode(items)
	if !asArray {
		doc = items[0]
	}
	var buf bytes.Buffer
	if err := doc.encode(&buf, 0, "$"); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalJSON implements json.Marshaler with the same content as Marshal
// (encoding/json re-indents it but keeps every number as written).
func (r *Report) MarshalJSON() ([]byte, error) {
	return Marshal(r)
}

// Lang selects the language of the Markdown header.
type Lang string

// Header languages: English is upstream's script, French its benchmarks page.
const (
	English Lang = "en"
	French  Lang = "fr"
)

// ParseLang returns the Lang named s ("en" or "fr").
func ParseLang(s string) (Lang, error) {
	switch l := Lang(s); l {
	case English, French:
		return l, nil
	}
	return "", fmt.Errorf("unknown language %q (want en or fr)", s)
}

// Header and separator lines of the Markdown table (SPEC §3), without
// newlines.
const (
	HeaderEnglish = "| Device | Source | Model size (params M) | KV-cache | gen_tokens | mean tok/s | peak VRAM MiB |"
	HeaderFrench  = "| Périphérique | Source | Taille du modèle (params M) | KV-cache | gen_tokens | mean tok/s | pic VRAM MiB |"
	Separator     = "|---|---|---:|---|---:|---:|---:|"
)

// MarkdownHeader returns the header line for lang, without a newline.
func MarkdownHeader(lang Lang) (string, error) {
	switch lang {
	case English:
		return HeaderEnglish, nil
	case French:
		return HeaderFrench, nil
	}
	return "", fmt.Errorf("unknown language %q (want en or fr)", string(lang))
}

// MarkdownRow returns r's table row alone, without a newline:
// | NAME (TYPE) | SOURCE | params_m %.3f | on/off | gen_tokens | mean %.2f | MiB %.1f or N/A |
// The Device cell adds the weight precision when it is not fp32, e.g.
// "AMD EPYC (cpu, fp16)", and the cache's depth when the generation had
// one, "AMD EPYC (cpu, depth 512)". Go's %f formatting rounds the exact binary value
// half to even, as Python's f-strings do.
func (r *Report) MarkdownRow() string { return r.markdownRow(false, false) }

// markdownRow is MarkdownRow with the Device cell also naming the
// precision (dtypes) and the thread count (threads), for tables whose rows
// differ in them.
func (r *Report) markdownRow(dtypes, threads bool) string {
	kv := "off"
	if r.Generation.UseKVCache {
		kv = "on"
	}
	vram := "N/A"
	if r.Results.VRAMPeakMiB != nil {
		vram = fmt.Sprintf("%.1f", *r.Results.VRAMPeakMiB)
	}
	what := r.Device.Type
	if r.Model.DType != "" && (dtypes || r.Model.DType != "fp32") { // upstream's reports have none
		what += ", " + r.Model.DType
	}
	if n := r.Runtime.GOMAXPROCS; threads && n > 0 {
		what += fmt.Sprintf(", %d thread", n)
		if n > 1 {
			what += "s"
		}
	}
	if d := r.Generation.Depth; d > 0 {
		what += fmt.Sprintf(", depth %d", d)
	}
	return fmt.Sprintf("| %s (%s) | %s | %.3f | %s | %d | %.2f | %s |",
		r.Device.Name, what, r.Model.Source, r.Model.ParamsM, kv,
		r.Generation.GenTokens, r.Results.TokensPerSec.Mean, vram)
}

// Markdown validates the reports and returns the Markdown table: header
// in lang, separator, one row per report, each line ending in a newline.
// Upstream's seven columns stay; where the rows differ in weight precision
// or thread count, every Device cell says it, e.g. "AMD EPYC (cpu, fp32,
// 1 thread)" and "AMD EPYC (cpu, fp16, 2 threads)", so that no two rows of
// different configurations look the same.
func Markdown(lang Lang, reports ...*Report) (string, error) {
	header, err := MarkdownHeader(lang)
	if err != nil {
		return "", err
	}
	if len(reports) == 0 {
		return "", errors.New("report: no reports for the Markdown table")
	}
	for i, r := range reports {
		if r == nil {
			return "", fmt.Errorf("report %d: nil", i)
		}
		if err := r.Validate(); err != nil {
			return "", err
		}
	}
	dtypes, threads := false, false
	for _, r := range reports[1:] {
		dtypes = dtypes || r.Model.DType != reports[0].Model.DType
		threads = threads || r.Runtime.GOMAXPROCS != reports[0].Runtime.GOMAXPROCS
	}
	var b strings.Builder
	b.WriteString(header + "\n" + Separator + "\n")
	for _, r := range reports {
		b.WriteString(r.markdownRow(dtypes, threads) + "\n")
	}
	return b.String(), nil
}

// isoformat writes t in UTC as Python's datetime.isoformat() does for an
// aware datetime, as upstream's report does: microseconds when non-zero,
// and a +00:00 offset.
func isoformat(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}
