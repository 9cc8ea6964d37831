package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

// fixture is the bundled learned_bias model: a local checkpoint and its Hub
// export (config.json, tokenizer.json, model.safetensors).
var fixture = filepath.Join("..", "..", "testdata", "models", "learned_bias")

var tinyConfig = filepath.Join("..", "..", "testdata", "models", "configs", "tiny.toml")

const repoID = "LabCoreAI/learned-bias"

// serveExport serves the fixture's export as repoID and points HF_* at the
// server with an empty HF_HOME.
func serveExport(t *testing.T) *hubtest.Server {
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
	s := hubtest.NewServer()
	t.Cleanup(s.Close)
	if _, err := s.AddDir(repoID, dir); err != nil {
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

// argsEnv, when set, makes the test binary run benchinfer with these
// JSON-encoded arguments instead of the tests (see TestMain).
const argsEnv = "TOKBENCH_BENCHINFER_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(argsEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, argsEnv+":", err)
			os.Exit(2)
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// bench runs benchinfer in a new process, as a user does (the benchmarks
// harness loads a model once per process), with the test's environment.
// It returns the JSON report, the Markdown row, stderr and the exit code.
func bench(t *testing.T, args ...string) (map[string]any, string, string, int) {
	t.Helper()
	dir := t.TempDir()
	jsonOut, mdOut := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
	args = append(args, "--tokenizer", "char", "--warmup-tokens", "4", "--gen-tokens", "8", "--iters", "2",
		"--json-out", jsonOut, "--md-out", mdOut)
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), argsEnv+"="+string(a))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return nil, "", errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %v", jsonOut, err)
	}
	md, err := os.ReadFile(mdOut)
	if err != nil {
		t.Fatal(err)
	}
	return rep, string(md), errb.String(), 0
}

func section(t *testing.T, rep map[string]any, key string) map[string]any {
	t.Helper()
	m, ok := rep[key].(map[string]any)
	if !ok {
		t.Fatalf("report has no %q object: %v", key, rep)
	}
	return m
}

func TestHFSourceReportsTheLocalModel(t *testing.T) {
	s := serveExport(t)
	local, _, stderr, code := bench(t, "--source", "local", "--checkpoint", filepath.Join(fixture, "ckpt.pt"),
		"--meta", filepath.Join(fixture, "meta.json"), "--config", tinyConfig)
	if code != 0 {
		t.Fatalf("local: exit %d: %s", code, stderr)
	}
	hf, md, stderr, code := bench(t, "--source", "hf", "--repo-id", repoID, "--config", tinyConfig)
	if code != 0 {
		t.Fatalf("hf: exit %d: %s", code, stderr)
	}
	lm, hm := section(t, local, "model"), section(t, hf, "model")
	if lm["source"] != "local" || hm["source"] != "hf" {
		t.Errorf("model.source: local %v, hf %v", lm["source"], hm["source"])
	}
	for _, k := range []string{"params_m", "block_size", "n_layer", "n_head", "n_embd", "dtype"} {
		if lm[k] != hm[k] || hm[k] == nil {
			t.Errorf("model.%s: hf %v, local %v", k, hm[k], lm[k])
		}
	}
	if g := section(t, hf, "generation"); g["use_kv_cache"] != true || g["top_k"] != 40.0 {
		t.Errorf("hf generation (from the config): %v", g)
	}
	if !strings.Contains(md, "| hf |") {
		t.Errorf("Markdown row lacks the hf source: %q", md)
	}

	// Without a config, hf defaults to no KV cache (SPEC §3).
	hf, _, stderr, code = bench(t, "--source", "hf", "--repo-id", repoID)
	if code != 0 {
		t.Fatalf("hf without config: exit %d: %s", code, stderr)
	}
	if g := section(t, hf, "generation"); g["use_kv_cache"] != false {
		t.Errorf("hf without config: use_kv_cache %v, want false", g["use_kv_cache"])
	}

	// Server gone: HF_HUB_OFFLINE=1 serves the cache.
	s.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	off, _, stderr, code := bench(t, "--source", "hf", "--repo-id", repoID, "--config", tinyConfig)
	if code != 0 {
		t.Fatalf("offline: exit %d: %s", code, stderr)
	}
	om := section(t, off, "model")
	for _, k := range []string{"source", "params_m", "block_size", "n_layer", "n_head", "n_embd"} {
		if om[k] != hm[k] {
			t.Errorf("offline model.%s: %v, want %v", k, om[k], hm[k])
		}
	}
}

func TestHFSourceErrors(t *testing.T) {
	serveExport(t)
	_, _, stderr, code := bench(t, "--source", "hf", "--repo-id", "LabCoreAI/nope")
	if code != 1 || !strings.Contains(stderr, "LabCoreAI/nope") || !strings.Contains(stderr, "token") {
		t.Errorf("missing repo: exit %d, stderr %q: want 1 and a message naming the repo and a token", code, stderr)
	}
	t.Setenv("HF_HUB_OFFLINE", "1")
	_, _, stderr, code = bench(t, "--source", "hf", "--repo-id", repoID)
	if code != 1 || !strings.Contains(stderr, "offline") {
		t.Errorf("offline with an empty cache: exit %d, stderr %q", code, stderr)
	}
}

// --source hf defaults to bpe, as upstream; on a char export the error
// says to pass --tokenizer char.
func TestHFCharModelWithoutTokenizerSuggestsChar(t *testing.T) {
	serveExport(t)
	var out, errb bytes.Buffer
	code := run([]string{"--source", "hf", "--repo-id", repoID, "--gen-tokens", "2", "--iters", "1"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "vocab_size is 65") || !strings.Contains(errb.String(), "pass --tokenizer char") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
