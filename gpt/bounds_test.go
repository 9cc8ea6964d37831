package gpt_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
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
	longContextRoPE(t)
}

// longContextRoPE loads the rope_nobias fixture with block_size 32768.
func longContextRoPE(t *testing.T) *gpt.Model {
	t.Helper()
	path := filepath.Join(gpttest.Dir("rope_nobias"), "ckpt.pt")
	ck, err := weights.LoadCheckpoint(path)
	require.NoError(t, err)
	cfg, err := gpt.ConfigFromMap(ck.ModelConfig, "model_config")
	require.NoError(t, err)
	require.True(t, cfg.UseRoPE)
	cfg.BlockSize = 32768
	m, _, err := gpt.FromTensors(cfg, ck.StateDict, "ckpt.pt")
	require.NoError(t, err)
	return m
}

// A CPU backend holds three attention-score rows of block_size per worker,
// which the weights do not bound: on many cores, the long-context RoPE
// model above would have them outgrow everything else. NewCPU refuses,
// naming block_size and GOMAXPROCS, before allocating; on two cores the
// same model builds.
func TestWorkerBuffersBounded(t *testing.T) {
	m := longContextRoPE(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1024))
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, err := gpt.NewCPU(m)
	runtime.ReadMemStats(&ms1)
	require.Error(t, err)
	t.Log(err)
	assert.ErrorContains(t, err, "block_size 32768 with 1024 workers (GOMAXPROCS)")
	assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(1<<20), "NewCPU allocated before refusing")
	runtime.GOMAXPROCS(2)
	b, err := gpt.NewCPU(m)
	require.NoError(t, err)
	require.NoError(t, b.Close())
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

// bigRandomModels are [model] sections asking for more than a machine has.
var bigRandomModels = []struct {
	name  string
	model map[string]any
	want  string
}{
	{"vocab 4 Mi x 1024", map[string]any{"vocab_size": int64(4 << 20), "n_embd": int64(1024), "n_head": int64(16), "n_layer": int64(1), "block_size": int64(64)}, "more than the 16384 MiB memory limit (set GOMEMLIMIT"},
	{"1024 layers x 4096", map[string]any{"vocab_size": int64(65), "n_embd": int64(4096), "n_head": int64(32), "n_layer": int64(1024), "block_size": int64(64)}, "more than the 16384 MiB memory limit (set GOMEMLIMIT"},
	{"block 1 Mi with RoPE", map[string]any{"vocab_size": int64(65), "n_embd": int64(64), "n_head": int64(4), "n_layer": int64(2), "block_size": int64(1 << 20), "use_rope": true}, "block_size 1048576 would need"},
}

// --source random allocates only what the limits allow: a [model] over the
// memory limit, or with a block_size out of proportion to its weights (the
// rule a checkpoint gets), is refused before anything is allocated, with a
// message naming the size and how to raise the limit.
func TestRandomModelBounded(t *testing.T) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Skip("GOMEMLIMIT is set: the default limit is not in force")
	}
	for _, tc := range bigRandomModels {
		t.Run(tc.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			_, err := gpt.LoadRandom(&weights.Config{Path: "big.toml", Model: tc.model}, "", "", 1)
			runtime.ReadMemStats(&ms1)
			require.Error(t, err)
			t.Log(err)
			assert.ErrorContains(t, err, "big.toml: [model]")
			assert.ErrorContains(t, err, tc.want)
			assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(16<<20))
			cfg, err := gpt.ConfigFromMap(tc.model, "[model]")
			require.NoError(t, err)
			_, err = gpt.RandomModel(cfg, 1)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// The limit is GOMEMLIMIT when set: the message names it.
func TestRandomModelLimitFollowsGOMEMLIMIT(t *testing.T) {
	old := debug.SetMemoryLimit(256 << 20)
	defer debug.SetMemoryLimit(old)
	assert.Equal(t, int64(256<<20), gpt.MemoryLimit())
	big := gpt.Config{VocabSize: 65, BlockSize: 64, NLayer: 8, NHead: 8, NEmbd: 1024, Bias: true}
	_, err := gpt.RandomModel(big, 1)
	assert.ErrorContains(t, err, "MiB, more than the 256 MiB memory limit")
	small := gpt.Config{VocabSize: 65, BlockSize: 64, NLayer: 2, NHead: 4, NEmbd: 64, Bias: true}
	_, err = gpt.RandomModel(small, 1)
	assert.NoError(t, err)
}

// A generation's length is bounded too: --gen-tokens 100000000000 gets an
// error naming the size, not a runtime out-of-memory crash.
func TestGenTokensBounded(t *testing.T) {
	err := gpt.CheckGenTokens(10, 100_000_000_000)
	assert.ErrorContains(t, err, "generating 100000000000 tokens after a 10-token prompt would need 762939 MiB")
	assert.ErrorContains(t, err, "GOMEMLIMIT")
	assert.Error(t, gpt.CheckGenTokens(math.MaxInt, math.MaxInt))
	assert.Error(t, gpt.CheckGenTokens(1, -1))
	assert.NoError(t, gpt.CheckGenTokens(100, 100_000))
	cfg := gpt.Config{VocabSize: 65, BlockSize: 64, NLayer: 2, NHead: 4, NEmbd: 64}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, err = gpt.NewGenerator(nil, cfg).Generate([]int{1, 2}, 100_000_000_000, true, nil)
	runtime.ReadMemStats(&ms1)
	assert.ErrorContains(t, err, "generating 100000000000 tokens")
	assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(1<<20))
}

