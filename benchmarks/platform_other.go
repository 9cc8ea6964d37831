//go:build !linux

package benchmarks

import "runtime"

// PlatformOS returns GOOS-GOARCH where uname is not available.
func PlatformOS() string { return runtime.GOOS + "-" + runtime.GOARCH }
