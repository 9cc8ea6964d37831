// Package gpt is the LabCore GPT model: its config and validation, weights
// bound by state-dict name, the forward pass behind a small Backend
// interface (the CPU one lives here; the CUDA one registers from cudakern),
// and the one generation loop every backend shares (SPEC §1-2).
package gpt

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/labcoreai/tokbench/gpt/cpukern"
	"github.com/labcoreai/tokbench/weights"
)

// Linear is an nn.Linear: W is [Out, In] row-major, B has Out entries or is
// nil when the model has no bias. After Model.ConvertTo("fp16") the matrix
// is W16 (IEEE half bits, same layout), after ConvertTo("int8") it is W8
// (8-bit values in blocks of 32 with a scale each), and W is nil.
type Linear struct {
	W       []float32
	W16     []uint16
	W8      cpukern.Q8
	B       []float32
	Out, In int
}

// Norm is a LayerNorm's weight and bias.
type Norm struct{ W, B []float32 }

// Block is one transformer block h.{i}.
type Block struct {
	Ln1      Norm
	Attn     Linear // c_attn: C -> 3C
	AttnProj Linear // attn.c_proj: C -> C
	Ln2      Norm
	Fc       Linear // mlp.c_fc: C -> 4C
	Proj     Linear // mlp.c_proj: 4C -> C
}

// Model is a LabCore GPT with its weights in host memory: fp32, or with
// the weight matrices as IEEE half after ConvertTo("fp16") or 8-bit blocks
// after ConvertTo("int8") (vectors stay fp32).
type Model struct {
	Config Config
	// Wte is the token embedding [vocab, C], tied with lm_head; nil when the
	// model is fp16 or int8, where Wte16 or Wte8 holds it.
	Wte   []float32
	Wte16 []uint16
	Wte8  cpukern.Q8
	// Wpe is the learned position embedding [block_size, C]; nil with RoPE.
	Wpe    []float32
	Blocks []Block
	LnF    Norm
}

// tensorSpec is one expected state-dict entry.
type tensorSpec struct {
	name  string
	shape []int
	dst   *[]float32
}

// FromTensors binds named tensors (a state dict) to a model of config c.
// src names the file in errors. The tied embedding may be stored as
// lm_head.weight, wte.weight or both (lm_head wins, as when upstream loads
// both names into one parameter). Every missing tensor is named in one
// error; a tensor whose shape disagrees with c, or that holds NaN or Inf, is
// an error naming it; unknown extra tensors are returned as warnings.
func FromTensors(c Config, tensors map[string]*weights.Tensor, src string) (*Model, []string, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("gpt: %s: %w", src, err)
	}
	C, V := c.NEmbd, c.VocabSize
	m := &Model{Config: c, Blocks: make([]Block, c.NLayer)}
	specs := []tensorSpec{}
	add := func(name string, dst *[]float32, shape ...int) {
		specs = append(specs, tensorSpec{name, shape, dst})
	}
	if !c.UseRoPE {
		add("wpe.weight", &m.Wpe, c.BlockSize, C)
	}
	lin := func(prefix string, l *Linear, out, in int) {
		l.Out, l.In = out, in
		add(prefix+".weight", &l.W, out, in)
		if c.Bias {
			add(prefix+".bias", &l.B, out)
		}
	}
	norm := func(prefix string, n *Norm) {
		add(prefix+".weight", &n.W, C)
		add(prefix+".bias", &n.B, C)
	}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		p := fmt.Sprintf("h.%d.", i)
		norm(p+"ln_1", &b.Ln1)
		lin(p+"attn.c_attn", &b.Attn, 3*C, C)
		lin(p+"attn.c_proj", &b.AttnProj, C, C)
		norm(p+"ln_2", &b.Ln2)
		lin(p+"mlp.c_fc", &b.Fc, 4*C, C)
		lin(p+"mlp.c_proj", &b.Proj, C, 4*C)
	}
	norm("ln_f", &m.LnF)

	used := map[string]bool{}
	var missing []string
	// The tied matrix: lm_head.weight, else wte.weight.
	embName := "lm_head.weight"
	if tensors[embName] == nil {
		embName = "wte.weight"
	}
	if tensors[embName] == nil {
		missing = append(missing, "wte.weight (or lm_head.weight)")
	} else {
		specs = append([]tensorSpec{{embName, []int{V, C}, &m.Wte}}, specs...)
	}
	used["lm_head.weight"], used["wte.weight"] = true, true

	for _, s := range specs {
		t := tensors[s.name]
		used[s.name] = true
		if t == nil {
			missing = append(missing, s.name)
			continue
		}
		if !sameShape(t.Shape, s.shape) {
			return nil, nil, fmt.Errorf("gpt: %s: %q: shape %v, model_config wants %v", src, s.name, t.Shape, s.shape)
		}
		data, err := t.Float32()
		if err != nil {
			return nil, nil, fmt.Errorf("gpt: %s: %q: %w", src, s.name, err)
		}
		if i := firstNonFinite(data); i >= 0 {
			return nil, nil, fmt.Errorf("gpt: %s: %q: element %d is %v: the weights are not finite", src, s.name, i, data[i])
		}
		*s.dst = data
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("gpt: %s: missing tensors: %s", src, strings.Join(missing, ", "))
	}
	if err := checkBlockBuffers(c); err != nil {
		return nil, nil, fmt.Errorf("gpt: %s: %w", src, err)
	}
	var warns []string
	for name := range tensors {
		if !used[name] {
			warns = append(warns, name)
		}
	}
	sort.Strings(warns)
	if len(warns) > 0 {
		warns = []string{fmt.Sprintf("%s: ignoring %d unknown tensors: %s", src, len(warns), weights.QuoteList(warns))}
	}
	return m, warns, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i
		}
	}
	return -1
}

