package gpt_test

import (
	"math"
	"runtime"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/cpukern"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FP16Tolerance is the documented parity of fp16 weights against the
// PyTorch fp32 fixtures: max |dlogit| <= FP16Tolerance * max |logit|.
const FP16Tolerance = 1e-3

// relDiff is max |want-got| / max |want|.
func relDiff(want, got []float32) float64 {
	var scale, diff float64
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		diff = math.Max(diff, math.Abs(float64(want[i]-got[i])))
	}
	return diff / scale
}

func TestFP16WeightsMatchPyTorchWithinTolerance(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ref, ld := gpttest.MustRef(t, name), gpttest.MustLoad(t, name)
			fp32 := ld.Model.WeightBytes()
			require.NoError(t, ld.Model.ConvertTo("fp16"))
			assert.Equal(t, "fp16", ld.Model.DType())
			assert.Nil(t, ld.Model.Wte)
			assert.Less(t, ld.Model.WeightBytes(), fp32*6/10, "fp16 weight bytes")
			b, err := gpt.NewCPU(ld.Model)
			require.NoError(t, err)
			defer b.Close()
			got, err := b.Prefill(ref.PromptIDs)
			require.NoError(t, err)
			worst := relDiff(ref.PromptLogitsLast, got)
			// Decode along PyTorch's greedy path, comparing every recorded step.
			want := map[int][]float32{}
			last := 0
			for _, s := range ref.Greedy.KV.Steps {
				want[s.Step], last = s.Logits, max(last, s.Step)
			}
			logits, err := b.Prefill(ref.PromptIDs)
			require.NoError(t, err)
			for s := 0; s <= last; s++ {
				if w, ok := want[s]; ok {
					worst = math.Max(worst, relDiff(w, logits))
				}
				logits, err = b.Decode(ref.Greedy.KV.IDs[s])
				require.NoError(t, err)
			}
			t.Logf("%s: fp16 weights: max |dlogit| / max |logit| = %.3g", name, worst)
			assert.LessOrEqual(t, worst, FP16Tolerance)
		})
	}
}

func TestConvertToRoundTripsAndRejectsUnknown(t *testing.T) {
	m, err := gpt.RandomModel(baseShape(), 1)
	require.NoError(t, err)
	w0 := append([]float32(nil), m.Blocks[0].Fc.W...)
	err = m.ConvertTo("bf16")
	require.ErrorContains(t, err, `"bf16"`)
	require.NoError(t, m.ConvertTo("fp16"))
	require.NoError(t, m.ConvertTo("fp16"))
	c := m.Config
	C := int64(c.NEmbd)
	assert.Equal(t, (c.NumParams()-int64(c.BlockSize-1)*C)*4-2*(int64(c.VocabSize)*C+int64(c.NLayer)*12*C*C), m.WeightBytes())
	require.NoError(t, m.ConvertTo("fp32"))
	assert.Nil(t, m.Wte16)
	for i, v := range w0 {
		require.InDelta(t, v, m.Blocks[0].Fc.W[i], 1e-3*math.Abs(float64(v))+1e-7)
	}
}

func baseShape() gpt.Config {
	return gpt.Config{NLayer: 2, NHead: 8, NEmbd: 256, BlockSize: 64, VocabSize: 65, Bias: true}
}

// A model wide enough that the products run on the worker pool.
func TestParallelDecodeMatchesOneCoreAndAllocatesNothing(t *testing.T) {
	for _, dtype := range []string{"fp32", "fp16"} {
		t.Run(dtype, func(t *testing.T) {
			m, err := gpt.RandomModel(baseShape(), 7)
			require.NoError(t, err)
			require.NoError(t, m.ConvertTo(dtype))
			prev := runtime.GOMAXPROCS(1)
			one, err := gpt.NewCPU(m)
			runtime.GOMAXPROCS(max(prev, 3))
			require.NoError(t, err)
			many, err := gpt.NewCPU(m)
			runtime.GOMAXPROCS(prev)
			require.NoError(t, err)
			defer one.Close()
			defer many.Close()
			prompt := []int{1, 5, 9, 13, 2, 40, 64}
			a, err := one.Prefill(prompt)
			require.NoError(t, err)
			a = append([]float32(nil), a...)
			b, err := many.Prefill(prompt)
			require.NoError(t, err)
			assert.Less(t, relDiff(a, b), 1e-6, "prefill")
			for i := range 70 { // past block_size: the window slides
				a, err = one.Decode(i % 65)
				require.NoError(t, err)
				a = append([]float32(nil), a...)
				b, err = many.Decode(i % 65)
				require.NoError(t, err)
				require.Less(t, relDiff(a, b), 1e-6, "decode step %d", i)
			}
			allocs := testing.AllocsPerRun(50, func() { _, _ = many.Decode(3) })
			assert.Zero(t, allocs)
		})
	}
}

func TestKernelsAreSelectedAtRunTime(t *testing.T) {
	// With the assembly kernels off, the model gives the same logits.
	m, err := gpt.RandomModel(baseShape(), 9)
	require.NoError(t, err)
	b, err := gpt.NewCPU(m)
	require.NoError(t, err)
	defer b.Close()
	got, err := b.Prefill([]int{3, 1, 4, 1, 5})
	require.NoError(t, err)
	got = append([]float32(nil), got...)
	prev := cpukern.SetAccelerated(false)
	defer cpukern.SetAccelerated(prev)
	want, err := b.Prefill([]int{3, 1, 4, 1, 5})
	require.NoError(t, err)
	assert.Less(t, relDiff(want, got), 1e-5)
}

// TestWeightDType: reports give the precision a device runs the weights
// in: the model's, unless the backend fixes one (CUDA holds fp16).
func TestWeightDType(t *testing.T) {
	m, err := gpt.RandomModel(baseShape(), 3)
	require.NoError(t, err)
	cpu, cuda := gpt.Device{Type: "cpu"}, gpt.Device{Type: "cuda", Weights: "fp16"}
	assert.Equal(t, "fp32", cpu.WeightDType(m))
	assert.Equal(t, "fp16", cuda.WeightDType(m))
	require.NoError(t, m.ConvertTo("fp16"))
	assert.Equal(t, "fp16", cpu.WeightDType(m))
	assert.Equal(t, "fp16", cuda.WeightDType(m))
}
