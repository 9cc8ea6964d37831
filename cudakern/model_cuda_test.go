//go:build cuda

package cudakern

import (
	"math"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/labcoreai/tokbench/sampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Model-level tolerances, max |dlogit| / max(1, max |logit|). fp16 weights
// and activations against an fp32 reference: the measured errors are logged
// so that they can be tightened once seen on a GPU.
const (
	tolVsRounded = 1.5e-2 // against the CPU engine running the fp16-rounded weights
	tolVsPyTorch = 2e-2   // against PyTorch fp32 (the fixtures)
	// ambiguous is the top-2 margin of the fp32 reference below which a
	// greedy step may legitimately pick the other token in fp16.
	ambiguous = 0.05
)

// rounded returns a copy of m whose weights are rounded to fp16: what the
// GPU holds, run by the fp32 CPU engine.
func rounded(m *gpt.Model) *gpt.Model {
	r := *m
	r.Wte = roundHalf(m.Wte)
	if m.Wpe != nil {
		r.Wpe = roundHalf(m.Wpe)
	}
	rn := func(x []float32) []float32 {
		if x == nil {
			return nil
		}
		return roundHalf(x)
	}
	lin := func(l gpt.Linear) gpt.Linear { return gpt.Linear{W: rn(l.W), B: rn(l.B), Out: l.Out, In: l.In} }
	nrm := func(n gpt.Norm) gpt.Norm { return gpt.Norm{W: rn(n.W), B: rn(n.B)} }
	r.Blocks = make([]gpt.Block, len(m.Blocks))
	for i, b := range m.Blocks {
		r.Blocks[i] = gpt.Block{Ln1: nrm(b.Ln1), Attn: lin(b.Attn), AttnProj: lin(b.AttnProj), Ln2: nrm(b.Ln2), Fc: lin(b.Fc), Proj: lin(b.Proj)}
	}
	r.LnF = nrm(m.LnF)
	return &r
}

func openGPU(t *testing.T, m *gpt.Model) *Backend {
	t.Helper()
	b, err := Open(m)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// margin is the gap between the largest and second largest logit.
func margin(x []float32) float64 {
	a, b := math.Inf(-1), math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if f > a {
			a, b = f, a
		} else if f > b {
			b = f
		}
	}
	return a - b
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// replay runs prompt then the reference ids through b (KV cache or full
// forwards) and calls check with the logits before each step.
func replay(t *testing.T, b gpt.Backend, bs int, prompt, ids []int, useKV bool, check func(step int, logits []float32)) {
	t.Helper()
	seq := append([]int(nil), prompt...)
	logits, err := b.Prefill(seq[max(0, len(seq)-bs):])
	require.NoError(t, err)
	for s, id := range ids {
		check(s, logits)
		seq = append(seq, id)
		if s == len(ids)-1 {
			break
		}
		if useKV {
			logits, err = b.Decode(id)
		} else {
			logits, err = b.Prefill(seq[max(0, len(seq)-bs):])
		}
		require.NoError(t, err)
	}
}

// TestFixtureLogits compares the GPU's logits with the CPU engine on the
// fp16-rounded weights at every step, and with PyTorch's fp32 logits at the
// recorded steps, through the slide past block_size, with and without the
// KV cache.
func TestFixtureLogits(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ld, ref := gpttest.MustLoad(t, name), gpttest.MustRef(t, name)
			newDev(t) // bind this goroutine's thread
			g := openGPU(t, ld.Model)
			cpu, err := gpt.NewCPU(rounded(ld.Model))
			require.NoError(t, err)
			bs := ld.Model.Config.BlockSize

			got, err := g.Prefill(ref.PromptIDs)
			require.NoError(t, err)
			e := maxErr(ref.PromptLogitsLast, got)
			t.Logf("prompt logits vs PyTorch: %.3g", e)
			assert.LessOrEqual(t, e, tolVsPyTorch, "prompt logits vs PyTorch")
			lp := ref.LongPrompt
			got, err = g.Prefill(lp.KeptIDs)
			require.NoError(t, err)
			e = maxErr(lp.PrefillLogitsLast, got)
			t.Logf("long prompt logits vs PyTorch: %.3g", e)
			assert.LessOrEqual(t, e, tolVsPyTorch, "long prompt logits vs PyTorch")

			for _, c := range []struct {
				what   string
				prompt []int
				ref    gpttest.Greedy
			}{{"prompt", ref.PromptIDs, ref.Greedy}, {"long prompt", lp.PromptIDs, lp.Greedy}} {
				for _, useKV := range []bool{true, false} {
					path := c.ref.NoCache
					if useKV {
						path = c.ref.KV
					}
					want := map[int][]float32{}
					for _, s := range path.Steps {
						want[s.Step] = s.Logits
					}
					var cpuLogits [][]float32
					replay(t, cpu, bs, c.prompt, path.IDs, useKV, func(_ int, l []float32) { cpuLogits = append(cpuLogits, append([]float32(nil), l...)) })
					var worstCPU, worstPT float64
					replay(t, g, bs, c.prompt, path.IDs, useKV, func(s int, l []float32) {
						require.True(t, finite(l), "step %d: non-finite logits", s)
						worstCPU = math.Max(worstCPU, maxErr(cpuLogits[s], l))
						if w, ok := want[s]; ok {
							worstPT = math.Max(worstPT, maxErr(w, l))
						}
					})
					t.Logf("%s kv=%v: worst step vs CPU(fp16 weights) %.3g, vs PyTorch %.3g", c.what, useKV, worstCPU, worstPT)
					assert.LessOrEqual(t, worstCPU, tolVsRounded, "%s kv=%v vs CPU", c.what, useKV)
					assert.LessOrEqual(t, worstPT, tolVsPyTorch, "%s kv=%v vs PyTorch", c.what, useKV)
				}
			}
		})
	}
}

