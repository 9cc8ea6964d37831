package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

// fixture is the bundled learned_bias model: a local checkpoint and its Hub
// export (config.json, tokenizer.json, model.safetensors).
var fixture = filepath.Join("..", "..", "testdata", "models", "learned_bias")

const repoID = "LabCoreAI/learned-bias"

// serveExport serves the fixture's export as repoID and points HF_* at the
// server with an empty HF_HOME.
func serveExport(t *testing.T) *hubtest.Server {
	t.Helper()
	s := hubtest.NewServer()
	t.Cleanup(s.Close)
	if _, err := s.AddDir(repoID, exportDir(t)); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"HF_ENDPOINT": s.URL, "HF_HOME": t.TempDir(), "HF_HUB_CACHE": "", "HUGGINGFACE_HUB_CACHE": "",
		"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "", "HF_TOKEN_PATH": "", "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "",
	} {
		t.Setenv(k, v)
	}
	return s
}

// exportDir copies the three export files of the fixture to a directory.
func exportDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config.json", "tokenizer.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(fixture, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runGenerate(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestHFSourcePrintsTheLocalText(t *testing.T) {
	s := serveExport(t)
	common := []string{"--prompt", "ROMEO:", "--max-new-tokens", "120", "--top-k", "1", "--tokenizer", "char"}
	want, stderr, code := runGenerate(t, append([]string{"--checkpoint", filepath.Join(fixture, "ckpt.pt"), "--meta", filepath.Join(fixture, "meta.json")}, common...)...)
	if code != 0 {
		t.Fatalf("local: exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(want, "ROMEO:") || len(want) != len("ROMEO:")+120+1 {
		t.Fatalf("local text: %q", want)
	}
	hf := append([]string{"--source", "hf", "--repo-id", repoID}, common...)
	got, stderr, code := runGenerate(t, hf...)
	if code != 0 {
		t.Fatalf("hf: exit %d: %s", code, stderr)
	}
	if got != want {
		t.Errorf("hf text differs from the local checkpoint's:\nhf:    %q\nlocal: %q", got, want)
	}
	if len(s.Requests()) == 0 {
		t.Fatal("the Hub received no request")
	}

	// Server gone: HF_HUB_OFFLINE=1 serves the cache.
	s.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	got, stderr, code = runGenerate(t, hf...)
	if code != 0 || got != want {
		t.Errorf("offline: exit %d, text %q (want the same text): %s", code, got, stderr)
	}
}

func TestHFSourceErrors(t *testing.T) {
	serveExport(t)
	_, stderr, code := runGenerate(t, "--source", "hf", "--repo-id", "LabCoreAI/nope", "--tokenizer", "char")
	if code != 1 || !strings.Contains(stderr, "LabCoreAI/nope") || !strings.Contains(stderr, "token") {
		t.Errorf("missing repo: exit %d, stderr %q: want 1 and a message naming the repo and a token", code, stderr)
	}
	_, stderr, code = runGenerate(t, "--source", "hf", "--repo-id", repoID)
	if code != 1 || !strings.Contains(stderr, "bpe") || !strings.Contains(stderr, "vocab_size is 65") || !strings.Contains(stderr, "pass --tokenizer char") {
		t.Errorf("default bpe tokenizer on a char model: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runGenerate(t, "--source", "hf")
	if code != 2 || !strings.Contains(stderr, "--repo-id is required") {
		t.Errorf("no --repo-id: exit %d, stderr %q", code, stderr)
	}
}
