package gpt

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/gpt/cpukern"
	"github.com/labcoreai/tokbench/sampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tinyConfig(rope, bias bool) Config {
	return Config{VocabSize: 11, BlockSize: 8, NLayer: 2, NHead: 2, NEmbd: 8, Bias: bias, UseRoPE: rope}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// Before the window is full, decoding a token against the cache must give
// the logits of a full forward over the sequence.
func TestDecodeMatchesPrefillBeforeTheSlide(t *testing.T) {
	for _, c := range []struct {
		rope bool
		embd int // 12: head size 6 and widths not multiples of 8, the Go kernels
	}{{false, 8}, {true, 8}, {false, 12}, {true, 12}} {
		rope := c.rope
		cfg := tinyConfig(rope, !rope)
		cfg.NEmbd = c.embd
		m, err := RandomModel(cfg, 1)
		require.NoError(t, err)
		// Larger weights make differences visible.
		for i := range m.Wte {
			m.Wte[i] *= 50
		}
		b, err := NewCPU(m)
		require.NoError(t, err)
		seq := []int{3, 1, 4, 1, 5, 9, 2, 6}
		_, err = b.Prefill(seq[:3])
		require.NoError(t, err)
		for n := 3; n < len(seq); n++ {
			got, err := b.Decode(seq[n])
			require.NoError(t, err)
			got = append([]float32(nil), got...)
			ref, err := NewCPU(m)
			require.NoError(t, err)
			want, err := ref.Prefill(seq[:n+1])
			require.NoError(t, err)
			assert.Less(t, maxAbsDiff(got, want), 1e-5, "rope=%v n_embd=%d n=%d", rope, c.embd, n)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	m, err := RandomModel(tinyConfig(true, true), 2)
	require.NoError(t, err)
	b, err := NewCPU(m)
	require.NoError(t, err)
	_, err = b.Prefill([]int{1, 2, 3})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _, _ = b.Decode(4) })
	assert.Zero(t, allocs)
}

func TestGenerateAllocatesNothingOnceSized(t *testing.T) {
	m, err := RandomModel(tinyConfig(false, true), 2)
	require.NoError(t, err)
	b, err := NewCPU(m)
	require.NoError(t, err)
	seed := uint64(5)
	s, err := sampler.New(sampler.Settings{Temperature: 1, TopK: 5, TopP: 1, RepetitionPenalty: 1}, &seed)
	require.NoError(t, err)
	g := NewGenerator(b, m.Config)
	_, err = g.Generate([]int{1, 2}, 30, true, s)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(10, func() { _, _ = g.Generate([]int{1, 2}, 30, true, s) })
	assert.Zero(t, allocs)
}

// benchShapes are the base.toml shape and GPT-2-small, the shapes of the
// llama.cpp comparison in README.
var benchShapes = []struct {
	name string
	c    Config
}{
	{"base", Config{NLayer: 6, NHead: 8, NEmbd: 256, BlockSize: 512, VocabSize: 65, Bias: true}},
	{"gpt2-small", Config{NLayer: 12, NHead: 12, NEmbd: 768, BlockSize: 1024, VocabSize: 50257, Bias: true}},
}

