package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// runTool runs the command with args and returns its exit status,
// standard output and standard error.
func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func td(name string) string { return filepath.Join("testdata", name) }

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "golden %s", path)
}

var goldenCases = []struct {
	in, vram string
	configs  int
}{
	{"one.txt", "", 1},
	{"one.json", "", 1},
	{"one-cpu1.txt", "", 1},
	{"one-v2json.txt", "", 1},
	{"multi.txt", "", 3},
	{"multi.json", "", 3},
	{"cuda.txt", "cuda-vram.json", 3},
	{"cuda.json", "cuda-vram.json", 3},
	{"threads.txt", "", 6},
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		for _, lang := range []string{"en", "fr"} {
			t.Run(c.in+"/"+lang, func(t *testing.T) {
				dir := t.TempDir()
				jsonOut := filepath.Join(dir, "out", "bench_infer.json")
				mdOut := filepath.Join(dir, "out", "bench_infer.md")
				args := []string{"-in", td(c.in), "-json-out", jsonOut, "-md-out", mdOut, "-lang", lang}
				if c.vram != "" {
					args = append(args, "-vram", td(c.vram))
				}
				code, stdout, stderr := runTool(t, args...)
				require.Equal(t, 0, code, stderr)
				assert.Empty(t, stderr)
				md, err := os.ReadFile(mdOut)
				require.NoError(t, err)
				assert.Equal(t, stdout, string(md), "stdout is the Markdown table")
				base := strings.TrimSuffix(c.in, filepath.Ext(c.in)) + "-" + strings.TrimPrefix(filepath.Ext(c.in), ".")
				checkGolden(t, base+"."+lang+".md", md)
				lines := strings.Split(strings.TrimSuffix(string(md), "\n"), "\n")
				assert.Len(t, lines, 2+c.configs, "header, separator, one row per configuration")
				js, err := os.ReadFile(jsonOut)
				require.NoError(t, err)
				checkGolden(t, base+".json", js)
			})
		}
	}
}

// The expected JSON type of each key, in the schema's order followed by
// tokbench's added keys. "float" is a JSON number written with a '.' or
// an exponent (Python float), "int" one without.
type keySpec struct {
	key  string
	kind string // string, float, int, bool, null, object, array, string|null
	sub  []keySpec
}

var statsSpec = []keySpec{{"mean", "float", nil}, {"min", "float", nil}, {"max", "float", nil}, {"stddev", "float", nil}}

func reportSpec(cuda, decode, prefill bool) []keySpec {
	vram := "null"
	if cuda {
		vram = "float"
	}
	results := []keySpec{
		{"iters", "int", nil},
		{"tokens_per_sec", "object", statsSpec},
		{"vram_peak_mib", vram, nil},
		{"per_iter_tokens_per_sec", "array", nil},
	}
	if prefill {
		results = append(results, keySpec{"prefill_ms", "object", statsSpec})
	}
	if decode {
		results = append(results, keySpec{"decode_tokens_per_sec", "object", statsSpec})
	}
	return []keySpec{
		{"timestamp", "string", nil},
		{"commit", "string|null", nil},
		{"platform", "object", []keySpec{{"os", "string", nil}, {"python", "null", nil}}},
		{"torch", "object", []keySpec{{"version", "null", nil}, {"cuda", "null", nil}}},
		{"device", "object", []keySpec{{"type", "string", nil}, {"name", "string", nil}}},
		{"model", "object", []keySpec{{"source", "string", nil}, {"params_m", "float", nil}, {"block_size", "int", nil},
			{"n_layer", "int", nil}, {"n_head", "int", nil}, {"n_embd", "int", nil}, {"dtype", "string", nil}}},
		{"generation", "object", []keySpec{{"prompt", "string", nil}, {"gen_tokens", "int", nil},
			{"temperature", "float", nil}, {"top_k", "int", nil}, {"top_p", "float", nil},
			{"repetition_penalty", "float", nil}, {"use_kv_cache", "bool", nil}, {"stream", "bool", nil}}},
		{"results", "object", results},
		{"runtime", "object", []keySpec{{"engine", "string", nil}, {"go", "string", nil}, {"goos", "string", nil},
			{"goarch", "string", nil}, {"gomaxprocs", "int", nil}, {"cpu", "string|null", nil}, {"cuda_driver", "string|null", nil}}},
	}
}

