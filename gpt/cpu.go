package gpt

import (
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/labcoreai/tokbench/gpt/cpukern"
	"github.com/labcoreai/tokbench/kvcache"
)

func init() { Register("cpu", func(m *Model) (Backend, error) { return NewCPU(m) }) }

// CPU is the host backend. Its buffers are sized when it is built, so
// Decode allocates nothing.
type CPU struct {
	m     *Model
	cache *kvcache.Store
	scale float32
	// RoPE tables for positions 0..block_size: [pos*hd/2 + j].
	cos, sin []float32

	x, h, qkv, att, y, f []float32 // activations, block_size rows
	scores               []float32
	logits               []float32
	dev                  Device
}

// NewCPU builds the CPU backend for m.
func NewCPU(m *Model) (*CPU, error) {
	c := m.Config
	st, err := kvcache.NewStore(c.NLayer, c.BlockSize, c.NEmbd)
	if err != nil {
		return nil, fmt.Errorf("gpt: cpu backend: %w", err)
	}
	T, C := c.BlockSize, c.NEmbd
	b := &CPU{
		m: m, cache: st,
		scale:  float32(1 / math.Sqrt(float64(c.HeadSize()))),
		x:      make([]float32, T*C),
		h:      make([]float32, T*C),
		qkv:    make([]float32, T*3*C),
		att:    make([]float32, T*C),
		y:      make([]float32, T*C),
		f:      make([]float32, T*4*C),
		scores: make([]float32, T),
		logits: make([]float32, c.VocabSize),
		dev:    Device{Type: "cpu", Name: CPUName()},
	}
	if c.UseRoPE {
		b.cos, b.sin = RopeTables(c.HeadSize(), T+1)
	}
	return b, nil
}

// RopeTables returns cos and sin of pos*inv_freq[j] for positions
// 0..npos-1, j < hd/2, computed in float32 as upstream's RotaryEmbedding:
// inv_freq[j] = 1 / 10000^(2j/hd).
func RopeTables(hd, npos int) (cos, sin []float32) {
	half := hd / 2
	cos = make([]float32, npos*half)
	sin = make([]float32, npos*half)
	for j := range half {
		e := float32(2*j) / float32(hd)
		inv := 1 / float32(math.Pow(10000, float64(e)))
		for p := range npos {
			a := float32(p) * inv
			cos[p*half+j] = float32(math.Cos(float64(a)))
			sin[p*half+j] = float32(math.Sin(float64(a)))
		}
	}
	return cos, sin
}

// Device reports the host CPU.
func (b *CPU) Device() Device { return b.dev }

// Close releases nothing: the buffers are garbage collected.
func (b *CPU) Close() error { return nil }

func (b *CPU) checkID(id int) error {
	if id < 0 || id >= b.m.Config.VocabSize {
		return fmt.Errorf("gpt: token id %d outside the vocab (size %d)", id, b.m.Config.VocabSize)
	}
	return nil
}

// rope rotates every head of vec (q or k, width C) at position pos.
func (b *CPU) rope(vec []float32, pos int) {
	c := b.m.Config
	hd := c.HeadSize()
	half := hd / 2
	cs, sn := b.cos[pos*half:(pos+1)*half], b.sin[pos*half:(pos+1)*half]
	for h := range c.NHead {
		cpukern.Rotate(vec[h*hd:(h+1)*hd], cs, sn)
	}
}

// Prefill runs ids at positions 0..T-1 from an empty cache.
func (b *CPU) Prefill(ids []int) ([]float32, error) {
	c := b.m.Config
	T, C := len(ids), c.NEmbd
	if T == 0 || T > c.BlockSize {
		return nil, fmt.Errorf("gpt: prefill of %d tokens: want 1..block_size (%d)", T, c.BlockSize)
	}
	for t, id := range ids {
		if err := b.checkID(id); err != nil {
			return nil, err
		}
		x := b.x[t*C : (t+1)*C]
		copy(x, b.m.Wte[id*C:(id+1)*C])
		if b.m.Wpe != nil {
			cpukern.Add(x, b.m.Wpe[t*C:(t+1)*C])
		}
	}
	b.cache.Reset()
	hd := c.HeadSize()
	for l := range b.m.Blocks {
		blk := &b.m.Blocks[l]
		keys, vals := b.cache.Keys(l), b.cache.Values(l)
		for t := range T {
			cpukern.LayerNorm(b.h[t*C:(t+1)*C], b.x[t*C:(t+1)*C], blk.Ln1.W, blk.Ln1.B)
		}
		cpukern.MatMul(b.qkv, blk.Attn.W, blk.Attn.B, b.h, T, C, 3*C)
		for t := range T {
			row := b.qkv[t*3*C : (t+1)*3*C]
			if c.UseRoPE {
				b.rope(row[:C], t)
				b.rope(row[C:2*C], t)
			}
			copy(keys[t*C:(t+1)*C], row[C:2*C])
			copy(vals[t*C:(t+1)*C], row[2*C:])
		}
		for t := range T {
			q := b.qkv[t*3*C : t*3*C+C]
			for h := range c.NHead {
				o := h * hd
				cpukern.Attend(b.att[t*C+o:t*C+o+hd], q[o:o+hd], keys[o:], vals[o:], t+1, C, b.scale, b.scores)
			}
		}
		b.mlpAndProj(blk, T)
	}
	if err := b.cache.Fill(T); err != nil {
		return nil, err
	}
	return b.head(T - 1), nil
}

