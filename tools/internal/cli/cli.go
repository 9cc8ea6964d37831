// Package cli is what the tokbench commands share on the command line:
// -h/--help and --version, which exit 0, and flag errors told in one
// line with a pointer to --help instead of the whole usage; and the
// version and commit a binary was built from (its build info).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"
)

// ErrDone is returned by Parse when -h/--help or --version was given
// and answered: the command exits 0 without doing anything else.
var ErrDone = errors.New("cli: help or version printed")

// Parse defines --version on fs and parses args with the flag
// package's own messages silenced. -h/--help prints synopsis and the
// flags to stdout (as Python's argparse does) and --version the
// version; then Parse returns ErrDone. A flag error is returned, not
// printed: the caller says it in one line, with Hint.
func Parse(fs *flag.FlagSet, synopsis string, args []string, stdout io.Writer) error {
	version := fs.Bool("version", false, "print the version and commit of this binary and exit")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "%s\n\nflags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return ErrDone
	case err != nil:
		return err
	case *version:
		fmt.Fprintln(stdout, Version(fs.Name()))
		return ErrDone
	}
	return nil
}

// Hint is the line that follows a flag error.
func Hint(tool string) string {
	return fmt.Sprintf("Run '%s --help' for the list of flags.", tool)
}

// Version is the --version line of the command tool: the tokbench
// module version and the commit of its build info, and the Go version.
func Version(tool string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return tool + " (tokbench): no build information in this binary"
	}
	return version(tool, bi)
}

func version(tool string, bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	s := fmt.Sprintf("%s (tokbench) %s", tool, v)
	if c := commit(bi); c != "" {
		s += ", commit " + c
	} else {
		s += ", commit unknown (built without VCS stamping: use make install or go install)"
	}
	return s + ", " + bi.GoVersion
}

// Commit returns the tokbench commit the running binary was built from,
// as its build info records it: the VCS revision (with "-dirty" when the
// work tree had changes) of a build in a checkout (`make install`, `go
// install ./tools/...`), else the commit of a pseudo-version (`go install
// ...@latest` of an untagged commit), else the module version (a tag).
// It is "" when the binary records none (go run, go test,
// -buildvcs=false).
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return commit(bi)
}

// pseudoCommit is the commit part of a pseudo-version such as
// v0.0.0-20261128094000-2f430e9abcde.
var pseudoCommit = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-(?:.*[.-])?[0-9]{14}-([0-9a-f]{12})(?:\+incompatible)?$`)

func commit(bi *debug.BuildInfo) string {
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if modified == "true" {
			rev += "-dirty"
		}
		return rev
	}
	v := bi.Main.Version
	if m := pseudoCommit.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	if v != "" && v != "(devel)" && !strings.Contains(v, "+dirty") {
		return v
	}
	return ""
}
