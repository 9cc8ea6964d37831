// Command benchinfer is the drop-in for upstream's
// scripts/benchmark_infer.py: the same flags, validation, printed summary
// and report (SPEC §3), measured through the same harness as
// BenchmarkGenerate.
//
//	go run ./tools/benchinfer --source local --checkpoint CKPT --meta META \
//	    --tokenizer char --config configs/base.toml --device cpu \
//	    --json-out outputs/bench_infer.json --md-out outputs/bench_infer.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/labcoreai/tokbench/benchmarks"
	"github.com/labcoreai/tokbench/benchmarks/report"
	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/tools/internal/cli"
	"github.com/labcoreai/tokbench/tools/internal/outfile"
	"github.com/labcoreai/tokbench/weights"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	source, checkpoint, meta, repoID, repoRevision, tokenizer, config string
	prompt, jsonOut, mdOut, device, dtype, mdLang                     string
	warmup, gen, iters, threads, promptTokens, depth                  int
	useKV                                                             *bool
	stream                                                            bool
}

// usageError is a command-line error: printed as argparse does, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const synopsis = "usage: benchinfer [flags]\n\nReproducible inference benchmark for LabCore LLM (tokbench)."

// parse reads the command line; -h/--help and --version are answered on
// stdout and give cli.ErrDone.
func parse(args []string, stdout io.Writer) (*options, error) {
	fs := flag.NewFlagSet("benchinfer", flag.ContinueOnError)
	op := &options{}
	fs.StringVar(&op.source, "source", "local", "local, hf or random (weights drawn as upstream initialises them, shape from --config [model])")
	fs.StringVar(&op.checkpoint, "checkpoint", "", "Required for --source local.")
	fs.StringVar(&op.meta, "meta", "", "Required for --source local.")
	fs.StringVar(&op.repoID, "repo-id", "", "Required for --source hf.")
	fs.StringVar(&op.repoRevision, "repo-revision", "main", "branch, tag or commit of --repo-id")
	fs.StringVar(&op.tokenizer, "tokenizer", "", "char or bpe")
	fs.StringVar(&op.config, "config", "", "TOML config; [generation] gives sampling settings and use_kv_cache")
	fs.StringVar(&op.prompt, "prompt", "ROMEO:", "prompt text")
	fs.IntVar(&op.warmup, "warmup-tokens", 64, "tokens of the untimed warmup generation")
	fs.IntVar(&op.gen, "gen-tokens", 256, "tokens per timed generation")
	fs.IntVar(&op.iters, "iters", 3, "number of timed generations")
	fs.IntVar(&op.promptTokens, "prompt-tokens", 0, "also measure prompt processing: --iters prefills of a seeded synthetic prompt of N tokens (<= block_size), as results.prompt_tokens_per_sec (tokbench addition; llama-bench's pp512)")
	fs.IntVar(&op.depth, "depth", 0, "the KV cache holds a seeded synthetic prompt of this many tokens (<= block_size) before each timed generation, which then times gen-tokens decodes (tokbench addition; llama-bench's -d)")
	on, off := true, false
	fs.BoolFunc("use-kv-cache", "use the KV cache (default: config, else on for local, off for hf)", func(string) error { op.useKV = &on; return nil })
	fs.BoolFunc("no-use-kv-cache", "do not use the KV cache", func(string) error { op.useKV = &off; return nil })
	fs.BoolFunc("stream", "noted and ignored: timing always uses stream=False", func(string) error { op.stream = true; return nil })
	fs.BoolFunc("no-stream", "the default", func(string) error { op.stream = false; return nil })
	fs.StringVar(&op.jsonOut, "json-out", "", "write the JSON report here")
	fs.StringVar(&op.mdOut, "md-out", "", "write the Markdown row here")
	fs.StringVar(&op.mdLang, "md-lang", "en", "language of the Markdown header: en (upstream's script) or fr (its French benchmarks page)")
	fs.StringVar(&op.device, "device", "cpu", "cpu or cuda")
	fs.IntVar(&op.threads, "threads", runtime.GOMAXPROCS(0), "CPU threads (GOMAXPROCS, the CPU backend's workers); default: all the cores the process may use (tokbench addition)")
	fs.StringVar(&op.dtype, "dtype", "fp32", "weight storage: fp32, fp16 (half the bytes read per token) or int8 (blocks of 32 with a scale each, CPU only; tokbench addition)")
	if err := cli.Parse(fs, synopsis, args, stdout); err != nil {
		if errors.Is(err, cli.ErrDone) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	// The prompt's bytes bound its token count: a length the memory limit
	// refuses is refused here, before any file is read.
	genErr := gpt.CheckGenTokens(len(op.prompt), op.gen)
	warmupErr := gpt.CheckGenTokens(len(op.prompt), op.warmup)
	dtypeErr := gpt.CheckDType(op.dtype)
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Sprintf("unrecognized arguments: %s", fs.Arg(0))}
	case op.source != "local" && op.source != "hf" && op.source != "random":
		return nil, usageError{fmt.Sprintf("argument --source: invalid choice: %q (choose from 'local', 'hf', 'random')", op.source)}
	case op.source == "random" && op.config == "":
		return nil, usageError{"--config is required when --source random (its [model] section gives the shape)."}
	case op.tokenizer != "" && op.tokenizer != "char" && op.tokenizer != "bpe":
		return nil, usageError{fmt.Sprintf("argument --tokenizer: invalid choice: %q (choose from 'char', 'bpe')", op.tokenizer)}
	case op.source == "local" && op.checkpoint == "":
		return nil, usageError{"--checkpoint is required when --source local."}
	case op.source == "local" && op.meta == "":
		return nil, usageError{"--meta is required when --source local."}
	case op.source == "hf" && op.repoID == "":
		return nil, usageError{"--repo-id is required when --source hf."}
	case op.warmup < 0:
		return nil, usageError{"--warmup-tokens must be >= 0."}
	case op.gen <= 0:
		return nil, usageError{"--gen-tokens must be > 0."}
	case genErr != nil:
		return nil, usageError{"--gen-tokens: " + genErr.Error()}
	case warmupErr != nil:
		return nil, usageError{"--warmup-tokens: " + warmupErr.Error()}
	case op.iters <= 0:
		return nil, usageError{"--iters must be > 0."}
	case op.promptTokens < 0:
		return nil, usageError{"--prompt-tokens must be >= 0."}
	case op.depth < 0:
		return nil, usageError{"--depth must be >= 0."}
	case op.threads <= 0:
		return nil, usageError{"--threads must be > 0."}
	case dtypeErr != nil:
		return nil, usageError{fmt.Sprintf("argument --dtype: %v", dtypeErr)}
	case op.device != "cpu" && op.device != "cuda":
		return nil, usageError{fmt.Sprintf("argument --device: want cpu or cuda, got %q", op.device)}
	case op.mdLang != string(report.English) && op.mdLang != string(report.French):
		return nil, usageError{fmt.Sprintf("argument --md-lang: want en or fr, got %q", op.mdLang)}
	}
	return op, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	op, err := parse(args, stdout)
	if errors.Is(err, cli.ErrDone) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "usage: benchinfer [flags] (see --help)\nbenchinfer: error: %s\n", ue.msg)
		return 2
	}
	// The outputs are checked, and their temporary files created, before
	// anything is measured: a bad path costs no measurement, and an
	// output can never overwrite an input or the other output.
	outs, err := outfile.Prepare([]string{op.checkpoint, op.meta, op.config},
		outfile.Output{Flag: "--json-out", Path: op.jsonOut}, outfile.Output{Flag: "--md-out", Path: op.mdOut})
	if err != nil {
		fmt.Fprintf(stderr, "benchinfer: %v\n", err)
		return 1
	}
	defer outs.Discard()
	defer outs.DiscardOnInterrupt()()
	rep, md, err := benchmark(op, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchinfer: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nInference benchmark summary\n%s\n", md)
	data, err := report.Marshal(rep)
	if err == nil {
		err = outs.Write(data, []byte(md))
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchinfer: %v\n", err)
		return 1
	}
	if op.jsonOut != "" {
		fmt.Fprintf(stdout, "JSON written to: %s\n", op.jsonOut)
	}
	if op.mdOut != "" {
		fmt.Fprintf(stdout, "Markdown written to: %s\n", op.mdOut)
	}
	return 0
}

