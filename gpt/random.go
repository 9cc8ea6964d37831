package gpt

import (
	"fmt"
	"math/rand/v2"
)

// RandomSeed is the seed every tool uses for --source random weights, so
// that the same shape is the same model everywhere.
const RandomSeed = 1337

// RandomModel returns a model of config c with weights drawn as upstream
// initialises them: every Linear and Embedding weight from normal(0, 0.02),
// biases zero, LayerNorms weight 1 and bias 0. The same seed gives the same
// weights. It lets users measure a shape before training it. The shape
// gets the bounds a checkpoint gets from its file: block_size buffers in
// proportion to the weights, and weights and buffers within MemoryLimit.
func RandomModel(c Config, seed uint64) (*Model, error) {
	if err := c.checkRequested(); err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	return randomModel(c, seed), nil
}

// randomModel is RandomModel for a config that checkRequested accepted.
func randomModel(c Config, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d))
	normal := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.02)
		}
		return x
	}
	C := c.NEmbd
	ones := func() []float32 {
		x := make([]float32, C)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	lin := func(out, in int) Linear {
		l := Linear{W: normal(out * in), Out: out, In: in}
		if c.Bias {
			l.B = make([]float32, out)
		}
		return l
	}
	m := &Model{Config: c, Wte: normal(c.VocabSize * C), Blocks: make([]Block, c.NLayer)}
	if !c.UseRoPE {
		m.Wpe = normal(c.BlockSize * C)
	}
	for i := range m.Blocks {
		m.Blocks[i] = Block{
			Ln1: Norm{ones(), make([]float32, C)}, Attn: lin(3*C, C), AttnProj: lin(C, C),
			Ln2: Norm{ones(), make([]float32, C)}, Fc: lin(4*C, C), Proj: lin(C, 4*C),
		}
	}
	m.LnF = Norm{ones(), make([]float32, C)}
	return m
}
