// Package maketest holds the tests of the repository's Makefile: the
// default target, the benchstat gate of make compare, the worktree
// cleanup of an interrupted make compare, and concurrent make bench
// runs. It has no code of its own.
package maketest
