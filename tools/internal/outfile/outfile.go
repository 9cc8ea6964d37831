// Package outfile writes the report files of the tokbench commands
// (benchinfer's and benchreport's --json-out and --md-out) so that a
// report never destroys an input or another report and is never half
// written:
//
//   - Prepare, called before any measurement, refuses an output path
//     that names an input or another output (the same file by
//     os.SameFile, or the same cleaned absolute path with symbolic links
//     of its directory resolved, so files that do not exist yet are
//     compared too), and proves each output writable by creating its
//     temporary file in the target directory.
//   - Set.Write writes every temporary file, then renames them all over
//     their targets: each file appears whole (rename is atomic), and
//     either every report is replaced or none is. Concurrent writers of
//     the same files take a lock on the target directories around the
//     renames, so the reports on disk always come from one run.
//   - Set.Discard removes the temporary files when the run fails or is
//     interrupted.
//
// Errors name the flag, the path and the cause.
package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// Output is one requested output file: the flag that named it (for
// errors) and its path. An empty Path is an output that was not asked
// for.
type Output struct {
	Flag, Path string
}

// Set is the prepared outputs of one run, each with its temporary file
// already created. Its methods are safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	files []*file // nil entries: outputs not asked for
	done  bool
}

type file struct {
	out Output
	abs string   // cleaned absolute path, directory symlinks resolved
	tmp *os.File // temporary file beside the target
}

// Prepare checks the outputs against the inputs (paths the run reads;
// empty ones are skipped) and against each other, creates the missing
// directories of each output as upstream does, and creates each output's
// temporary file. On error nothing is left behind but directories.
func Prepare(inputs []string, outputs ...Output) (*Set, error) {
	s := &Set{files: make([]*file, len(outputs))}
	type ident struct {
		what string // "input PATH" or "FLAG PATH"
		abs  string
		fi   os.FileInfo // nil: does not exist
	}
	var seen []ident
	for _, in := range inputs {
		if in == "" {
			continue
		}
		abs, fi, err := identify(in)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in, err)
		}
		seen = append(seen, ident{"the input " + in, abs, fi})
	}
	for i, o := range outputs {
		if o.Path == "" {
			continue
		}
		abs, fi, err := identify(o.Path)
		if err != nil {
			s.Discard()
			return nil, fmt.Errorf("%s %s: %w", o.Flag, o.Path, err)
		}
		if fi != nil && !fi.Mode().IsRegular() {
			s.Discard()
			return nil, fmt.Errorf("%s %s: not a regular file (%s); refusing to replace it", o.Flag, o.Path, fi.Mode().Type())
		}
		for _, prev := range seen {
			if prev.abs == abs || (fi != nil && prev.fi != nil && os.SameFile(prev.fi, fi)) {
				s.Discard()
				return nil, fmt.Errorf("%s %s: is the same file as %s; refusing to overwrite it", o.Flag, o.Path, prev.what)
			}
		}
		seen = append(seen, ident{o.Flag + " " + o.Path, abs, fi})
		dir := filepath.Dir(abs)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.Discard()
			return nil, fmt.Errorf("%s %s: cannot create its directory: %w", o.Flag, o.Path, err)
		}
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".*.tmp")
		if err != nil {
			s.Discard()
			return nil, fmt.Errorf("%s %s: cannot write in its directory: %w", o.Flag, o.Path, err)
		}
		s.files[i] = &file{out: o, abs: abs, tmp: tmp}
	}
	return s, nil
}

// identify returns the cleaned absolute form of path, its directory's
// symbolic links resolved (the nearest existing ancestor's, for a
// directory that does not exist yet), and the file's FileInfo (following
// links), nil when it does not exist.
func identify(path string) (string, os.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	dir, rest := filepath.Dir(abs), filepath.Base(abs)
	for {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			abs = filepath.Join(real, rest)
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir, rest = parent, filepath.Join(filepath.Base(dir), rest)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil:
		return abs, fi, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		// ENOTDIR: a parent is a file; creating the directory says so.
		return abs, nil, nil
	}
	return "", nil, err
}

// Write writes data[i] to the i-th output given to Prepare (data for
// outputs not asked for is ignored) and replaces the targets: all of
// them, or, on error, none. The temporary files are gone afterwards.
func (s *Set) Write(data ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errors.New("outfile: Write after Write or Discard")
	}
	s.done = true
	defer s.removeTemps()
	if len(data) != len(s.files) {
		return fmt.Errorf("outfile: %d contents for %d outputs", len(data), len(s.files))
	}
	var live []*file
	for i, f := range s.files {
		if f == nil {
			continue
		}
		if err := writeTemp(f.tmp, data[i]); err != nil {
			return fmt.Errorf("%s %s: writing: %w", f.out.Flag, f.out.Path, err)
		}
		live = append(live, f)
	}
	var dirs []string
	for _, f := range live {
		dirs = append(dirs, filepath.Dir(f.abs))
	}
	slices.Sort(dirs)
	unlock, err := lockDirs(slices.Compact(dirs))
	if err != nil {
		return err
	}
	defer unlock()
	// Keep the current targets as hard links until every rename has
	// succeeded, so that a failure can put them back.
	type backup struct{ target, saved string }
	var backups []backup
	defer func() {
		for _, b := range backups {
			os.Remove(b.saved)
		}
	}()
	for _, f := range live {
		saved := f.tmp.Name() + ".old"
		if err := os.Link(f.abs, saved); err == nil {
			backups = append(backups, backup{f.abs, saved})
		}
	}
	for i, f := range live {
		if err := os.Rename(f.tmp.Name(), f.abs); err != nil {
			for _, g := range live[:i] { // undo: restore or remove what was renamed
				restored := false
				for _, b := range backups {
					if b.target == g.abs {
						restored = os.Rename(b.saved, g.abs) == nil
					}
				}
				if !restored {
					os.Remove(g.abs)
				}
			}
			return fmt.Errorf("%s %s: replacing the file: %w (no report was written)", f.out.Flag, f.out.Path, err)
		}
	}
	return nil
}

// writeTemp writes data to the temporary file t, flushes it to disk and
// gives it the mode os.WriteFile would (0644 before the umask is not
// known here: 0644).
func writeTemp(t *os.File, data []byte) error {
	if _, err := t.Write(data); err != nil {
		return err
	}
	if err := t.Chmod(0o644); err != nil {
		return err
	}
	if err := t.Sync(); err != nil {
		return err
	}
	return t.Close()
}

// Discard removes the temporary files; the targets are left as they
// were. It is a no-op after Write or a previous Discard.
func (s *Set) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	s.removeTemps()
}

func (s *Set) removeTemps() {
	for _, f := range s.files {
		if f != nil {
			f.tmp.Close()
			os.Remove(f.tmp.Name())
		}
	}
}

// DiscardOnInterrupt makes SIGINT and SIGTERM remove the temporary
// files before the process exits with status 130 (SIGINT) or 143, as a
// process killed by the signal reports in a shell. The returned function
// stops that.
func (s *Set) DiscardOnInterrupt() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			s.Discard()
			code := 130
			if sig == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
	}
}
