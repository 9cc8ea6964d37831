package benchmarks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzVRAMRecord records arbitrary configurations in a sidecar and reads
// the file back as benchreport does (encoding/json): the file is always
// valid JSON of version 1, keeps the largest peak of each name, and a
// valid UTF-8 name comes back unchanged. (Names that are not valid UTF-8
// come back with U+FFFD: benchreport then reports a sidecar entry that
// names no configuration. go test names are ASCII.)
func FuzzVRAMRecord(f *testing.F) {
	f.Add("BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=256", "NVIDIA H100 80GB HBM3", int64(19136512), int64(7123456))
	f.Add("BenchmarkGenerate/src=hf/dev=cuda/kv=off/gen=64/dtype=fp16", "", int64(0), int64(1)<<40)
	f.Add("a\"b\\c\u2028", "dev\x00", int64(9223372036854775807), int64(-1))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, name, device string, peak1, peak2 int64) {
		path := filepath.Join(dir, "vram.json")
		os.Remove(path)
		s := NewVRAMSidecar(path)
		if err := s.Record(name, device, peak1); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(name, device, peak2); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
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
