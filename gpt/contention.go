package gpt

import (
	"runtime"
	"time"
)

// contention watches whether other processes keep this machine's cores
// busy, for the CPU backend's decode steps to run on the caller alone
// rather than on a pool whose workers would only compete with it.
//
// A decode step's products take microseconds, and the pool's workers spin
// between them (cpukern.DefaultSpin) so as to be awake for the next one.
// When another process keeps all cores but one busy, the caller, the
// workers and that process share the cores: the OS runs the caller part
// of the time, and a step takes longer than on the caller alone
// (BenchmarkDecodeSplit -cpu 2 on a 2-core machine with a busy loop:
// 0.56-0.80x of one core). So every contentionEvery Decode reads how many
// tasks of the machine are runnable (loadavg's running count: Linux),
// counts out its own (itself and the awake workers of its pools), and
// once contentionVotes readings in a row leave fewer than two cores to
// it, runs its steps on the caller alone, where the workers park; as many
// readings in a row with two cores or more free bring the pool back.
// Where the count cannot be read, nothing changes.
type contention struct {
	on    bool // a count can be read and a benchmark did not pin the choice
	solo  bool // the steps run on the caller alone
	votes int  // readings in a row that disagree with solo
	cpus  int  // runtime.NumCPU()
	next  time.Time
	src   runningSource
}

const (
	contentionEvery = 20 * time.Millisecond
	contentionVotes = 3
)

// runningSource reads the number of runnable tasks of the machine.
type runningSource interface {
	running() (int, bool)
	close()
}

// newContention returns the watcher of a pool of parts workers (itself
// included); it is off with one part or no count to read.
func newContention(parts int) contention {
	src := openRunning()
	return contention{on: parts > 1 && src != nil, cpus: runtime.NumCPU(), src: src}
}

// check reads the count when it is due and updates solo, which says
// whether decode steps run on the caller alone; awake is the process's
// pool workers that are not parked (cpukern.AwakeWorkers).
func (c *contention) check(awake int) {
	if !c.on {
		return
	}
	now := time.Now()
	if now.Before(c.next) {
		return
	}
	c.next = now.Add(contentionEvery)
	n, ok := c.src.running()
	if !ok {
		return
	}
	others := n - 1 - awake
	want := c.cpus-others < 2
	if want == c.solo {
		c.votes = 0
		return
	}
	if c.votes++; c.votes >= contentionVotes {
		c.solo, c.votes = want, 0
	}
}

// parseRunning returns the running count of a /proc/loadavg line: the
// number before the '/' of its fourth field.
func parseRunning(b []byte) (int, bool) {
	field := 0
	for i := 0; i < len(b); i++ {
		if b[i] == ' ' {
			field++
			continue
		}
		if field != 3 {
			continue
		}
		n, digits := 0, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if n > 1<<20 {
				return 0, false
			}
			n = 10*n + int(b[i]-'0')
			digits++
		}
		if digits == 0 || i >= len(b) || b[i] != '/' {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
