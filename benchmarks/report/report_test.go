package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func sample() *Report {
	return &Report{
		Timestamp: time.Date(2026, 3, 1, 12, 30, 5, 0, time.UTC),
		Commit:    ptr("3f2c9b1e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"),
		Platform:  Platform{OS: "Linux-6.1.0-28-cloud-amd64-x86_64"},
		Device:    Device{Type: "cpu", Name: "AMD EPYC 7B13"},
		Model:     Model{Source: "local", ParamsM: 1, BlockSize: 128, NLayer: 6, NHead: 8, NEmbd: 256, DType: "fp32"},
		Generation: Generation{Prompt: "ROMEO:", GenTokens: 256, Temperature: 0.9, TopK: 40, TopP: 1,
			RepetitionPenalty: 1, UseKVCache: true},
		Results: Results{Iters: 3, TokensPerSec: Stats{Mean: 100, Min: 90, Max: 110}},
		Runtime: Runtime{Engine: Engine, Go: "go1.26.8", GOOS: "linux", GOARCH: "amd64", GOMAXPROCS: 2, CPU: ptr("AMD EPYC 7B13")},
	}
}

// Expected strings below were produced by CPython 3 (repr / f-strings /
// json.dumps(indent=2, ensure_ascii=False)).
func TestPyFloatRepr(t *testing.T) {
	for v, want := range map[float64]string{
		1: "1.0", 0.9: "0.9", 1e-05: "1e-05", 1e16: "1e+16", 1e15: "1000000000000000.0",
		0.0001: "0.0001", 1.2345678901234568e+17: "1.2345678901234568e+17", 5e-324: "5e-324",
		1.7976931348623157e308: "1.7976931348623157e+308", math.Copysign(0, -1): "-0.0", 0: "0.0",
		0.148224: "0.148224", 52645.125: "52645.125", -2.5: "-2.5", 1.5e-7: "1.5e-07", 123.0: "123.0",
	} {
		got, err := pyFloatRepr(v)
		require.NoError(t, err)
		assert.Equal(t, want, got, "repr(%v)", v)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := pyFloatRepr(v)
		assert.Error(t, err, "%v", v)
	}
}

func TestPyJSONEncoding(t *testing.T) {
	doc := newObject().
		add("a", floatNode(1)).add("b", floatNode(0.9)).add("c", floatNode(1e-05)).
		add("g", arrayNode([]node{floatNode(1.5), intNode(2)})).add("h", nullNode()).
		add("s", strNode("é\"\\\n\x01\x7f<>&\u2028")).add("x", newObject().n).add("y", arrayNode(nil)).n
	var buf bytes.Buffer
	require.NoError(t, doc.encode(&buf, 0, "$"))
	want := "{\n  \"a\": 1.0,\n  \"b\": 0.9,\n  \"c\": 1e-05,\n  \"g\": [\n    1.5,\n    2\n  ],\n  \"h\": null,\n" +
		"  \"s\": \"é\\\"\\\\\\n\\u0001\x7f<>&\u2028\",\n  \"x\": {},\n  \"y\": []\n}"
	assert.Equal(t, want, buf.String())
}

func TestMarshalSchema(t *testing.T) {
	r := sample()
	r.Results.PerIterTokensPerSec = []float64{90, 100, 110}
	r.Results.PrefillMS = &Stats{Mean: 2, Min: 1.5, Max: 2.5}
	out, err := Marshal(r)
	require.NoError(t, err)
	want := `{
  "timestamp": "2026-03-01T12:30:05+00:00",
  "commit": "3f2c9b1e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
  "platform": {
    "os": "Linux-6.1.0-28-cloud-amd64-x86_64",
    "python": null
  },
  "torch": {
    "version": null,
    "cuda": null
  },
  "device": {
    "type": "cpu",
    "name": "AMD EPYC 7B13"
  },
  "model": {
    "source": "local",
    "params_m": 1.0,
    "block_size": 128,
    "n_layer": 6,
    "n_head": 8,
    "n_embd": 256,
    "dtype": "fp32"
  },
  "generation": {
    "prompt": "ROMEO:",
    "gen_tokens": 256,
    "temperature": 0.9,
    "top_k": 40,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "use_kv_cache": true,
    "stream": false
  },
  "results": {
    "iters": 3,
    "tokens_per_sec": {
      "mean": 100.0,
      "min": 90.0,
      "max": 110.0
    },
    "vram_peak_mib": null,
    "per_iter_tokens_per_sec": [
      90.0,
      100.0,
      110.0
    ],
    "prefill_ms": {
      "mean": 2.0,
      "min": 1.5,
      "max": 2.5
    }
  },
  "runtime": {
    "engine": "tokbench",
    "go": "go1.26.8",
    "goos": "linux",
    "goarch": "amd64",
    "gomaxprocs": 2,
    "cpu": "AMD EPYC 7B13",
    "cuda_driver": null
  }
}`
	assert.Equal(t, want, string(out))

	// encoding/json accepts it and keeps the same numbers.
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	viaStd, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(viaStd), `"params_m":1.0`)
	assert.Contains(t, string(viaStd), `"timestamp":"2026-03-01T12:30:05+00:00"`)
}

