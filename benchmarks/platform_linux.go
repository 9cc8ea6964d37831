//go:build linux

package benchmarks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// PlatformOS returns Python's platform.platform() on this machine, as
// upstream's report writes it: System-Release-Machine-with-LibcVersion,
// e.g. "Linux-6.1.0-28-cloud-amd64-x86_64-with-glibc2.36". The glibc
// version is read from the system's libc.so.6 (what Python's libc_ver
// gets from confstr(CS_GNU_LIBC_VERSION)); the processor is `uname -p`, as
// Python runs it ("unknown" on most distributions, then left out).
func PlatformOS() string { return platformOS() }

var platformOS = sync.OnceValue(func() string {
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
	return pyPlatform(str(u.Sysname), str(u.Release), str(u.Machine), unameProcessor(), "with", glibcVersion())
})

// unameProcessor is `uname -p`, or "" when it fails or says "unknown", as
// Python's platform.processor() gets it on Linux.
func unameProcessor() string {
	out, err := exec.Command("uname", "-p").Output()
	if p := strings.TrimSpace(string(out)); err == nil && p != "unknown" {
		return p
	}
	return ""
}

// pyPlatform joins the parts as Python's platform._platform does: empty
// parts dropped, some characters replaced, "unknown" removed, runs of '-'
// folded and trailing '-' removed.
func pyPlatform(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, strings.TrimSpace(p))
		}
	}
	s := strings.Join(keep, "-")
	s = strings.NewReplacer(" ", "_", "/", "-", "\\", "-", ":", "-", ";", "-", "\"", "-", "(", "-", ")", "-").Replace(s)
	s = strings.ReplaceAll(s, "unknown", "")
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return strings.TrimRight(s, "-")
}

// glibcVersion is "glibc" and the version of the system's GNU C library,
// e.g. "glibc2.36", or "" when none is found (musl, a bare container).
func glibcVersion() string {
	triple := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu",
		"ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu"}[runtime.GOARCH]
	var candidates []string
	if triple != "" {
		candidates = append(candidates, filepath.Join("/lib", triple, "libc.so.6"), filepath.Join("/usr/lib", triple, "libc.so.6"))
	}
	candidates = append(candidates, "/lib64/libc.so.6", "/usr/lib64/libc.so.6", "/lib/libc.so.6", "/usr/lib/libc.so.6")
	for _, path := range candidates {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if v := glibcBannerVersion(data); v != "" {
			return "glibc" + v
		}
	}
	return ""
}

var glibcBanner = regexp.MustCompile(`GNU C Library [^\x00\n]*? release version (\d+\.\d+(?:\.\d+)?)`)

// glibcBannerVersion returns the version in the banner that glibc's
// libc.so.6 carries ("GNU C Library (Debian GLIBC 2.36-9) stable release
// version 2.36."), or "".
func glibcBannerVersion(data []byte) string {
	i := bytes.Index(data, []byte("GNU C Library"))
	if i < 0 {
		return ""
	}
	m := glibcBanner.FindSubmatch(data[i:min(len(data), i+512)])
	if m == nil {
		return ""
	}
	return string(m[1])
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// LastLevelCacheBytes is the size of the largest CPU cache level of CPU 0
// (sysfs), or 0 when unknown.
func LastLevelCacheBytes() int64 { return lastLevelCache() }

var lastLevelCache = sync.OnceValue(func() int64 {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	best, bestLevel := int64(0), 0
	for _, d := range dirs {
		lv, err1 := os.ReadFile(filepath.Join(d, "level"))
		sz, err2 := os.ReadFile(filepath.Join(d, "size"))
		if err1 != nil || err2 != nil {
			continue
		}
		level, err := strconv.Atoi(strings.TrimSpace(string(lv)))
		if err != nil {
			continue
		}
		if n := parseCacheSize(strings.TrimSpace(string(sz))); n > 0 && level >= bestLevel {
			best, bestLevel = n, level
		}
	}
	return best
})

// parseCacheSize reads sysfs cache sizes: "32768K", "1M", "512".
func parseCacheSize(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n * mult
}
