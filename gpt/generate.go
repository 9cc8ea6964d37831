package gpt

import (
	"fmt"
	"time"

	"github.com/labcoreai/tokbench/sampler"
)

// Generator runs LabCore's generation loop (SPEC §2) on any Backend. It
// keeps the token buffer between calls, so a generation of the same length
// as the previous one allocates nothing.
type Generator struct {
	b   Backend
	cfg Config
	seq []int
}

// NewGenerator returns the generation loop for a backend of a model of
// config cfg.
func NewGenerator(b Backend, cfg Config) *Generator { return &Generator{b: b, cfg: cfg} }

// Result is the outcome of one generation.
type Result struct {
	// Tokens are the generated ids (prompt excluded); the slice is reused
	// by the next call.
	Tokens []int
	// Prefill is the time from the start to the first logits.
	Prefill time.Duration
	// Total is the time from the start to the last token, with the device
	// synchronised.
	Total time.Duration
}

// Generate samples n tokens after prompt. With useKV the prompt's newest
// block_size tokens are prefilled once and each new token is decoded
// against the sliding-window cache; without it, every step runs a full
// forward over the newest block_size tokens. s is reset first, so its
// repetition penalty sees only this call's tokens.
func (g *Generator) Generate(prompt []int, n int, useKV bool, s *sampler.Sampler) (Result, error) {
	if len(prompt) == 0 {
		return Result{}, fmt.Errorf("gpt: the prompt must encode to at least one token")
	}
	if err := CheckGenTokens(len(prompt), n); err != nil {
		return Result{}, err
	}
	bs := g.cfg.BlockSize
	need := len(prompt) + n
	if cap(g.seq) < need {
		g.seq = make([]int, 0, need)
	}
	seq := append(g.seq[:0], prompt...)
	s.Reset()
	start := time.Now()
	res := Result{}
	if n == 0 {
		return res, nil
	}
	logits, err := g.b.Prefill(seq[max(0, len(seq)-bs):])
	if err != nil {
		return res, err
	}
	res.Prefill = time.Since(start)
	for i := range n {
		tok := s.Sample(logits)
		seq = append(seq, tok)
		if i == n-1 {
			break
		}
		if useKV {
			logits, err = g.b.Decode(tok)
		} else {
			logits, err = g.b.Prefill(seq[max(0, len(seq)-bs):])
		}
		if err != nil {
			return res, err
		}
	}
	if sy, ok := g.b.(Synchronizer); ok {
		if err := sy.Sync(); err != nil {
			return res, err
		}
	}
	res.Total = time.Since(start)
	g.seq = seq
	res.Tokens = seq[len(prompt):]
	return res, nil
}
