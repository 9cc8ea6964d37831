package benchmarks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVRAMSidecarRecord: the file exists and is complete after every
// Record (its folder made on demand, no temporary file left), keeps each
// configuration's largest peak, and a path that cannot be written is an
// error naming BENCH_VRAM_OUT.
func TestVRAMSidecarRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "vram.json")
	s := NewVRAMSidecar(path)
	read := func() map[string]VRAMEntry {
		t.Helper()
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var f struct {
			Version int                  `json:"version"`
			Configs map[string]VRAMEntry `json:"configs"`
		}
		require.NoError(t, json.Unmarshal(data, &f))
		require.Equal(t, 1, f.Version)
		return f.Configs
	}
	const a, b = "BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=256", "BenchmarkGenerate/src=local/dev=cuda/kv=off/gen=256"
	require.NoError(t, s.Record(a, "GPU", 3<<20))
	assert.Equal(t, map[string]VRAMEntry{a: {PeakBytes: 3 << 20, PeakMiB: 3, Device: "GPU"}}, read())
	require.NoError(t, s.Record(a, "GPU", 1<<20)) // smaller: kept at 3 MiB
	require.NoError(t, s.Record(b, "GPU", 5<<20))
	assert.Equal(t, map[string]VRAMEntry{a: {PeakBytes: 3 << 20, PeakMiB: 3, Device: "GPU"}, b: {PeakBytes: 5 << 20, PeakMiB: 5, Device: "GPU"}}, read())
	_, err := os.Stat(path + ".tmp")
	assert.True(t, os.IsNotExist(err), "temporary file left behind")

	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	err = NewVRAMSidecar(filepath.Join(blocker, "vram.json")).Record(a, "GPU", 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BENCH_VRAM_OUT")
}
