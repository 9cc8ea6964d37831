package cudakern

import (
	"math"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The benchmark models (base.toml-shaped and GPT-2-small-shaped) are built
// from a counter-based generator that gpubundle/pyref.py reproduces bit for
// bit with numpy, so tokbench and the PyTorch reference run the same
// weights without shipping hundreds of MB: element i (counted over every
// generated tensor in state-dict order) is
//
//	u = splitmix64(seed + (i+1)*0x9E3779B97F4A7C15) >> 40   (24 bits)
//	w = float32(float32(u)*2^-23 - 1) * float32(0.02*sqrt(3))
//
// (uniform, standard deviation 0.02, as upstream's normal(0, 0.02) init);
// biases are 0, LayerNorm weights 1 and biases 0.
const hashSeed = 1337

func splitmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// hashModel builds the model of config c with the generator above.
func hashModel(c gpt.Config, seed uint64) (*gpt.Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var i uint64
	a := float32(0.02 * math.Sqrt(3))
	gen := func(n int) []float32 {
		x := make([]float32, n)
		for k := range x {
			i++
			u := float32(splitmix(seed+i*0x9E3779B97F4A7C15) >> 40)
			x[k] = (u*(1.0/(1<<23)) - 1) * a
		}
		return x
	}
	C := c.NEmbd
	ones := func() []float32 {
		x := make([]float32, C)
		for k := range x {
			x[k] = 1
		}
		return x
	}
	lin := func(out, in int) gpt.Linear {
		l := gpt.Linear{W: gen(out * in), Out: out, In: in}
		if c.Bias {
			l.B = make([]float32, out)
		}
		return l
	}
	m := &gpt.Model{Config: c, Wte: gen(c.VocabSize * C), Blocks: make([]gpt.Block, c.NLayer)}
	if !c.UseRoPE {
		m.Wpe = gen(c.BlockSize * C)
	}
	for b := range m.Blocks {
		m.Blocks[b].Ln1 = gpt.Norm{W: ones(), B: make([]float32, C)}
		m.Blocks[b].Attn = lin(3*C, C)
		m.Blocks[b].AttnProj = lin(C, C)
		m.Blocks[b].Ln2 = gpt.Norm{W: ones(), B: make([]float32, C)}
		m.Blocks[b].Fc = lin(4*C, C)
		m.Blocks[b].Proj = lin(C, 4*C)
	}
	m.LnF = gpt.Norm{W: ones(), B: make([]float32, C)}
	return m, nil
}

// Shapes of the benchmark models.
var (
	baseShape  = gpt.Config{VocabSize: 65, BlockSize: 512, NLayer: 6, NHead: 8, NEmbd: 256, Bias: true}
	gpt2Shape  = gpt.Config{VocabSize: 50257, BlockSize: 1024, NLayer: 12, NHead: 12, NEmbd: 768, Bias: true}
	tinyHashed = gpt.Config{VocabSize: 11, BlockSize: 4, NLayer: 1, NHead: 2, NEmbd: 4, Bias: true}
)

// TestHashModelGolden pins the generator to values computed by pyref.py's
// numpy code (python3 gpubundle/pyref.py --golden).
func TestHashModelGolden(t *testing.T) {
	m, err := hashModel(tinyHashed, hashSeed)
	require.NoError(t, err)
	want := []float32{hashGolden0, hashGolden1, hashGolden2}
	assert.Equal(t, want, m.Wte[:3])
	assert.Equal(t, float32(hashGoldenWpeLast), m.Wpe[len(m.Wpe)-1])
	assert.Equal(t, float32(hashGoldenProjLast), m.Blocks[0].Proj.W[len(m.Blocks[0].Proj.W)-1])
}

// Printed by python3 gpubundle/pyref.py --golden (numpy).
const (
	hashGolden0        = 0.014792479574680328
	hashGolden1        = 0.020431894809007645
	hashGolden2        = -0.02049940451979637
	hashGoldenWpeLast  = 0.02588045969605446
	hashGoldenProjLast = -0.0298052616417408
)
