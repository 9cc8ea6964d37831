package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTestdata copies testdata/name into dir and returns the copy's path.
func copyTestdata(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(td(name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// An output that is an input (-in, -vram) or another output is refused
// before anything is read or written; the input is intact.
func TestOutputThatIsAnInputIsRefused(t *testing.T) {
	dir := t.TempDir()
	in := copyTestdata(t, "one.txt", dir)
	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	vram := filepath.Join(dir, "vram.json")
	if err := os.WriteFile(vram, []byte(`{"version": 1, "configs": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(in, filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "r.md")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-json-out", in}, "-json-out " + in + ": is the same file as the input " + in},
		{[]string{"-md-out", filepath.Join(dir, "link.txt")}, "is the same file as the input " + in},
		{[]string{"-vram", vram, "-md-out", vram}, "-md-out " + vram + ": is the same file as the input " + vram},
		{[]string{"-json-out", md, "-md-out", md}, "-md-out " + md + ": is the same file as -json-out " + md},
		{[]string{"-md-out", md, "-csv", filepath.Join(dir, ".", "r.md")}, "-csv " + md + ": is the same file as -md-out " + md},
	} {
		code, stdout, stderr := runTool(t, append([]string{"-in", in}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(after, orig) {
		t.Fatal("the input changed")
	}
	if es, _ := os.ReadDir(dir); len(es) != 3 {
		t.Fatalf("left in the directory: %v", es)
	}
}

// An unwritable output fails before the input is read: here the input
// does not exist, and the error is about the output.
func TestUnwritableOutputFailsBeforeReading(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(file, "r.md")
	code, _, stderr := runTool(t, "-in", filepath.Join(dir, "missing.txt"), "-md-out", out)
	if code != 1 || !strings.Contains(stderr, "-md-out "+out+": cannot create its directory") || strings.Contains(stderr, "missing.txt") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// A run that fails leaves the previous reports untouched and no
// temporary file; a good run replaces all of them.
func TestReportsWrittenAllOrNone(t *testing.T) {
	dir := t.TempDir()
	js, md, csv := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md"), filepath.Join(dir, "r.csv")
	for _, p := range []string{js, md} {
		if err := os.WriteFile(p, []byte("previous"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runTool(t, "-in", td("fail.txt"), "-json-out", js, "-md-out", md, "-csv", csv)
	if code != 1 {
		t.Fatalf("failing run: exit %d: %s", code, stderr)
	}
	for _, p := range []string{js, md} {
		if b, _ := os.ReadFile(p); string(b) != "previous" {
			t.Errorf("%s holds %q after a failed run", p, b)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Fatalf("left in the directory: %v", es)
	}
	code, stdout, stderr := runTool(t, "-in", td("one.txt"), "-json-out", js, "-md-out", md, "-csv", csv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, p := range []string{js, md, csv} {
		if b, _ := os.ReadFile(p); len(b) == 0 || string(b) == "previous" {
			t.Errorf("%s holds %q after a good run", p, b)
		}
	}
	if b, _ := os.ReadFile(md); string(b) != stdout {
		t.Errorf("-md-out %q, stdout %q", b, stdout)
	}
}

// -h and --version exit 0 on stdout; an unknown flag is one line and a
// pointer to --help.
func TestHelpVersionAndUnknownFlag(t *testing.T) {
	code, stdout, stderr := runTool(t, "-h")
	if code != 0 || !strings.Contains(stdout, "usage: benchreport") || !strings.Contains(stdout, "-json-out") || stderr != "" {
		t.Errorf("-h: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runTool(t, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "benchreport (tokbench) ") {
		t.Errorf("--version: exit %d, stdout %q", code, stdout)
	}
	code, stdout, stderr = runTool(t, "-jsonout", "x")
	if code != 2 || stdout != "" || stderr != "benchreport: flag provided but not defined: -jsonout\nRun 'benchreport --help' for the list of flags.\n" {
		t.Errorf("unknown flag: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
