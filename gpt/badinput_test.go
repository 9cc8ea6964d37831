package gpt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/labcoreai/tokbench/weights"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixtureCheckpoint(t *testing.T) (*weights.Checkpoint, gpt.Config) {
	t.Helper()
	path := filepath.Join(gpttest.Dir("learned_bias"), "ckpt.pt")
	ck, err := weights.LoadCheckpoint(path)
	require.NoError(t, err)
	cfg, err := gpt.ConfigFromMap(ck.ModelConfig, "model_config")
	require.NoError(t, err)
	return ck, cfg
}

func TestShapeMismatchNamesTheTensor(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	cfg.NEmbd = 128 // the config now disagrees with every tensor
	cfg.NHead = 4
	_, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ckpt.pt")
	assert.Contains(t, err.Error(), "model_config wants [")
}

func TestMissingTensorsAreAllNamed(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	delete(ck.StateDict, "h.1.mlp.c_fc.bias")
	delete(ck.StateDict, "ln_f.weight")
	_, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing tensors: h.1.mlp.c_fc.bias, ln_f.weight")
}

func TestTiedEmbeddingUnderEitherName(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	both, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.NoError(t, err)
	delete(ck.StateDict, "lm_head.weight")
	onlyWte, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.NoError(t, err)
	assert.Equal(t, both.Wte, onlyWte.Wte)
	delete(ck.StateDict, "wte.weight")
	_, _, err = gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	assert.ErrorContains(t, err, "wte.weight (or lm_head.weight)")
}

func TestNonFiniteWeightsAreRefused(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		ck, cfg := fixtureCheckpoint(t)
		tn := ck.StateDict["h.0.attn.c_proj.weight"]
		data := append([]byte(nil), tn.Data...)
		binary.LittleEndian.PutUint32(data[8:], math.Float32bits(bad))
		ck.StateDict["h.0.attn.c_proj.weight"] = &weights.Tensor{DType: tn.DType, Shape: tn.Shape, Data: data}
		_, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"h.0.attn.c_proj.weight": element 2`)
	}
}

func TestUnknownTensorsAreWarnings(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	ck.StateDict["extra.head.weight"] = ck.StateDict["ln_f.bias"]
	_, warns, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.NoError(t, err)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "extra.head.weight")
}

func TestTruncatedCheckpointIsAClearError(t *testing.T) {
	src := filepath.Join(gpttest.Dir("learned_bias"), "ckpt.pt")
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	cut := filepath.Join(t.TempDir(), "cut.pt")
	require.NoError(t, os.WriteFile(cut, data[:len(data)/2], 0o644))
	_, err = gpt.LoadLocal(cut, filepath.Join(gpttest.Dir("learned_bias"), "meta.json"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cut.pt")
}

func TestPromptErrors(t *testing.T) {
	ld := gpttest.MustLoad(t, "learned_bias")
	_, err := ld.Tokenizer.Encode("ROMEO: ¿qué?")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"¿"`)
	assert.Contains(t, err.Error(), `"é"`)
	b, err := gpt.NewCPU(ld.Model)
	require.NoError(t, err)
	_, err = gpt.NewGenerator(b, ld.Model.Config).Generate(nil, 5, true, greedySampler(t))
	assert.ErrorContains(t, err, "at least one token")
}

// The safetensors export (lm_head.weight kept, wte.weight dropped) computes
// exactly what the checkpoint does.
func TestExportMatchesCheckpoint(t *testing.T) {
	d := gpttest.Dir("learned_bias")
	ex, err := gpt.LoadExport(filepath.Join(d, "config.json"), filepath.Join(d, "tokenizer.json"), filepath.Join(d, "model.safetensors"), "char")
	require.NoError(t, err)
	ref := gpttest.MustRef(t, "learned_bias")
	b, err := gpt.NewCPU(ex.Model)
	require.NoError(t, err)
	got, err := b.Prefill(ref.PromptIDs)
	require.NoError(t, err)
	assertClose(t, ref.PromptLogitsLast, got, "export logits")
	// Without --tokenizer, an hf export defaults to bpe, whose 50257 ids do
	// not fit this char model: a clear error, not wrong text.
	_, err = gpt.LoadExport(filepath.Join(d, "config.json"), filepath.Join(d, "tokenizer.json"), filepath.Join(d, "model.safetensors"), "")
	assert.ErrorContains(t, err, "vocab_size is 65")
}

func TestRandomSourceNeedsAShape(t *testing.T) {
	_, err := gpt.Load(context.Background(), gpt.Source{Kind: "random"})
	assert.ErrorContains(t, err, "[model]")
	_, err = gpt.Load(context.Background(), gpt.Source{Kind: "s3"})
	assert.ErrorContains(t, err, `unknown source "s3"`)
}

// Names and values from a file reach warnings and errors quoted (control
// bytes escaped) and cut short: a file can neither rewrite the terminal nor
// make a message of megabytes (a 2-million-name warning was 27 MB).
func TestMessagesTerminalSafe(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	tensors := map[string]*weights.Tensor{}
	for k, v := range ck.StateDict {
		tensors[k] = v
	}
	for i := range 5000 {
		tensors[fmt.Sprintf("extra%04d\r\x1b[2KOK", i)] = tensors["ln_f.bias"]
	}
	_, warns, err := gpt.FromTensors(cfg, tensors, "ckpt.pt")
	require.NoError(t, err)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], `ignoring 5000 unknown tensors: "extra0000\r\x1b[2KOK", `)
	assert.Contains(t, warns[0], "and 4980 more")
	assert.NotContains(t, warns[0], "\x1b")
	assert.Less(t, len(warns[0]), 4000)

	for _, v := range []any{"\r\x1b[2KOK", strings.Repeat("9", 1<<20)} {
		_, err := gpt.ConfigFromMap(map[string]any{"vocab_size": v}, "config.json")
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "\x1b")
		assert.Less(t, len(err.Error()), 400)
		assert.ErrorContains(t, err, "config.json: vocab_size: want an integer, got string ")
	}
	_, err = gpt.ConfigFromMap(map[string]any{"vocab_size": int64(65), "bias": "\x1b[2K"}, "config.json")
	assert.ErrorContains(t, err, `bias: want a boolean, got string "\x1b[2K"`)
}
