package benchmarks

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/gpt"
)

var (
	paramsOnce sync.Once
	params     Params
	paramsErr  error
	root       string
	sidecar    *VRAMSidecar
	progress   *Progress
	unitsOnce  sync.Once
	// runs counts the runs of each full benchmark name (with its
	// -GOMAXPROCS suffix), for the progress lines.
	runs = map[string]int{}
)

func benchParams(b *testing.B) *Params {
	paramsOnce.Do(func() {
		if paramsErr = CheckEnviron(os.Environ()); paramsErr != nil {
			return
		}
		root, paramsErr = ModuleRoot(".")
		if paramsErr != nil {
			return
		}
		params, paramsErr = ParamsFromEnv(os.Getenv, root)
		if paramsErr != nil {
			return
		}
		progress, paramsErr = NewProgress(params.Progress)
		sidecar = NewVRAMSidecar(params.VRAMOut)
		for _, w := range params.Warnings {
			fmt.Println("[tokbench] warning:", w)
		}
	})
	if paramsErr != nil {
		b.Fatal(paramsErr)
	}
	return &params
}

// cpuList is go test's -cpu list (GOMAXPROCS values), or the current
// GOMAXPROCS without one.
func cpuList() []int {
	var out []int
	if f := flag.Lookup("test.cpu"); f != nil {
		for s := range strings.SplitSeq(f.Value.String(), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		out = []int{runtime.GOMAXPROCS(0)}
	}
	return out
}

// procsName is name as go test prints it for a run with GOMAXPROCS procs.
func procsName(name string, procs int) string {
	if procs == 1 {
		return name
	}
	return name + "-" + strconv.Itoa(procs)
}

// BenchmarkGenerate is SPEC §3's measurement: the model is loaded once per
// process, one untimed warmup generation runs per configuration, and each op
// is one generation of gen_tokens. It reports tokens/s (the report's
// figure), the prefill time and the decode-only rate. Every combination of
// BENCH_DEVICE, BENCH_DTYPE, BENCH_USE_KV_CACHE and BENCH_GEN_TOKENS is a
// sub-benchmark named with benchfmt keys saying what ran. The facts every
// configuration shares are printed as benchfmt configuration lines before
// it, its own facts (timestamp, device) on a ConfigLine per -cpu value.
// In a sweep of devices, a device that is not available is skipped with
// the reason; a configuration that would run as an earlier one did (cuda
// runs fp32 and fp16 storage alike in fp16) is skipped too.
//
// With BENCH_DEPTH, every name has a depth key, and at a depth d > 0 each
// op is GenTokens decodes with the cache holding d synthetic tokens first
// (llama-bench's tg128 @ d512), filled untimed before each op; prefill-ns
// is then that fill. A depth past block_size fails naming BENCH_DEPTH;
// kv=off with a depth is skipped (no cache to fill).
func BenchmarkGenerate(b *testing.B) {
	p := benchParams(b)
	configs, err := Configs(p)
	if err != nil {
		b.Fatal(err)
	}
	printUnits(p)
	sweep(b, p, configs, "BENCH_DEPTH", measure, true)
}

// BenchmarkPrompt is prompt processing (llama-bench's pp512): each op
// prefills a seeded synthetic prompt of BENCH_PROMPT_TOKENS tokens (default
// DefaultPromptTokens clipped to block_size) from an empty cache, with the
// device synchronised, and reports tokens/s, the prompt tokens per second.
// Every combination of BENCH_DEVICE, BENCH_DTYPE and BENCH_PROMPT_TOKENS is
// a sub-benchmark, src=local/dev=cpu/prompt=512/dtype=fp32; the warmup is one
// prefill, and the facts are printed as BenchmarkGenerate prints them.
// Its peak device memory is not written to the VRAM sidecar.
func BenchmarkPrompt(b *testing.B) {
	p := benchParams(b)
	configs, err := PromptConfigs(p)
	if err != nil {
		b.Fatal(err)
	}
	printUnits(p)
	sweep(b, p, configs, "BENCH_PROMPT_TOKENS", measurePrompt, false)
}

// printUnits prints the benchfmt unit lines once per process.
func printUnits(p *Params) {
	unitsOnce.Do(func() {
		fmt.Println("Unit tokens/s better=higher")
		fmt.Println("Unit decode-tokens/s better=higher")
		fmt.Println("Unit prefill-ns better=lower")
		if p.Roofline {
			fmt.Println("Unit roofline-% better=higher")
		}
	})
}

// sweep runs each configuration as a sub-benchmark named as it runs,
// with measure; variable names the setting that a configuration which
// does not fit the model (ErrDepth) came from. With vram, peak device
// memory goes to the VRAM sidecar (the report's vram_peak_mib is the
// generation's).
func sweep(b *testing.B, p *Params, configs []Config, variable string, measure func(*testing.B, *Runner), vram bool) {
	procs := cpuList()
	ran := map[string]string{}
	for i, c := range configs {
		// go test sets each -cpu value's GOMAXPROCS only after the first
		// run of a sub-benchmark: set the first one for that run, and
		// for the backend's worker pool.
		runtime.GOMAXPROCS(procs[0])
		progress.Printf("configuration %d/%d: %s: loading the model", i+1, len(configs), c.Name())
		// skip says why c is skipped and runs it as a skipped sub-benchmark.
		skip := func(reason string) {
			fmt.Printf("[tokbench] %s: %s\n", c.Name(), reason)
			b.Run(c.Name(), func(b *testing.B) { b.Skip(reason) })
		}
		r, err := NewRunner(c, os.Stdout)
		if errors.Is(err, gpt.ErrNoDevice) {
			skip(fmt.Sprintf("BENCH_DEVICE=%s: skipped in a sweep: %v", c.Device, err))
			continue
		}
		if errors.Is(err, ErrDepthWithoutCache) {
			skip(fmt.Sprintf("skipped: %v", err))
			continue
		}
		if errors.Is(err, ErrDepth) {
			b.Fatalf("%s: %s: %v", c.Name(), variable, err)
		}
		if err != nil {
			b.Fatalf("%s: %v", c.Name(), err)
		}
		name := r.Name()
		if prev, ok := ran[name]; ok {
			r.Close()
			skip(fmt.Sprintf("skipped: runs as %s, as %s did", name, prev))
			continue
		}
		ran[name] = c.Name()
		if n := p.WarmupTokens; n > 0 {
			progress.Printf("configuration %d/%d: %s: warmup, %d tokens", i+1, len(configs), name, n)
		}
		if err := r.Warmup(); err != nil {
			r.Close()
			b.Fatalf("%s: %v", name, err)
		}
		for _, kv := range r.Facts(root) {
			fmt.Printf("%s: %s\n", kv[0], kv[1])
		}
		now := time.Now()
		for _, n := range procs {
			fmt.Println(r.ConfigLine(procsName(b.Name()+"/"+name, n), now))
		}
		b.Run(name, func(b *testing.B) { measure(b, r) })
		if peak, ok := r.PeakBytes(); ok && vram {
			if err := sidecar.Record(b.Name()+"/"+name, r.Backend.Device().Name, peak); err != nil {
				b.Error(err)
			}
		}
		r.Close()
	}
}

// startRun begins a run of a configuration: the CPU backend follows the
// run's GOMAXPROCS, and the iteration is reported on the progress line.
func startRun(b *testing.B, r *Runner) {
	if err := r.FollowThreads(); err != nil {
		b.Fatal(err)
	}
	full := procsName(b.Name(), runtime.GOMAXPROCS(0))
	runs[full]++
	if count := flag.Lookup("test.count"); count != nil {
		progress.Iteration("%s: iteration %d/%s", full, runs[full], count.Value)
	}
}

// measure is one run of a configuration: b.Loop's generations, timed.
func measure(b *testing.B, r *Runner) {
	startRun(b, r)
	n := r.Config.GenTokens
	var prefill, decode time.Duration
	var bw float64
	roofline := r.Config.Params.Roofline && r.Backend.Device().Type == "cpu" &&
		RooflineApplies(r.Loaded.Model.WeightBytes(), r.Config.UseKVCache)
	if roofline {
		bw = ReadBandwidth() // once per process and GOMAXPROCS, before the timer starts
	}
	pause, resume := b.StopTimer, b.StartTimer
	b.ReportAllocs()
	b.ResetTimer()
	steps := n - 1 // decodes after the first token, which the prefill gives
	if r.Config.Depth > 0 {
		steps = n // at depth, n decodes after the untimed fill
	}
	for b.Loop() {
		pf, dec, _, err := r.TimedOp(n, pause, resume)
		if err != nil {
			b.Fatal(err)
		}
		prefill += pf
		decode += dec
	}
	b.StopTimer()
	ops := float64(b.N)
	b.ReportMetric(ops*float64(n)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(prefill.Nanoseconds())/ops, "prefill-ns")
	if steps > 0 && decode > 0 {
		tps := ops * float64(steps) / decode.Seconds()
		b.ReportMetric(tps, "decode-tokens/s")
		// The share of the read-bandwidth bound a decode step achieves:
		// weight bytes read per token x decode tokens/s / bandwidth.
		if bw > 0 {
			b.ReportMetric(100*float64(r.Loaded.Model.WeightBytes())*tps/bw, "roofline-%")
		}
	}
}

// measurePrompt is one run of a prompt-processing configuration: b.Loop's
// prefills of the synthetic prompt, timed; tokens/s is prompt tokens per
// second.
func measurePrompt(b *testing.B, r *Runner) {
	startRun(b, r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.PrefillPrompt(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(r.PromptTokens())/b.Elapsed().Seconds(), "tokens/s")
}
