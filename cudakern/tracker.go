package cudakern

import (
	"fmt"
	"sync"
)

// memTracker is the bookkeeping of the device allocator: the bytes of every
// live allocation, their total, and the high-water mark of that total since
// the last reset. It is independent of CUDA so that it can be tested on any
// machine.
type memTracker struct {
	mu   sync.Mutex
	live map[uint64]int64 // device address -> bytes
	cur  int64
	peak int64
}

func newMemTracker() *memTracker { return &memTracker{live: map[uint64]int64{}} }

// add records a new allocation of n bytes at addr.
func (t *memTracker) add(addr uint64, n int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.live[addr]; dup {
		return fmt.Errorf("cudakern: allocator: address %#x allocated twice", addr)
	}
	t.live[addr] = n
	t.cur += n
	t.peak = max(t.peak, t.cur)
	return nil
}

// remove records the release of the allocation at addr and returns its size.
func (t *memTracker) remove(addr uint64) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.live[addr]
	if !ok {
		return 0, fmt.Errorf("cudakern: allocator: free of %#x, which it does not own", addr)
	}
	delete(t.live, addr)
	t.cur -= n
	return n, nil
}

// resetPeak makes the peak the current live total.
func (t *memTracker) resetPeak() {
	t.mu.Lock()
	t.peak = t.cur
	t.mu.Unlock()
}

// stats returns the live total, the peak and the number of live allocations.
func (t *memTracker) stats() (cur, peak int64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur, t.peak, len(t.live)
}

// addrs returns the live addresses (for Close).
func (t *memTracker) addrs() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]uint64, 0, len(t.live))
	for a := range t.live {
		out = append(out, a)
	}
	return out
}
