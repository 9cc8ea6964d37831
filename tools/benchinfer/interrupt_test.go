//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C during the measurement: exit 130, the previous reports as they
// were, and no temporary file beside them.
func TestInterruptLeavesReportsAlone(t *testing.T) {
	dir := t.TempDir()
	js, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
	for _, p := range []string{js, md} {
		if err := os.WriteFile(p, []byte("previous"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args, err := json.Marshal(append(local(), "--warmup-tokens", "0", "--gen-tokens", "256", "--iters", "100000",
		"--json-out", js, "--md-out", md))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), argsEnv+"="+string(args))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "iteration 1/") {
			break
		}
	}
	// The temporary files exist while it measures.
	if es, _ := os.ReadDir(dir); len(es) != 4 {
		t.Errorf("while measuring, the directory holds %d entries, want the 2 reports and 2 temporary files", len(es))
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { // drain
		for sc.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("still running a minute after SIGINT; stderr so far: %q", seen)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit after SIGINT: %v, want status 130; stderr: %q", err, seen)
	}
	for _, p := range []string{js, md} {
		if b, _ := os.ReadFile(p); string(b) != "previous" {
			t.Errorf("%s holds %q after the interrupt", p, b)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Errorf("left in the directory after the interrupt: %v", es)
	}
}
