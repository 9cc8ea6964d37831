package cpukern

import (
	"sync"
	"sync/atomic"
	"time"
)

// Task is work a Pool splits: Do runs part part of parts (0 <= part <
// parts). The parts of one Run execute concurrently and must write
// disjoint memory.
type Task interface {
	Do(part, parts int)
}

// Pool is a persistent set of worker goroutines that run a Task's parts in
// parallel, the calling goroutine taking part 0. Nothing is allocated or
// started per Run. Between runs the workers may spin for a while before
// they park on a condition variable; by default they park at once, which
// measured faster (BenchmarkPool): the Go scheduler already spins briefly
// before it puts an idle thread to sleep, and a spinning worker on a
// loaded machine loses its time slice to other processes.
//
// A Pool is used by one goroutine at a time.
type Pool struct {
	n    int
	spin time.Duration

	task     Task
	epoch    atomic.Uint64 // incremented per Run (and by Close)
	pending  atomic.Int64  // parts not yet finished by the workers
	sleepers atomic.Int32  // workers parked on wake
	waiting  atomic.Bool   // the caller is parked on done
	closed   atomic.Bool

	mu         sync.Mutex
	wake, done *sync.Cond
	wg         sync.WaitGroup
}

// DefaultSpin is how long idle workers and the waiting caller spin before
// parking: none (see Pool).
const DefaultSpin = 0

// NewPool starts a pool of n parts (n-1 worker goroutines; n < 1 counts as
// 1). spin is how long idle goroutines spin before they park; 0 parks at
// once (a plain sync-based barrier).
func NewPool(n int, spin time.Duration) *Pool {
	p := &Pool{n: max(1, n), spin: spin}
	p.wake = sync.NewCond(&p.mu)
	p.done = sync.NewCond(&p.mu)
	for id := 1; id < p.n; id++ {
		p.wg.Add(1)
		go p.worker(id)
	}
	return p
}

// Size is the number of parts a Run splits its task into.
func (p *Pool) Size() int { return p.n }

// Run executes t.Do(part, Size()) for every part, in parallel, and returns
// when all are done. After Close it runs the task as a single part.
func (p *Pool) Run(t Task) {
	if p.n == 1 || p.closed.Load() {
		t.Do(0, 1)
		return
	}
	p.task = t
	p.pending.Store(int64(p.n - 1))
	p.epoch.Add(1)
	if p.sleepers.Load() > 0 {
		p.mu.Lock()
		p.wake.Broadcast()
		p.mu.Unlock()
	}
	t.Do(0, p.n)
	p.waitDone()
	p.task = nil // so that the pool keeps nothing of the caller's alive
}

// Close stops the workers. Close is idempotent.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	p.epoch.Add(1)
	p.wake.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Pool) worker(id int) {
	defer p.wg.Done()
	var last uint64
	for {
		last = p.waitEpoch(last)
		if p.closed.Load() {
			return
		}
		p.task.Do(id, p.n)
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			p.mu.Lock()
			p.done.Broadcast()
			p.mu.Unlock()
		}
	}
}

// waitEpoch returns the epoch once it differs from last.
func (p *Pool) waitEpoch(last uint64) uint64 {
	if p.spin > 0 {
		start := time.Now()
		for i := 1; ; i++ {
			if e := p.epoch.Load(); e != last {
				return e
			}
			if i%256 == 0 && time.Since(start) > p.spin {
				break
			}
		}
	}
	p.mu.Lock()
	p.sleepers.Add(1)
	for p.epoch.Load() == last {
		p.wake.Wait()
	}
	p.sleepers.Add(-1)
	p.mu.Unlock()
	return p.epoch.Load()
}

// waitDone returns once every worker has finished its part.
func (p *Pool) waitDone() {
	if p.spin > 0 {
		start := time.Now()
		for i := 1; ; i++ {
			if p.pending.Load() == 0 {
				return
			}
			if i%256 == 0 && time.Since(start) > p.spin {
				break
			}
		}
	}
	p.mu.Lock()
	p.waiting.Store(true)
	for p.pending.Load() != 0 {
		p.done.Wait()
	}
	p.waiting.Store(false)
	p.mu.Unlock()
}

// Split returns the half-open range [lo, hi) of part of parts over n items,
// in chunks that are multiples of align (but the last).
func Split(n, part, parts, align int) (lo, hi int) {
	if parts <= 1 {
		return 0, n
	}
	align = max(1, align)
	chunks := (n + align - 1) / align
	lo = min(n, (chunks*part/parts)*align)
	hi = min(n, (chunks*(part+1)/parts)*align)
	return lo, hi
}