// WeightBytes is the number of bytes of weights a decode step reads: every
// matrix and vector once (the tied matrix once; wpe one row), matrices at
// 2 bytes an element when the model is fp16, 1 byte and a 4-byte scale per
// 32 elements when it is int8.
func (m *Model) WeightBytes() int64 {
	c := m.Config
	n := c.NumParams()
	if !c.UseRoPE {
		n -= int64(c.BlockSize-1) * int64(c.NEmbd)
	}
	bytes := n * 4
	C := int64(c.NEmbd)
	matrices := int64(c.VocabSize)*C + int64(c.NLayer)*12*C*C
	switch m.DType() {
	case "fp16":
		bytes -= 2 * matrices
	case "int8":
		bytes -= 4*matrices - matrices - 4*matrices/cpukern.Q8Block
	}
	return bytes
}

// DTypes are the weight storages ConvertTo accepts, the values of
// --dtype and BENCH_DTYPE.
var DTypes = []string{"fp32", "fp16", "int8"}

// CheckDType returns an error unless dtype is one of DTypes.
func CheckDType(dtype string) error {
	if !slices.Contains(DTypes, dtype) {
		return fmt.Errorf("want %s or %s, got %q", strings.Join(DTypes[:len(DTypes)-1], ", "), DTypes[len(DTypes)-1], dtype)
	}
	return nil
}

// DType is how the weight matrices are stored: "fp32", "fp16" or "int8".
func (m *Model) DType() string {
	switch {
	case m.Wte16 != nil:
		return "fp16"
	case m.Wte8.Q != nil:
		return "int8"
	}
	return "fp32"
}

