//go:build unix

package outfile

import (
	"fmt"
	"os"
	"syscall"
)

// lockDirs takes an exclusive flock on each directory, in the order
// given (sorted, so that two writers cannot deadlock), waiting for other
// writers, and returns the function that releases them.
func lockDirs(dirs []string) (func(), error) {
	var held []*os.File
	unlock := func() {
		for _, d := range held {
			syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
			d.Close()
		}
	}
	for _, dir := range dirs {
		d, err := os.Open(dir)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
		}
		if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
			d.Close()
			unlock()
			return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
		}
		held = append(held, d)
	}
	return unlock, nil
}
