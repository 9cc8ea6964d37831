// Package sampler turns a logits vector into the next token id, following
// LabCore's sampling order (SPEC §2): temperature, repetition penalty, top-k,
// top-p, then a draw from the softmax. It knows nothing of models.
//
// A Sampler owns its scratch buffers and its PRNG, so sampling a token
// allocates nothing once the first call has sized the buffers.
package sampler

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
)

// Settings are the sampling parameters of one generation. The zero value is
// not valid; start from Defaults.
type Settings struct {
	// Temperature divides the logits; values below 1e-6 count as 1e-6, so 0
	// is effectively greedy.
	Temperature float64
	// TopK keeps the logits at least as large as the k-th largest (ties at
	// the threshold stay); 0 or less disables it. It is capped at the vocab.
	TopK int
	// TopP is the nucleus threshold, in (0, 1]; 1 disables it.
	TopP float64
	// RepetitionPenalty divides the logit of every distinct token generated
	// so far (prompt excluded); 1 disables it. Must be > 0.
	RepetitionPenalty float64
}

// Defaults returns upstream's defaults: temperature 0.9, top_k 40, top_p 1.0,
// repetition_penalty 1.0.
func Defaults() Settings {
	return Settings{Temperature: 0.9, TopK: 40, TopP: 1.0, RepetitionPenalty: 1.0}
}

// Validate reports settings that upstream refuses, naming the setting.
func (s Settings) Validate() error {
	switch {
	case math.IsNaN(s.Temperature) || math.IsInf(s.Temperature, 0) || s.Temperature < 0:
		return fmt.Errorf("sampler: temperature must be a finite number >= 0, got %v", s.Temperature)
	case math.IsNaN(s.TopP) || s.TopP <= 0 || s.TopP > 1:
		return fmt.Errorf("sampler: top_p must be in the interval (0, 1], got %v", s.TopP)
	case math.IsNaN(s.RepetitionPenalty) || math.IsInf(s.RepetitionPenalty, 0) || s.RepetitionPenalty <= 0:
		return fmt.Errorf("sampler: repetition_penalty must be > 0, got %v", s.RepetitionPenalty)
	}
	return nil
}

// Sampler draws tokens with fixed Settings and its own PRNG.
type Sampler struct {
	s   Settings
	rng *mrand.Rand

	work   []float32 // the filtered logits
	sel    []float32 // scratch for the top-k selection
	order  []int32   // scratch for the top-p sort
	nuc    []int32   // scratch for sampleTopK's top-p sort (order holds its ids)
	seen   []bool    // tokens generated so far in this call
	seenID []int32   // the ids set in seen, to clear it cheaply
}

// New returns a Sampler. With a nil seed the PRNG is seeded from the
// operating system, so runs differ; with a seed, the same seed gives the same
// tokens for the same logits, run after run.
func New(s Settings, seed *uint64) (*Sampler, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var sd uint64
	if seed != nil {
		sd = *seed
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("sampler: seeding from the OS: %w", err)
		}
		sd = binary.LittleEndian.Uint64(b[:])
	}
	return &Sampler{s: s, rng: mrand.New(mrand.NewPCG(sd, 0x9e3779b97f4a7c15))}, nil
}

// Settings returns the sampler's settings.
func (sm *Sampler) Settings() Settings { return sm.s }

// Reset forgets the tokens generated so far; call it at the start of each
// generation so the repetition penalty only sees that generation's tokens.
func (sm *Sampler) Reset() {
	for _, id := range sm.seenID {
		sm.seen[id] = false
	}
	sm.seenID = sm.seenID[:0]
}

// Observe records a generated token for the repetition penalty.
func (sm *Sampler) Observe(id int) {
	if id < 0 || id >= len(sm.seen) || sm.seen[id] {
		return
	}
	sm.seen[id] = true
	sm.seenID = append(sm.seenID, int32(id))
}

