//go:build cuda

package cudakern

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/gpttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchPrompt is "ROMEO:" in the fixtures' char vocab, as in pyref.py.
var benchPrompt = []int{30, 27, 25, 17, 27, 10}

// hbmBandwidth is the memory bandwidth of the roofline figure, in bytes/s,
// by GPU name: the target is stated for an H100 SXM (3.35 TB/s),
// and the device tool may lend an H200 (4.8 TB/s) or a PCIe H100 (2.0 TB/s)
// instead; the figure must be against the card that ran.
func hbmBandwidth(gpu string) float64 {
	switch {
	case strings.Contains(gpu, "H200"):
		return 4.8e12
	case strings.Contains(gpu, "H100") && strings.Contains(gpu, "PCIe"):
		return 2.0e12
	default:
		return 3.35e12 // H100 SXM (HBM3), and anything unknown
	}
}

// benchModel builds one of the models pyref.py builds: fixture (the
// bundled learned_bias checkpoint), base (base.toml shape) or gpt2
// (GPT-2-small shape), the latter two with the shared counter-based weights.
func benchModel(name string) (*gpt.Model, error) {
	switch name {
	case "fixture":
		d := gpttest.Dir("learned_bias")
		ld, err := gpt.LoadLocal(d+"/ckpt.pt", d+"/meta.json", "")
		if err != nil {
			return nil, err
		}
		return ld.Model, nil
	case "base":
		return hashModel(baseShape, hashSeed)
	case "gpt2":
		return hashModel(gpt2Shape, hashSeed)
	}
	return nil, fmt.Errorf("unknown benchmark model %q: want fixture, base or gpt2", name)
}

func benchModelNames() []string {
	if s := os.Getenv("TOKBENCH_BENCH_MODELS"); s != "" {
		return strings.Split(s, ",")
	}
	return []string{"fixture", "base", "gpt2"}
}

// greedyRun prefills the prompt and decodes n-1 tokens, picking the argmax
// on the host; it returns the tokens, the prefill time and the total.
func greedyRun(b *Backend, n int) ([]int, time.Duration, time.Duration, error) {
	start := time.Now()
	logits, err := b.Prefill(benchPrompt)
	if err != nil {
		return nil, 0, 0, err
	}
	prefill := time.Since(start)
	toks := make([]int, 0, n)
	for i := range n {
		tok := argmax(logits)
		toks = append(toks, tok)
		if i == n-1 {
			break
		}
		if logits, err = b.Decode(tok); err != nil {
			return nil, 0, 0, err
		}
	}
	if err := b.Sync(); err != nil {
		return nil, 0, 0, err
	}
	return toks, prefill, time.Since(start), nil
}

// BenchmarkDecode times greedy generation of 256 tokens (prefill of the
// 6-token prompt + 255 decode steps) on each benchmark model, as pyref.py
// times PyTorch eager. Metrics: tokens/s, decode-tokens/s, prefill-ns,
// vram-MiB (peak since the warmup) and, from the fp16 weight bytes a decode
// step reads, hbm-GB/s and hbm-roofline-% of the card's bandwidth
// (hbmBandwidth; 3.35 TB/s on an H100 SXM).
func BenchmarkDecode(b *testing.B) {
	const gen, warmup = 256, 64
	for _, name := range benchModelNames() {
		m, err := benchModel(name)
		if err != nil {
			b.Fatal(err)
		}
		bk, err := Open(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := greedyRun(bk, warmup); err != nil {
			b.Fatal(err)
		}
		bk.ResetPeak()
		weightBytes := float64(m.WeightBytes()) / 2 // fp16
		b.Run("model="+name, func(b *testing.B) {
			var prefill, total time.Duration
			for range b.N {
				_, p, t, err := greedyRun(bk, gen)
				if err != nil {
					b.Fatal(err)
				}
				prefill += p
				total += t
			}
			n := float64(b.N)
			decodeRate := float64(gen-1) * n / (total - prefill).Seconds()
			b.ReportMetric(float64(gen)*n/total.Seconds(), "tokens/s")
			b.ReportMetric(decodeRate, "decode-tokens/s")
			b.ReportMetric(float64(prefill.Nanoseconds())/n, "prefill-ns")
			b.ReportMetric(float64(bk.PeakBytes())/(1<<20), "vram-MiB")
			b.ReportMetric(weightBytes*decodeRate/1e9, "hbm-GB/s")
			b.ReportMetric(100*weightBytes*decodeRate/hbmBandwidth(bk.Device().Name), "hbm-roofline-%")
		})
		bk.Close()
	}
}

// TestBenchModelsMatchPyTorch compares the GPU with pyref.py's output
// (TOKBENCH_PYREF names its JSON; skipped without it): prefill logits
// against PyTorch fp32 within tolVsPyTorch, and logs how many of the first
// greedy tokens agree with PyTorch fp32 and fp16 (random weights give
// near-ties, so tokens are reported, not required).
func TestBenchModelsMatchPyTorch(t *testing.T) {
	path := os.Getenv("TOKBENCH_PYREF")
	if path == "" {
		t.Skip("TOKBENCH_PYREF not set (run.sh sets it after running pyref.py)")
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var ref struct {
		PromptIDs []int `json:"prompt_ids"`
		Models    map[string]struct {
			Logits32 []float32 `json:"prefill_logits_fp32"`
			Logits16 []float32 `json:"prefill_logits_fp16"`
			Greedy32 []int     `json:"greedy_fp32"`
			Greedy16 []int     `json:"greedy_fp16"`
		} `json:"models"`
	}
	require.NoError(t, json.Unmarshal(data, &ref), path)
	require.Equal(t, benchPrompt, ref.PromptIDs)
	for name, r := range ref.Models {
		t.Run(name, func(t *testing.T) {
			m, err := benchModel(name)
			require.NoError(t, err)
			bk := openGPU(t, m)
			got, err := bk.Prefill(benchPrompt)
			require.NoError(t, err)
			e32, e16 := maxErr(r.Logits32, got), maxErr(r.Logits16, got)
			t.Logf("prefill logits: vs PyTorch fp32 %.3g, vs PyTorch fp16 eager %.3g (PyTorch fp16 vs fp32: %.3g)", e32, e16, maxErr(r.Logits32, r.Logits16))
			assert.LessOrEqual(t, e32, tolVsPyTorch)
			toks, _, _, err := greedyRun(bk, len(r.Greedy32))
			require.NoError(t, err)
			same := func(a, b []int) int {
				for i := range min(len(a), len(b)) {
					if a[i] != b[i] {
						return i
					}
				}
				return min(len(a), len(b))
			}
			t.Logf("greedy: first %d of %d tokens equal PyTorch fp32, first %d equal PyTorch fp16 (fp16 vs fp32: %d); top-2 margin at step 0: %.3g",
				same(toks, r.Greedy32), len(toks), same(toks, r.Greedy16), same(r.Greedy16, r.Greedy32), margin(r.Logits32))
			assert.False(t, math.IsNaN(e32))
		})
	}
}
