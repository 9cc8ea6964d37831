package maketest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// root is the repository root, where the Makefile is.
var root = filepath.Join("..", "..", "..")

func needMake(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
}

// runMake runs make in the repository root and returns its combined
// output and exit status.
func runMake(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", root, "--no-print-directory"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// A bare make lists the targets; it does not run the first rule of the
// included cudakern/Makefile.inc (make ptx, which would need nvcc and
// rewrite the committed PTX).
func TestBareMakePrintsHelp(t *testing.T) {
	needMake(t)
	out, code := runMake(t, "-n")
	if code != 0 || !strings.Contains(out, "make bench") || !strings.Contains(out, "make install") || strings.Contains(out, "-ptx -arch") {
		t.Fatalf("make -n: exit %d, output:\n%s", code, out)
	}
}

// benchFile writes benchmark results: n runs of BenchmarkGenerate around
// ns nanoseconds per op (spread by 0.1% steps) and the matching tokens/s.
func benchFile(t *testing.T, dir, name string, ns float64, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/labcoreai/tokbench/benchmarks\n")
	for i := range n {
		v := ns * (1 + float64(i)*0.001)
		fmt.Fprintf(&b, "BenchmarkGenerate/src=local-2 \t1\t%.0f ns/op\t%.2f tokens/s\n", v, 256/(v/1e9))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func needBenchstat(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("benchstat"); err == nil {
		return
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(gopath)), "bin", "benchstat")); err == nil {
			return
		}
	}
	t.Skip("benchstat is not installed (go install golang.org/x/perf/cmd/benchstat@latest)")
}

// The gate of make compare: a significant slowdown over MAX_REGRESSION
// (default 5%) fails, with benchstat's table; a smaller one, no change,
// or an empty MAX_REGRESSION passes; a malformed one is an error.
func TestCompareGate(t *testing.T) {
	needMake(t)
	needBenchstat(t)
	dir := t.TempDir()
	base := benchFile(t, dir, "base.txt", 10e6, 10)
	slower := benchFile(t, dir, "slower.txt", 11e6, 10) // +10%
	slight := benchFile(t, dir, "slight.txt", 10.2e6, 10)
	faster := benchFile(t, dir, "faster.txt", 8e6, 10)
	for _, c := range []struct {
		head, max string
		fail      bool
		want      string
	}{
		{slower, "", true, "sec/op +10.00% (p<0.05) is a slowdown over MAX_REGRESSION=5%"},
		{slower, "MAX_REGRESSION=5%", true, "tokens/s -9.09% (p<0.05) is a slowdown over MAX_REGRESSION=5%"},
		{slower, "MAX_REGRESSION=12%", false, "+10.00%"},
		{slower, "MAX_REGRESSION=", false, "+10.00%"},
		{slight, "", false, "+2.00%"},
		{faster, "", false, "-20.00%"},
		{base, "", false, "~"},
		{slower, "MAX_REGRESSION=five", true, "MAX_REGRESSION=five: want a percentage"},
	} {
		args := []string{"-s", "compare-gate", "COMPARE_BASE=" + base, "COMPARE_HEAD=" + c.head}
		if c.max != "" {
			args = append(args, c.max)
		}
		out, code := runMake(t, args...)
		if (code != 0) != c.fail || !strings.Contains(out, c.want) {
			t.Errorf("%s %s: exit %d, want failure %v and %q in:\n%s", filepath.Base(c.head), c.max, code, c.fail, c.want, out)
		}
		if !strings.Contains(c.max, "five") && !strings.Contains(out, "vs base") {
			t.Errorf("%s %s: no benchstat table in:\n%s", filepath.Base(c.head), c.max, out)
		}
	}
}

// worktrees returns the temporary worktrees of make compare that git
// has registered.
func worktrees(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "worktree", "list", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	var trees []string
	for _, line := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(line, "worktree "); ok && strings.Contains(filepath.Base(p), "tokbench-base.") {
			trees = append(trees, p)
		}
	}
	return trees
}

