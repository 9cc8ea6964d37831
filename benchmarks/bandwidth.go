package benchmarks

import (
	"runtime"
	"sync"
	"time"

	"github.com/labcoreai/tokbench/gpt/cpukern"
)

// BandwidthBufferBytes is the largest buffer ReadBandwidth streams (where
// the last-level cache size is unknown): far larger than any L3 cache, so
// that it measures DRAM.
const BandwidthBufferBytes = 512 << 20

// ProbeBytes is the size of the buffer ReadBandwidth streams: four times
// the last-level cache (so that at most a quarter of it can be served
// from the cache), at least 64 MiB, and BandwidthBufferBytes where the
// cache size is unknown.
func ProbeBytes() int {
	llc := LastLevelCacheBytes()
	if llc <= 0 {
		return BandwidthBufferBytes
	}
	return int(min(max(4*llc, 64<<20), BandwidthBufferBytes))
}

// ReadBandwidth is the host's memory read bandwidth in bytes per second,
// as MeasureReadBandwidth(ProbeBytes(), GOMAXPROCS, 5) reports it, measured
// once per process and GOMAXPROCS. Only BenchmarkGenerate's roofline-%
// (BENCH_ROOFLINE=on) and BenchmarkReadBandwidth pay for it.
func ReadBandwidth() float64 {
	n := runtime.GOMAXPROCS(0)
	bwMu.Lock()
	defer bwMu.Unlock()
	if bw, ok := bwByThreads[n]; ok {
		return bw
	}
	bw := MeasureReadBandwidth(ProbeBytes(), n, 5)
	bwByThreads[n] = bw
	return bw
}

var (
	bwMu        sync.Mutex
	bwByThreads = map[int]float64{}
)

// RooflineApplies reports whether a decode rate can be compared with the
// memory read bandwidth: with the KV cache (without it a step is a
// compute-bound prefill over the window), and with more weight bytes than
// the last-level cache holds (32 MiB where unknown), else the weights are
// read from the cache, faster than DRAM.
func RooflineApplies(weightBytes int64, kv bool) bool {
	llc := LastLevelCacheBytes()
	if llc <= 0 {
		llc = 32 << 20
	}
	return kv && weightBytes > llc
}

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
