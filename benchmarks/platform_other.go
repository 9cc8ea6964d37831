//go:build !linux

package benchmarks

import (
	"os"
	"runtime"
)

// PlatformOS returns GOOS-GOARCH where uname is not available.
func PlatformOS() string { return runtime.GOOS + "-" + runtime.GOARCH }

// isTerminal reports false where the terminal check is not implemented:
// BENCH_PROGRESS=on still writes progress to standard error.
func isTerminal(*os.File) bool { return false }

// LastLevelCacheBytes is 0 (unknown) where sysfs is not available.
func LastLevelCacheBytes() int64 { return 0 }