// checkValue reads one JSON value from dec and checks it against kind
// (and sub for objects: the exact keys in order).
func checkValue(t *testing.T, dec *json.Decoder, path, kind string, sub []keySpec) {
	t.Helper()
	tok, err := dec.Token()
	require.NoError(t, err, path)
	got := ""
	switch v := tok.(type) {
	case nil:
		got = "null"
	case string:
		got = "string"
	case bool:
		got = "bool"
	case json.Number:
		got = "int"
		if strings.ContainsAny(v.String(), ".eE") {
			got = "float"
		}
	case json.Delim:
		switch v {
		case '{':
			got = "object"
			var keys []string
			for i := 0; dec.More(); i++ {
				k, err := dec.Token()
				require.NoError(t, err)
				keys = append(keys, k.(string))
				if i < len(sub) {
					checkValue(t, dec, path+"."+k.(string), sub[i].kind, sub[i].sub)
				} else {
					var skip json.RawMessage
					require.NoError(t, dec.Decode(&skip))
				}
			}
			_, err := dec.Token()
			require.NoError(t, err)
			var want []string
			for _, s := range sub {
				want = append(want, s.key)
			}
			assert.Equal(t, want, keys, "keys of %s, in order", path)
		case '[':
			got = "array"
			for i := 0; dec.More(); i++ {
				checkValue(t, dec, fmt.Sprintf("%s[%d]", path, i), "float", nil)
			}
			_, err := dec.Token()
			require.NoError(t, err)
		}
	}
	if kind == "string|null" && (got == "string" || got == "null") {
		return
	}
	assert.Equal(t, kind, got, "JSON type of %s", path)
}

func TestJSONSchemaTypes(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.in, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := []string{"-in", td(c.in), "-json-out", out}
			if c.vram != "" {
				args = append(args, "-vram", td(c.vram))
			}
			code, _, stderr := runTool(t, args...)
			require.Equal(t, 0, code, stderr)
			data, err := os.ReadFile(out)
			require.NoError(t, err)

			// Decode into map[string]any as a consumer would.
			var generic any
			require.NoError(t, json.Unmarshal(data, &generic))
			var reports []map[string]any
			if c.configs == 1 {
				m, ok := generic.(map[string]any)
				require.True(t, ok, "one configuration gives a JSON object")
				reports = []map[string]any{m}
			} else {
				arr, ok := generic.([]any)
				require.True(t, ok, "several configurations give a JSON array")
				require.Len(t, arr, c.configs)
				for _, a := range arr {
					reports = append(reports, a.(map[string]any))
				}
			}

			// Walk the tokens for key order and float/int-ness.
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			if c.configs > 1 {
				tok, err := dec.Token()
				require.NoError(t, err)
				require.Equal(t, json.Delim('['), tok)
			}
			for i, r := range reports {
				dev := r["device"].(map[string]any)
				res := r["results"].(map[string]any)
				_, prefill := res["prefill_ms"]
				_, decode := res["decode_tokens_per_sec"]
				assert.True(t, prefill && decode, "fixtures report prefill-ns and decode-tokens/s")
				checkValue(t, dec, fmt.Sprintf("[%d]", i), "object", reportSpec(dev["type"] == "cuda", decode, prefill))

				// Values that follow from the input.
				assert.Equal(t, 3.0, res["iters"])
				assert.Len(t, res["per_iter_tokens_per_sec"], 3)
				tps := res["tokens_per_sec"].(map[string]any)
				var sum float64
				for _, v := range res["per_iter_tokens_per_sec"].([]any) {
					sum += v.(float64)
					assert.GreaterOrEqual(t, v.(float64), tps["min"].(float64))
					assert.LessOrEqual(t, v.(float64), tps["max"].(float64))
				}
				assert.InDelta(t, sum/3, tps["mean"].(float64), 1e-9*sum)
				gen := r["generation"].(map[string]any)
				assert.Equal(t, "ROMEO:", gen["prompt"])
				assert.Equal(t, 0.9, gen["temperature"])
				assert.Equal(t, 40.0, gen["top_k"])
				assert.Equal(t, 1.0, gen["top_p"])
				assert.Equal(t, false, gen["stream"])
				assert.Nil(t, r["platform"].(map[string]any)["python"])
				rt := r["runtime"].(map[string]any)
				assert.Equal(t, "tokbench", rt["engine"])
				assert.Equal(t, "go1.26.8", rt["go"])
				assert.Equal(t, "linux", rt["goos"])
				if dev["type"] == "cuda" {
					assert.Equal(t, "550.54.15", rt["cuda_driver"])
				} else {
					assert.Nil(t, rt["cuda_driver"])
					assert.Nil(t, res["vram_peak_mib"])
				}
			}
			if strings.HasPrefix(c.in, "cuda") {
				assert.Equal(t, 18.25, reports[0]["results"].(map[string]any)["vram_peak_mib"])
				assert.Equal(t, 7123456.0/(1<<20), reports[1]["results"].(map[string]any)["vram_peak_mib"])
				assert.Equal(t, "fp16", reports[1]["model"].(map[string]any)["dtype"])
				assert.Equal(t, 32.0, reports[1]["generation"].(map[string]any)["gen_tokens"])
				assert.Equal(t, false, reports[1]["generation"].(map[string]any)["use_kv_cache"])
				// dev=cuda requested, no GPU: the report says what ran.
				assert.Equal(t, "cpu", reports[2]["device"].(map[string]any)["type"])
			}
		})
	}
}