func greedySampler(*testing.T) *sampler.Sampler { return gpttest.GreedySampler() }

// TestFixtureGreedyTokens generates greedily on the GPU through the shared
// generation loop and requires PyTorch's tokens. Where the two differ, the
// step must be one where the fp32 reference itself hesitates (top-2 margin
// of the CPU engine, which matches PyTorch to 1e-4, below `ambiguous`);
// tokens after such a step are not compared, and the step is logged.
func TestFixtureGreedyTokens(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ld, ref := gpttest.MustLoad(t, name), gpttest.MustRef(t, name)
			newDev(t)
			g := openGPU(t, ld.Model)
			cpu, err := gpt.NewCPU(ld.Model)
			require.NoError(t, err)
			bs := ld.Model.Config.BlockSize
			gen := gpt.NewGenerator(g, ld.Model.Config)
			for _, c := range []struct {
				what   string
				prompt []int
				ref    gpttest.Greedy
			}{{"prompt", ref.PromptIDs, ref.Greedy}, {"long prompt", ref.LongPrompt.PromptIDs, ref.LongPrompt.Greedy}} {
				for _, useKV := range []bool{true, false} {
					path := c.ref.NoCache
					if useKV {
						path = c.ref.KV
					}
					res, err := gen.Generate(c.prompt, c.ref.NNew, useKV, greedySampler(t))
					require.NoError(t, err)
					got := append([]int(nil), res.Tokens...)
					require.Len(t, got, len(path.IDs))
					var margins []float64
					replay(t, cpu, bs, c.prompt, path.IDs, useKV, func(_ int, l []float32) { margins = append(margins, margin(l)) })
					for s := range got {
						if got[s] == path.IDs[s] {
							continue
						}
						if margins[s] < ambiguous {
							t.Logf("%s kv=%v: step %d of %d is ambiguous (fp32 margin %.3g): GPU %d, PyTorch %d; later steps not compared",
								c.what, useKV, s, len(got), margins[s], got[s], path.IDs[s])
						} else {
							t.Errorf("%s kv=%v: step %d: GPU token %d, PyTorch %d, with an fp32 margin of %.3g",
								c.what, useKV, s, got[s], path.IDs[s], margins[s])
						}
						break
					}
				}
			}
		})
	}
}

// TestRandomShapes runs shapes the fixtures do not: a head size that is
// odd and an n_embd that is not a multiple of 8 (scalar kernel paths), RoPE
// with a head size of 64, and a window slid many times.
func TestRandomShapes(t *testing.T) {
	shapes := []gpt.Config{
		{VocabSize: 101, BlockSize: 40, NLayer: 2, NHead: 4, NEmbd: 60, Bias: true},
		{VocabSize: 300, BlockSize: 48, NLayer: 2, NHead: 2, NEmbd: 128, UseRoPE: true},
		{VocabSize: 1000, BlockSize: 130, NLayer: 3, NHead: 4, NEmbd: 256, Bias: true},
	}
	for _, c := range shapes {
		t.Run(sprintf("C=%d/nh=%d/rope=%v", c.NEmbd, c.NHead, c.UseRoPE), func(t *testing.T) {
			m, err := gpt.RandomModel(c, 7)
			require.NoError(t, err)
			newDev(t)
			g := openGPU(t, m)
			cpu, err := gpt.NewCPU(rounded(m))
			require.NoError(t, err)
			prompt := make([]int, c.BlockSize+5)
			ids := make([]int, 2*c.BlockSize+3)
			for i := range prompt {
				prompt[i] = (i * 31) % c.VocabSize
			}
			for i := range ids {
				ids[i] = (i*17 + 3) % c.VocabSize
			}
			for _, useKV := range []bool{true, false} {
				ids := ids
				if !useKV {
					ids = ids[:c.BlockSize/4] // full forwards on the CPU are slow
				}
				var cpuLogits [][]float32
				replay(t, cpu, c.BlockSize, prompt, ids, useKV, func(_ int, l []float32) { cpuLogits = append(cpuLogits, append([]float32(nil), l...)) })
				var worst float64
				replay(t, g, c.BlockSize, prompt, ids, useKV, func(s int, l []float32) {
					worst = math.Max(worst, maxErr(cpuLogits[s], l))
				})
				t.Logf("kv=%v: worst step vs CPU(fp16 weights) %.3g", useKV, worst)
				assert.LessOrEqual(t, worst, tolVsRounded, "kv=%v", useKV)
			}
		})
	}
}

