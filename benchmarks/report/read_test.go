package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upstreamJSON is a report as upstream's benchmark_infer.py writes it:
// the schema's keys only (SPEC §3), Python's json.dumps(indent=2).
const upstreamJSON = `{
  "timestamp": "2026-11-27T06:10:42.517301+00:00",
  "commit": null,
  "platform": {
    "os": "Linux-6.1.0-28-cloud-amd64-x86_64-with-glibc2.36",
    "python": "3.11.2"
  },
  "torch": {
    "version": "1.13.1",
    "cuda": null
  },
  "device": {
    "type": "cpu",
    "name": "CPU"
  },
  "model": {
    "source": "local",
    "params_m": 4.886784,
    "block_size": 512,
    "n_layer": 6,
    "n_head": 8,
    "n_embd": 256
  },
  "generation": {
    "prompt": "ROMEO:",
    "gen_tokens": 256,
    "temperature": 0.6,
    "top_k": 50,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
    "use_kv_cache": true,
    "stream": false
  },
  "results": {
    "iters": 3,
    "tokens_per_sec": {
      "mean": 110.82,
      "min": 104.5,
      "max": 115.1
    },
    "vram_peak_mib": null
  }
}`

func TestDecodeUpstream(t *testing.T) {
	es, err := Decode([]byte(upstreamJSON), "up.json")
	require.NoError(t, err)
	require.Len(t, es, 1)
	r := es[0].Report
	assert.Equal(t, "up.json", es[0].Where)
	assert.Equal(t, time.Date(2026, 11, 27, 6, 10, 42, 517301000, time.UTC), r.Timestamp)
	assert.Equal(t, "", r.Model.DType, "upstream has no dtype")
	assert.Equal(t, 0, r.Runtime.GOMAXPROCS)
	assert.Equal(t, 110.82, r.Results.TokensPerSec.Mean)
	assert.Nil(t, r.Results.TokensPerSec.StdDev)
	md, err := EntriesMarkdown(French, es)
	require.NoError(t, err)
	assert.Equal(t, HeaderFrench+"\n"+Separator+"\n| CPU (cpu) | local | 4.887 | on | 256 | 110.82 | N/A |\n", md)
	ll, err := LlamaMarkdown(r)
	require.NoError(t, err)
	assert.Contains(t, ll, "| labcore_gpt 6x256              |        N/A |     4.89 M | CPU        |     N/A |           tg256 |         110.82 ± N/A |")
}

func TestDecodeRoundTrip(t *testing.T) {
	a := sample()
	a.Results.TokensPerSec = Stats{Mean: 100, Min: 90, Max: 110, StdDev: ptr(10.0)}
	a.Results.PerIterTokensPerSec = []float64{90, 100, 110}
	a.Results.DecodeTokensPerSec = &Stats{Mean: 120, Min: 110, Max: 130, StdDev: ptr(10.0)}
	b := sample()
	b.Device = Device{Type: "cuda", Name: "NVIDIA H200"}
	b.Model.DType = "fp16"
	b.Results.VRAMPeakMiB = ptr(12.5)
	b.Runtime.CUDADriver = ptr("12.4")
	data, err := MarshalList([]*Report{a, b}, true)
	require.NoError(t, err)
	es, err := Decode(data, "ours.json")
	require.NoError(t, err)
	require.Len(t, es, 2)
	assert.Equal(t, "ours.json[1]", es[1].Where)
	assert.Equal(t, a, es[0].Report)
	assert.Equal(t, b, es[1].Report)
}

func TestDecodeTranscribed(t *testing.T) {
	doc := strings.Replace(upstreamJSON, `"results": {`, `"transcribed_from": "README.md", "results": {`, 1)
	doc = strings.Replace(doc, `"min": 104.5,`, `"min": null,`, 1)
	doc = strings.Replace(doc, `"max": 115.1`, `"max": null`, 1)
	doc = strings.Replace(doc, `"os": "Linux-6.1.0-28-cloud-amd64-x86_64-with-glibc2.36"`, `"os": null`, 1)
	es, err := Decode([]byte(doc), "t.json")
	require.NoError(t, err)
	assert.Equal(t, "README.md", es[0].TranscribedFrom)
	assert.Equal(t, 110.82, es[0].Results.TokensPerSec.Mean)

	// Without transcribed_from, a null min is missing data.
	plain := strings.Replace(upstreamJSON, `"min": 104.5,`, `"min": null,`, 1)
	_, err = Decode([]byte(plain), "p.json")
	assert.EqualError(t, err, "p.json: missing or null: results.tokens_per_sec.min")
}