func (sm *Sampler) size(n int) {
	if len(sm.work) == n {
		return
	}
	sm.work = make([]float32, n)
	sm.sel = make([]float32, n)
	sm.order = make([]int32, n)
	sm.nuc = make([]int32, n)
	sm.seen = make([]bool, n)
	sm.seenID = make([]int32, 0, n)
}

// Sample returns the next token for logits, which it does not modify, and
// records it with Observe.
func (sm *Sampler) Sample(logits []float32) int {
	sm.size(len(logits))
	id, ok := sm.sampleTopK(logits)
	if !ok {
		w := sm.work
		Filter(w, logits, sm.s, sm.seen, sm.sel, sm.order)
		id = Draw(w, sm.rng.Float64())
	}
	sm.Observe(id)
	return id
}

// heapTopKMax is the largest top_k that sampleTopK serves. Over 50257
// logits (normal, as BenchmarkSample's) its pass took 0.11 ms at k = 40
// and 0.49 ms at 1024, where Filter took 0.53-0.57 ms, Draw not counted;
// at 4096 it took 1.4 ms against Filter's 0.54.
const heapTopKMax = 1024

// sampleTopK is Filter then Draw for the common settings, top_k on: one
// pass over the logits finds the entries top-k keeps (topKSurvivors), and
// topP and Draw then run on those values alone, gathered in index order.
// Filter and Draw over the whole vocabulary see the same values in the
// same order (the rest at -Inf, which they skip or drop), so the token is
// the same for the same random number
// (TestSampleTopKMatchesFilterThenDraw). It returns false, having drawn no
// random number, where topKSurvivors does not apply.
func (sm *Sampler) sampleTopK(logits []float32) (int, bool) {
	surv, ok := sm.topKSurvivors(logits)
	if !ok {
		return 0, false
	}
	vals := sm.sel[:len(surv)]
	for j, i := range surv {
		vals[j] = sm.work[i]
	}
	if sm.s.TopP != 1 {
		topP(vals, sm.s.TopP, sm.nuc)
	}
	return int(surv[Draw(vals, sm.rng.Float64())]), true
}

// topKSurvivors finds, in index order, the ids that Filter's top-k keeps
// (before top-p), with their filtered values in sm.work. A min-heap holds the k largest values read
// so far, so that its root ends as Filter's threshold; every entry at
// least the root when it was read is a candidate, and since the root only
// rises, the candidates include every entry at or above the final
// threshold. ok is false for other settings, an empty vocabulary, a NaN,
// or a threshold or maximum that is infinite: Filter and Draw then run.
func (sm *Sampler) topKSurvivors(logits []float32) (surv []int32, ok bool) {
	s := sm.s
	if s.TopK <= 0 || s.TopK > heapTopKMax || len(logits) == 0 {
		return nil, false
	}
	k := min(s.TopK, len(logits))
	t := float32(math.Max(s.Temperature, 1e-6))
	pen := s.RepetitionPenalty != 1
	p := float32(s.RepetitionPenalty)
	heap := sm.sel[:0] // min-heap of the k largest values so far
	cand := sm.order[:0]
	w := sm.work
	for i, v := range logits {
		d := v / t
		if pen && sm.seen[i] {
			d /= p
		}
		if d != d {
			return nil, false
		}
		switch {
		case len(heap) < k:
			heap = append(heap, d)
			siftUp(heap)
		case d < heap[0]:
			continue
		case d > heap[0]:
			heap[0] = d
			siftDown(heap)
		}
		w[i] = d
		cand = append(cand, int32(i))
	}
	thr := heap[0]
	if math.IsInf(float64(thr), 0) {
		return nil, false
	}
	surv = cand[:0]
	maxv := float32(math.Inf(-1))
	for _, i := range cand {
		if v := w[i]; v >= thr {
			surv = append(surv, i)
			maxv = max(maxv, v)
		}
	}
	if math.IsInf(float64(maxv), 1) {
		return nil, false
	}
	return surv, true
}

