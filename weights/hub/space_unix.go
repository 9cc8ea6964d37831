//go:build unix

package hub

import "golang.org/x/sys/unix"

// freeSpace returns the bytes available to this user on the file system
// holding dir; ok is false when the file system does not say.
func freeSpace(dir string) (n int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 0, false
	}
	avail := uint64(st.Bavail) * uint64(st.Bsize)
	if avail > 1<<62 {
		avail = 1 << 62
	}
	return int64(avail), true
}