// Each hostile or broken file is refused with a message naming the file
// and the key.
func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"not JSON", "hello", "bad.json: not a JSON report"},
		{"trailing", upstreamJSON + "{}", "bad.json: data after the JSON value"},
		{"empty array", "[]", "bad.json: an empty array, no reports"},
		{"array of numbers", "[1]", "bad.json[0]: JSON number where a report object"},
		{"a string", `"report"`, "bad.json: JSON string where a report object"},
		{"NaN as Python writes it", strings.Replace(upstreamJSON, "110.82", "NaN", 1), "bad.json: not a JSON report"},
		{"missing key", strings.Replace(upstreamJSON, `"n_head": 8,`, "", 1), "bad.json: missing or null: model.n_head"},
		{"missing object", strings.Replace(upstreamJSON, `"torch": {
    "version": "1.13.1",
    "cuda": null
  },`, "", 1), "bad.json: missing or null: torch"},
		{"string for int", strings.Replace(upstreamJSON, `"gen_tokens": 256`, `"gen_tokens": "256"`, 1),
			"bad.json: generation.gen_tokens: JSON string where the schema has an integer"},
		{"float for int", strings.Replace(upstreamJSON, `"iters": 3`, `"iters": 3.5`, 1),
			"bad.json: results.iters: JSON number 3.5 where the schema has an integer"},
		{"mean above max", strings.Replace(upstreamJSON, "110.82", "120.0", 1),
			"bad.json: invalid report: results.tokens_per_sec: min 104.5 <= mean 120 <= max 115.1 does not hold"},
		{"negative stddev", strings.Replace(upstreamJSON, `"max": 115.1`, `"max": 115.1, "stddev": -1`, 1),
			"bad.json: invalid report: results.tokens_per_sec.stddev: -1 is negative"},
		{"bad device", strings.Replace(upstreamJSON, `"type": "cpu"`, `"type": "mps"`, 1),
			`bad.json: invalid report: device.type: "mps" is not cpu or cuda`},
		{"random from upstream", strings.Replace(upstreamJSON, `"source": "local"`, `"source": "random"`, 1),
			`bad.json: model.source: "random" is not local or hf`},
		{"bad timestamp", strings.Replace(upstreamJSON, "2026-11-27T06:10:42.517301+00:00", "yesterday", 1),
			`bad.json: timestamp: "yesterday" is not an ISO 8601 time`},
		{"cuda without VRAM", strings.Replace(upstreamJSON, `"type": "cpu"`, `"type": "cuda"`, 1),
			"bad.json: invalid report: results.vram_peak_mib: missing for a cuda run"},
		{"second of array", "[" + upstreamJSON + `, {"timestamp": 1}]`,
			"bad.json[1]: timestamp: JSON number where the schema has a string"},
		{"tokbench report without go", strings.Replace(upstreamJSON, `"results": {`,
			`"runtime": {"engine": "tokbench", "goos": "linux", "goarch": "amd64"}, "results": {`, 1),
			"bad.json: invalid report: model.dtype"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.doc), "bad.json")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := Decode(make([]byte, MaxFileBytes+1), "big.json")
	assert.EqualError(t, err, "big.json: larger than 67108864 bytes")
}

func TestNaiveTimestampIsUTC(t *testing.T) {
	doc := strings.Replace(upstreamJSON, "2026-11-27T06:10:42.517301+00:00", "2026-11-27T06:10:42.517301", 1)
	es, err := Decode([]byte(doc), "n.json")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 27, 6, 10, 42, 517301000, time.UTC), es[0].Timestamp)
}

func TestSortEntries(t *testing.T) {
	mk := func(params float64, src, dev string, kv bool, gen int) Entry {
		r := sample()
		r.Model.ParamsM, r.Model.Source, r.Device.Name = params, src, dev
		r.Generation.UseKVCache, r.Generation.GenTokens = kv, gen
		return Entry{Report: r, Where: fmt.Sprintf("%g %s %s %t %d", params, src, dev, kv, gen)}
	}
	es := []Entry{
		mk(4.887, "hf", "A", true, 256),
		mk(4.887, "local", "B", true, 256),
		mk(4.887, "local", "A", false, 256),
		mk(4.887, "local", "A", true, 256),
		mk(0.156, "local", "A", true, 256),
		mk(4.887, "local", "A", true, 64),
	}
	SortEntries(es)
	var got []string
	for _, e := range es {
		got = append(got, e.Where)
	}
	assert.Equal(t, []string{
		"0.156 local A true 256",
		"4.887 local A true 64",
		"4.887 local A true 256",
		"4.887 local A false 256",
		"4.887 local B true 256",
		"4.887 hf A true 256",
	}, got)
}