// The same run read as plain text, as raw -test.v=test2json output and
// through test2json gives the same configuration.
func TestFormatsAgree(t *testing.T) {
	for _, in := range []string{"one.txt", "one-v2json.txt", "one.json", "one-cpu1.txt"} {
		code, stdout, stderr := runTool(t, "-in", td(in))
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "| AMD EPYC 7B13 (cpu) | local | 0.148 | on | 64 | ", in)
	}
}

func TestStdin(t *testing.T) {
	data, err := os.ReadFile(td("multi.json"))
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-lang", "fr"}, bytes.NewReader(data), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "multi-json.fr.md"))
	require.NoError(t, err)
	assert.Equal(t, string(want), stdout.String())
}

// writeTemp writes data to a file in a temporary directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// derived returns a fixture with every line containing drop removed.
func derived(t *testing.T, fixture, drop string) string {
	t.Helper()
	data, err := os.ReadFile(td(fixture))
	require.NoError(t, err)
	var keep []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.Contains(l, drop) {
			keep = append(keep, l)
		}
	}
	require.NotEqual(t, string(data), strings.Join(keep, ""), "%q not in %s", drop, fixture)
	return writeTemp(t, fixture, []byte(strings.Join(keep, "")))
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		args func(t *testing.T) []string
		want []string
	}{
		{"failed benchmark, text", func(*testing.T) []string { return []string{"-in", td("fail.txt")} },
			[]string{"the run failed", "--- FAIL: BenchmarkGenerate/src=local/dev=cpu/kv=off/gen=64", "missing tensors h.0.attn.c_attn.weight"}},
		{"failed benchmark, json", func(*testing.T) []string { return []string{"-in", td("fail.json")} },
			[]string{"test2json fail events: BenchmarkGenerate/src=local/dev=cpu/kv=off/gen=64", "missing tensors h.0.attn.c_attn.weight"}},
		{"failure line without fail event", func(t *testing.T) []string {
			return []string{"-in", derived(t, "fail.json", `"Action":"fail"`)}
		}, []string{"the run failed"}},
		{"no results", func(t *testing.T) []string {
			return []string{"-in", writeTemp(t, "empty.txt", []byte("PASS\nok  \texample.com/fakebench\t0.003s\n"))}
		}, []string{"no BenchmarkGenerate results"}},
		{"empty input", func(t *testing.T) []string { return []string{"-in", writeTemp(t, "nothing.txt", nil)} },
			[]string{"no PASS line"}},
		{"truncated run", func(t *testing.T) []string {
			data, err := os.ReadFile(td("one.txt"))
			require.NoError(t, err)
			return []string{"-in", writeTemp(t, "one.txt", data[:bytes.Index(data, []byte("PASS\n"))])}
		},
			[]string{"no PASS line"}},
		{"missing config key", func(t *testing.T) []string { return []string{"-in", derived(t, "multi.txt", "model-n-head:")} },
			[]string{`BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=64/dtype=fp32-2: missing configuration key "model-n-head"`}},
		{"missing config key, json", func(t *testing.T) []string { return []string{"-in", derived(t, "one.json", "gen-top-p:")} },
			[]string{`one.json (test output):`, `missing configuration key "gen-top-p"`}},
		{"cuda without sidecar", func(*testing.T) []string { return []string{"-in", td("cuda.txt")} },
			[]string{"src=local/dev=cuda/kv=on/gen=64/dtype=fp16-2: it ran on cuda but the VRAM sidecar (-vram) has no entry for it"}},
		{"missing sidecar entry", func(*testing.T) []string {
			return []string{"-in", td("cuda.json"), "-vram", td("cuda-vram-missing.json")}
		}, []string{"BenchmarkGenerate/src=local/dev=cuda/kv=off/gen=32/dtype=fp16", "it ran on cuda but the VRAM sidecar"}},
		{"sidecar names unknown configuration", func(*testing.T) []string {
			return []string{"-in", td("cuda.txt"), "-vram", td("cuda-vram-extra.json")}
		}, []string{"cuda-vram-extra.json: VRAM sidecar names configurations that are not in", "BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=512/dtype=fp16"}},
		{"sidecar for cpu runs", func(*testing.T) []string {
			return []string{"-in", td("one.txt"), "-vram", td("cuda-vram.json")}
		}, []string{"VRAM sidecar names configurations that are not in"}},
		{"unreadable sidecar", func(t *testing.T) []string {
			return []string{"-in", td("cuda.txt"), "-vram", filepath.Join(t.TempDir(), "absent.json")}
		}, []string{"VRAM sidecar: open", "absent.json"}},
		{"truncated sidecar", func(*testing.T) []string {
			return []string{"-in", td("cuda.txt"), "-vram", td("cuda-vram-truncated.json")}
		}, []string{"cuda-vram-truncated.json: not valid JSON"}},
		{"sidecar version", func(t *testing.T) []string {
			return []string{"-in", td("cuda.txt"), "-vram", writeTemp(t, "v.json", []byte(`{"version":2,"configs":{}}`))}
		}, []string{`"version" must be 1`}},
		{"sidecar entry without peak_bytes", func(t *testing.T) []string {
			return []string{"-in", td("cuda.txt"), "-vram", writeTemp(t, "v.json",
				[]byte(`{"version":1,"configs":{"BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=64":{"peak_mib":1.5}}}`))}
		}, []string{`has no "peak_bytes"`}},
		{"not a test2json stream", func(t *testing.T) []string {
			return []string{"-in", writeTemp(t, "bad.json", []byte("{\"Action\":\"start\"}\ngoos: linux\n"))}
		}, []string{"bad.json:2: not a test2json event"}},
		{"bad number", func(t *testing.T) []string {
			data, err := os.ReadFile(td("one.txt"))
			require.NoError(t, err)
			return []string{"-in", writeTemp(t, "one.txt", bytes.Replace(data, []byte("model-n-layer: 6"), []byte("model-n-layer: six"), 1))}
		}, []string{`configuration key "model-n-layer": "six" is not an integer`}},
		{"config changes within a configuration", func(t *testing.T) []string {
			data, err := os.ReadFile(td("one.txt"))
			require.NoError(t, err)
			lines := strings.SplitAfter(string(data), "\n")
			var out []string
			seen := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "BenchmarkGenerate/") {
					seen++
					if seen == 2 {
						out = append(out, "model-n-head: 9\n")
					}
				}
				out = append(out, l)
			}
			return []string{"-in", writeTemp(t, "one.txt", []byte(strings.Join(out, "")))}
		}, []string{`configuration key "model-n-head" is "9" here but "8"`}},
		{"bad language", func(*testing.T) []string { return []string{"-in", td("one.txt"), "-lang", "de"} },
			[]string{`-lang: unknown language "de"`}},
		{"positional argument", func(*testing.T) []string { return []string{td("one.txt")} },
			[]string{"unexpected argument"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			jsonOut, mdOut := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
			args := append(c.args(t), "-json-out", jsonOut, "-md-out", mdOut)
			code, stdout, stderr := runTool(t, args...)
			assert.NotEqual(t, 0, code)
			assert.Empty(t, stdout, "no Markdown on error")
			for _, w := range c.want {
				assert.Contains(t, stderr, w)
			}
			assert.NoFileExists(t, jsonOut, "no partial report")
			assert.NoFileExists(t, mdOut, "no partial report")
		})
	}
}

