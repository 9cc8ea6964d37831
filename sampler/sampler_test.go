package sampler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var inf = float32(math.Inf(-1))

func filter(t *testing.T, logits []float32, s Settings, seen ...int) []float32 {
	t.Helper()
	n := len(logits)
	dst := make([]float32, n)
	mark := make([]bool, n)
	for _, id := range seen {
		mark[id] = true
	}
	Filter(dst, logits, s, mark, make([]float32, n), make([]int32, n))
	return dst
}

func plain() Settings { return Settings{Temperature: 1, TopK: 0, TopP: 1, RepetitionPenalty: 1} }

func TestTemperatureDividesLogits(t *testing.T) {
	s := plain()
	s.Temperature = 0.5
	assert.Equal(t, []float32{2, -4, 0}, filter(t, []float32{1, -2, 0}, s))
	s.Temperature = 0 // counts as 1e-6
	got := filter(t, []float32{1, -2, 0}, s)
	assert.InDelta(t, 1e6, got[0], 1)
	assert.InDelta(t, -2e6, got[1], 2)
}

func TestTopKKeepsTiesAtThreshold(t *testing.T) {
	s := plain()
	s.TopK = 2
	// The 2nd largest is 3; both 3s stay, 1 and 0 go.
	got := filter(t, []float32{3, 1, 5, 3, 0}, s)
	assert.Equal(t, []float32{3, inf, 5, 3, inf}, got)
	s.TopK = 99 // capped at the vocab: nothing removed
	assert.Equal(t, []float32{3, 1, 5}, filter(t, []float32{3, 1, 5}, s))
}

func TestTopPShiftKeepsFirstCrossingToken(t *testing.T) {
	// probabilities 0.5, 0.3, 0.2 (as logits: log p).
	l := []float32{float32(math.Log(0.2)), float32(math.Log(0.5)), float32(math.Log(0.3))}
	s := plain()
	// cum = 0.5, 0.8, 1.0; remove where previous cum > p.
	s.TopP = 0.4 // cum[0]=0.5 > 0.4: token 2nd and 3rd go, the top stays
	got := filter(t, l, s)
	assert.Equal(t, []float32{inf, l[1], inf}, got)
	s.TopP = 0.6 // cum[0]=0.5 <= 0.6 keeps the 0.3 token; cum[1]=0.8 > 0.6 drops 0.2
	got = filter(t, l, s)
	assert.Equal(t, []float32{inf, l[1], l[2]}, got)
	s.TopP = 0.05 // the most likely token always stays
	got = filter(t, l, s)
	assert.Equal(t, []float32{inf, l[1], inf}, got)
}

func TestRepetitionPenaltyDividesWhateverTheSign(t *testing.T) {
	s := plain()
	s.RepetitionPenalty = 2
	// A negative logit divided by 2 grows toward zero: upstream's quirk.
	got := filter(t, []float32{4, -4, 1}, s, 0, 1)
	assert.Equal(t, []float32{2, -2, 1}, got)
}

func TestOrderTemperatureThenPenaltyThenTopK(t *testing.T) {
	s := Settings{Temperature: 2, TopK: 1, TopP: 1, RepetitionPenalty: 4}
	// /2 -> 5, 4; penalty on 0 -> 1.25, 4; top-1 keeps id 1.
	got := filter(t, []float32{10, 8}, s, 0)
	assert.Equal(t, []float32{inf, 4}, got)
}

func TestDrawFollowsDistribution(t *testing.T) {
	x := []float32{float32(math.Log(0.25)), inf, float32(math.Log(0.75))}
	assert.Equal(t, 0, Draw(x, 0.0))
	assert.Equal(t, 0, Draw(x, 0.2499))
	assert.Equal(t, 2, Draw(x, 0.2501))
	assert.Equal(t, 2, Draw(x, 0.999999))
}

