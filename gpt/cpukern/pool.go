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
// started per Run. Between runs the workers spin for a while (DefaultSpin)
// before they park on a condition variable, so that the products of one
// decode step, a few microseconds apart, find them awake; a worker idle
// longer parks and takes no CPU from other processes.
//
// A Pool is used by one goroutine at a time.
type Pool struct {
	n    int
	spin time.Duration

	task  Task
	epoch atomic.Uint64 // incremented per run (and by Close)
	// run is the state of the current run: its epoch (low 32 bits) in
	// bits 32-63, then runClosed, runStatic and the number of workers that
	// joined it. A worker reads task only after it joined the run; the
	// caller changes task only once the run is closed and every worker
	// that joined it finished.
	run      atomic.Uint64
	finished atomic.Int64 // workers that joined the current run and are done
	sleepers atomic.Int32 // workers parked on wake
	waiting  atomic.Bool  // the caller is parked on done
	closed   atomic.Bool

	mu         sync.Mutex
	wake, done *sync.Cond
	wg         sync.WaitGroup
}

const (
	runClosed = 1 << 31 // no worker may join any more
	runStatic = 1 << 30 // every worker must join (Run)
	runJoined = runStatic - 1
)

// DefaultSpin is how long idle workers and the waiting caller spin before
// parking. Measured with BenchmarkDecodeSplit (gpt) on the project's 2-core
// EPYC VM, quiet: 50 us made base.toml-shape decode 1.4-2.0x and
// GPT-2-small 1.6-1.7x faster than one core, where workers that park at
// once ran at one core's speed (waking a parked worker costs a futex call
// per product). With a busy loop taking one core, it ran at 0.56-0.99x of
// one core (two sessions), not the collapse of a barrier per operation:
// products are dealt from a counter (Share), so the caller never waits
// for a worker that did not join. (gpt's CPU backend now also stops
// waking the workers for decode steps while the machine's other
// processes leave it one core.)
const DefaultSpin = 50 * time.Microsecond

// NewPool starts a pool of n parts (n-1 worker goroutines; n < 1 counts as
// 1). spin is how long idle goroutines spin before they park; 0 parks at
// once (a plain sync-based barrier).
func NewPool(n int, spin time.Duration) *Pool {
	p := &Pool{n: max(1, n), spin: spin}
	p.wake = sync.NewCond(&p.mu)
	p.done = sync.NewCond(&p.mu)
	p.run.Store(runClosed)
	for id := 1; id < p.n; id++ {
		p.wg.Add(1)
		go p.worker(id)
	}
	return p
}

// Size is the number of parts a Run splits its task into.
func (p *Pool) Size() int { return p.n }

// awake counts the workers of every Pool of the process that are not
// parked: running a part, or spinning while they wait for the next run.
var awake atomic.Int64

// AwakeWorkers is the number of workers of this process's pools that are
// not parked, which the OS counts as runnable.
func AwakeWorkers() int { return int(awake.Load()) }

// Run executes t.Do(part, Size()) for every part, in parallel, and returns
// when all are done. After Close it runs the task as a single part.
func (p *Pool) Run(t Task) {
	if p.n == 1 || p.closed.Load() {
		t.Do(0, 1)
		return
	}
	p.start(t, runStatic)
	t.Do(0, p.n)
	p.waitDone(int64(p.n - 1))
	p.task = nil // so that the pool keeps nothing of the caller's alive
}

// Share runs t on the calling goroutine (part 0) and on every worker that
// wakes up before the caller's t.Do returns; it returns when all of those
// are done. Unlike Run, parts that did not start in time never run: t must
// deal its work itself (from an atomic counter, say) so that any subset of
// parts including 0 completes it. A short task then costs no more than on
// one core, however late the workers wake: the caller does not wait for
// workers that did not join.
func (p *Pool) Share(t Task) {
	if p.n == 1 || p.closed.Load() {
		t.Do(0, 1)
		return
	}
	e := p.start(t, 0)
	t.Do(0, p.n)
	s := p.run.Or(runClosed)
	if uint32(s>>32) != e {
		panic("cpukern: Pool used by two goroutines at once")
	}
	p.waitDone(int64(s & runJoined))
	p.task = nil
}

// start opens a run of t and wakes the workers; it returns the run's epoch.
func (p *Pool) start(t Task, flags uint64) uint32 {
	p.task = t
	p.finished.Store(0)
	e := uint32(p.epoch.Load() + 1)
	p.run.Store(uint64(e)<<32 | flags)
	p.epoch.Add(1)
	if p.sleepers.Load() > 0 {
		p.mu.Lock()
		p.wake.Broadcast()
		p.mu.Unlock()
	}
	return e
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
	awake.Add(1)
	defer awake.Add(-1)
	var last uint64
	for {
		last = p.waitEpoch(last)
		if p.closed.Load() {
			return
		}
		if !p.join(uint32(last)) {
			continue // too late for this run
		}
		p.task.Do(id, p.n)
		p.finished.Add(1)
		if p.waiting.Load() {
			p.mu.Lock()
			p.done.Broadcast()
			p.mu.Unlock()
		}
	}
}

// join adds the worker to run e if that run is still open.
func (p *Pool) join(e uint32) bool {
	for {
		s := p.run.Load()
		if uint32(s>>32) != e || s&runClosed != 0 {
			return false
		}
		if p.run.CompareAndSwap(s, s+1) {
			return true
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
	awake.Add(-1)
	for p.epoch.Load() == last {
		p.wake.Wait()
	}
	awake.Add(1)
	p.sleepers.Add(-1)
	p.mu.Unlock()
	return p.epoch.Load()
}

// waitDone returns once n workers have finished their part of this run.
func (p *Pool) waitDone(n int64) {
	if p.finished.Load() == n {
		return
	}
	if p.spin > 0 {
		start := time.Now()
		for i := 1; ; i++ {
			if p.finished.Load() == n {
				return
			}
			if i%256 == 0 && time.Since(start) > p.spin {
				break
			}
		}
	}
	p.mu.Lock()
	p.waiting.Store(true)
	for p.finished.Load() != n {
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