// Ctrl-C during make compare removes its worktree, so that the next run
// works.
func TestInterruptedCompareRemovesItsWorktree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a git worktree")
	}
	needMake(t)
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout")
	}
	tmp := t.TempDir()
	before := len(worktrees(t))
	cmd := exec.Command("make", "-C", root, "-s", "compare", "BASE=HEAD", "COMPARE_BENCH=^$", "COMPARE_COUNT=1", "OUT="+tmp)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(worktrees(t)) == before {
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("no worktree appeared; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What a terminal's Ctrl-C does: SIGINT to the foreground group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("make compare exited 0 after SIGINT:\n%s", out.String())
	}
	if got := worktrees(t); len(got) != before {
		t.Fatalf("worktrees left registered: %q\n%s", got, out.String())
	}
	entries, err := filepath.Glob(filepath.Join(tmp, "tokbench-base.*"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("worktree directories left: %q, %v", entries, err)
	}
}

// Two make bench at once each produce a whole report; neither fails on
// the other's output.
func TestConcurrentMakeBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark twice")
	}
	needMake(t)
	out := t.TempDir()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command("make", "-C", root, "--no-print-directory", "bench", "COUNT=1", "OUT="+out)
			b, err := cmd.CombinedOutput()
			outs[i] = string(b)
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
				outs[i] += err.Error()
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		if codes[i] != 0 {
			t.Fatalf("make bench #%d: exit %d:\n%s", i, codes[i], outs[i])
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "bench_infer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results struct{ Iters int } `json:"results"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Results.Iters != 1 {
		t.Fatalf("bench_infer.json: %v, iters %d:\n%s", err, rep.Results.Iters, data)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %q", left)
	}
	for _, name := range []string{"bench_infer.md", "bench.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

// copyInto copies the repository file src to dir/dst.
func copyInto(t *testing.T, src, dir, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// make install puts the tools in GOBIN; the installed benchinfer runs
// from a LabCore project directory with upstream's relative paths, and
// both its --version and its report name the commit it was built from.
func TestMakeInstallRunsFromAProject(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the tools")
	}
	needMake(t)
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	commit := strings.TrimSpace(string(head))
	bin := t.TempDir()
	cmd := exec.Command("make", "-C", root, "-s", "install")
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, tool := range []string{"benchinfer", "benchreport", "generate", "hubserve"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Errorf("make install did not install %s: %v", tool, err)
		}
	}
	project := t.TempDir()
	copyInto(t, "testdata/models/learned_bias/ckpt.pt", project, "checkpoints/ckpt_last.pt")
	copyInto(t, "testdata/models/learned_bias/meta.json", project, "data/processed/meta.json")
	copyInto(t, "testdata/models/configs/base.toml", project, "configs/base.toml")
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(bin, "benchinfer"), args...)
		c.Dir = project
		out, err := c.Output()
		if err != nil {
			t.Fatalf("benchinfer %q: %v", args, err)
		}
		return string(out)
	}
	v := run("--version")
	if !strings.Contains(v, "commit "+commit) {
		// Someone committed during make install: the binary has the newer HEAD.
		head, _ = exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
		commit = strings.TrimSpace(string(head))
	}
	if !strings.Contains(v, "commit "+commit) {
		t.Fatalf("--version %q does not name commit %s", v, commit)
	}
	run("--source", "local", "--checkpoint", "checkpoints/ckpt_last.pt", "--meta", "data/processed/meta.json",
		"--tokenizer", "char", "--config", "configs/base.toml", "--device", "cpu", "--warmup-tokens", "0", "--iters", "1",
		"--json-out", "outputs/bench_infer.json", "--md-out", "outputs/bench_infer.md")
	data, err := os.ReadFile(filepath.Join(project, "outputs", "bench_infer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Commit *string `json:"commit"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Commit == nil || !strings.HasPrefix(*rep.Commit, commit) {
		t.Fatalf("report commit %v, want %s (possibly -dirty)", rep.Commit, commit)
	}
}