// BenchmarkDecodeSplit compares, in one process, decode steps as the
// backend runs them (default: products from decodeParallelBytes on the
// pool, or on the caller alone while other processes leave it fewer than
// two cores: see contention), the same without that watch (static), on
// the calling core alone (one-core), with every product and
// the attention on the pool (pool: idle workers park at once, as before
// cpukern.DefaultSpin was 50 us), and the same with workers that spin 50 or 200
// microseconds before they park, on GOMAXPROCS threads (-cpu 1,2), for
// the base.toml shape and GPT-2-small, every weight type. One op is a
// round of 16 decode steps with each variant in turn, the first one
// rotating, so that a shared machine's load and the order weigh on all of
// them alike (with -cpu 1 the variants do the same work: their spread is
// the noise); each variant's median tok/s over the rounds is a metric.
func BenchmarkDecodeSplit(b *testing.B) {
	variants := []struct {
		name     string
		bytes    int
		spin     time.Duration
		watchful bool
	}{{"default", decodeParallelBytes, cpukern.DefaultSpin, true}, {"static", decodeParallelBytes, cpukern.DefaultSpin, false},
		{"one-core", math.MaxInt, 0, false}, {"pool", 0, 0, false},
		{"spin50us", 0, 50 * time.Microsecond, false}, {"spin200us", 0, 200 * time.Microsecond, false}}
	const steps = 16
	for _, s := range benchShapes {
		if testing.Short() && s.name != "base" {
			continue
		}
		m, err := RandomModel(s.c, 1)
		require.NoError(b, err)
		for _, dt := range DTypes {
			require.NoError(b, m.ConvertTo(dt))
			b.Run(fmt.Sprintf("%s/dtype=%s", s.name, dt), func(b *testing.B) {
				cpus := make([]*CPU, len(variants))
				for i, v := range variants {
					cpu, err := NewCPU(m)
					require.NoError(b, err)
					defer cpu.Close()
					cpu.decodePar = v.bytes
					cpu.load.on = cpu.load.on && v.watchful
					cpu.pool.Close()
					cpu.pool = cpukern.NewPool(runtime.GOMAXPROCS(0), v.spin)
					cpus[i] = cpu
				}
				rates := make([][]float64, len(variants))
				n := 0
				for round := 0; b.Loop(); round++ {
					for j := range cpus {
						i := (j + round) % len(cpus) // each variant in every position
						cpu := cpus[i]
						if n%256 == 0 { // keep the attention short and alike
							_, err := cpu.Prefill([]int{1, 2, 3, 4, 5, 6, 7, 8})
							require.NoError(b, err)
						}
						t0 := time.Now()
						for k := range steps {
							if _, err := cpu.Decode((n + k) % s.c.VocabSize); err != nil {
								b.Fatal(err)
							}
						}
						rates[i] = append(rates[i], steps/time.Since(t0).Seconds())
					}
					n += steps
				}
				for i, v := range variants {
					slices.Sort(rates[i])
					b.ReportMetric(rates[i][len(rates[i])/2], v.name+"-tok/s")
				}
			})
		}
	}
}

func TestBadTokenAndPrefillLength(t *testing.T) {
	m, err := RandomModel(tinyConfig(false, true), 3)
	require.NoError(t, err)
	b, err := NewCPU(m)
	require.NoError(t, err)
	_, err = b.Prefill(make([]int, 9))
	assert.ErrorContains(t, err, "block_size")
	_, err = b.Prefill([]int{11})
	assert.ErrorContains(t, err, "token id 11")
	_, err = b.Decode(1)
	assert.ErrorContains(t, err, "before prefill")
}

func TestSeededGenerationRepeats(t *testing.T) {
	m, err := RandomModel(tinyConfig(true, false), 4)
	require.NoError(t, err)
	run := func() []int {
		b, err := NewCPU(m)
		require.NoError(t, err)
		seed := uint64(42)
		s, err := sampler.New(sampler.Settings{Temperature: 1.5, TopK: 0, TopP: 0.95, RepetitionPenalty: 1.2}, &seed)
		require.NoError(t, err)
		res, err := NewGenerator(b, m.Config).Generate([]int{1}, 40, true, s)
		require.NoError(t, err)
		return append([]int(nil), res.Tokens...)
	}
	assert.Equal(t, run(), run())
}

func TestConfigValidation(t *testing.T) {
	_, err := ConfigFromMap(map[string]any{"vocab_size": int64(65), "n_embd": int64(100), "n_head": int64(3)}, "x.pt: model_config")
	assert.ErrorContains(t, err, "n_embd (100) must be divisible by n_head (3)")
	assert.ErrorContains(t, err, "x.pt: model_config")
	_, err = ConfigFromMap(map[string]any{"n_embd": int64(64)}, "c")
	assert.ErrorContains(t, err, "vocab_size is missing")
	_, err = ConfigFromMap(map[string]any{"vocab_size": int64(65), "n_embd": int64(12), "n_head": int64(4), "use_rope": true}, "c")
	assert.ErrorContains(t, err, "even head size")
	_, err = ConfigFromMap(map[string]any{"vocab_size": "65"}, "c")
	assert.ErrorContains(t, err, "vocab_size")
	c, err := ConfigFromMap(map[string]any{"vocab_size": float64(65)}, "config.json")
	require.NoError(t, err)
	assert.Equal(t, DefaultConfig().BlockSize, c.BlockSize)
	assert.True(t, c.Bias)
}

// base.toml's shape: 6 layers, 8 heads, 256 wide, block 512, vocab 65.
func TestNumParamsBaseShape(t *testing.T) {
	c := Config{VocabSize: 65, BlockSize: 512, NLayer: 6, NHead: 8, NEmbd: 256, Bias: true}
	// 65*256 + 512*256 + 6*(12*256^2 + 13*256) + 2*256
	assert.Equal(t, int64(16640+131072+6*(786432+3328)+512), c.NumParams())
}