// mlpAndProj finishes a block for T rows: attention projection and residual,
// then the MLP and its residual.
func (b *CPU) mlpAndProj(blk *Block, T int) {
	C := b.m.Config.NEmbd
	cpukern.MatMul(b.y, blk.AttnProj.W, blk.AttnProj.B, b.att, T, C, C)
	cpukern.Add(b.x[:T*C], b.y[:T*C])
	for t := range T {
		cpukern.LayerNorm(b.h[t*C:(t+1)*C], b.x[t*C:(t+1)*C], blk.Ln2.W, blk.Ln2.B)
	}
	cpukern.MatMul(b.f, blk.Fc.W, blk.Fc.B, b.h, T, C, 4*C)
	cpukern.GELU(b.f[:T*4*C])
	cpukern.MatMul(b.y, blk.Proj.W, blk.Proj.B, b.f, T, 4*C, C)
	cpukern.Add(b.x[:T*C], b.y[:T*C])
}

// head applies ln_f and lm_head to row t of the residual stream.
func (b *CPU) head(t int) []float32 {
	C := b.m.Config.NEmbd
	cpukern.LayerNorm(b.h[:C], b.x[t*C:(t+1)*C], b.m.LnF.W, b.m.LnF.B)
	cpukern.MatVec(b.logits, b.m.Wte, nil, b.h[:C])
	return b.logits
}

// Decode runs one token against the cache.
func (b *CPU) Decode(id int) ([]float32, error) {
	if err := b.checkID(id); err != nil {
		return nil, err
	}
	if b.cache.Len() == 0 {
		return nil, fmt.Errorf("gpt: decode before prefill")
	}
	c := b.m.Config
	C, hd := c.NEmbd, c.HeadSize()
	st := b.cache.Next()
	x := b.x[:C]
	copy(x, b.m.Wte[id*C:(id+1)*C])
	if b.m.Wpe != nil {
		cpukern.Add(x, b.m.Wpe[st.LearnedPos*C:(st.LearnedPos+1)*C])
	}
	for l := range b.m.Blocks {
		blk := &b.m.Blocks[l]
		keys, vals := b.cache.Keys(l), b.cache.Values(l)
		cpukern.LayerNorm(b.h[:C], x, blk.Ln1.W, blk.Ln1.B)
		qkv := b.qkv[:3*C]
		cpukern.MatVec(qkv, blk.Attn.W, blk.Attn.B, b.h[:C])
		if c.UseRoPE {
			b.rope(qkv[:C], st.RotaryPos)
			b.rope(qkv[C:2*C], st.RotaryPos)
		}
		copy(keys[st.Slot*C:(st.Slot+1)*C], qkv[C:2*C])
		copy(vals[st.Slot*C:(st.Slot+1)*C], qkv[2*C:])
		for h := range c.NHead {
			o := h * hd
			cpukern.Attend(b.att[o:o+hd], qkv[o:o+hd], keys[o:], vals[o:], st.Attend, C, b.scale, b.scores)
		}
		b.mlpAndProj(blk, 1)
	}
	b.cache.Commit()
	return b.head(0), nil
}

// CPUName returns the CPU model name from /proc/cpuinfo, or GOARCH.
func CPUName() string {
	if name := cpuModelName(); name != "" {
		return name
	}
	return runtime.GOARCH
}

func cpuModelName() string {
	data, err := readSmallFile("/proc/cpuinfo", 1<<20)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