func TestMarshalList(t *testing.T) {
	a, b := sample(), sample()
	b.Device = Device{Type: "cuda", Name: "NVIDIA H100 80GB HBM3"}
	b.Results.VRAMPeakMiB = ptr(512.0)
	out, err := MarshalList([]*Report{a, b}, true)
	require.NoError(t, err)
	var arr []map[string]any
	require.NoError(t, json.Unmarshal(out, &arr))
	require.Len(t, arr, 2)
	assert.Equal(t, 512.0, arr[1]["results"].(map[string]any)["vram_peak_mib"])
	assert.True(t, strings.HasPrefix(string(out), "[\n  {\n    \"timestamp\""))
	assert.True(t, strings.HasSuffix(string(out), "\n  }\n]"))

	_, err = MarshalList([]*Report{a, b}, false)
	assert.ErrorContains(t, err, "2 reports for a single JSON object")
}

// Expected values from CPython: f"{v:.3f}", f"{v:.2f}", f"{v:.1f}".
func TestMarkdownRounding(t *testing.T) {
	cases := []struct {
		v          float64
		f3, f2, f1 string
	}{
		{0.125, "0.125", "0.12", "0.1"},
		{0.375, "0.375", "0.38", "0.4"},
		{2.675, "2.675", "2.67", "2.7"},
		{1.005, "1.005", "1.00", "1.0"},
		{0.005, "0.005", "0.01", "0.0"},
		{0.015, "0.015", "0.01", "0.0"},
		{0.025, "0.025", "0.03", "0.0"},
		{1.125, "1.125", "1.12", "1.1"},
		{52645.125, "52645.125", "52645.12", "52645.1"},
		{63307.335, "63307.335", "63307.33", "63307.3"},
		{12.345, "12.345", "12.35", "12.3"},
		{99.995, "99.995", "100.00", "100.0"},
		{0.0005, "0.001", "0.00", "0.0"},
		{0.0015, "0.002", "0.00", "0.0"},
		{1.0005, "1.000", "1.00", "1.0"},
		{0.0025, "0.003", "0.00", "0.0"},
		{123456.785, "123456.785", "123456.79", "123456.8"},
	}
	for _, c := range cases {
		r := sample()
		r.Device = Device{Type: "cuda", Name: "NVIDIA H100 80GB HBM3"}
		r.Model.ParamsM = c.v
		r.Results.TokensPerSec = Stats{Mean: c.v, Min: c.v, Max: c.v}
		r.Results.VRAMPeakMiB = ptr(c.v)
		want := fmt.Sprintf("| NVIDIA H100 80GB HBM3 (cuda) | local | %s | on | 256 | %s | %s |", c.f3, c.f2, c.f1)
		assert.Equal(t, want, r.MarkdownRow(), "value %v", c.v)
	}
}

func TestMarkdownTable(t *testing.T) {
	a := sample()
	a.Model.ParamsM = 0.148224
	a.Results.TokensPerSec = Stats{Mean: 52645.125, Min: 50000, Max: 60000}
	b := sample()
	b.Generation.UseKVCache = false
	b.Model.Source = "hf"
	b.Device = Device{Type: "cuda", Name: "NVIDIA H100 80GB HBM3"}
	b.Results.VRAMPeakMiB = ptr(18.25)

	en, err := Markdown(English, a, b)
	require.NoError(t, err)
	assert.Equal(t, "| Device | Source | Model size (params M) | KV-cache | gen_tokens | mean tok/s | peak VRAM MiB |\n"+
		"|---|---|---:|---|---:|---:|---:|\n"+
		"| AMD EPYC 7B13 (cpu) | local | 0.148 | on | 256 | 52645.12 | N/A |\n"+
		"| NVIDIA H100 80GB HBM3 (cuda) | hf | 1.000 | off | 256 | 100.00 | 18.2 |\n", en)

	fr, err := Markdown(French, a)
	require.NoError(t, err)
	assert.Equal(t, "| Périphérique | Source | Taille du modèle (params M) | KV-cache | gen_tokens | mean tok/s | pic VRAM MiB |\n"+
		"|---|---|---:|---|---:|---:|---:|\n"+
		"| AMD EPYC 7B13 (cpu) | local | 0.148 | on | 256 | 52645.12 | N/A |\n", fr)

	_, err = Markdown("de", a)
	assert.ErrorContains(t, err, `unknown language "de"`)
	_, err = Markdown(English)
	assert.Error(t, err)
	l, err := ParseLang("fr")
	require.NoError(t, err)
	assert.Equal(t, French, l)
	_, err = ParseLang("EN")
	assert.Error(t, err)
}

