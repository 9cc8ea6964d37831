package gpt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRunning(t *testing.T) {
	for line, want := range map[string]int{
		"0.52 0.58 0.59 3/456 1234\n": 3,
		"12.00 8.10 4.00 17/2048 99":  17,
		"0 0 0 0/1 1":                 0,
	} {
		n, ok := parseRunning([]byte(line))
		assert.True(t, ok, line)
		assert.Equal(t, want, n, line)
	}
	for _, line := range []string{"", "0.52 0.58 0.59", "0.52 0.58 0.59 /456 1", "0.52 0.58 0.59 3 1", "0.52 0.58 0.59 x/4 1",
		"1 1 1 99999999999999999999/5 1"} {
		_, ok := parseRunning([]byte(line))
		assert.False(t, ok, "%q", line)
	}
}

// counts is a runningSource that returns its counts in turn.
type counts struct {
	n []int
	i int
}

func (c *counts) running() (int, bool) {
	if c.i >= len(c.n) {
		return 0, false
	}
	c.i++
	return c.n[c.i-1], true
}
func (c *counts) close() {}

// TestContentionSwitchesAfterVotes plays a 2-core machine: the caller and
// its one awake worker alone (2 running), then a busy process beside them
// (3), then the caller alone with the worker parked and the busy process
// (2), then the busy process gone (1). Decode goes to the caller alone
// after contentionVotes readings that leave it one core, and back to the
// pool after as many with two.
func TestContentionSwitchesAfterVotes(t *testing.T) {
	src := &counts{n: []int{2, 3, 3, 3, 2, 2, 1, 1, 1}}
	c := contention{on: true, cpus: 2, src: src}
	awake := []int{1, 1, 1, 1, 0, 0, 0, 0, 0}
	want := []bool{false, false, false, true, true, true, true, true, false}
	for i := range src.n {
		c.next = time.Time{} // due
		c.check(awake[i])
		assert.Equal(t, want[i], c.solo, "reading %d", i)
	}
	// Between readings the choice stands: counts that would switch it are
	// not read before they are due.
	src.n, src.i = []int{3, 3, 3}, 0
	c.next = time.Now().Add(time.Hour)
	for range 3 {
		c.check(1)
	}
	assert.False(t, c.solo)
	assert.Zero(t, src.i, "count read before it was due")
	// An unreadable count keeps the choice.
	src.n, src.i = nil, 0
	c.next, c.solo = time.Time{}, true
	c.check(0)
	assert.True(t, c.solo, "count unreadable")
	// Off (one core, no count, or pinned by a benchmark): never alone.
	off := contention{cpus: 2, src: &counts{n: []int{9, 9, 9, 9}}}
	for range 4 {
		off.check(0)
		assert.False(t, off.solo)
	}
}

// TestContentionReadsThisMachine checks that on Linux the count is read
// from /proc/loadavg and counts at least the test itself.
func TestContentionReadsThisMachine(t *testing.T) {
	src := openRunning()
	if src == nil {
		t.Skip("no /proc/loadavg")
	}
	defer src.close()
	n, ok := src.running()
	assert.True(t, ok)
	assert.GreaterOrEqual(t, n, 1)
	src.close()
	_, ok = src.running()
	assert.False(t, ok, "after close")
}
