package gpt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/labcoreai/tokbench/weights"
	"github.com/labcoreai/tokbench/weights/hub"
	"github.com/labcoreai/tokbench/weights/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hfRepo = "LabCoreAI/learned-bias"

// exportFiles reads the Hub export of the learned_bias fixture (written by
// testdata/gen/make_fixtures.py as upstream's export_hf.py writes it).
func exportFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{gpt.ExportConfig, gpt.ExportTokenizer, gpt.ExportWeights} {
		b, err := os.ReadFile(filepath.Join(gpttest.Dir("learned_bias"), name))
		require.NoError(t, err)
		files[name] = b
	}
	return files
}

// serveRepo starts a Hub serving files as repo id (branch main, LFS as the
// Hub decides) and points the environment at it with an empty HF_HOME. It
// returns the server, the commit and HF_HOME.
func serveRepo(t *testing.T, id string, files map[string][]byte) (*hubtest.Server, string, string) {
	t.Helper()
	s := hubtest.NewServer()
	t.Cleanup(s.Close)
	hf := map[string]hubtest.File{}
	for name, data := range files {
		hf[name] = hubtest.File{Data: data, LFS: hubtest.IsLFS(name, len(data))}
	}
	commit := hubtest.CommitOf(hf)
	s.AddCommit(id, commit, hf, "main")
	home := t.TempDir()
	for k, v := range map[string]string{
		"HF_ENDPOINT": s.URL, "HF_HOME": home, "HF_HUB_CACHE": "", "HUGGINGFACE_HUB_CACHE": "",
		"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "", "HF_TOKEN_PATH": "", "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "",
	} {
		t.Setenv(k, v)
	}
	return s, commit, home
}

func loadHF(id, tok string) (*gpt.Loaded, error) {
	return gpt.Load(context.Background(), gpt.Source{Kind: "hf", RepoID: id, Tokenizer: tok})
}

// promptLogits runs the fixture's prompt through ld and checks the logits
// against PyTorch's.
func checkPromptLogits(t *testing.T, ld *gpt.Loaded, ref *gpttest.Ref) []float32 {
	t.Helper()
	ids, err := ld.Tokenizer.Encode(ref.Prompt)
	require.NoError(t, err)
	require.Equal(t, ref.PromptIDs, ids)
	b, err := gpt.NewCPU(ld.Model)
	require.NoError(t, err)
	defer b.Close()
	got, err := b.Prefill(ids)
	require.NoError(t, err)
	assertClose(t, ref.PromptLogitsLast, got, "prompt logits")
	return got
}

// cachedFile finds filename of repo id at revision in the hub cache under
// cacheDir the way huggingface_hub's try_to_load_from_cache does: the ref
// file gives the commit, then snapshots/COMMIT/FILENAME must be a file.
func cachedFile(t *testing.T, cacheDir, id, revision, filename string) string {
	t.Helper()
	repoDir := filepath.Join(cacheDir, "models--"+strings.ReplaceAll(id, "/", "--"))
	commit := revision
	if b, err := os.ReadFile(filepath.Join(repoDir, "refs", revision)); err == nil {
		commit = string(b)
	}
	p := filepath.Join(repoDir, "snapshots", commit, filename)
	fi, err := os.Stat(p)
	require.NoError(t, err, "huggingface_hub would not find %s", filename)
	require.True(t, fi.Mode().IsRegular(), "%s is not a file", p)
	return p
}

