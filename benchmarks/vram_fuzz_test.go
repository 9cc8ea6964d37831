package benchmarks

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzVRAMRecord records arbitrary configurations in a sidecar and reads
// its encoded content back as benchreport does (encoding/json): it is always
// valid JSON of version 1, keeps the largest peak of each name, and a
// valid UTF-8 name comes back unchanged. (Names that are not valid UTF-8
// come back with U+FFFD: benchreport then reports a sidecar entry that
// names no configuration. go test names are ASCII.)
func FuzzVRAMRecord(f *testing.F) {
	f.Add("BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=256", "NVIDIA H100 80GB HBM3", int64(19136512), int64(7123456))
	f.Add("BenchmarkGenerate/src=hf/dev=cuda/kv=off/gen=64/dtype=fp16", "", int64(0), int64(1)<<40)
	f.Add("a\"b\\c\u2028", "dev\x00", int64(9223372036854775807), int64(-1))
	// In memory: the file write around encode is covered by the unit
	// tests, and a disk write per input starves the fuzzer.
	f.Fuzz(func(t *testing.T, name, device string, peak1, peak2 int64) {
		s := NewVRAMSidecar("unused")
		s.update(name, device, peak1)
		s.update(name, device, peak2)
		data, err := s.encode()
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Version *int                 `json:"version"`
			Configs map[string]VRAMEntry `json:"configs"`
		}
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("sidecar is not JSON: %v\n%s", err, data)
		}
		if back.Version == nil || *back.Version != 1 || len(back.Configs) != 1 {
			t.Fatalf("sidecar %s", data)
		}
		if !utf8.ValidString(name) {
			return
		}
		e, ok := back.Configs[name]
		if !ok {
			t.Fatalf("name %q not found in %s", name, data)
		}
		if want := max(peak1, peak2); e.PeakBytes != want {
			t.Fatalf("peak %d, want %d", e.PeakBytes, want)
		}
	})
}