// TestBackendMemory checks that the backend's peak is exactly what it
// allocates when it opens (fp16 weights, fp16 KV cache, scratch, RoPE
// tables) and that generating allocates nothing more.
func TestBackendMemory(t *testing.T) {
	for _, c := range []gpt.Config{
		{VocabSize: 101, BlockSize: 40, NLayer: 2, NHead: 4, NEmbd: 60, Bias: true},
		{VocabSize: 300, BlockSize: 48, NLayer: 2, NHead: 2, NEmbd: 128, UseRoPE: true},
	} {
		m, err := gpt.RandomModel(c, 7)
		require.NoError(t, err)
		newDev(t)
		g := openGPU(t, m)
		C, T, V, L := int64(c.NEmbd), int64(c.BlockSize), int64(c.VocabSize), int64(c.NLayer)
		want := c.NumParams()*2 + // fp16 weights, the tied matrix once
			L*2*T*C*2 + // k and v caches
			T*C*4 + T*C*2 + 3*T*C*2 + T*C*2 + 4*T*C*2 + T*4 + V*4 // x, h, qkv, att, f, ids, logits
		if c.UseRoPE {
			want += 2 * (T + 1) * C / int64(c.NHead) / 2 * 4
		}
		assert.Equal(t, want, g.Allocator().Live(), "bytes held after Open")
		assert.Equal(t, want, g.PeakBytes(), "peak after Open")
		g.ResetPeak()
		gen := gpt.NewGenerator(g, c)
		_, err = gen.Generate([]int{1, 2, 3}, 2*c.BlockSize, true, greedySampler(t))
		require.NoError(t, err)
		assert.Equal(t, want, g.PeakBytes(), "generation allocates nothing")
		assert.Equal(t, "cuda", g.Device().Type)
		assert.NotEmpty(t, g.Device().Name)
		assert.NotEmpty(t, g.Device().Driver)
		t.Logf("%s, driver %s: %d bytes for %v", g.Device().Name, g.Device().Driver, want, c)
	}
}

// TestRegisteredAsCUDA checks that importing the package registers the
// backend under "cuda" for gpt.OpenDevice, with no fallback message.
func TestRegisteredAsCUDA(t *testing.T) {
	m, err := gpt.RandomModel(gpt.Config{VocabSize: 20, BlockSize: 8, NLayer: 1, NHead: 2, NEmbd: 16, Bias: true}, 1)
	require.NoError(t, err)
	var msg stringsBuilder
	b, err := gpt.OpenDevice("cuda", m, &msg)
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, "cuda", b.Device().Type)
	assert.Equal(t, "fp16", b.Device().WeightDType(m), "reports must say the GPU runs fp16 weights")
	assert.Empty(t, msg.String())
	_, ok := b.(gpt.MemoryTracker)
	assert.True(t, ok)
}

// TestFP16ModelMatchesFP32Model: a model converted to fp16 on the host
// (BENCH_DTYPE=fp16, --dtype fp16) uploads the same fp16 bits as the fp32
// model rounded on upload, so the GPU gives the same logits, bit for bit,
// through prefill and decode steps.
func TestFP16ModelMatchesFP32Model(t *testing.T) {
	for _, name := range gpttest.Models {
		t.Run(name, func(t *testing.T) {
			ld32, r := gpttest.MustLoad(t, name), gpttest.MustRef(t, name)
			ld16 := gpttest.MustLoad(t, name)
			require.NoError(t, ld16.Model.ConvertTo("fp16"))
			require.Equal(t, "fp16", ld16.Model.DType())
			b32, b16 := openGPU(t, ld32.Model), openGPU(t, ld16.Model)
			assert.Equal(t, b32.Allocator().Live(), b16.Allocator().Live(), "device bytes")
			ids := r.PromptIDs
			l32, err := b32.Prefill(ids)
			require.NoError(t, err)
			l16, err := b16.Prefill(ids)
			require.NoError(t, err)
			require.Equal(t, l32, l16, "prefill logits")
			for step := 0; step < 2*ld32.Model.Config.BlockSize; step++ {
				id := argmax(l32)
				if l32, err = b32.Decode(id); err != nil {
					t.Fatal(err)
				}
				if l16, err = b16.Decode(id); err != nil {
					t.Fatal(err)
				}
				require.Equal(t, l32, l16, "decode step %d", step)
			}
		})
	}
}

// TestInt8IsRefused: int8 weights (a CPU format) are a clear error on cuda,
// before anything is uploaded.
func TestInt8IsRefused(t *testing.T) {
	m, err := gpt.RandomModel(gpt.Config{VocabSize: 20, BlockSize: 8, NLayer: 1, NHead: 2, NEmbd: 32, Bias: true}, 1)
	require.NoError(t, err)
	require.NoError(t, m.ConvertTo("int8"))
	_, err = gpt.Open("cuda", m)
	require.ErrorContains(t, err, "int8 weights are not supported on cuda")
}