func TestLoadHFMatchesLocalCheckpoint(t *testing.T) {
	ref := gpttest.MustRef(t, "learned_bias")
	local := gpttest.MustLoad(t, "learned_bias")
	files := exportFiles(t)
	s, commit, home := serveRepo(t, hfRepo, files)

	ld, err := loadHF(hfRepo, "char")
	require.NoError(t, err)
	assert.Equal(t, "hf", ld.Source)
	assert.Equal(t, local.Model.Config, ld.Model.Config)
	assert.InDelta(t, ref.ParamsM, ld.Model.Config.ParamsM(), 1e-9, "params_m")
	online := checkPromptLogits(t, ld, ref)
	want := checkPromptLogits(t, local, ref)
	assert.Equal(t, want, online, "hf and local logits differ")

	// The weights went through the LFS redirect to the CDN.
	var cdn int
	for _, r := range s.Requests() {
		if r.Server == "cdn" {
			cdn++
		}
	}
	assert.Equal(t, 1, cdn, "CDN requests: %+v", s.Requests())

	// The cache is laid out as huggingface_hub lays it out.
	cache := filepath.Join(home, "hub")
	ref2, err := os.ReadFile(filepath.Join(cache, "models--LabCoreAI--learned-bias", "refs", "main"))
	require.NoError(t, err)
	assert.Equal(t, commit, string(ref2), "refs/main")
	for name, data := range files {
		p := cachedFile(t, cache, hfRepo, "main", name)
		target, err := os.Readlink(p)
		require.NoError(t, err, "%s is not a symlink", name)
		etag := hubtest.GitBlobSHA1(data)
		if name == gpt.ExportWeights {
			etag = hubtest.SHA256(data)
		}
		assert.Equal(t, "../../blobs/"+etag, target, name)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "%s: cached content differs", name)
	}
	blobs, err := os.ReadDir(filepath.Join(cache, "models--LabCoreAI--learned-bias", "blobs"))
	require.NoError(t, err)
	assert.Len(t, blobs, 3, "blobs (no .incomplete left)")

	// A second online load makes one request (the revision info).
	s.ResetRequests()
	_, err = loadHF(hfRepo, "char")
	require.NoError(t, err)
	assert.Len(t, s.Requests(), 1, "second load: %+v", s.Requests())

	// Server gone: online fails naming the URL and suggesting offline mode;
	// HF_HUB_OFFLINE=1 loads from the cache.
	s.Close()
	_, err = loadHF(hfRepo, "char")
	require.Error(t, err)
	assert.ErrorIs(t, err, hub.ErrNetwork)
	assert.Contains(t, err.Error(), "HF_HUB_OFFLINE")
	assert.Contains(t, err.Error(), s.URL)
	t.Setenv("HF_HUB_OFFLINE", "1")
	ld, err = loadHF(hfRepo, "char")
	require.NoError(t, err)
	assert.Equal(t, "hf", ld.Source)
	assert.Equal(t, online, checkPromptLogits(t, ld, ref), "offline logits differ")

	// Offline, a repo never downloaded is a clear error.
	_, err = loadHF("LabCoreAI/never-seen", "char")
	require.Error(t, err)
	assert.ErrorIs(t, err, hub.ErrNotCached)
	assert.Contains(t, err.Error(), "LabCoreAI/never-seen")
}

// writeSafetensors writes tensors in the safetensors format: an 8-byte
// little-endian header size, the JSON header (padded with spaces to 8
// bytes), then the data in name order.
func writeSafetensors(t *testing.T, path string, tensors map[string]*weights.Tensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	dtypes := map[weights.DType]string{weights.Float32: "F32", weights.Float16: "F16", weights.BFloat16: "BF16"}
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data bytes.Buffer
	for _, n := range names {
		tn := tensors[n]
		dt, ok := dtypes[tn.DType]
		require.True(t, ok, "%s: dtype %v", n, tn.DType)
		begin := data.Len()
		data.Write(tn.Data)
		header[n] = map[string]any{"dtype": dt, "shape": tn.Shape, "data_offsets": []int{begin, data.Len()}}
	}
	h, err := json.Marshal(header)
	require.NoError(t, err)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var out bytes.Buffer
	require.NoError(t, binary.Write(&out, binary.LittleEndian, uint64(len(h))))
	out.Write(h)
	out.Write(data.Bytes())
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
}