// siftUp restores the min-heap h after an append.
func siftUp(h []float32) {
	j := len(h) - 1
	for j > 0 {
		p := (j - 1) / 2
		if h[p] <= h[j] {
			return
		}
		h[p], h[j] = h[j], h[p]
		j = p
	}
}

// siftDown restores the min-heap h after its root was raised.
func siftDown(h []float32) {
	j, n := 0, len(h)
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if c+1 < n && h[c+1] < h[c] {
			c++
		}
		if h[j] <= h[c] {
			return
		}
		h[j], h[c] = h[c], h[j]
		j = c
	}
}

// Filter writes into dst the logits after temperature, repetition penalty
// (for the ids marked in seen), top-k and top-p, in that order; filtered-out
// entries are -Inf. sel and order are scratch of len(src).
func Filter(dst, src []float32, s Settings, seen []bool, sel []float32, order []int32) {
	t := float32(math.Max(s.Temperature, 1e-6))
	for i, v := range src {
		dst[i] = v / t
	}
	if s.RepetitionPenalty != 1 {
		p := float32(s.RepetitionPenalty)
		for i, on := range seen {
			if on {
				dst[i] /= p
			}
		}
	}
	if s.TopK > 0 {
		k := min(s.TopK, len(dst))
		copy(sel, dst)
		thr := kthLargest(sel, k)
		for i, v := range dst {
			if v < thr {
				dst[i] = float32(math.Inf(-1))
			}
		}
	}
	if s.TopP != 1 {
		topP(dst, s.TopP, order)
	}
}

// topP drops, in place, the tokens outside the nucleus: sorted descending,
// a token goes when the cumulative probability of the tokens before it
// already exceeds p, so the most likely token always stays.
func topP(x []float32, p float64, order []int32) {
	n := 0
	for i, v := range x {
		if !math.IsInf(float64(v), -1) {
			order[n] = int32(i)
			n++
		}
	}
	ord := order[:n]
	slices.SortFunc(ord, func(a, b int32) int { return cmp.Compare(x[b], x[a]) })
	if n == 0 {
		return
	}
	maxv := float64(x[ord[0]])
	var z float64
	for _, i := range ord {
		z += math.Exp(float64(x[i]) - maxv)
	}
	var cum float64
	for j, i := range ord {
		e := math.Exp(float64(x[i])-maxv) / z
		if j > 0 && cum > p {
			x[i] = float32(math.Inf(-1))
		}
		cum += e
	}
}

// kthLargest returns the k-th largest value of a (1-based), reordering a.
func kthLargest(a []float32, k int) float32 {
	lo, hi := 0, len(a)-1
	target := k - 1 // index in descending order
	for lo < hi {
		pivot := a[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] > pivot {
				i++
			}
			for a[j] < pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return a[target]
		}
	}
	return a[target]
}

// Draw returns a token drawn from softmax(x) with u uniform in [0, 1).
// Entries at -Inf have probability zero.
func Draw(x []float32, u float64) int {
	maxv := math.Inf(-1)
	best := 0
	for i, v := range x {
		if float64(v) > maxv {
			maxv, best = float64(v), i
		}
	}
	// Entries at -Inf (top-k and top-p leave most of the vocabulary so)
	// add exactly 0 when another is finite: skipping them saves an
	// exponential each. (All at -Inf, the loops run as they always did.)
	ninf := float32(math.Inf(-1))
	skip := !math.IsInf(maxv, -1)
	var z float64
	for _, v := range x {
		if !skip || v != ninf {
			z += math.Exp(float64(v) - maxv)
		}
	}
	r := u * z
	var acc float64
	last := best
	for i, v := range x {
		if skip && v == ninf {
			continue
		}
		e := math.Exp(float64(v) - maxv)
		if e == 0 {
			continue
		}
		acc += e
		last = i
		if r < acc {
			return i
		}
	}
	return last
}