// benchmark resolves the parameters, runs warmup and iterations through the
// benchmarks harness, and builds the report.
func benchmark(op *options, stdout, stderr io.Writer) (*report.Report, string, error) {
	p := &benchmarks.Params{
		Source: op.source, Checkpoint: op.checkpoint, Meta: op.meta, Tokenizer: op.tokenizer,
		RepoID: op.repoID, RepoRevision: op.repoRevision, Devices: []string{op.device},
		Prompt: op.prompt, WarmupTokens: op.warmup, GenTokens: []int{op.gen}, DTypes: []string{op.dtype},
	}
	if op.config != "" {
		c, err := weights.LoadConfig(op.config)
		if err != nil {
			return nil, "", err
		}
		warnings, err := benchmarks.CheckConfigKeys(c)
		if err != nil {
			return nil, "", err
		}
		for _, w := range warnings {
			fmt.Fprintln(stderr, "benchinfer: warning:", w)
		}
		p.Config, p.ConfigPath = c, op.config
	}
	if op.useKV != nil {
		p.UseKVCache = []bool{*op.useKV}
	}
	if op.depth > 0 {
		p.Depths = []int{op.depth}
	}
	if op.promptTokens > 0 {
		p.PromptTokens = []int{op.promptTokens}
	}
	if op.stream {
		fmt.Fprintln(stdout, "Note: --stream requested, but benchmark forces stream=False for comparable timing.")
	}
	configs, err := benchmarks.Configs(p)
	if err != nil {
		return nil, "", err
	}
	c := configs[0]
	runtime.GOMAXPROCS(op.threads) // before the backend sizes its worker pool
	fmt.Fprintf(stderr, "benchinfer: loading the model (%s)...\n", op.source)
	start := time.Now()
	r, err := benchmarks.NewRunner(c, stdout)
	if errors.Is(err, benchmarks.ErrDepth) || errors.Is(err, benchmarks.ErrDepthWithoutCache) {
		return nil, "", fmt.Errorf("--depth: %w", err)
	}
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	var pp []float64
	if op.promptTokens > 0 {
		// Prompt processing first, on its own backend, closed before the
		// generation's warmup resets the peak-memory counter.
		if pp, err = promptProcessing(p, op, stdout, stderr); err != nil {
			return nil, "", err
		}
	}
	for _, w := range r.Loaded.Warnings {
		fmt.Fprintln(stderr, "benchinfer: warning:", w)
	}
	fmt.Fprintf(stderr, "benchinfer: loaded in %.2fs: %.3fM params on %s (%s)\n", time.Since(start).Seconds(), r.Loaded.Model.Config.ParamsM(), r.Backend.Device().Name, r.Backend.Device().Type)
	if op.warmup > 0 {
		fmt.Fprintf(stderr, "benchinfer: warmup: %d tokens...\n", op.warmup)
	}
	if err := r.Warmup(); err != nil {
		return nil, "", err
	}
	var tps, prefill, decode []float64
	for i := range op.iters {
		// At a depth, the cache filled untimed, then gen-tokens decodes timed.
		pf, dec, toks, err := r.TimedOp(op.gen, nil, nil)
		if err != nil {
			return nil, "", err
		}
		prefill = append(prefill, float64(pf.Nanoseconds())/1e6)
		var t float64
		if op.depth > 0 {
			t = float64(toks) / max(dec.Seconds(), 1e-12)
			decode = append(decode, t)
		} else {
			t = float64(toks) / max((pf+dec).Seconds(), 1e-12)
			if toks > 1 && dec > 0 {
				decode = append(decode, float64(toks-1)/dec.Seconds())
			}
		}
		tps = append(tps, t)
		fmt.Fprintf(stderr, "benchinfer: iteration %d/%d: %.2f tok/s\n", i+1, op.iters, t)
	}
	rep, err := buildReport(r, tps, prefill, decode)
	if err != nil {
		return nil, "", err
	}
	rep.Generation.Depth = op.depth
	if pp != nil {
		s, err := report.NewStats(pp)
		if err != nil {
			return nil, "", fmt.Errorf("prompt tokens/s: %w", err)
		}
		rep.Generation.PromptTokens = op.promptTokens
		rep.Results.PromptTokensPerSec = &s
	}
	md, err := report.Markdown(report.Lang(op.mdLang), rep)
	return rep, md, err
}