func TestLoadHFTiedMatrixAsWTE(t *testing.T) {
	ref := gpttest.MustRef(t, "learned_bias")
	files := exportFiles(t)
	tensors, err := weights.LoadSafetensors(filepath.Join(gpttest.Dir("learned_bias"), gpt.ExportWeights))
	require.NoError(t, err)
	require.Contains(t, tensors, "lm_head.weight", "the fixture export keeps lm_head.weight (safetensors save_model)")
	require.NotContains(t, tensors, "wte.weight")
	tensors["wte.weight"] = tensors["lm_head.weight"]
	delete(tensors, "lm_head.weight")
	p := filepath.Join(t.TempDir(), gpt.ExportWeights)
	writeSafetensors(t, p, tensors)
	// The writer round-trips.
	back, err := weights.LoadSafetensors(p)
	require.NoError(t, err)
	require.Equal(t, tensors, back)
	files[gpt.ExportWeights], err = os.ReadFile(p)
	require.NoError(t, err)

	serveRepo(t, "LabCoreAI/wte-tied", files)
	ld, err := loadHF("LabCoreAI/wte-tied", "char")
	require.NoError(t, err)
	assert.Empty(t, ld.Warnings)
	assert.InDelta(t, ref.ParamsM, ld.Model.Config.ParamsM(), 1e-9, "params_m")
	checkPromptLogits(t, ld, ref)
}

func TestLoadHFMissingRepo(t *testing.T) {
	s, _, _ := serveRepo(t, hfRepo, exportFiles(t))
	_, err := loadHF("LabCoreAI/does-not-exist", "char")
	require.Error(t, err)
	assert.ErrorIs(t, err, hub.ErrRepoNotFound)
	for _, want := range []string{"LabCoreAI/does-not-exist", "token", "HF_TOKEN", s.URL} {
		assert.Contains(t, err.Error(), want)
	}
	// A file missing from the repo is named.
	files := exportFiles(t)
	delete(files, gpt.ExportTokenizer)
	serveRepo(t, "LabCoreAI/no-tokenizer", files)
	_, err = loadHF("LabCoreAI/no-tokenizer", "char")
	require.Error(t, err)
	assert.ErrorIs(t, err, hub.ErrEntryNotFound)
	assert.Contains(t, err.Error(), gpt.ExportTokenizer)
}

func TestLoadHFDefaultTokenizerIsBPE(t *testing.T) {
	serveRepo(t, hfRepo, exportFiles(t))
	// Upstream's default for hf is bpe: with this 65-id char model, the
	// 50257-id GPT-2 encoding cannot fit, which must be said plainly.
	_, err := loadHF(hfRepo, "")
	require.Error(t, err)
	for _, want := range []string{"bpe", "50257", "vocab_size is 65"} {
		assert.Contains(t, err.Error(), want)
	}
	ld, err := loadHF(hfRepo, "char")
	require.NoError(t, err)
	assert.Equal(t, "char", ld.Tokenizer.Name())
	ld, err = loadHF(hfRepo, "bpe")
	assert.Nil(t, ld)
	assert.ErrorContains(t, err, "vocab_size is 65")
}

func TestLoadHFBadArguments(t *testing.T) {
	s, _, _ := serveRepo(t, hfRepo, exportFiles(t))
	for _, id := range []string{"", "../../etc", "LabCoreAI/../x", "a/b/c"} {
		_, err := loadHF(id, "char")
		assert.ErrorIs(t, err, hub.ErrInvalidArgument, "repo id %q", id)
	}
	_, err := gpt.Load(context.Background(), gpt.Source{Kind: "hf", RepoID: hfRepo, Revision: "no-such-branch", Tokenizer: "char"})
	assert.ErrorIs(t, err, hub.ErrRevisionNotFound)
	assert.ErrorContains(t, err, "no-such-branch")
	assert.Empty(t, func() []hubtest.Request {
		var bad []hubtest.Request
		for _, r := range s.Requests() {
			if strings.Contains(r.Path, "..") {
				bad = append(bad, r)
			}
		}
		return bad
	}(), "a hostile repo id reached the server")
}
