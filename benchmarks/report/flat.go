package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// flatColumn is one column of the CSV and JSONL formats: its stable name
// and its value in a report, which is nil (empty in CSV, null in JSONL),
// a string, an int, a float64 or a bool.
type flatColumn struct {
	name  string
	value func(r *Report) any
}

func optFloatValue(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func optStrValue(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func optStatsMean(s *Stats) any {
	if s == nil {
		return nil
	}
	return s.Mean
}

// flatColumns are the CSV header and JSONL keys, in order. Names are
// stable: new columns are only ever appended.
var flatColumns = []flatColumn{
	{"timestamp", func(r *Report) any { return isoformat(r.Timestamp) }},
	{"commit", func(r *Report) any { return optStrValue(r.Commit) }},
	{"device_type", func(r *Report) any { return r.Device.Type }},
	{"device_name", func(r *Report) any { return r.Device.Name }},
	{"threads", func(r *Report) any {
		if r.Runtime.GOMAXPROCS == 0 {
			return nil
		}
		return r.Runtime.GOMAXPROCS
	}},
	{"model_source", func(r *Report) any { return r.Model.Source }},
	{"model_params_m", func(r *Report) any { return r.Model.ParamsM }},
	{"model_dtype", func(r *Report) any {
		if r.Model.DType == "" {
			return nil
		}
		return r.Model.DType
	}},
	{"model_block_size", func(r *Report) any { return r.Model.BlockSize }},
	{"model_n_layer", func(r *Report) any { return r.Model.NLayer }},
	{"model_n_head", func(r *Report) any { return r.Model.NHead }},
	{"model_n_embd", func(r *Report) any { return r.Model.NEmbd }},
	{"prompt", func(r *Report) any { return r.Generation.Prompt }},
	{"gen_tokens", func(r *Report) any { return r.Generation.GenTokens }},
	{"use_kv_cache", func(r *Report) any { return r.Generation.UseKVCache }},
	{"test", func(r *Report) any { return LlamaTest(r) }},
	{"iters", func(r *Report) any { return r.Results.Iters }},
	{"tokens_per_sec_mean", func(r *Report) any { return r.Results.TokensPerSec.Mean }},
	{"tokens_per_sec_min", func(r *Report) any { return r.Results.TokensPerSec.Min }},
	{"tokens_per_sec_max", func(r *Report) any { return r.Results.TokensPerSec.Max }},
	{"tokens_per_sec_stddev", func(r *Report) any { return optFloatValue(r.Results.TokensPerSec.StdDev) }},
	{"vram_peak_mib", func(r *Report) any { return optFloatValue(r.Results.VRAMPeakMiB) }},
	{"prefill_ms_mean", func(r *Report) any { return optStatsMean(r.Results.PrefillMS) }},
	{"decode_tokens_per_sec_mean", func(r *Report) any { return optStatsMean(r.Results.DecodeTokensPerSec) }},
	{"depth", func(r *Report) any { return r.Generation.Depth }},
	{"prompt_tokens", func(r *Report) any {
		if r.Generation.PromptTokens == 0 {
			return nil
		}
		return r.Generation.PromptTokens
	}},
	{"prompt_tokens_per_sec_mean", func(r *Report) any { return optStatsMean(r.Results.PromptTokensPerSec) }},
}

// FlatColumns returns the column names of the CSV header, which are also
// the keys of each JSONL object, in order.
func FlatColumns() []string {
	names := make([]string, len(flatColumns))
	for i, c := range flatColumns {
		names[i] = c.name
	}
	return names
}

// checkReports validates every report, naming the first bad one.
func checkReports(reports []*Report) error {
	if len(reports) == 0 {
		return errors.New("report: no reports")
	}
	for i, r := range reports {
		if r == nil {
			return fmt.Errorf("report %d: nil", i)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("report %d: %w", i, err)
		}
	}
	return nil
}

// CSV validates the reports and returns them as CSV (RFC 4180, as
// encoding/csv writes it): the FlatColumns header, then one row per
// report. Floats are written with the fewest digits that read back
// exactly; a null value is an empty cell.
func CSV(reports ...*Report) ([]byte, error) {
	if err := checkReports(reports); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(FlatColumns()); err != nil {
		return nil, err
	}
	for _, r := range reports {
		row := make([]string, len(flatColumns))
		for i, c := range flatColumns {
			switch v := c.value(r).(type) {
			case nil:
			case string:
				row[i] = v
			case int:
				row[i] = strconv.Itoa(v)
			case float64:
				row[i] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				row[i] = strconv.FormatBool(v)
			}
		}
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// JSONL validates the reports and returns them as JSON Lines: one object
// per report and line, with the FlatColumns keys in order, null where a
// value is unknown.
func JSONL(reports ...*Report) ([]byte, error) {
	if err := checkReports(reports); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, r := range reports {
		if err := writeJSONLine(&buf, r); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func writeJSONLine(w io.Writer, r *Report) error {
	var line bytes.Buffer
	line.WriteByte('{')
	for i, c := range flatColumns {
		if i > 0 {
			line.WriteByte(',')
		}
		k, _ := json.Marshal(c.name)
		v, err := json.Marshal(c.value(r))
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		line.Write(k)
		line.WriteByte(':')
		line.Write(v)
	}
	line.WriteString("}\n")
	_, err := w.Write(line.Bytes())
	return err
}