// ConvertTo stores the weight matrices (every Linear and the tied
// embedding) as dtype: "fp32", "fp16" (IEEE half, rounded to nearest even)
// or "int8" (blocks of 32 values with one float32 scale each, max|w|/127,
// as ggml's q8_0; needs n_embd a multiple of 32). Biases, norms and wpe
// stay fp32. With fp32 and fp16 weights the arithmetic is fp32; with int8,
// each product's input is quantized to 8-bit blocks the same way and the
// products are integer dot products per block, scaled and summed in fp32.
// Converting to fp16 halves the bytes a decode step reads, to int8 leaves
// 28 %; converting back widens the rounded values. Backends built before
// the conversion must be rebuilt.
func (m *Model) ConvertTo(dtype string) error {
	if err := CheckDType(dtype); err != nil {
		return fmt.Errorf("gpt: dtype: %w", err)
	}
	if dtype == m.DType() {
		return nil
	}
	if dtype == "int8" {
		if err := cpukern.CheckQ8Len("n_embd", m.Config.NEmbd); err != nil {
			return fmt.Errorf("gpt: dtype int8: %w", err)
		}
	}
	// Through fp32: widen what the model holds, then narrow.
	to := func(w *[]float32, w16 *[]uint16, w8 *cpukern.Q8) {
		switch {
		case *w16 != nil:
			*w = toFloat(*w16)
		case w8.Q != nil:
			*w = make([]float32, w8.Len())
			cpukern.DequantizeQ8(*w, *w8)
		}
		*w16, *w8 = nil, cpukern.Q8{}
		switch dtype {
		case "fp16":
			*w16, *w = toHalf(*w), nil
		case "int8":
			*w8 = cpukern.NewQ8(len(*w))
			cpukern.QuantizeQ8(*w8, *w)
			*w = nil
		}
	}
	to(&m.Wte, &m.Wte16, &m.Wte8)
	for i := range m.Blocks {
		for _, l := range m.Blocks[i].linears() {
			to(&l.W, &l.W16, &l.W8)
		}
	}
	return nil
}

func (b *Block) linears() []*Linear { return []*Linear{&b.Attn, &b.AttnProj, &b.Fc, &b.Proj} }

func toHalf(x []float32) []uint16 {
	h := make([]uint16, len(x))
	cpukern.FloatToHalf(h, x)
	return h
}

func toFloat(h []uint16) []float32 {
	x := make([]float32, len(h))
	cpukern.HalfToFloat(x, h)
	return x
}

// maxBlockFloats is the size, in floats, that the buffers a backend sizes
// by block_size may always take (256 MiB), whatever the weights.
const maxBlockFloats = 1 << 26

// checkBlockBuffers refuses a block_size out of proportion to the weights.
// A backend holds block_size rows of activations (11·n_embd floats) and a
// KV cache (2·n_layer·n_embd floats a row). With learned positions, wpe's
// shape ties block_size to the file; with RoPE nothing does, and a tiny
// state dict with block_size 1e6 would ask for gigabytes. The buffers may
// take 16 times the weights, or 256 MiB, whichever is more.
func checkBlockBuffers(c Config) error {
	floats := c.blockBufferFloats()
	if floats > blockBufferLimit(c) {
		return fmt.Errorf("block_size %d would need %d MiB of activation and KV-cache buffers, out of proportion to the %d weights in the file (at most 16 times the weights or 256 MiB)",
			c.BlockSize, floats*4>>20, c.NumParams())
	}
	return nil
}

// blockBufferLimit is the floats that the buffers sized by block_size may
// take: 16 times the weights, or maxBlockFloats, whichever is more.
func blockBufferLimit(c Config) int64 { return max(16*c.NumParams(), maxBlockFloats) }

// checkWorkerBuffers is checkBlockBuffers for a CPU backend of the given
// number of workers, which also holds three score rows of block_size per
// worker: on a machine with many cores those rows, which the weights do
// not bound, can outgrow everything else.
func checkWorkerBuffers(c Config, workers int) error {
	scores := int64(workers) * 3 * int64(pad8(c.BlockSize))
	floats := c.blockBufferFloats() + scores
	if floats > blockBufferLimit(c) {
		return fmt.Errorf("block_size %d with %d workers (GOMAXPROCS) would need %d MiB of activation, KV-cache and attention-score buffers, out of proportion to the %d weights (at most 16 times the weights or 256 MiB); run with a smaller GOMAXPROCS",
			c.BlockSize, workers, floats*4>>20, c.NumParams())
	}
	return nil
}
