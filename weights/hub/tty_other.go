//go:build !linux

package hub

import "os"

// isTerminal reports false where no terminal check is implemented: progress
// is then off by default.
func isTerminal(f *os.File) bool { return false }
