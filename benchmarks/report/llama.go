package report

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// llamaColumn is one column of llama-bench's Markdown table: its header
// and its printf width (negative: left-aligned, as llama-bench's
// markdown_printer sets them).
type llamaColumn struct {
	name  string
	width int
	value func(r *Report) string
}

// kvColumn is shown before test when a report ran without the KV cache:
// llama-bench adds a column for each setting that differs from its
// default, and its generation always uses the cache.
var kvColumn = llamaColumn{"kv", -10, func(r *Report) string {
	if r.Generation.UseKVCache {
		return "on"
	}
	return "off"
}}

// llamaColumns are the columns llama-bench prints by default for a CPU
// backend: model, size, params, backend, threads, test, t/s.
var llamaColumns = []llamaColumn{
	{"model", -30, llamaModelType},
	{"size", 10, llamaSize},
	{"params", 10, func(r *Report) string { return llamaParams(r.Model.ParamsM) }},
	{"backend", -10, func(r *Report) string { return strings.ToUpper(r.Device.Type) }},
	{"threads", 7, llamaThreads},
	{"test", 15, LlamaTest},
	{"t/s", 20, llamaTokensPerSec},
}

// llamaModelType is the model column of the llama layout, in the form of
// llama-bench's model type ("llama 7B Q4_0"): the architecture name of
// upstream's Hub config, the shape as n_layer x n_embd, and the weight
// precision as ggml names it (F32, F16; others in capitals, e.g. INT8),
// e.g. "labcore_gpt 6x256 F32".
// The precision is left out when the report does not give it
// (upstream's own reports).
func llamaModelType(r *Report) string {
	s := fmt.Sprintf("labcore_gpt %dx%d", r.Model.NLayer, r.Model.NEmbd)
	switch r.Model.DType {
	case "":
	case "fp32", "fp16":
		s += " F" + strings.TrimPrefix(r.Model.DType, "fp") // F32, F16 as ggml names them
	default:
		s += " " + strings.ToUpper(r.Model.DType)
	}
	return s
}

