package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxFileBytes is the largest report file Decode accepts.
const MaxFileBytes = 64 << 20

// Entry is one report read back from a file by Decode.
type Entry struct {
	*Report
	// Where is the file name, with "[i]" for the i-th report of an array.
	Where string
	// TranscribedFrom is the added key "transcribed_from": set on a
	// report rebuilt from a Markdown row whose JSON was not kept, it says
	// where the row came from. Only such a report may have null
	// tokens_per_sec min and max and a null platform.os (a row keeps the
	// mean only); its Report then holds the mean as Min and Max, which no
	// table shows.
	TranscribedFrom string
}

// The JSON shapes Decode reads. Pointers tell a missing key (or null)
// from a zero value.
type (
	rawReport struct {
		Timestamp       *string        `json:"timestamp"`
		Commit          *string        `json:"commit"`
		Platform        *rawPlatform   `json:"platform"`
		Torch           *rawTorch      `json:"torch"`
		Device          *rawDevice     `json:"device"`
		Model           *rawModel      `json:"model"`
		Generation      *rawGeneration `json:"generation"`
		Results         *rawResults    `json:"results"`
		Runtime         *rawRuntime    `json:"runtime"`
		TranscribedFrom *string        `json:"transcribed_from"`
	}
	rawPlatform struct {
		OS     *string `json:"os"`
		Python *string `json:"python"`
	}
	rawTorch struct {
		Version *string `json:"version"`
		CUDA    *string `json:"cuda"`
	}
	rawDevice struct {
		Type *string `json:"type"`
		Name *string `json:"name"`
	}
	rawModel struct {
		Source    *string  `json:"source"`
		ParamsM   *float64 `json:"params_m"`
		BlockSize *int     `json:"block_size"`
		NLayer    *int     `json:"n_layer"`
		NHead     *int     `json:"n_head"`
		NEmbd     *int     `json:"n_embd"`
		DType     *string  `json:"dtype"`
	}
	rawGeneration struct {
		Prompt            *string  `json:"prompt"`
		GenTokens         *int     `json:"gen_tokens"`
		Temperature       *float64 `json:"temperature"`
		TopK              *int     `json:"top_k"`
		TopP              *float64 `json:"top_p"`
		RepetitionPenalty *float64 `json:"repetition_penalty"`
		UseKVCache        *bool    `json:"use_kv_cache"`
		Stream            *bool    `json:"stream"`
		PromptTokens      *int     `json:"prompt_tokens"`
		Depth             *int     `json:"depth"`
	}
	rawStats struct {
		Mean   *float64 `json:"mean"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
		StdDev *float64 `json:"stddev"`
	}
	rawResults struct {
		Iters              *int      `json:"iters"`
		TokensPerSec       *rawStats `json:"tokens_per_sec"`
		VRAMPeakMiB        *float64  `json:"vram_peak_mib"`
		PerIter            []float64 `json:"per_iter_tokens_per_sec"`
		PrefillMS          *rawStats `json:"prefill_ms"`
		DecodeTokensPerSec *rawStats `json:"decode_tokens_per_sec"`
		PromptTokensPerSec *rawStats `json:"prompt_tokens_per_sec"`
	}
	rawRuntime struct {
		Engine     *string `json:"engine"`
		Go         *string `json:"go"`
		GOOS       *string `json:"goos"`
		GOARCH     *string `json:"goarch"`
		GOMAXPROCS *int    `json:"gomaxprocs"`
		CPU        *string `json:"cpu"`
		CUDADriver *string `json:"cuda_driver"`
	}
)

// Decode reads a report file: one report object, or an array of them, as
// upstream's benchmark_infer.py or tokbench writes it; name is the file's
// name for messages. Every key of upstream's schema must be there with
// its JSON type (null only where the schema allows it); tokbench's added
// keys are read when present, and other keys are ignored. A report with
// a "runtime" object (tokbench's) must pass Validate; upstream's must
// pass the same checks on the keys it has.
func Decode(data []byte, name string) ([]Entry, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileBytes)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var raws []json.RawMessage
	array := len(trimmed) > 0 && trimmed[0] == '['
	if array {
		if err := decodeStrict(data, &raws); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(raws) == 0 {
			return nil, fmt.Errorf("%s: an empty array, no reports", name)
		}
	} else {
		raws = []json.RawMessage{data}
	}
	entries := make([]Entry, len(raws))
	for i, raw := range raws {
		where := name
		if array {
			where = fmt.Sprintf("%s[%d]", name, i)
		}
		e, err := decodeOne(raw, where)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	return entries, nil
}

// decodeStrict decodes one JSON value and refuses data after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return fmt.Errorf("JSON %s where a report object (or an array of them) is expected", te.Value)
			}
			return fmt.Errorf("%s: JSON %s where the schema has %s", te.Field, te.Value, jsonKind(te.Type.String()))
		}
		return fmt.Errorf("not a JSON report: %w", err)
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// jsonKind names a Go type of the raw structs as a JSON type.
func jsonKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "int":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "[]float64":
		return "an array of numbers"
	}
	return "an object"
}

func decodeOne(data []byte, where string) (Entry, error) {
	var raw rawReport
	if err := decodeStrict(data, &raw); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", where, err)
	}
	var missing []string
	need := func(path string, present bool) bool {
		if !present {
			missing = append(missing, path)
		}
		return present
	}
	e := Entry{Report: &Report{}, Where: where}
	r := e.Report
	if raw.TranscribedFrom != nil {
		e.TranscribedFrom = *raw.TranscribedFrom
	}
	transcribed := e.TranscribedFrom != ""
	if need("timestamp", raw.Timestamp != nil) {
		t, err := parseTimestamp(*raw.Timestamp)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: timestamp: %w", where, err)
		}
		r.Timestamp = t
	}
	r.Commit = raw.Commit
	if need("platform", raw.Platform != nil) {
		if raw.Platform.OS != nil {
			r.Platform.OS = *raw.Platform.OS
		} else if !transcribed {
			need("platform.os", false)
		}
		r.Platform.Python = raw.Platform.Python
	}
	if need("torch", raw.Torch != nil) {
		r.Torch = Torch{Version: raw.Torch.Version, CUDA: raw.Torch.CUDA}
	}
	if d := raw.Device; need("device", d != nil) {
		setStr(&r.Device.Type, d.Type, "device.type", need)
		setStr(&r.Device.Name, d.Name, "device.name", need)
	}
	if m := raw.Model; need("model", m != nil) {
		setStr(&r.Model.Source, m.Source, "model.source", need)
		if need("model.params_m", m.ParamsM != nil) {
			r.Model.ParamsM = *m.ParamsM
		}
		setInt(&r.Model.BlockSize, m.BlockSize, "model.block_size", need)
		setInt(&r.Model.NLayer, m.NLayer, "model.n_layer", need)
		setInt(&r.Model.NHead, m.NHead, "model.n_head", need)
		setInt(&r.Model.NEmbd, m.NEmbd, "model.n_embd", need)
		if m.DType != nil {
			r.Model.DType = *m.DType
		}
	}
	if g := raw.Generation; need("generation", g != nil) {
		setStr(&r.Generation.Prompt, g.Prompt, "generation.prompt", need)
		setInt(&r.Generation.GenTokens, g.GenTokens, "generation.gen_tokens", need)
		setFloat(&r.Generation.Temperature, g.Temperature, "generation.temperature", need)
		setInt(&r.Generation.TopK, g.TopK, "generation.top_k", need)
		setFloat(&r.Generation.TopP, g.TopP, "generation.top_p", need)
		setFloat(&r.Generation.RepetitionPenalty, g.RepetitionPenalty, "generation.repetition_penalty", need)
		if need("generation.use_kv_cache", g.UseKVCache != nil) {
			r.Generation.UseKVCache = *g.UseKVCache
		}
		if g.Stream != nil { // upstream's summary page leaves it out
			r.Generation.Stream = *g.Stream
		}
		if g.PromptTokens != nil {
			r.Generation.PromptTokens = *g.PromptTokens
		}
		if g.Depth != nil {
			r.Generation.Depth = *g.Depth
		}
	}
	if res := raw.Results; need("results", res != nil) {
		setInt(&r.Results.Iters, res.Iters, "results.iters", need)
		if s := res.TokensPerSec; need("results.tokens_per_sec", s != nil) {
			if transcribed && s.Mean != nil && s.Min == nil && s.Max == nil {
				s.Min, s.Max = s.Mean, s.Mean
			}
			r.Results.TokensPerSec = stats(s, "results.tokens_per_sec", need)
		}
		r.Results.VRAMPeakMiB = res.VRAMPeakMiB
		r.Results.PerIterTokensPerSec = res.PerIter
		if res.PrefillMS != nil {
			s := stats(res.PrefillMS, "results.prefill_ms", need)
			r.Results.PrefillMS = &s
		}
		if res.DecodeTokensPerSec != nil {
			s := stats(res.DecodeTokensPerSec, "results.decode_tokens_per_sec", need)
			r.Results.DecodeTokensPerSec = &s
		}
		if res.PromptTokensPerSec != nil {
			s := stats(res.PromptTokensPerSec, "results.prompt_tokens_per_sec", need)
			r.Results.PromptTokensPerSec = &s
		}
	}
	if len(missing) > 0 {
		return Entry{}, fmt.Errorf("%s: missing or null: %s", where, strings.Join(missing, ", "))
	}
	check := *r
	if rt := raw.Runtime; rt != nil {
		for _, f := range []struct {
			dst  *string
			src  *string
			path string
		}{{&r.Runtime.Engine, rt.Engine, "runtime.engine"}, {&r.Runtime.Go, rt.Go, "runtime.go"},
			{&r.Runtime.GOOS, rt.GOOS, "runtime.goos"}, {&r.Runtime.GOARCH, rt.GOARCH, "runtime.goarch"}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if rt.GOMAXPROCS != nil {
			r.Runtime.GOMAXPROCS = *rt.GOMAXPROCS
		}
		r.Runtime.CPU, r.Runtime.CUDADriver = rt.CPU, rt.CUDADriver
		check = *r
	} else {
		// Upstream's report: the same checks on the schema's keys; the
		// added keys it lacks get values that pass.
		if check.Model.DType == "" {
			check.Model.DType = "fp32"
		}
		check.Runtime = Runtime{Engine: "upstream", Go: "-", GOOS: "-", GOARCH: "-"}
		if check.Model.Source == "random" {
			return Entry{}, fmt.Errorf("%s: model.source: %q is not local or hf (upstream's sources)", where, "random")
		}
	}
	if transcribed && check.Platform.OS == "" {
		check.Platform.OS = "-"
	}
	if err := check.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", where, err)
	}
	return e, nil
}

func setStr(dst *string, src *string, path string, need func(string, bool) bool) {
	if need(path, src != nil) {
		*dst = *src
	}
}

func setInt(dst *int, src *int, path string, need func(string, bool) bool) {
	if need(path, src != nil) {
		*dst = *src
	}
}

func setFloat(dst *float64, src *float64, path string, need func(string, bool) bool) {
	if need(path, src != nil) {
		*dst = *src
	}
}

func stats(s *rawStats, path string, need func(string, bool) bool) Stats {
	var out Stats
	setFloat(&out.Mean, s.Mean, path+".mean", need)
	setFloat(&out.Min, s.Min, path+".min", need)
	setFloat(&out.Max, s.Max, path+".max", need)
	out.StdDev = s.StdDev
	return out
}

// parseTimestamp reads an ISO 8601 time as Python's isoformat() writes
// it: with an offset (upstream's reports, in UTC), or without one, read
// as UTC as SPEC §3 says the timestamp is.
func parseTimestamp(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time (2006-01-02T15:04:05[.ffffff][+00:00])", s)
}
