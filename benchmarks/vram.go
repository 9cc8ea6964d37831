package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// VRAMEntry is one configuration's peak device memory in the sidecar.
type VRAMEntry struct {
	PeakBytes int64   `json:"peak_bytes"`
	PeakMiB   float64 `json:"peak_mib"`
	Device    string  `json:"device"`
}

// VRAMSidecar is the file the benchmark process writes at BENCH_VRAM_OUT:
// the peak device memory of each configuration that ran on a GPU, keyed by
// its full benchmark name without the -GOMAXPROCS suffix. See README.
type VRAMSidecar struct {
	Version int                  `json:"version"`
	Configs map[string]VRAMEntry `json:"configs"`

	mu   sync.Mutex
	path string
}

// NewVRAMSidecar returns an empty sidecar that Record writes to path.
func NewVRAMSidecar(path string) *VRAMSidecar {
	return &VRAMSidecar{Version: 1, Configs: map[string]VRAMEntry{}, path: path}
}

// Record stores a configuration's peak (keeping the largest seen) and
// rewrites the file, so that it is complete after every configuration.
func (s *VRAMSidecar) Record(name, device string, peak int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.update(name, device, peak) {
		return nil
	}
	data, err := s.encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("BENCH_VRAM_OUT: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("BENCH_VRAM_OUT: %w", err)
	}
	return os.Rename(tmp, s.path)
}

// update keeps the larger of the stored and the given peak for name and
// reports whether the entry changed.
func (s *VRAMSidecar) update(name, device string, peak int64) bool {
	if e, ok := s.Configs[name]; ok && e.PeakBytes >= peak {
		return false
	}
	s.Configs[name] = VRAMEntry{PeakBytes: peak, PeakMiB: float64(peak) / (1 << 20), Device: device}
	return true
}

// encode is the file's content: indented JSON and a final newline.
func (s *VRAMSidecar) encode() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("BENCH_VRAM_OUT: %w", err)
	}
	return append(data, '\n'), nil
}
