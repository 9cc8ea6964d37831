package cli

import (
	"bytes"
	"errors"
	"flag"
	"runtime/debug"
	"strings"
	"testing"
)

func newFlags() (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("tool", flag.ContinueOnError)
	s := fs.String("source", "local", "where the weights come from")
	return fs, s
}

func TestHelpGoesToStdoutAndIsDone(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		fs, _ := newFlags()
		var out bytes.Buffer
		err := Parse(fs, "usage: tool [flags]", []string{arg}, &out)
		if !errors.Is(err, ErrDone) {
			t.Fatalf("%s: err = %v, want ErrDone", arg, err)
		}
		for _, want := range []string{"usage: tool [flags]\n\nflags:\n", "-source", "where the weights come from", "-version"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: help %q lacks %q", arg, out.String(), want)
			}
		}
	}
}

func TestVersionIsDone(t *testing.T) {
	fs, _ := newFlags()
	var out bytes.Buffer
	if err := Parse(fs, "usage", []string{"--source", "hf", "--version"}, &out); !errors.Is(err, ErrDone) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(out.String(), "tool (tokbench) ") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("version output %q", out.String())
	}
}

// A flag error is returned, not printed: no usage dump anywhere.
func TestFlagErrorIsReturnedQuietly(t *testing.T) {
	fs, _ := newFlags()
	var out bytes.Buffer
	err := Parse(fs, "usage", []string{"--sorce", "hf"}, &out)
	if err == nil || errors.Is(err, ErrDone) || !strings.Contains(err.Error(), "-sorce") {
		t.Fatalf("err = %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q", out.String())
	}
	if h := Hint("tool"); h != "Run 'tool --help' for the list of flags." {
		t.Fatalf("Hint = %q", h)
	}
	fs, s := newFlags()
	if err := Parse(fs, "usage", []string{"--source", "hf", "rest"}, &out); err != nil || *s != "hf" || fs.Arg(0) != "rest" {
		t.Fatalf("Parse = %v, source %q, args %q", err, *s, fs.Args())
	}
}

func TestCommitFromBuildInfo(t *testing.T) {
	rev := "2f430e9abcdef0123456789abcdef0123456789a"
	for _, c := range []struct {
		version  string
		settings map[string]string
		want     string
	}{
		{"(devel)", map[string]string{"vcs.revision": rev, "vcs.modified": "false"}, rev},
		{"(devel)", map[string]string{"vcs.revision": rev, "vcs.modified": "true"}, rev + "-dirty"},
		{"v0.0.0-20261128094000-2f430e9abcde", nil, "2f430e9abcde"},
		{"v1.2.4-0.20261128094000-2f430e9abcde", nil, "2f430e9abcde"},
		{"v1.2.3-pre.0.20261128094000-2f430e9abcde", nil, "2f430e9abcde"},
		{"v1.2.3", nil, "v1.2.3"},
		{"(devel)", nil, ""},
		{"", nil, ""},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/labcoreai/tokbench", Version: c.version}}
		for k, v := range c.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := commit(bi); got != c.want {
			t.Errorf("commit(%s, %v) = %q, want %q", c.version, c.settings, got, c.want)
		}
		v := version("benchinfer", bi)
		if c.want != "" && !strings.Contains(v, "commit "+c.want+", go1.26.0") {
			t.Errorf("version = %q, want it to name commit %s", v, c.want)
		}
		if c.want == "" && !strings.Contains(v, "commit unknown") {
			t.Errorf("version = %q, want commit unknown", v)
		}
	}
}
