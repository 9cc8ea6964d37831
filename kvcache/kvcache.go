// Package kvcache holds the bookkeeping of LabCore's sliding-window KV cache
// (SPEC §2) and a host-memory store for it.
//
// Upstream appends each new key/value to every layer's cache, cuts the cache
// to its newest block_size entries, and lets the new query attend over what
// remains. Attention is a sum over keys, so the order in which the entries
// are kept does not matter: Window keeps them in a ring of block_size slots,
// and a new entry overwrites the oldest once the ring is full. Window also
// derives the positions that upstream gives a new token.
package kvcache

import "fmt"

// Window tracks the length of one sequence's cache and where its entries
// live. Every layer of a model shares one Window. The zero value is an empty
// window of size zero; use NewWindow.
type Window struct {
	size int // block_size: the most entries kept
	n    int // entries currently held, <= size
	next int // slot the next entry goes to
}

// NewWindow returns an empty window that keeps at most size entries.
func NewWindow(size int) (Window, error) {
	if size <= 0 {
		return Window{}, fmt.Errorf("kvcache: window size must be > 0, got %d", size)
	}
	return Window{size: size}, nil
}

// Size is the most entries the window keeps (block_size).
func (w *Window) Size() int { return w.size }

// Len is the number of entries held: upstream's cache length.
func (w *Window) Len() int { return w.n }

// Reset empties the window.
func (w *Window) Reset() { w.n, w.next = 0, 0 }

// Step describes where one new token's key/value goes and which positions
// it is given.
type Step struct {
	// Slot is the ring slot the new entry is written to.
	Slot int
	// Attend is the number of slots, 0..Attend-1, that the new query
	// attends over once its entry is written (the newest min(Len+1, size)).
	Attend int
	// LearnedPos is the row of wpe for the new token: min(Len, size-1).
	LearnedPos int
	// RotaryPos is the RoPE rotation position: Len before the step.
	RotaryPos int
}

// Next says where a new single token goes. The window is unchanged until
// Commit.
func (w *Window) Next() Step {
	return Step{
		Slot:       w.next,
		Attend:     min(w.n+1, w.size),
		LearnedPos: min(w.n, w.size-1),
		RotaryPos:  w.n,
	}
}

// Commit records the entry announced by the last Next as written.
func (w *Window) Commit() {
	w.n = min(w.n+1, w.size)
	w.next = (w.next + 1) % w.size
}

// Fill records a prefill of t tokens written to slots 0..t-1 of an empty
// window, at positions 0..t-1. It fails when t is not in 1..size.
func (w *Window) Fill(t int) error {
	if t <= 0 || t > w.size {
		return fmt.Errorf("kvcache: prefill of %d tokens does not fit a window of %d", t, w.size)
	}
	w.n = t
	w.next = t % w.size
	return nil
}

// Store is a host-memory cache: for each layer, size slots of width floats
// for keys and as many for values.
type Store struct {
	Window
	width int
	k, v  [][]float32
}

// NewStore allocates a cache for layers layers of size slots of width floats.
func NewStore(layers, size, width int) (*Store, error) {
	w, err := NewWindow(size)
	if err != nil {
		return nil, err
	}
	if layers <= 0 || width <= 0 {
		return nil, fmt.Errorf("kvcache: store needs layers > 0 and width > 0, got %d and %d", layers, width)
	}
	s := &Store{Window: w, width: width, k: make([][]float32, layers), v: make([][]float32, layers)}
	for l := range layers {
		s.k[l] = make([]float32, size*width)
		s.v[l] = make([]float32, size*width)
	}
	return s, nil
}

// Keys returns layer l's key slots, slot-major: slot i is [i*width, (i+1)*width).
func (s *Store) Keys(l int) []float32 { return s.k[l] }

// Values returns layer l's value slots, laid out as Keys.
func (s *Store) Values(l int) []float32 { return s.v[l] }

// Width is the number of floats per slot (n_embd).
func (s *Store) Width() int { return s.width }

// Bytes is the memory the store holds.
func (s *Store) Bytes() int64 { return int64(len(s.k)) * 2 * int64(s.size*s.width) * 4 }
