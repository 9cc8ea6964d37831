package benchmarks

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	paramsOnce sync.Once
	params     Params
	paramsErr  error
	root       string
	sidecar    *VRAMSidecar
	// started is the process's measurement time: one timestamp for the
	// whole run, so that benchstat sees one configuration, not one per result.
	started   time.Time
	unitsOnce sync.Once
)

func benchParams(b *testing.B) *Params {
	paramsOnce.Do(func() {
		started = time.Now()
		root, paramsErr = ModuleRoot(".")
		if paramsErr != nil {
			return
		}
		params, paramsErr = ParamsFromEnv(os.Getenv, root)
		sidecar = NewVRAMSidecar(params.VRAMOut)
	})
	if paramsErr != nil {
		b.Fatal(paramsErr)
	}
	return &params
}

// BenchmarkGenerate is SPEC §3's measurement: the model is loaded once per
// process, one untimed warmup generation runs per configuration, and each op
// is one generation of gen_tokens. It reports tokens/s (the report's
// figure), the prefill time and the decode-only rate. Every combination of
// BENCH_DEVICE, BENCH_DTYPE, BENCH_USE_KV_CACHE and BENCH_GEN_TOKENS is a
// sub-benchmark named with benchfmt keys; its facts are printed as benchfmt
// configuration lines before it.
func BenchmarkGenerate(b *testing.B) {
	p := benchParams(b)
	configs, err := Configs(p)
	if err != nil {
		b.Fatal(err)
	}
	unitsOnce.Do(func() {
		fmt.Println("Unit tokens/s better=higher")
		fmt.Println("Unit decode-tokens/s better=higher")
		fmt.Println("Unit prefill-ms better=lower")
		fmt.Println("Unit roofline-% better=higher")
	})
	for _, c := range configs {
		r, err := NewRunner(c, os.Stdout)
		if err != nil {
			b.Fatalf("%s: %v", c.Name(), err)
		}
		if err := r.Warmup(); err != nil {
			r.Close()
			b.Fatalf("%s: %v", c.Name(), err)
		}
		for _, kv := range r.Facts(started, root) {
			fmt.Printf("%s: %s\n", kv[0], kv[1])
		}
		name := c.Name()
		b.Run(name, func(b *testing.B) { measure(b, r) })
		if peak, ok := r.PeakBytes(); ok {
			if err := sidecar.Record(b.Name()+"/"+name, r.Backend.Device().Name, peak); err != nil {
				b.Error(err)
			}
		}
		r.Close()
	}
}

func measure(b *testing.B, r *Runner) {
	n := r.Config.GenTokens
	var prefill, decode time.Duration
	var bw float64
	if r.Backend.Device().Type == "cpu" {
		bw = ReadBandwidth() // once per process, before the timer starts
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := r.Generate(n)
		if err != nil {
			b.Fatal(err)
		}
		prefill += res.Prefill
		decode += res.Total - res.Prefill
	}
	b.StopTimer()
	ops := float64(b.N)
	b.ReportMetric(ops*float64(n)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(prefill.Microseconds())/1e3/ops, "prefill-ms")
	if n > 1 && decode > 0 {
		tps := ops * float64(n-1) / decode.Seconds()
		b.ReportMetric(tps, "decode-tokens/s")
		// The share of the read-bandwidth bound a decode step achieves:
		// weight bytes read per token x decode tokens/s / bandwidth.
		if bw > 0 {
			b.ReportMetric(100*float64(r.Loaded.Model.WeightBytes())*tps/bw, "roofline-%")
		}
	}
}