func TestSeedRepeats(t *testing.T) {
	logits := make([]float32, 50)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	run := func(seed uint64) []int {
		sm, err := New(Settings{Temperature: 1, TopK: 20, TopP: 0.9, RepetitionPenalty: 1.3}, &seed)
		require.NoError(t, err)
		var out []int
		for range 100 {
			out = append(out, sm.Sample(logits))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

func TestSampleDoesNotModifyLogitsAndGreedyPicksMax(t *testing.T) {
	logits := []float32{0.1, 2.5, -1, 2.4}
	keep := append([]float32(nil), logits...)
	seed := uint64(1)
	sm, err := New(Settings{Temperature: 0.9, TopK: 1, TopP: 1, RepetitionPenalty: 1}, &seed)
	require.NoError(t, err)
	for range 20 {
		assert.Equal(t, 1, sm.Sample(logits))
	}
	assert.Equal(t, keep, logits)
}

func TestPenaltyResetBetweenGenerations(t *testing.T) {
	seed := uint64(3)
	sm, err := New(Settings{Temperature: 1, TopK: 1, TopP: 1, RepetitionPenalty: 100}, &seed)
	require.NoError(t, err)
	logits := []float32{5, 4}
	assert.Equal(t, 0, sm.Sample(logits))
	assert.Equal(t, 1, sm.Sample(logits)) // 5/100 < 4
	sm.Reset()
	assert.Equal(t, 0, sm.Sample(logits))
}

func TestValidate(t *testing.T) {
	cases := map[string]Settings{
		"top_p":              {Temperature: 1, TopP: 0, RepetitionPenalty: 1},
		"top_p must":         {Temperature: 1, TopP: 1.5, RepetitionPenalty: 1},
		"repetition_penalty": {Temperature: 1, TopP: 1, RepetitionPenalty: 0},
		"temperature":        {Temperature: -1, TopP: 1, RepetitionPenalty: 1},
	}
	for want, s := range cases {
		_, err := New(s, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
	}
	require.NoError(t, Defaults().Validate())
}

// TestSampleAllocatesNothing covers both of Sample's ways: Filter then
// Draw (top_p on), and the one-pass top-k (top_p off).
func TestSampleAllocatesNothing(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Cos(float64(i)))
	}
	for _, topP := range []float64{0.9, 1} {
		seed := uint64(1)
		sm, err := New(Settings{Temperature: 1, TopK: 40, TopP: topP, RepetitionPenalty: 1.1}, &seed)
		require.NoError(t, err)
		sm.Sample(logits)
		allocs := testing.AllocsPerRun(50, func() { sm.Sample(logits) })
		assert.Zero(t, allocs, "top_p %v", topP)
	}
}

// drawAll is Draw as it was before it skipped -Inf entries: an exponential
// for every entry.
func drawAll(x []float32, u float64) int {
	maxv := math.Inf(-1)
	best := 0
	for i, v := range x {
		if float64(v) > maxv {
			maxv, best = float64(v), i
		}
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v) - maxv)
	}
	r := u * z
	var acc float64
	last := best
	for i, v := range x {
		e := math.Exp(float64(v) - maxv)
		if e == 0 {
			continue
		}
		acc += e
		last = i
		if r < acc {
			return i
		}
	}
	return last
}

// TestDrawSkipsOnlyZeros checks that Draw, which skips -Inf entries,
// draws what the exponential of every entry drew: on top-k-filtered
// logits over a spread of u, and with every entry at -Inf.
func TestDrawSkipsOnlyZeros(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	x := make([]float32, 1000)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 3)
	}
	s := Settings{Temperature: 1, TopK: 20, TopP: 1, RepetitionPenalty: 1}
	f := make([]float32, len(x))
	Filter(f, x, s, nil, make([]float32, len(x)), make([]int32, len(x)))
	for k := range 1000 {
		u := float64(k) / 1000
		if got, want := Draw(f, u), drawAll(f, u); got != want {
			t.Fatalf("u=%v: Draw = %d, want %d", u, got, want)
		}
	}
	ninf := make([]float32, 5)
	for i := range ninf {
		ninf[i] = float32(math.Inf(-1))
	}
	if got, want := Draw(ninf, 0.5), drawAll(ninf, 0.5); got != want {
		t.Fatalf("all -Inf: Draw = %d, want %d", got, want)
	}
}

