package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/weights/hub"
)

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs hubserve with args until the test ends and returns its
// HF_ENDPOINT and stderr.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, pw, stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("hubserve exited %d: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("hubserve did not stop")
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if ep, ok := strings.CutPrefix(sc.Text(), "HF_ENDPOINT="); ok {
			go io.Copy(io.Discard, pr)
			return ep, stderr
		}
	}
	t.Fatalf("hubserve printed no HF_ENDPOINT; stderr: %s", stderr.String())
	return "", nil
}

func exportDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"config.json":       `{"vocab_size": 65}`,
		"tokenizer.json":    `{"type": "char", "vocab": ["a"]}`,
		"model.safetensors": strings.Repeat("w", 5000),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestServesDirectoriesAsRepos(t *testing.T) {
	dir, other := exportDir(t), exportDir(t)
	os.WriteFile(filepath.Join(other, "config.json"), []byte(`{"vocab_size": 50257}`), 0o644)
	ep, log := start(t, "-addr", "127.0.0.1:0", "-repo", "LabCoreAI/base-char="+dir, "-repo", "LabCoreAI/other="+other)
	c := &hub.Client{Endpoint: ep, CacheDir: t.TempDir()}
	files, err := c.DownloadRepoFiles(context.Background(), "LabCoreAI/base-char", "main", "config.json", "tokenizer.json", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range files {
		got, err := os.ReadFile(p)
		want, _ := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q (%v), want the file of the directory", name, got, err)
		}
	}
	p, err := c.Download(context.Background(), "LabCoreAI/other", "main", "config.json")
	if b, _ := os.ReadFile(p); err != nil || string(b) != `{"vocab_size": 50257}` {
		t.Errorf("second repo: %q, %v", b, err)
	}
	_, err = c.Download(context.Background(), "LabCoreAI/nope", "main", "config.json")
	if !errors.Is(err, hub.ErrRepoNotFound) {
		t.Errorf("unknown repo: %v, want repository not found", err)
	}
	// The safetensors went through the CDN redirect; requests are logged.
	for _, want := range []string{"hub GET /api/models/LabCoreAI/base-char/revision/main -> 200", "/model.safetensors -> 302", "cdn GET /repos/", "-> 401"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestTokenMakesReposPrivate(t *testing.T) {
	ep, log := start(t, "-addr", "127.0.0.1:0", "-token", "hf_local", "-repo", "LabCoreAI/base-char="+exportDir(t))
	c := &hub.Client{Endpoint: ep, CacheDir: t.TempDir()}
	_, err := c.Download(context.Background(), "LabCoreAI/base-char", "main", "config.json")
	if !errors.Is(err, hub.ErrRepoNotFound) || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("without the token: %v, want repository not found mentioning HF_TOKEN", err)
	}
	c.Token = "hf_local"
	if _, err := c.Download(context.Background(), "LabCoreAI/base-char", "main", "config.json"); err != nil {
		t.Errorf("with the token: %v", err)
	}
	if strings.Contains(log.String(), "hf_local") {
		t.Errorf("the log shows the token:\n%s", log.String())
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := exportDir(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "at least one -repo"},
		{[]string{"-repo", "LabCoreAI/x"}, 2, "want ORG/NAME=DIR"},
		{[]string{"-repo", "justname=" + dir}, 2, "want ORG/NAME"},
		{[]string{"-repo", "a/b=" + dir, "-repo", "a/b=" + dir}, 2, "given twice"},
		{[]string{"-repo", "a/b=" + dir, "extra"}, 2, "unexpected argument"},
		{[]string{"-addr", "nope", "-repo", "a/b=" + dir}, 2, "-addr"},
		{[]string{"-addr", "127.0.0.1:0", "-repo", "a/b=" + filepath.Join(dir, "missing")}, 1, "missing"},
		{[]string{"-addr", "127.0.0.1:0", "-repo", "a/b=" + t.TempDir()}, 1, "no files"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		code := run(ctx, c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
}

// -h and --version exit 0 on stdout; an unknown flag is one line and a
// pointer to --help, not the usage.
func TestHelpVersionAndUnknownFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "-repo") || errb.Len() != 0 {
		t.Errorf("-h: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run(ctx, []string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "hubserve (tokbench) ") {
		t.Errorf("--version: exit %d, stdout %q", code, out.String())
	}
	out.Reset()
	code := run(ctx, []string{"-rep", "a/b=x"}, &out, &errb)
	if want := "hubserve: flag provided but not defined: -rep\nRun 'hubserve --help' for the list of flags.\n"; code != 2 || errb.String() != want || out.Len() != 0 {
		t.Errorf("unknown flag: exit %d, stderr %q", code, errb.String())
	}
}
