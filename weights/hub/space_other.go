//go:build !unix

package hub

// freeSpace does not know the free space here: ok is false.
func freeSpace(dir string) (n int64, ok bool) { return 0, false }