// BenchmarkSample is one token's sampling over GPT-2's vocabulary (50257
// logits, normal with standard deviation 3) with upstream's defaults
// (temperature 0.9, top_k 40) and with top_p 0.9 as well.
func BenchmarkSample(b *testing.B) {
	r := rand.New(rand.NewPCG(41, 42))
	logits := make([]float32, 50257)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	for _, c := range []struct {
		name string
		s    Settings
	}{
		{"defaults", Defaults()},
		{"top_p=0.9", Settings{Temperature: 0.9, TopK: 40, TopP: 0.9, RepetitionPenalty: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			seed := uint64(7)
			sm, err := New(c.s, &seed)
			require.NoError(b, err)
			for b.Loop() {
				sm.Sample(logits)
			}
		})
	}
}

// TestSampleTopKMatchesFilterThenDraw checks that Sample's one-pass top-k
// draws, token for token, what Filter then Draw draw with the same random
// numbers: over temperatures, top_k values (1 to beyond the vocabulary),
// repetition penalties, top_p on and off, logits with many ties, and logits holding NaN or
// infinities (where sampleTopK must decline and Sample falls back).
func TestSampleTopKMatchesFilterThenDraw(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	const n = 300
	gen := map[string]func() []float32{
		"normal": func() []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
			}
			return x
		},
		"ties": func() []float32 { // few distinct values, so ties at the threshold
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.IntN(7)) - 3
			}
			return x
		},
		"non-finite": func() []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			switch r.IntN(4) {
			case 0:
				x[r.IntN(n)] = float32(math.NaN())
			case 1:
				x[r.IntN(n)] = float32(math.Inf(1))
			case 2:
				for i := range x {
					x[i] = float32(math.Inf(-1))
				}
			case 3:
				for i := range x[:n-3] {
					x[i] = float32(math.Inf(-1))
				}
			}
			return x
		},
	}
	took := map[bool]int{} // cases the one-pass top-k served, by top_p on
	for name, logits := range gen {
		for _, temp := range []float64{0, 0.3, 0.9, 1, 2.5} {
			for _, k := range []int{1, 2, 40, n - 1, n, n + 5} {
				for _, c := range []struct{ pen, topP float64 }{{1, 1}, {1.3, 1}, {1, 0.5}, {1.3, 0.9}} {
					pen := c.pen
					s := Settings{Temperature: temp, TopK: k, TopP: c.topP, RepetitionPenalty: pen}
					seed := uint64(k*1000 + int(temp*10))
					fast, err := New(s, &seed)
					require.NoError(t, err)
					ref, err := New(s, &seed)
					require.NoError(t, err)
					for step := range 20 {
						x := logits()
						ref.size(n)
						Filter(ref.work, x, s, ref.seen, ref.sel, ref.order)
						want := Draw(ref.work, ref.rng.Float64())
						ref.Observe(want)
						fast.size(n)
						surv, ok := fast.topKSurvivors(x)
						if ok {
							took[c.topP != 1]++
						}
						if ok && c.topP == 1 {
							// The survivors are Filter's finite entries, bit for bit.
							var kept []int32
							for i, v := range ref.work {
								if v != inf {
									kept = append(kept, int32(i))
									require.Equal(t, math.Float32bits(v), math.Float32bits(fast.work[i]), "%s: entry %d", name, i)
								}
							}
							require.Equal(t, kept, surv, "%s: temperature %v, top_k %d, penalty %v, step %d", name, temp, k, pen, step)
						}
						got := fast.Sample(x)
						require.Equal(t, want, got, "%s: temperature %v, top_k %d, penalty %v, top_p %v, step %d", name, temp, k, pen, c.topP, step)
					}
				}
			}
		}
	}
	assert.Greater(t, took[false], 1000, "the one-pass top-k served too few of the cases with top_p off")
	assert.Greater(t, took[true], 1000, "the one-pass top-k served too few of the cases with top_p on")
}
