//go:build !unix

package hub

// fileLock is a no-op where flock is unavailable.
type fileLock struct{}

func tryLockFile(path string) (*fileLock, bool, error) { return &fileLock{}, true, nil }

func (l *fileLock) unlock() {}
