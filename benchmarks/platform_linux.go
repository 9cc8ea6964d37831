//go:build linux

package benchmarks

import (
	"runtime"
	"strings"
	"syscall"
)

// PlatformOS returns a platform string in the shape of Python's
// platform.platform(): System-Release-Machine, e.g.
// "Linux-6.1.0-28-cloud-amd64-x86_64".
func PlatformOS() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return runtime.GOOS + "-" + runtime.GOARCH
	}
	str := func(b [65]int8) string {
		var sb strings.Builder
		for _, c := range b {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		return sb.String()
	}
	return str(u.Sysname) + "-" + str(u.Release) + "-" + str(u.Machine)
}
