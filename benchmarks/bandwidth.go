package benchmarks

import (
	"runtime"
	"sync"
	"time"

	"github.com/labcoreai/tokbench/gpt/cpukern"
)

// BandwidthBufferBytes is the size of the buffer ReadBandwidth streams:
// far larger than any L3 cache, so that it measures DRAM.
const BandwidthBufferBytes = 512 << 20

// ReadBandwidth is the host's memory read bandwidth in bytes per second,
// as MeasureReadBandwidth(BandwidthBufferBytes, GOMAXPROCS, 5) reports it,
// measured once per process.
func ReadBandwidth() float64 { return readBandwidth() }

var readBandwidth = sync.OnceValue(func() float64 {
	return MeasureReadBandwidth(BandwidthBufferBytes, runtime.GOMAXPROCS(0), 5)
})

// MeasureReadBandwidth streams a buffer of size bytes through vector
// registers (cpukern.Sum) with threads goroutines, each reading its own
// contiguous share, and returns the best of passes timed passes in bytes
// per second. The buffer is written once first, so that page faults are
// not timed.
func MeasureReadBandwidth(size, threads, passes int) float64 {
	threads = max(1, threads)
	n := size / 4
	buf := make([]float32, n)
	var wg sync.WaitGroup
	share := func(i int) []float32 {
		lo, hi := cpukern.Split(n, i, threads, 1024)
		return buf[lo:hi]
	}
	for i := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := share(i)
			for j := range s {
				s[j] = 1
			}
		}()
	}
	wg.Wait()
	sums := make([]float32, threads)
	best := time.Duration(1<<63 - 1)
	for range max(1, passes) {
		start := time.Now()
		for i := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[i] = cpukern.Sum(share(i))
			}()
		}
		wg.Wait()
		best = min(best, time.Since(start))
	}
	runtime.KeepAlive(sums)
	return float64(n*4) / best.Seconds()
}
