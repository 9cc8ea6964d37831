package gpt_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/labcoreai/tokbench/weights"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A model_config claiming a huge block_size with a tiny state dict is
// refused by FromTensors, before any backend sizes its buffers by it.
func TestBlockSizeOutOfProportion(t *testing.T) {
	for _, name := range []string{"learned_bias", "rope_nobias"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(gpttest.Dir(name), "ckpt.pt")
			ck, err := weights.LoadCheckpoint(path)
			require.NoError(t, err)
			cfg, err := gpt.ConfigFromMap(ck.ModelConfig, "model_config")
			require.NoError(t, err)
			cfg.BlockSize = 1_000_000 // within Validate's absolute cap
			require.NoError(t, cfg.Validate())
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			_, _, err = gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
			runtime.ReadMemStats(&ms1)
			require.Error(t, err)
			t.Log(err)
			if cfg.UseRoPE {
				assert.ErrorContains(t, err, "block_size 1000000 would need")
			} else {
				assert.ErrorContains(t, err, `"wpe.weight": shape [32 64], model_config wants [1000000 64]`)
			}
			assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(16<<20), "FromTensors allocated for the claimed block_size")
		})
	}
}

// A RoPE model with a long but reasonable context still loads: the
// buffers may take 256 MiB whatever the weights.
func TestLongContextRoPEStillLoads(t *testing.T) {
	path := filepath.Join(gpttest.Dir("rope_nobias"), "ckpt.pt")
	ck, err := weights.LoadCheckpoint(path)
	require.NoError(t, err)
	cfg, err := gpt.ConfigFromMap(ck.ModelConfig, "model_config")
	require.NoError(t, err)
	require.True(t, cfg.UseRoPE)
	cfg.BlockSize = 32768
	_, _, err = gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.NoError(t, err)
}

// A vocab_size out of proportion to the file fails on the embedding's
// shape, before anything is sized by it.
func TestVocabSizeOutOfProportion(t *testing.T) {
	ck, cfg := fixtureCheckpoint(t)
	cfg.VocabSize = 1 << 22 // Validate's absolute cap
	require.NoError(t, cfg.Validate())
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	runtime.ReadMemStats(&ms1)
	assert.ErrorContains(t, err, `"lm_head.weight": shape [65 64], model_config wants [4194304 64]`)
	assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(16<<20))
}