// pickle pieces for a hand-made checkpoint.
func pkStr(s string) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte{'X'}, uint32(len(s))), s...)
}

func pkInt(v int64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x8a, 8}, uint64(v)) }

func pkTuple(xs ...int64) []byte {
	b := []byte{'('}
	for _, x := range xs {
		b = append(b, pkInt(x)...)
	}
	return append(b, 't')
}

// aliasedCheckpoint is a valid-looking RoPE model whose every tensor views
// one storage of the largest tensor's size: 2 MB of file describing
// n_layer times as many weights.
func aliasedCheckpoint(t *testing.T, nLayer int) string {
	const C, V = 64, 64
	numel := int64(4 * C * C)
	var p []byte
	add := func(parts ...[]byte) {
		for _, x := range parts {
			p = append(p, x...)
		}
	}
	add([]byte("\x80\x02}("), pkStr("model_config"), []byte("}("))
	for _, kv := range []struct {
		k string
		v int64
	}{{"vocab_size", V}, {"block_size", 8}, {"n_layer", int64(nLayer)}, {"n_head", 4}, {"n_embd", C}} {
		add(pkStr(kv.k), pkInt(kv.v))
	}
	add(pkStr("bias"), []byte{0x89}, pkStr("use_rope"), []byte{0x88}, []byte("u"))
	add(pkStr("model_state_dict"), []byte("}("))
	tensor := func(name string, shape ...int64) {
		stride := make([]int64, len(shape))
		s := int64(1)
		for i := len(shape) - 1; i >= 0; i-- {
			stride[i], s = s, s*shape[i]
		}
		add(pkStr(name), []byte("ctorch._utils\n_rebuild_tensor_v2\n(("), pkStr("storage"), []byte("ctorch\nFloatStorage\n"),
			pkStr("0"), pkStr("cpu"), pkInt(numel), []byte("tQ"), pkInt(0), pkTuple(shape...), pkTuple(stride...), []byte("\x89}tR"))
	}
	tensor("wte.weight", V, C)
	for i := range nLayer {
		pre := "h." + strconv.Itoa(i) + "."
		tensor(pre+"ln_1.weight", C)
		tensor(pre+"ln_1.bias", C)
		tensor(pre+"attn.c_attn.weight", 3*C, C)
		tensor(pre+"attn.c_proj.weight", C, C)
		tensor(pre+"ln_2.weight", C)
		tensor(pre+"ln_2.bias", C)
		tensor(pre+"mlp.c_fc.weight", 4*C, C)
		tensor(pre+"mlp.c_proj.weight", C, 4*C)
	}
	tensor("ln_f.weight", C)
	tensor("ln_f.bias", C)
	add([]byte("u"), []byte("u."))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name string
		data []byte
	}{{"a/data.pkl", p}, {"a/data/0", make([]byte, 4*numel)}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		require.NoError(t, err)
		w.Write(e.data)
	}
	require.NoError(t, zw.Close())
	path := filepath.Join(t.TempDir(), "aliased.pt")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

// A checkpoint whose tensors all view one storage is refused before the
// engine widens each view to float32 on its own (1024 layers over 1 MiB
// took 3.2 GB): the memory a load takes stays a small multiple of the file.
func TestAliasedCheckpointBounded(t *testing.T) {
	path := aliasedCheckpoint(t, 64)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, err = gpt.LoadLocal(path, "", "char")
	runtime.ReadMemStats(&ms1)
	require.Error(t, err)
	t.Logf("%d-byte file, %d bytes allocated: %v", fi.Size(), ms1.TotalAlloc-ms0.TotalAlloc, err)
	assert.ErrorContains(t, err, "many tensors view the same storage")
	assert.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, 1<<20+8*uint64(fi.Size()))
}