// Rows that differ in precision or thread count say so in the Device
// cell; a lone fp16 row says fp16.
func TestMarkdownRowsTellConfigurationsApart(t *testing.T) {
	fp32, fp16 := sample(), sample()
	fp16.Model.DType = "fp16"
	md, err := Markdown(English, fp32, fp16)
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSpace(md), "\n")[2:]
	assert.Equal(t, []string{
		"| AMD EPYC 7B13 (cpu, fp32) | local | 1.000 | on | 256 | 100.00 | N/A |",
		"| AMD EPYC 7B13 (cpu, fp16) | local | 1.000 | on | 256 | 100.00 | N/A |",
	}, rows)
	one, two := sample(), sample()
	one.Runtime.GOMAXPROCS = 1
	md, err = Markdown(English, one, two, fp16)
	require.NoError(t, err)
	rows = strings.Split(strings.TrimSpace(md), "\n")[2:]
	assert.Equal(t, []string{
		"| AMD EPYC 7B13 (cpu, fp32, 1 thread) | local | 1.000 | on | 256 | 100.00 | N/A |",
		"| AMD EPYC 7B13 (cpu, fp32, 2 threads) | local | 1.000 | on | 256 | 100.00 | N/A |",
		"| AMD EPYC 7B13 (cpu, fp16, 2 threads) | local | 1.000 | on | 256 | 100.00 | N/A |",
	}, rows)
	assert.Equal(t, "| AMD EPYC 7B13 (cpu, fp16) | local | 1.000 | on | 256 | 100.00 | N/A |", fp16.MarkdownRow())
	// Unknown thread counts (0) are null in the JSON and not in the cell.
	two.Runtime.GOMAXPROCS = 0
	doc, err := Marshal(two)
	require.NoError(t, err)
	assert.Contains(t, string(doc), `"gomaxprocs": null`)
	two.Runtime.GOMAXPROCS = -1
	assert.ErrorContains(t, two.Validate(), "runtime.gomaxprocs")
}

func TestNewStats(t *testing.T) {
	s, err := NewStats([]float64{3, 1, 2})
	require.NoError(t, err)
	assert.Equal(t, Stats{Mean: 2, Min: 1, Max: 3, StdDev: ptr(1.0)}, s)
	// Exact mean: naive summation gives 0.20000000000000004 / ... here.
	s, err = NewStats([]float64{0.1, 0.2, 0.3})
	require.NoError(t, err)
	assert.Equal(t, 0.2, s.Mean) // statistics.mean([0.1, 0.2, 0.3]) == 0.2
	s, err = NewStats([]float64{1e308, 1e308})
	require.NoError(t, err)
	assert.Equal(t, 1e308, s.Mean)
	_, err = NewStats(nil)
	assert.Error(t, err)
	_, err = NewStats([]float64{1, math.NaN()})
	assert.ErrorContains(t, err, "value 1")
}

func TestValidate(t *testing.T) {
	cases := map[string]func(r *Report){
		"timestamp: not set":                      func(r *Report) { r.Timestamp = time.Time{} },
		"device.type":                             func(r *Report) { r.Device.Type = "mps" },
		"model.dtype":                             func(r *Report) { r.Model.DType = "" },
		"generation.top_p":                        func(r *Report) { r.Generation.TopP = 0 },
		"results.iters":                           func(r *Report) { r.Results.Iters = 0 },
		"results.vram_peak_mib: set for":          func(r *Report) { r.Results.VRAMPeakMiB = ptr(1.0) },
		"results.vram_peak_mib: missing":          func(r *Report) { r.Device.Type = "cuda" },
		"results.tokens_per_sec.mean":             func(r *Report) { r.Results.TokensPerSec.Mean = math.NaN() },
		"results.tokens_per_sec: min":             func(r *Report) { r.Results.TokensPerSec.Mean = 200 },
		"per_iter_tokens_per_sec: 1 values for 3": func(r *Report) { r.Results.PerIterTokensPerSec = []float64{1} },
		"runtime.go":                              func(r *Report) { r.Runtime.Go = "" },
	}
	for want, mutate := range cases {
		r := sample()
		mutate(r)
		_, err := Marshal(r)
		assert.ErrorContains(t, err, want)
		_, err = Markdown(English, r)
		assert.ErrorContains(t, err, want)
	}
	assert.NoError(t, sample().Validate())
}

func TestTimestampLikePythonIsoformat(t *testing.T) {
	// datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=timezone.utc).isoformat()
	assert.Equal(t, "2026-03-01T12:30:05.123456+00:00", isoformat(time.Date(2026, 3, 1, 12, 30, 5, 123456789, time.UTC)))
	assert.Equal(t, "2026-03-01T12:30:05+00:00", isoformat(time.Date(2026, 3, 1, 12, 30, 5, 999, time.UTC)))
	// Other zones are converted to UTC.
	assert.Equal(t, "2026-03-01T11:30:05+00:00", isoformat(time.Date(2026, 3, 1, 12, 30, 5, 0, time.FixedZone("CET", 3600))))
}