func TestStripFraming(t *testing.T) {
	in := "\x16=== RUN   BenchmarkX\nBenchmarkX-2   \t\x16=== NAME  BenchmarkX\n      20\t  10 ns/op\n\x16PASS\n"
	want := "=== RUN   BenchmarkX\nBenchmarkX-2   \t      20\t  10 ns/op\n=== NAME  BenchmarkX\nPASS\n"
	assert.Equal(t, want, string(stripFraming([]byte(in))))
	plain := []byte("BenchmarkX-2 \t 1 \t 2 ns/op\n")
	assert.Equal(t, plain, stripFraming(plain))
}

// The benchmark's unit metadata lines, as CONTRACTS.md asks them to be
// written, are understood by benchfmt.
func TestUnitMetadata(t *testing.T) {
	data, err := os.ReadFile(td("multi.txt"))
	require.NoError(t, err)
	rd := benchfmt.NewReader(bytes.NewReader(data), "multi.txt")
	better := map[string]string{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.UnitMetadata:
			better[rec.Unit+" "+rec.Key] = rec.Value
		case *benchfmt.SyntaxError:
			t.Fatal(rec)
		}
	}
	require.NoError(t, rd.Err())
	assert.Equal(t, map[string]string{
		"tokens/s better":        "higher",
		"decode-tokens/s better": "higher",
		"prefill-sec better":     "lower", // prefill-ns, tidied as benchstat shows it
	}, better)
}
