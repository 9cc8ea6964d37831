package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expected table is llama-bench's markdown_printer (print_header and
// print_test, tools/llama-bench/llama-bench.cpp) replayed in Python with
// C's byte-wise printf padding, widths -30, 10, 10, -10, 7, 15 and 20
// (+1 byte for the two-byte "±").
func TestLlamaMarkdownLayout(t *testing.T) {
	cpu := sample()
	cpu.Model.ParamsM = 4.887
	cpu.Runtime.GOMAXPROCS = 2
	cpu.Results.TokensPerSec = Stats{Mean: 688.02, Min: 670, Max: 700, StdDev: ptr(12.3456)}
	gpu := sample()
	gpu.Device = Device{Type: "cuda", Name: "NVIDIA H200"}
	gpu.Model.ParamsM = 4.887
	gpu.Model.DType = "fp16"
	gpu.Runtime.GOMAXPROCS = 0 // unknown
	gpu.Generation.GenTokens = 64
	gpu.Results.TokensPerSec = Stats{Mean: 12345.678, Min: 12345.678, Max: 12345.678}
	got, err := LlamaMarkdown(cpu, gpu)
	require.NoError(t, err)
	want := "" +
		"| model                          |       size |     params | backend    | threads |            test |                  t/s |\n" +
		"| ------------------------------ | ---------: | ---------: | ---------- | ------: | --------------: | -------------------: |\n" +
		"| labcore_gpt 6x256 F32          |  18.64 MiB |     4.89 M | CPU        |       2 |           tg256 |       688.02 ± 12.35 |\n" +
		"| labcore_gpt 6x256 F16          |   9.32 MiB |     4.89 M | CUDA       |     N/A |            tg64 |       12345.68 ± N/A |\n"
	assert.Equal(t, want, got)
}

// A run without the KV cache adds a kv column before test, as
// llama-bench adds the settings that differ from its defaults.
func TestLlamaKVColumn(t *testing.T) {
	on := sample()
	off := sample()
	off.Generation.UseKVCache = false
	got, err := LlamaMarkdown(on, off)
	require.NoError(t, err)
	want := "" +
		"| model                          |       size |     params | backend    | threads | kv         |            test |                  t/s |\n" +
		"| ------------------------------ | ---------: | ---------: | ---------- | ------: | ---------- | --------------: | -------------------: |\n" +
		"| labcore_gpt 6x256 F32          |   3.81 MiB |     1.00 M | CPU        |       2 | on         |           tg256 |         100.00 ± N/A |\n" +
		"| labcore_gpt 6x256 F32          |   3.81 MiB |     1.00 M | CPU        |       2 | off        |           tg256 |         100.00 ± N/A |\n"
	assert.Equal(t, want, got)
	got, err = LlamaMarkdown(on)
	require.NoError(t, err)
	assert.NotContains(t, got, " kv ", "no kv column when every run used the cache")
	assert.Contains(t, got, "| threads |            test |", "the shared column list is left as it was")
}

// Test names as llama-bench's print_test writes them.
func TestLlamaTestName(t *testing.T) {
	assert.Equal(t, "tg128", llamaTestName(0, 128, 0))
	assert.Equal(t, "pp512", llamaTestName(512, 0, 0))
	assert.Equal(t, "pp512+tg128", llamaTestName(512, 128, 0))
	assert.Equal(t, "tg128 @ d512", llamaTestName(0, 128, 512))
	assert.Equal(t, "pp512 @ d4096", llamaTestName(512, 0, 4096))
	assert.Equal(t, "tg256", LlamaTest(sample()))
}

func TestLlamaColumns(t *testing.T) {
	r := sample()
	r.Model.ParamsM = 124.439808 // GPT-2 small
	assert.Equal(t, "474.70 MiB", llamaSize(r))
	r.Model.ParamsM = 1557.6
	assert.Equal(t, "5.80 GiB", llamaSize(r), "GiB from 1 GiB on, as llama-bench")
	assert.Equal(t, "1.56 B", llamaParams(1557.6))
	assert.Equal(t, "124.44 M", llamaParams(124.439808))
	r.Model.DType = ""
	assert.Equal(t, "N/A", llamaSize(r), "upstream's reports give no dtype")
	assert.Equal(t, "labcore_gpt 6x256", llamaModelType(r))

	_, err := LlamaMarkdown()
	assert.ErrorContains(t, err, "no reports")
	_, err = LlamaMarkdown(sample(), nil)
	assert.ErrorContains(t, err, "report 1: nil")
}
