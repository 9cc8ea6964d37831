package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/labcoreai/tokbench/benchmarks"
	"github.com/labcoreai/tokbench/benchmarks/report"
)

// benchBase is the benchmark whose results make reports; the results of
// benchPrompt (prompt processing) are added to the reports of the same
// source, device, dtype and threads; results of other benchmarks in the
// same output are skipped.
const (
	benchBase   = "Generate"
	benchPrompt = "Prompt"
)

// Units of the metrics that BenchmarkGenerate reports, as benchfmt reads
// them: time per op and prefill-ns are tidied to seconds.
const (
	unitSecPerOp  = "sec/op"
	unitPrefill   = "prefill-sec"
	unitDecodeTPS = "decode-tokens/s"
	// unitTokensPerSec names the report's figure, computed from sec/op.
	unitTokensPerSec = "tokens/s"
)

// configKeys are the benchfmt configuration keys that a report is made
// from, each required unless optional is set. An empty value deletes a
// key in the benchmark format, so the optional ones map to null. What
// differs between the configurations of one run (timestamp, device) is on
// each configuration's benchmarks.ConfigLine instead.
var configKeys = []struct {
	key      string
	optional bool
}{
	{"tokbench-commit", true},
	{"platform-os", false},
	{"go-version", false},
	{"goos", false},
	{"goarch", false},
	{"cpu", true},
	{"model-source", false},
	{"model-params-m", false},
	{"model-block-size", false},
	{"model-n-layer", false},
	{"model-n-head", false},
	{"model-n-embd", false},
	{"gen-prompt", false},
	{"gen-temperature", false},
	{"gen-top-k", false},
	{"gen-top-p", false},
	{"gen-repetition-penalty", false},
}

// configuration is every result line of one full benchmark name: the
// name keys and the -GOMAXPROCS suffix, which benchfmt counts in a
// benchmark's identity (go test -cpu 1,2 runs each name twice).
type configuration struct {
	name   string            // without the suffix, e.g. BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=256/dtype=fp32 (the VRAM sidecar's key)
	full   string            // as go test prints it, e.g. ...dtype=fp32-2
	procs  int               // GOMAXPROCS: the suffix, 1 without one
	pos    string            // file:line of its first result
	config map[string]string // configKeys values of the first result
	facts  *benchmarks.ConfigFacts
	keys   map[string]string // name keys: src, dev, kv, gen, dtype, ...

	tokensPerSec, prefillMS, decodeTPS []float64
	// prompt is the BenchmarkPrompt configuration of the same source,
	// device, dtype and threads, whose tokensPerSec are prompt tokens/s;
	// nil when none ran.
	prompt *configuration
}

// nanoseconds returns the value of the metric that benchfmt tidies to
// unit (seconds) in nanoseconds, as written when it was written in ns
// (ns/op, prefill-ns), so that no rounding of the unit conversion enters
// the report.
func nanoseconds(rec *benchfmt.Result, unit string) (float64, bool) {
	for _, v := range rec.Values {
		if v.Unit != unit {
			continue
		}
		if strings.HasSuffix(v.OrigUnit, "ns") || strings.HasPrefix(v.OrigUnit, "ns/") {
			return v.OrigValue, true
		}
		return v.Value * 1e9, true
	}
	return 0, false
}

// factsLine is a configuration's ConfigLine and where it was read.
type factsLine struct {
	facts benchmarks.ConfigFacts
	pos   string
}

// readConfigLines returns the benchmarks.ConfigLine facts in text by full
// benchmark name. benchfmt readers skip these lines.
func readConfigLines(text []byte, name string) (map[string]factsLine, error) {
	out := map[string]factsLine{}
	for i, line := range strings.Split(string(text), "\n") {
		js, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), benchmarks.ConfigLinePrefix)
		if !ok {
			continue
		}
		pos := fmt.Sprintf("%s:%d", name, i+1)
		var f benchmarks.ConfigFacts
		dec := json.NewDecoder(strings.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("%s: %sline: %v", pos, benchmarks.ConfigLinePrefix, err)
		}
		if f.Name == "" {
			return nil, fmt.Errorf("%s: %sline without a name", pos, benchmarks.ConfigLinePrefix)
		}
		if prev, ok := out[f.Name]; ok {
			a, b := prev.facts, f
			a.Timestamp, b.Timestamp = "", ""
			if a != b {
				return nil, fmt.Errorf("%s: %s: configuration facts differ from those at %s", pos, f.Name, prev.pos)
			}
			continue // the earlier timestamp stands
		}
		out[f.Name] = factsLine{f, pos}
	}
	return out, nil
}