// llamaSize is llama-bench's size column: the weights' bytes, here
// params × the bytes of model.dtype, in MiB below 1 GiB, else GiB, to 2
// decimals; "N/A" without a dtype or for int8 (whose scales add bytes
// that params_m does not count).
func llamaSize(r *Report) string {
	var per float64
	switch r.Model.DType {
	case "fp32":
		per = 4
	case "fp16":
		per = 2
	default:
		return "N/A"
	}
	bytes := math.Round(r.Model.ParamsM*1e6) * per
	if bytes < 1<<30 {
		return fmt.Sprintf("%.2f MiB", bytes/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", bytes/(1<<30))
}

// llamaParams is llama-bench's params column: "%.2f M" below a
// billion, else "%.2f B".
func llamaParams(paramsM float64) string {
	n := math.Round(paramsM * 1e6)
	if n < 1e9 {
		return fmt.Sprintf("%.2f M", n/1e6)
	}
	return fmt.Sprintf("%.2f B", n/1e9)
}

// llamaThreads is the threads column: runtime.gomaxprocs, the number of
// threads that ran the configuration, or "N/A" when the report does not
// say (upstream's reports).
func llamaThreads(r *Report) string {
	if r.Runtime.GOMAXPROCS <= 0 {
		return "N/A"
	}
	return strconv.Itoa(r.Runtime.GOMAXPROCS)
}

// LlamaTest is llama-bench's test column. A generation run of gen_tokens
// tokens is tg<gen_tokens> (llama-bench's "tg128"); prompt processing of
// N tokens is pp<N>, and a run at cache depth d gets the suffix " @ d<d>"
// (llamaTestName).
// The pp<N> row of a report that measured prompt processing has
// gen_tokens 0 (promptRow).
func LlamaTest(r *Report) string {
	if r.Generation.GenTokens == 0 {
		return llamaTestName(r.Generation.PromptTokens, 0, 0)
	}
	return llamaTestName(0, r.Generation.GenTokens, r.Generation.Depth)
}

// promptRow is the report of r's prompt processing alone, for its pp<N>
// row of the llama table: t/s is results.prompt_tokens_per_sec.
func promptRow(r *Report) *Report {
	p := *r
	p.Generation.GenTokens, p.Generation.Depth = 0, 0
	p.Results.TokensPerSec = *r.Results.PromptTokensPerSec
	return &p
}

// llamaTestName names a test as llama-bench's markdown_printer does:
// pp<prompt> for prompt processing alone, tg<gen> for generation alone,
// pp<prompt>+tg<gen> for both, and " @ d<depth>" after it when the
// cache held depth tokens first.
func llamaTestName(prompt, gen, depth int) string {
	var s string
	switch {
	case prompt > 0 && gen == 0:
		s = fmt.Sprintf("pp%d", prompt)
	case gen > 0 && prompt == 0:
		s = fmt.Sprintf("tg%d", gen)
	default:
		s = fmt.Sprintf("pp%d+tg%d", prompt, gen)
	}
	if depth > 0 {
		s += fmt.Sprintf(" @ d%d", depth)
	}
	return s
}

// llamaTokensPerSec is llama-bench's t/s column, "avg ± sd" to 2
// decimals; the sd is "N/A" where the report has none (a single
// iteration, or upstream's reports).
func llamaTokensPerSec(r *Report) string {
	s := r.Results.TokensPerSec
	if s.StdDev == nil {
		return fmt.Sprintf("%.2f ± N/A", s.Mean)
	}
	return fmt.Sprintf("%.2f ± %.2f", s.Mean, *s.StdDev)
}

// LlamaMarkdown returns the reports as llama-bench's Markdown table
// (llama-bench -o md): the same columns, headers, widths and alignment,
// one row per report, each line ending in a newline, and before it a
// pp<N> row for a report that measured prompt processing too
// (results.prompt_tokens_per_sec), as llama-bench prints pp512 before
// tg128; reports that share one (the generations of one sweep) print it
// once. A kv column (on/off) comes before test when some report ran
// without the KV cache.
func LlamaMarkdown(reports ...*Report) (string, error) {
	if len(reports) == 0 {
		return "", errors.New("report: no reports for the llama table")
	}
	columns := llamaColumns
	for _, r := range reports {
		if r != nil && !r.Generation.UseKVCache {
			n := len(columns)
			columns = append(columns[:n-2:n-2], kvColumn, columns[n-2], columns[n-1])
			break
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, c := range columns {
		fmt.Fprintf(&b, " %*s |", c.width, c.name)
	}
	b.WriteString("\n|")
	for _, c := range columns {
		w := c.width
		end := "-"
		if w > 0 {
			end = ":"
		} else {
			w = -w
		}
		fmt.Fprintf(&b, " %s%s |", strings.Repeat("-", w-1), end)
	}
	b.WriteString("\n")
	ppRows := map[string]bool{}
	for i, r := range reports {
		if r == nil {
			return "", fmt.Errorf("report %d: nil", i)
		}
		if r.Results.PromptTokensPerSec != nil {
			// Reports of one run share its prompt processing: once.
			if row := llamaRow(columns, promptRow(r)); !ppRows[row] {
				ppRows[row] = true
				b.WriteString(row)
			}
		}
		b.WriteString(llamaRow(columns, r))
	}
	return b.String(), nil
}

// llamaRow is r's row of the llama table, with its newline.
func llamaRow(columns []llamaColumn, r *Report) string {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range columns {
		// Go pads by characters where llama-bench's printf pads by
		// bytes (and widens t/s by one for the two-byte "±"): the
		// same widths give the same text.
		fmt.Fprintf(&b, " %*s |", c.width, c.value(r))
	}
	b.WriteString("\n")
	return b.String()
}
