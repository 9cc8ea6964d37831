package gpt

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Backend runs the forward pass of one model on one device for a single
// sequence, and owns that sequence's KV cache. Logits returned by Prefill
// and Decode stay valid until the next call.
type Backend interface {
	// Prefill empties the cache and runs ids (1..block_size tokens) at
	// positions 0..len(ids)-1, keeping their keys and values; it returns
	// the logits of the last position.
	Prefill(ids []int) ([]float32, error)
	// Decode runs one new token against the cache under the sliding-window
	// rules of SPEC §2 and returns its logits.
	Decode(id int) ([]float32, error)
	// Device says where the backend runs.
	Device() Device
	// Close releases what the backend holds.
	Close() error
}

// MemoryTracker is implemented by backends that own device memory: the
// peak of their live allocations since the last reset (SPEC §3).
type MemoryTracker interface {
	ResetPeak()
	PeakBytes() int64
}

// Synchronizer is implemented by backends whose work is asynchronous:
// Sync returns once all queued work is done.
type Synchronizer interface{ Sync() error }

// Device describes where a backend runs.
type Device struct {
	Type string // "cpu" or "cuda"
	Name string // the CPU model or the GPU name
	// Driver is the CUDA driver version, empty on the CPU.
	Driver string
	// Weights is the precision the backend holds the weight matrices in
	// when it fixes one ("fp16" on CUDA); empty when it runs them as the
	// model holds them.
	Weights string
}

// WeightDType is the precision of m's weight matrices as this device runs
// them: d.Weights when the backend fixes it, else m.DType(). Reports give
// it as model.dtype.
func (d Device) WeightDType(m *Model) string {
	if d.Weights != "" {
		return d.Weights
	}
	return m.DType()
}

// Opener builds a backend for a model.
type Opener func(m *Model) (Backend, error)

var (
	regMu    sync.Mutex
	registry = map[string]Opener{}
)

// Register makes a backend available under a device name ("cpu", "cuda").
// It is meant to be called from init functions, as database/sql drivers do.
func Register(device string, open Opener) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[device]; dup {
		panic("gpt: Register called twice for device " + device)
	}
	registry[device] = open
}

// ErrNoDevice reports a device that this binary or machine cannot use.
var ErrNoDevice = errors.New("device not available")

// Devices lists the registered device names.
func Devices() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open builds the backend registered for device. A device that is not
// registered gives an error wrapping ErrNoDevice.
func Open(device string, m *Model) (Backend, error) {
	regMu.Lock()
	open, ok := registry[device]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("gpt: device %q: %w", device, ErrNoDevice)
	}
	return open(m)
}
