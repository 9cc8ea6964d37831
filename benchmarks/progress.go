package benchmarks

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Progress writes the benchmark's progress (configuration, loading,
// warmup, iteration n/N) where a person watches it and never where the
// results are parsed: go test merges a benchmark's standard error into its
// standard output, so Progress writes to standard error only when it is a
// terminal, else to the process's terminal (/dev/tty) when it has one.
// BENCH_PROGRESS=off silences it; BENCH_PROGRESS=on also writes to a
// standard error that is not a terminal (CI logs), with iteration lines
// left out when standard error is standard output (they would land inside
// go test's result lines). Every line starts with "[tokbench] ", which
// benchfmt readers skip. A nil *Progress writes nothing.
type Progress struct {
	mu sync.Mutex
	w  io.Writer
	// inResults is set when w may receive text in the middle of go test's
	// result lines: iteration lines are then not written.
	inResults bool
}

// NewProgress returns the progress writer for the BENCH_PROGRESS setting
// (on, off, or "" for auto), or nil when there is nowhere to write.
func NewProgress(setting string) (*Progress, error) {
	mode, err := parseAutoOnOff(setting)
	if err != nil {
		return nil, fmt.Errorf("BENCH_PROGRESS: %w", err)
	}
	switch {
	case mode == "off":
		return nil, nil
	case isTerminal(os.Stderr):
		return &Progress{w: os.Stderr}, nil
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		return &Progress{w: tty}, nil
	}
	if mode == "on" {
		return &Progress{w: os.Stderr, inResults: sameFile(os.Stderr, os.Stdout)}, nil
	}
	return nil, nil
}

// Printf writes one progress line.
func (p *Progress) Printf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[tokbench] "+strings.TrimSuffix(format, "\n")+"\n", args...)
}

// Iteration writes an iteration line, unless it could land inside a result
// line.
func (p *Progress) Iteration(format string, args ...any) {
	if p == nil || p.inResults {
		return
	}
	p.Printf(format, args...)
}

func parseAutoOnOff(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "auto", nil
	}
	on, err := parseOnOff(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	if on {
		return "on", nil
	}
	return "off", nil
}

func sameFile(a, b *os.File) bool {
	fa, err1 := a.Stat()
	fb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
