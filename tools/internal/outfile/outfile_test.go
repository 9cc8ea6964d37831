package outfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// entries lists dir's names, to catch leftover temporary files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// An output that is an input, by any spelling or link, is refused before
// anything is written, and the input is intact.
func TestRefusesAnOutputThatIsAnInput(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt.pt")
	write(t, ckpt, "weights")
	if err := os.Symlink(ckpt, filepath.Join(dir, "link.pt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(ckpt, filepath.Join(dir, "hard.pt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		ckpt,
		filepath.Join(dir, "sub", "..", "ckpt.pt"),
		filepath.Join(dir, ".", "ckpt.pt"),
		filepath.Join(dir, "link.pt"),
		filepath.Join(dir, "hard.pt"),
		filepath.Join(dir, "dirlink", "ckpt.pt"),
	} {
		s, err := Prepare([]string{"", ckpt}, Output{"--json-out", out}, Output{"--md-out", ""})
		if err == nil {
			s.Discard()
			t.Errorf("--json-out %s: accepted", out)
			continue
		}
		want := fmt.Sprintf("--json-out %s: is the same file as the input %s", out, ckpt)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
	}
	if got := read(t, ckpt); got != "weights" {
		t.Fatalf("the input now holds %q", got)
	}
	if got := entries(t, dir); len(got) != 4 {
		t.Fatalf("the directory holds %q: a temporary file was left", got)
	}
}

// Two outputs naming one file are refused, also when the file and its
// directory do not exist yet.
func TestRefusesTwoOutputsThatAreOneFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{
		{filepath.Join(dir, "r.md"), filepath.Join(dir, "r.md")},
		{filepath.Join(dir, "new", "r.md"), filepath.Join(dir, "new", ".", "r.md")},
		{filepath.Join(dir, "real", "r.md"), filepath.Join(dir, "alias", "r.md")},
		{filepath.Join(dir, "real", "new", "r.md"), filepath.Join(dir, "alias", "new", "x", "..", "r.md")},
	} {
		s, err := Prepare(nil, Output{"--json-out", c[0]}, Output{"--md-out", c[1]})
		if err == nil {
			s.Discard()
			t.Errorf("%q: accepted", c)
			continue
		}
		want := fmt.Sprintf("--md-out %s: is the same file as --json-out %s", c[1], c[0])
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
		if _, err := os.Stat(c[0]); err == nil {
			t.Errorf("%s was created", c[0])
		}
	}
	if got := entries(t, filepath.Join(dir, "real")); len(got) > 1 {
		t.Fatalf("temporary files left: %q", got)
	}
}

// An output that cannot be written is refused by Prepare, naming the
// flag, the path and the cause.
func TestUnwritableOutputFailsUpFront(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	write(t, file, "x")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, cause string }{
		{filepath.Join(file, "r.json"), "not a directory"},
		{filepath.Join(file, "sub", "r.json"), "not a directory"},
		{filepath.Join(dir, "adir"), "not a regular file"},
	} {
		good := filepath.Join(dir, "good.md")
		s, err := Prepare(nil, Output{"--md-out", good}, Output{"--json-out", c.path})
		if err == nil {
			s.Discard()
			t.Errorf("%s: accepted", c.path)
			continue
		}
		if !strings.Contains(err.Error(), "--json-out "+c.path+": ") || !strings.Contains(err.Error(), c.cause) {
			t.Errorf("error %q does not name --json-out %s and %q", err, c.path, c.cause)
		}
	}
	if got := entries(t, dir); len(got) != 2 {
		t.Fatalf("the directory holds %q: the good output's temporary file was left", got)
	}
}

func TestWriteReplacesEveryOutput(t *testing.T) {
	dir := t.TempDir()
	js, md := filepath.Join(dir, "out", "r.json"), filepath.Join(dir, "r.md")
	write(t, md, "old markdown, longer than the new one")
	s, err := Prepare([]string{filepath.Join(dir, "in.jsonl")}, Output{"--json-out", js}, Output{"--md-out", ""}, Output{"--md-out", md})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write([]byte("{}\n"), []byte("ignored"), []byte("| row |\n")); err != nil {
		t.Fatal(err)
	}
	if read(t, js) != "{}\n" || read(t, md) != "| row |\n" {
		t.Fatalf("contents %q, %q", read(t, js), read(t, md))
	}
	if fi, err := os.Stat(js); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode of %s: %v, %v", js, fi.Mode(), err)
	}
	if got := entries(t, dir); len(got) != 2 {
		t.Fatalf("temporary files left: %q", got)
	}
	if got := entries(t, filepath.Join(dir, "out")); len(got) != 1 {
		t.Fatalf("temporary files left: %q", got)
	}
	if err := s.Write([]byte("a"), nil, []byte("b")); err == nil {
		t.Fatal("a second Write succeeded")
	}
}

// When one target cannot be replaced, none is: the other keeps its
// previous content and no temporary file is left.
func TestWriteBothOrNeither(t *testing.T) {
	for _, existed := range []bool{true, false} {
		dir := t.TempDir()
		js, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
		if existed {
			write(t, js, "previous json")
		}
		s, err := Prepare(nil, Output{"--json-out", js}, Output{"--md-out", md})
		if err != nil {
			t.Fatal(err)
		}
		// Between the check and the write, the Markdown target becomes
		// a non-empty directory, which rename cannot replace.
		write(t, filepath.Join(md, "blocker"), "x")
		err = s.Write([]byte("new json"), []byte("new md"))
		if err == nil || !strings.Contains(err.Error(), "--md-out "+md+": replacing the file") || !strings.Contains(err.Error(), "no report was written") {
			t.Fatalf("Write: %v", err)
		}
		if existed {
			if got := read(t, js); got != "previous json" {
				t.Fatalf("r.json holds %q after the failed write", got)
			}
		} else if _, err := os.Stat(js); err == nil {
			t.Fatal("r.json was written although r.md was not")
		}
		want := 1
		if existed {
			want = 2
		}
		if got := entries(t, dir); len(got) != want {
			t.Fatalf("left in the directory: %q", got)
		}
	}
}

func TestDiscardLeavesTargetsAlone(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "r.json")
	write(t, js, "previous")
	s, err := Prepare(nil, Output{"--json-out", js})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); len(got) != 2 {
		t.Fatalf("Prepare did not create the temporary file beside the target: %q", got)
	}
	s.Discard()
	s.Discard()
	if read(t, js) != "previous" || len(entries(t, dir)) != 1 {
		t.Fatalf("after Discard: %q, %q", read(t, js), entries(t, dir))
	}
	if err := s.Write([]byte("x")); err == nil {
		t.Fatal("Write after Discard succeeded")
	}
}

// Runs writing the same outputs at the same time: every file is whole
// and the two files come from the same run.
func TestConcurrentWritersDoNotInterleave(t *testing.T) {
	dir := t.TempDir()
	js, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 8 {
				tag := fmt.Sprintf("writer %d run %d;", w, i)
				s, err := Prepare(nil, Output{"--json-out", js}, Output{"--md-out", md})
				if err != nil {
					errs <- err
					return
				}
				big := bytes.Repeat([]byte(tag), 20000)
				if err := s.Write(big, []byte(tag)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tag := read(t, md)
	if got := read(t, js); got != strings.Repeat(tag, 20000) {
		t.Fatalf("r.json (%d bytes) is not 20000 copies of r.md's %q", len(got), tag)
	}
	if got := entries(t, dir); len(got) != 2 {
		t.Fatalf("left in the directory: %q", got)
	}
}
