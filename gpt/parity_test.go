package gpt_test

import (
	"math"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/labcoreai/tokbench/sampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixtures (gpttest) are real PyTorch models and their outputs, made by
// testdata/gen/make_fixtures.py (make fixtures).

// assertClose checks got against PyTorch's want within 1e-4 of max |want|.
func assertClose(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	var scale, diff float64
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		diff = math.Max(diff, math.Abs(float64(want[i]-got[i])))
	}
	assert.LessOrEqual(t, diff, 1e-4*scale, "%s: max |dlogit| %.3g, max |logit| %.3g", what, diff, scale)
}

func greedySampler(*testing.T) *sampler.Sampler { return gpttest.GreedySampler() }

func TestPromptLogitsMatchPyTorch(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ref, ld := gpttest.MustRef(t, name), gpttest.MustLoad(t, name)
			assert.InDelta(t, ref.ParamsM, ld.Model.Config.ParamsM(), 1e-9, "params_m")
			ids, err := ld.Tokenizer.Encode(ref.Prompt)
			require.NoError(t, err)
			require.Equal(t, ref.PromptIDs, ids)
			b, err := gpt.NewCPU(ld.Model)
			require.NoError(t, err)
			got, err := b.Prefill(ids)
			require.NoError(t, err)
			assertClose(t, ref.PromptLogitsLast, got, "prompt logits")
			// A prompt longer than block_size: its newest block_size tokens.
			lp := ref.LongPrompt
			ids, err = ld.Tokenizer.Encode(lp.Prompt)
			require.NoError(t, err)
			require.Equal(t, lp.PromptIDs, ids)
			bs := ld.Model.Config.BlockSize
			require.Equal(t, lp.KeptIDs, ids[len(ids)-bs:])
			got, err = b.Prefill(ids[len(ids)-bs:])
			require.NoError(t, err)
			assertClose(t, lp.PrefillLogitsLast, got, "long prompt logits")
		})
	}
}

// checkSteps replays a reference sequence and compares the logits at the
// recorded steps, through the cache or through full forwards.
func checkSteps(t *testing.T, ld *gpt.Loaded, prompt []int, ref gpttest.Path, useKV bool) {
	t.Helper()
	b, err := gpt.NewCPU(ld.Model)
	require.NoError(t, err)
	bs := ld.Model.Config.BlockSize
	want := map[int][]float32{}
	last := 0
	for _, s := range ref.Steps {
		want[s.Step] = s.Logits
		last = max(last, s.Step)
	}
	seq := append([]int(nil), prompt...)
	logits, err := b.Prefill(seq[max(0, len(seq)-bs):])
	require.NoError(t, err)
	for s := 0; s <= last; s++ {
		if w, ok := want[s]; ok {
			assertClose(t, w, logits, "step logits")
			if t.Failed() {
				t.Fatalf("kv=%v: logits differ at step %d", useKV, s)
			}
		}
		seq = append(seq, ref.IDs[s])
		if useKV {
			logits, err = b.Decode(ref.IDs[s])
		} else {
			logits, err = b.Prefill(seq[max(0, len(seq)-bs):])
		}
		require.NoError(t, err)
	}
}

func TestGreedyMatchesPyTorchThroughTheSlide(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ref, ld := gpttest.MustRef(t, name), gpttest.MustLoad(t, name)
			b, err := gpt.NewCPU(ld.Model)
			require.NoError(t, err)
			g := gpt.NewGenerator(b, ld.Model.Config)
			for _, c := range []struct {
				prompt []int
				ref    gpttest.Greedy
			}{{ref.PromptIDs, ref.Greedy}, {ref.LongPrompt.PromptIDs, ref.LongPrompt.Greedy}} {
				require.Greater(t, len(c.prompt)+c.ref.NNew, 2*ld.Model.Config.BlockSize, "the reference must slide past the window")
				res, err := g.Generate(c.prompt, c.ref.NNew, true, greedySampler(t))
				require.NoError(t, err)
				assert.Equal(t, c.ref.KV.IDs, res.Tokens, "with the KV cache")
				res, err = g.Generate(c.prompt, c.ref.NNew, false, greedySampler(t))
				require.NoError(t, err)
				assert.Equal(t, c.ref.NoCache.IDs, res.Tokens, "without the KV cache")
				checkSteps(t, ld, c.prompt, c.ref.KV, true)
				checkSteps(t, ld, c.prompt, c.ref.NoCache, false)
			}
		})
	}
}
