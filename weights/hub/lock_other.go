//go:build !unix

package hub

// fileLock is a no-op where flock is unavailable.
type fileLock struct{}

func lockFile(path string) (*fileLock, error) { return &fileLock{}, nil }

func (l *fileLock) unlock() {}