// promptProcessing measures --iters prefills of a synthetic prompt of
// --prompt-tokens tokens, after a warmup prefill (none with
// --warmup-tokens 0), and returns the prompt tokens/s of each.
func promptProcessing(p *benchmarks.Params, op *options, stdout, stderr io.Writer) ([]float64, error) {
	configs, err := benchmarks.PromptConfigs(p)
	if err != nil {
		return nil, err
	}
	r, err := benchmarks.NewRunner(configs[0], io.Discard) // a fallback was announced by the generation's runner
	if errors.Is(err, benchmarks.ErrDepth) {
		return nil, fmt.Errorf("--prompt-tokens: %w", err)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.Warmup(); err != nil {
		return nil, err
	}
	var pp []float64
	for i := range op.iters {
		start := time.Now()
		if err := r.PrefillPrompt(); err != nil {
			return nil, err
		}
		t := float64(op.promptTokens) / max(time.Since(start).Seconds(), 1e-12)
		pp = append(pp, t)
		fmt.Fprintf(stderr, "benchinfer: prompt processing %d/%d: %d tokens, %.2f tok/s\n", i+1, op.iters, op.promptTokens, t)
	}
	return pp, nil
}

// commit is the tokbench commit of the report: the one this binary was
// built from (an installed binary run from anywhere), else the checkout
// around the working directory (go run inside the checkout).
func commit() string {
	if c := cli.Commit(); c != "" {
		return c
	}
	if root, err := benchmarks.ModuleRoot("."); err == nil {
		return benchmarks.GitCommit(root)
	}
	return ""
}

func buildReport(r *benchmarks.Runner, tps, prefill, decode []float64) (*report.Report, error) {
	m := r.Loaded.Model.Config
	d := r.Backend.Device()
	set := r.Config.Settings
	st, err := report.NewStats(tps)
	if err != nil {
		return nil, err
	}
	rep := &report.Report{
		Timestamp: time.Now().UTC(),
		Platform:  report.Platform{OS: benchmarks.PlatformOS()},
		Device:    report.Device{Type: d.Type, Name: d.Name},
		Model: report.Model{Source: r.Loaded.Source, ParamsM: m.ParamsM(), BlockSize: m.BlockSize,
			NLayer: m.NLayer, NHead: m.NHead, NEmbd: m.NEmbd, DType: d.WeightDType(r.Loaded.Model)},
		Generation: report.Generation{Prompt: r.Config.Params.Prompt, GenTokens: r.Config.GenTokens,
			Temperature: set.Sampling.Temperature, TopK: set.Sampling.TopK, TopP: set.Sampling.TopP,
			RepetitionPenalty: set.Sampling.RepetitionPenalty, UseKVCache: r.Config.UseKVCache},
		Results: report.Results{Iters: len(tps), TokensPerSec: st, PerIterTokensPerSec: tps},
		Runtime: report.Runtime{Engine: report.Engine, Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
			GOMAXPROCS: r.Threads()},
	}
	if c := commit(); c != "" {
		rep.Commit = &c
	}
	cpu := gpt.CPUName()
	rep.Runtime.CPU = &cpu
	if d.Driver != "" {
		drv := d.Driver
		rep.Runtime.CUDADriver = &drv
	}
	if peak, ok := r.PeakBytes(); ok {
		mib := float64(peak) / (1 << 20)
		rep.Results.VRAMPeakMiB = &mib
	}
	if s, err := report.NewStats(prefill); err == nil {
		rep.Results.PrefillMS = &s
	}
	if s, err := report.NewStats(decode); err == nil {
		rep.Results.DecodeTokensPerSec = &s
	}
	return rep, nil
}