// parseResults reads the benchmark results in text and groups them by
// configuration, in order of first appearance. warn receives notes on
// skipped results.
func parseResults(text []byte, name string, warn io.Writer) ([]*configuration, error) {
	factsByName, err := readConfigLines(text, name)
	if err != nil {
		return nil, err
	}
	rd := benchfmt.NewReader(bytes.NewReader(text), name)
	var order, prompts []*configuration
	byName := map[string]*configuration{}
	skipped := map[string]bool{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			file, line := rec.Pos()
			pos := fmt.Sprintf("%s:%d", file, line)
			base, parts := rec.Name.Parts()
			if string(base) != benchBase && string(base) != benchPrompt {
				if full := "Benchmark" + string(base); !skipped[full] {
					skipped[full] = true
					fmt.Fprintf(warn, "benchreport: %s: skipping Benchmark%s results (only Benchmark%s makes reports)\n", pos, base, benchBase)
				}
				continue
			}
			cfgName := "Benchmark" + string(base)
			keys := map[string]string{}
			procs := 1 // go test leaves out the suffix for GOMAXPROCS 1
			for _, p := range parts {
				if p[0] == '-' {
					n, err := strconv.Atoi(string(p[1:]))
					if err != nil || n <= 0 {
						return nil, fmt.Errorf("%s: %s: GOMAXPROCS suffix %q is not a positive integer", pos, rec.Name, p)
					}
					procs = n
					continue
				}
				cfgName += string(p)
				if bytes.IndexByte(p, '#') >= 0 {
					return nil, fmt.Errorf("%s: %s: go test added #NN to make the name unique: the benchmark ran two sub-benchmarks with the same name", pos, rec.Name)
				}
				k, v, ok := strings.Cut(string(p[1:]), "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("%s: benchmark name part %q is not key=value", pos, p[1:])
				}
				keys[k] = v
			}
			full := "Benchmark" + rec.Name.String() // benchfmt drops the prefix
			c := byName[full]
			if c == nil {
				c = &configuration{name: cfgName, full: full, procs: procs, pos: pos, config: map[string]string{}, keys: keys}
				for _, ck := range configKeys {
					v := rec.GetConfig(ck.key)
					if v == "" && !ck.optional {
						return nil, fmt.Errorf("%s: %s: missing configuration key %q (a %q line must precede the result)", pos, full, ck.key, ck.key+": ...")
					}
					c.config[ck.key] = v
				}
				fl, ok := factsByName[full]
				if !ok {
					return nil, fmt.Errorf("%s: %s: no %q line for it (the benchmark prints one before each configuration; output of an older tokbench?)", pos, full, strings.TrimSpace(benchmarks.ConfigLinePrefix))
				}
				c.facts = &fl.facts
				byName[full] = c
				if string(base) == benchPrompt {
					prompts = append(prompts, c)
				} else {
					order = append(order, c)
				}
			} else {
				for _, ck := range configKeys {
					if v := rec.GetConfig(ck.key); v != c.config[ck.key] {
						return nil, fmt.Errorf("%s: %s: configuration key %q is %q here but %q at %s", pos, full, ck.key, v, c.config[ck.key], c.pos)
					}
				}
			}
			// tokens/s from the exact time per op (the tokens/s metric is
			// rounded to a few digits when printed).
			ns, ok := nanoseconds(rec, unitSecPerOp)
			if !ok || !(ns > 0) {
				return nil, fmt.Errorf("%s: %s: result has no positive ns/op", pos, full)
			}
			tokensKey := "gen"
			if string(base) == benchPrompt {
				tokensKey = "prompt"
			}
			gen, err := strconv.Atoi(keys[tokensKey])
			if err != nil || gen <= 0 {
				return nil, fmt.Errorf("%s: %s: name part %s=%s is not a positive integer", pos, full, tokensKey, keys[tokensKey])
			}
			c.tokensPerSec = append(c.tokensPerSec, float64(gen)*1e9/ns)
			if v, ok := nanoseconds(rec, unitPrefill); ok {
				c.prefillMS = append(c.prefillMS, v/1e6)
			}
			if v, ok := rec.Value(unitDecodeTPS); ok {
				c.decodeTPS = append(c.decodeTPS, v)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s: no Benchmark%s results", name, benchBase)
	}
	// Each prompt-processing configuration joins the generation
	// configurations of the same source, device, dtype and threads.
	same := func(a, b *configuration) bool {
		return a.procs == b.procs && a.keys["src"] == b.keys["src"] && a.keys["dev"] == b.keys["dev"] && a.keys["dtype"] == b.keys["dtype"]
	}
	for _, p := range prompts {
		joined := false
		for _, c := range order {
			if !same(p, c) {
				continue
			}
			if c.prompt != nil {
				return nil, fmt.Errorf("%s: %s: a report holds one prompt length, but %s ran too (run BenchmarkPrompt with one BENCH_PROMPT_TOKENS per output)", p.pos, p.full, c.prompt.full)
			}
			c.prompt, joined = p, true
		}
		if !joined {
			fmt.Fprintf(warn, "benchreport: %s: skipping %s: no Benchmark%s configuration of the same src, dev, dtype and threads to report it with\n", p.pos, p.full, benchBase)
		}
	}
	return order, nil
}

// vramEntry is one configuration of the VRAM sidecar.
type vramEntry struct {
	PeakBytes *int64   `json:"peak_bytes"`
	PeakMiB   *float64 `json:"peak_mib"`
	Device    string   `json:"device"`
}

// buildReport turns c (and its sidecar entry, nil if none) into a report.
func buildReport(c *configuration, vram *vramEntry, warn io.Writer) (*report.Report, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", c.pos, c.full, fmt.Sprintf(format, args...))
	}
	cfg := c.config
	parseInt := func(key string) (int, error) {
		v, err := strconv.Atoi(cfg[key])
		if err != nil {
			return 0, fail("configuration key %q: %q is not an integer", key, cfg[key])
		}
		return v, nil
	}
	parseFloat := func(key string) (float64, error) {
		v, err := strconv.ParseFloat(cfg[key], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fail("configuration key %q: %q is not a finite number", key, cfg[key])
		}
		return v, nil
	}
	nameKey := func(key string) (string, error) {
		v, ok := c.keys[key]
		if !ok {
			return "", fail("benchmark name has no %s= part", key)
		}
		return v, nil
	}
	optional := func(key string) *string {
		if v := cfg[key]; v != "" {
			return &v
		}
		return nil
	}

	var r report.Report
	var err error
	f := c.facts
	if r.Timestamp, err = time.Parse(time.RFC3339, f.Timestamp); err != nil {
		return nil, fail("configuration line: timestamp %q is not an RFC 3339 time", f.Timestamp)
	}
	r.Timestamp = r.Timestamp.UTC()
	r.Commit = optional("tokbench-commit")
	r.Platform.OS = cfg["platform-os"]
	r.Device = report.Device{Type: f.DeviceType, Name: f.DeviceName}
	if r.Device.Name == "" {
		return nil, fail("configuration line: no device-name")
	}

	src, err := nameKey("src")
	if err != nil {
		return nil, err
	}
	if src != cfg["model-source"] {
		return nil, fail("name says src=%s but configuration key %q is %q", src, "model-source", cfg["model-source"])
	}
	r.Model.Source = src
	dev, err := nameKey("dev")
	if err != nil {
		return nil, err
	}
	switch {
	case dev != "cpu" && dev != "cuda":
		return nil, fail("name part dev=%s is not cpu or cuda", dev)
	case dev != r.Device.Type:
		return nil, fail("name says dev=%s but the configuration line's device-type is %q", dev, r.Device.Type)
	}
	if r.Model.ParamsM, err = parseFloat("model-params-m"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"model-block-size", &r.Model.BlockSize}, {"model-n-layer", &r.Model.NLayer},
		{"model-n-head", &r.Model.NHead}, {"model-n-embd", &r.Model.NEmbd}, {"gen-top-k", &r.Generation.TopK}} {
		if *f.dst, err = parseInt(f.key); err != nil {
			return nil, err
		}
	}
	r.Model.DType = f.ModelDType
	dt, err := nameKey("dtype")
	if err != nil {
		return nil, err
	}
	if dt != r.Model.DType {
		return nil, fail("name says dtype=%s but the configuration line's model-dtype is %q", dt, r.Model.DType)
	}

	if r.Generation.Prompt, err = strconv.Unquote(cfg["gen-prompt"]); err != nil {
		return nil, fail("configuration key %q: %s is not a Go-quoted string", "gen-prompt", cfg["gen-prompt"])
	}
	gen, err := nameKey("gen")
	if err != nil {
		return nil, err
	}
	if r.Generation.GenTokens, err = strconv.Atoi(gen); err != nil {
		return nil, fail("name part gen=%s is not an integer", gen)
	}
	for _, f := range []struct {
		key string
		dst *float64
	}{{"gen-temperature", &r.Generation.Temperature}, {"gen-top-p", &r.Generation.TopP},
		{"gen-repetition-penalty", &r.Generation.RepetitionPenalty}} {
		if *f.dst, err = parseFloat(f.key); err != nil {
			return nil, err
		}
	}
	if d, ok := c.keys["depth"]; ok {
		if r.Generation.Depth, err = strconv.Atoi(d); err != nil || r.Generation.Depth < 0 {
			return nil, fail("name part depth=%s is not an integer >= 0", d)
		}
	}
	if p := c.prompt; p != nil {
		if r.Generation.PromptTokens, err = strconv.Atoi(p.keys["prompt"]); err != nil {
			return nil, fail("%s: name part prompt=%s is not an integer", p.full, p.keys["prompt"])
		}
		s, err := report.NewStats(p.tokensPerSec)
		if err != nil {
			return nil, fail("%s: %s: %v", p.full, unitTokensPerSec, err)
		}
		r.Results.PromptTokensPerSec = &s
	}
	kv, err := nameKey("kv")
	if err != nil {
		return nil, err
	}
	switch kv {
	case "on":
		r.Generation.UseKVCache = true
	case "off":
	default:
		return nil, fail("name part kv=%s is not on or off", kv)
	}

	res := &r.Results
	res.Iters = len(c.tokensPerSec)
	if res.TokensPerSec, err = report.NewStats(c.tokensPerSec); err != nil {
		return nil, fail("%s: %v", unitTokensPerSec, err)
	}
	res.PerIterTokensPerSec = c.tokensPerSec
	for _, m := range []struct {
		unit string
		vals []float64
		dst  **report.Stats
	}{{"prefill-ns", c.prefillMS, &res.PrefillMS}, {unitDecodeTPS, c.decodeTPS, &res.DecodeTokensPerSec}} {
		switch len(m.vals) {
		case 0:
		case res.Iters:
			s, err := report.NewStats(m.vals)
			if err != nil {
				return nil, fail("%s: %v", m.unit, err)
			}
			*m.dst = &s
		default:
			return nil, fail("metric %s is on %d of the %d result lines", m.unit, len(m.vals), res.Iters)
		}
	}

	switch {
	case vram != nil && r.Device.Type != "cuda":
		return nil, fail("the VRAM sidecar has an entry for it but it ran on %s", r.Device.Type)
	case vram == nil && r.Device.Type == "cuda":
		return nil, fail("it ran on cuda but the VRAM sidecar (-vram) has no entry for it")
	case vram != nil:
		mib := float64(*vram.PeakBytes) / (1 << 20)
		res.VRAMPeakMiB = &mib
		if vram.Device != "" && vram.Device != r.Device.Name {
			fmt.Fprintf(warn, "benchreport: %s: VRAM sidecar device %q differs from device-name %q\n", c.name, vram.Device, r.Device.Name)
		}
	}

	r.Runtime = report.Runtime{
		Engine:     report.Engine,
		Go:         cfg["go-version"],
		GOOS:       cfg["goos"],
		GOARCH:     cfg["goarch"],
		GOMAXPROCS: c.procs,
		CPU:        optional("cpu"),
	}
	if f.CUDADriver != "" {
		drv := f.CUDADriver
		r.Runtime.CUDADriver = &drv
	}
	if err := r.Validate(); err != nil {
		return nil, fail("%v", err)
	}
	return &r, nil
}
