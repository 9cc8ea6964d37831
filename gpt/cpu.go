package gpt

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/labcoreai/tokbench/gpt/cpukern"
	"github.com/labcoreai/tokbench/kvcache"
)

func init() { Register("cpu", func(m *Model) (Backend, error) { return NewCPU(m) }) }

// CPU is the host backend. Its buffers are sized when it is built, so
// Decode allocates nothing; the matrix products and attention are split
// across a persistent pool of GOMAXPROCS workers (as GOMAXPROCS was when
// the backend was built), but for decode steps smaller than
// decodeParallelBytes, which run on the calling goroutine.
type CPU struct {
	m     *Model
	cache *kvcache.Store
	scale float32
	// RoPE tables for positions 0..block_size: [pos*hd/2 + j].
	cos, sin []float32

	x, h, qkv, att, y, f []float32 // activations, block_size rows
	scores               []float32 // 3 rows of block_size rounded up to 8 per pool part
	logits               []float32
	dev                  Device
	// lmHead is the tied embedding as the output projection.
	lmHead Linear
	// xq is a product's input quantized to 8 bits (int8 models only):
	// panelMinRows-1 rows of up to 4*n_embd.
	xq cpukern.Q8
	// panels is the scratch of MatMulPanels: PanelFloats per pool part.
	panels []float32

	pool *cpukern.Pool
	// decodePar is the decode step size from which products and attention
	// go to the pool: decodeParallelBytes (a field so that benchmarks can
	// compare thresholds in one process).
	decodePar int
	// load watches whether other processes leave the pool a second core
	// (see decodeFrom).
	load contention
	mt   matTask
	at   attnTask
	lt   lnTask
	kt   kvTask
}

// minParallel is the size (multiply-adds) below which a product runs on
// the calling goroutine alone: waking the workers would cost more.
const minParallel = 16 << 10

// decodeParallelBytes is the size (weight bytes, or key and value bytes
// for attention) below which a decode step's product or attention runs on
// the calling goroutine alone. With workers that spin between products
// (cpukern.DefaultSpin), even base.toml's shape (products of 0.06-1 MB)
// decodes 1.4-2.0x faster on two cores than on one (BenchmarkDecodeSplit,
// quiet 2-core EPYC VM); only tiny steps stay on the caller.
const decodeParallelBytes = 64 << 10

// decodeFrom is the size from which a one-row product or a decode step's
// attention goes to the pool: decodePar, or never while the load watch
// finds that other processes leave the pool fewer than two cores.
func (b *CPU) decodeFrom() int {
	if b.load.solo {
		return math.MaxInt
	}
	return b.decodePar
}

// NewCPU builds the CPU backend for m.
func NewCPU(m *Model) (*CPU, error) {
	c := m.Config
	workers := runtime.GOMAXPROCS(0)
	if err := checkWorkerBuffers(c, workers); err != nil {
		return nil, fmt.Errorf("gpt: cpu backend: %w", err)
	}
	st, err := kvcache.NewStore(c.NLayer, c.BlockSize, c.NEmbd)
	if err != nil {
		return nil, fmt.Errorf("gpt: cpu backend: %w", err)
	}
	T, C := c.BlockSize, c.NEmbd
	pool := cpukern.NewPool(workers, cpukern.DefaultSpin)
	b := &CPU{
		m: m, cache: st,
		scale:  float32(1 / math.Sqrt(float64(c.HeadSize()))),
		x:      make([]float32, T*C),
		h:      make([]float32, T*C),
		qkv:    make([]float32, T*3*C),
		att:    make([]float32, T*C),
		y:      make([]float32, T*C),
		f:      make([]float32, max(T*4*C, pad8(T)*C)), // also the prompt's transposed values
		scores: make([]float32, 3*pad8(T)*pool.Size()),
		panels: make([]float32, cpukern.PanelFloats*pool.Size()),
		logits: make([]float32, c.VocabSize),
		dev:    Device{Type: "cpu", Name: CPUName()},
		pool:   pool,

		decodePar: decodeParallelBytes,
		load:      newContention(pool.Size()),
	}
	b.at.b, b.kt.b = b, b
	b.lmHead = Linear{W: m.Wte, W16: m.Wte16, W8: m.Wte8, Out: c.VocabSize, In: C}
	if m.DType() == "int8" {
		if err := cpukern.CheckQ8Len("gpt: cpu backend: int8 weights: n_embd", C); err != nil {
			return nil, err
		}
		b.xq = cpukern.NewQ8((panelMinRows - 1) * 4 * C)
	}
	if c.UseRoPE {
		b.cos, b.sin = RopeTables(c.HeadSize(), T+1)
	}
	// Stop the workers (and close the count's file) if the backend is
	// dropped without Close.
	runtime.AddCleanup(b, func(p *cpukern.Pool) { p.Close() }, pool)
	if src := b.load.src; src != nil {
		runtime.AddCleanup(b, func(s runningSource) { s.close() }, src)
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

// Close stops the worker pool; the buffers are garbage collected. The
// backend still works after Close, on one core.
func (b *CPU) Close() error {
	b.pool.Close()
	if b.load.src != nil {
		b.load.src.close()
		b.load = contention{}
	}
	return nil
}

func (b *CPU) checkID(id int) error {
	if id < 0 || id >= b.m.Config.VocabSize {
		return fmt.Errorf("gpt: token id %d outside the vocab (size %d)", id, b.m.Config.VocabSize)
	}
	return nil
}

// What a matTask does to its rows after the product.
const (
	actNone     = iota
	actGELU     // out = GELU(out)
	actResidual // res += out
)

// matTask is out = act(x @ w^T + b) for t rows of x, split across the pool
// by output rows, so that each weight row is read by one worker. The rows
// are dealt in chunks from a shared counter rather than in fixed shares, so
// that a worker the OS preempts (a loaded machine) delays the others by
// one chunk at most, and it runs with Pool.Share: a worker that wakes up
// after the caller took the last chunk is not waited for. From
// panelMinRows rows of x (a prompt) a chunk is PanelRows rows computed by
// MatMulPanels; fewer (a decode step) run the row kernels.
type matTask struct {
	out, w, b, x []float32
	w16          []uint16
	w8, xq       cpukern.Q8 // int8 weights and x quantized
	res          []float32
	panels       []float32 // MatMulPanels' scratch per part; nil for the row kernels
	t, in, nOut  int
	act          int
	chunk        int          // rows per chunk, a multiple of 4
	next         atomic.Int64 // next chunk to take
}

// panelMinRows is the fewest rows of x whose products run as panels
// (cpukern.MatMulPanels). A decode step (one row) runs the row kernels,
// which read each weight once as it is; int8 weights there multiply x
// quantized to 8 bits, where panels multiply the float32 x.
const panelMinRows = 4

// chunkBytes is about how many weight bytes one chunk of a matTask reads.
const chunkBytes = 48 << 10

// Do computes chunks of output rows until none is left.
func (m *matTask) Do(part, parts int) {
	if m.panels != nil {
		m.doPanels(m.panels[part*cpukern.PanelFloats : (part+1)*cpukern.PanelFloats])
		return
	}
	for {
		o0 := int(m.next.Add(1)-1) * m.chunk
		if o0 >= m.nOut {
			return
		}
		o1 := min(m.nOut, o0+m.chunk)
		switch {
		case m.w16 != nil:
			cpukern.MatMulRowsF16(m.out, m.w16, m.b, m.x, m.t, m.in, m.nOut, o0, o1)
		case m.w8.Q != nil:
			cpukern.MatMulRowsQ8(m.out, m.w8, m.b, m.xq, m.t, m.in, m.nOut, o0, o1)
		default:
			cpukern.MatMulRows(m.out, m.w, m.b, m.x, m.t, m.in, m.nOut, o0, o1)
		}
		for r := range m.t {
			row := m.out[r*m.nOut+o0 : r*m.nOut+o1]
			switch m.act {
			case actGELU:
				cpukern.GELU(row)
			case actResidual:
				cpukern.Add(m.res[r*m.nOut+o0:r*m.nOut+o1], row)
			}
		}
	}
}

// doPanels computes chunks of PanelRows output rows with MatMulPanels
// until none is left. Each chunk's outputs start from the bias, and a
// residual product adds straight into the residual stream (res), so that
// out is not written at all.
func (m *matTask) doPanels(panel []float32) {
	w := cpukern.Weights{F32: m.w, F16: m.w16, Q8: m.w8}
	dst := m.out
	if m.act == actResidual {
		dst = m.res
	}
	for {
		o0 := int(m.next.Add(1)-1) * m.chunk
		if o0 >= m.nOut {
			return
		}
		o1 := min(m.nOut, o0+m.chunk)
		for r := range m.t {
			row := dst[r*m.nOut+o0 : r*m.nOut+o1]
			switch {
			case m.act == actResidual:
				if m.b != nil {
					cpukern.Add(row, m.b[o0:o1])
				}
			case m.b != nil:
				copy(row, m.b[o0:o1])
			default:
				clear(row)
			}
		}
		cpukern.MatMulPanels(dst, w, m.x, panel, m.t, m.in, m.nOut, o0, o1)
		if m.act == actGELU {
			for r := range m.t {
				cpukern.GELU(dst[r*m.nOut+o0 : r*m.nOut+o1])
			}
		}
	}
}

// matmul runs out = act(x @ l^T + l.B) for t rows on the pool.
func (b *CPU) matmul(l *Linear, out, x []float32, t, act int, res []float32) {
	m := &b.mt
	in, nOut := l.In, l.Out
	m.out, m.w, m.w16, m.w8, m.b, m.x, m.t, m.in, m.nOut, m.act, m.res = out, l.W, l.W16, l.W8, l.B, x, t, in, nOut, act, res
	es := 4 // bytes per weight
	switch {
	case t >= panelMinRows:
		m.panels = b.panels
	case l.W16 != nil:
		es = 2
	case l.W8.Q != nil:
		es = 1
		m.xq = b.xq.Slice(0, t*in)
		cpukern.QuantizeQ8(m.xq, x[:t*in])
	}
	if m.panels != nil {
		m.chunk = cpukern.PanelRows
	} else {
		m.chunk = max(4, chunkBytes/(es*in)&^3)
	}
	m.next.Store(0)
	if t*in*nOut < minParallel || t == 1 && es*in*nOut < b.decodeFrom() {
		m.Do(0, 1)
	} else {
		b.pool.Share(m)
	}
	m.out, m.w, m.w16, m.w8, m.xq, m.b, m.x, m.res, m.panels = nil, nil, nil, cpukern.Q8{}, cpukern.Q8{}, nil, nil, nil, nil
}

func (b *CPU) linear(l *Linear, out, x []float32, t, act int, res []float32) {
	b.matmul(l, out, x, t, act, res)
}

// attnTask is the attention of t queries (rows of qkv) over every head,
// dealt to the pool's workers one (query, head) pair at a time, or in a
// prompt three queries of one head at a time.
type attnTask struct {
	b          *CPU
	keys, vals []float32
	vt         []float32 // a prompt's values transposed (see kvTask)
	t          int
	// attend is the number of cached keys a decode step sees; 0 in a
	// prefill, where query i sees keys 0..i.
	attend int
	next   atomic.Int64 // next (query, head) pair to take
}

// Do runs (query, head) pairs until none is left.
func (a *attnTask) Do(part, parts int) {
	b := a.b
	c := b.m.Config
	C, hd, nh := c.NEmbd, c.HeadSize(), c.NHead
	bs := c.BlockSize
	rs := pad8(bs)
	scores := b.scores[3*part*rs : 3*(part+1)*rs]
	if a.attend == 0 {
		// A prompt: three queries of one head at a time, against the
		// values transposed into vt.
		vs := pad8(a.t)
		for {
			it := int(a.next.Add(1) - 1)
			if it >= (a.t+2)/3*nh {
				return
			}
			t, h := it/nh*3, it%nh
			o := h * hd
			cpukern.AttendPrompt(b.att[t*C+o:], C, b.qkv[t*3*C+o:], 3*C, a.keys[o:], C, a.vt[o*vs:], vs, hd, t, min(3, a.t-t), b.scale, scores, rs)
		}
	}
	for {
		it := int(a.next.Add(1) - 1)
		if it >= a.t*nh {
			return
		}
		t, h := it/nh, it%nh
		o := h * hd
		q := b.qkv[t*3*C+o : t*3*C+o+hd]
		cpukern.Attend(b.att[t*C+o:t*C+o+hd], q, a.keys[o:], a.vals[o:], a.attend, C, b.scale, scores)
	}
}

// pad8 rounds n up to a multiple of 8.
func pad8(n int) int { return (n + 7) &^ 7 }

// kvTask stores a prompt's keys and values from t rows of qkv: RoPE on q
// and k (if the model has it), k and v copied into the cache, and v
// transposed into vt (dimension c of row j at vt[c*pad8(t)+j]) as
// AttendPrompt takes it; dealt to the pool's workers kvChunk rows at a
// time.
type kvTask struct {
	b              *CPU
	keys, vals, vt []float32
	t              int
	next           atomic.Int64 // next chunk to take
}

const kvChunk = 16

// Do stores chunks of rows until none is left.
func (k *kvTask) Do(part, parts int) {
	b := k.b
	C := b.m.Config.NEmbd
	vs := pad8(k.t)
	for {
		j0 := int(k.next.Add(1)-1) * kvChunk
		if j0 >= k.t {
			return
		}
		j1 := min(k.t, j0+kvChunk)
		for j := j0; j < j1; j++ {
			row := b.qkv[j*3*C : (j+1)*3*C]
			if b.m.Config.UseRoPE {
				b.rope(row[:C], j)
				b.rope(row[C:2*C], j)
			}
			copy(k.keys[j*C:(j+1)*C], row[C:2*C])
			copy(k.vals[j*C:(j+1)*C], row[2*C:])
		}
		for c := range C {
			dst := k.vt[c*vs+j0 : c*vs+j1]
			for i := range dst {
				dst[i] = k.vals[(j0+i)*C+c]
			}
		}
	}
}

// storeKV runs kvTask on the pool and returns vt, which lives in b.f (free
// until the MLP).
func (b *CPU) storeKV(keys, vals []float32, t int) []float32 {
	C := b.m.Config.NEmbd
	vs := pad8(t)
	k := &b.kt
	k.keys, k.vals, k.vt, k.t = keys, vals, b.f[:C*vs], t
	for c := range C {
		clear(k.vt[c*vs+t : (c+1)*vs])
	}
	k.next.Store(0)
	b.pool.Share(k)
	vt := k.vt
	k.keys, k.vals, k.vt = nil, nil, nil
	return vt
}

func (b *CPU) attend(keys, vals, vt []float32, t, attend int) {
	b.at.keys, b.at.vals, b.at.vt, b.at.t, b.at.attend = keys, vals, vt, t, attend
	b.at.next.Store(0)
	if t == 1 && 2*4*attend*b.m.Config.NEmbd < b.decodeFrom() {
		b.at.Do(0, 1)
	} else {
		b.pool.Share(&b.at)
	}
	b.at.keys, b.at.vals, b.at.vt = nil, nil, nil
}

// lnTask is LayerNorm over t rows, dealt to the pool's workers lnChunk
// rows at a time (Pool.Share: a worker that the OS does not run in time
// is not waited for).
type lnTask struct {
	out, x []float32
	n      *Norm
	t, c   int
	next   atomic.Int64 // next chunk to take
}

const lnChunk = 16

// Do normalises chunks of rows until none is left.
func (l *lnTask) Do(part, parts int) {
	for {
		r0 := int(l.next.Add(1)-1) * lnChunk
		if r0 >= l.t {
			return
		}
		for r := r0; r < min(l.t, r0+lnChunk); r++ {
			cpukern.LayerNorm(l.out[r*l.c:(r+1)*l.c], l.x[r*l.c:(r+1)*l.c], l.n.W, l.n.B)
		}
	}
}

func (b *CPU) layerNorm(out, x []float32, n *Norm, t int) {
	C := b.m.Config.NEmbd
	if t == 1 {
		cpukern.LayerNorm(out[:C], x[:C], n.W, n.B)
		return
	}
	l := &b.lt
	l.out, l.x, l.n, l.t, l.c = out, x, n, t, C
	l.next.Store(0)
	b.pool.Share(l)
	l.out, l.x, l.n = nil, nil, nil
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

// embed sets x to the embedding of token id at learned position pos.
func (b *CPU) embed(x []float32, id, pos int) {
	C := b.m.Config.NEmbd
	switch {
	case b.m.Wte16 != nil:
		cpukern.HalfToFloat(x, b.m.Wte16[id*C:(id+1)*C])
	case b.m.Wte8.Q != nil:
		cpukern.DequantizeQ8(x, b.m.Wte8.Slice(id*C, (id+1)*C))
	default:
		copy(x, b.m.Wte[id*C:(id+1)*C])
	}
	if b.m.Wpe != nil {
		cpukern.Add(x, b.m.Wpe[pos*C:(pos+1)*C])
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
		b.embed(b.x[t*C:(t+1)*C], id, t)
	}
	b.cache.Reset()
	for l := range b.m.Blocks {
		blk := &b.m.Blocks[l]
		keys, vals := b.cache.Keys(l), b.cache.Values(l)
		b.layerNorm(b.h, b.x, &blk.Ln1, T)
		b.linear(&blk.Attn, b.qkv, b.h, T, actNone, nil)
		vt := b.storeKV(keys, vals, T)
		b.attend(keys, vals, vt, T, 0)
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
	b.linear(&blk.AttnProj, b.y, b.att, T, actResidual, b.x)
	b.layerNorm(b.h, b.x, &blk.Ln2, T)
	b.linear(&blk.Fc, b.f, b.h, T, actGELU, nil)
	b.linear(&blk.Proj, b.y, b.f, T, actResidual, b.x[:T*C])
}

// head applies ln_f and lm_head to row t of the residual stream.
func (b *CPU) head(t int) []float32 {
	c := b.m.Config
	C := c.NEmbd
	cpukern.LayerNorm(b.h[:C], b.x[t*C:(t+1)*C], b.m.LnF.W, b.m.LnF.B)
	b.matmul(&b.lmHead, b.logits, b.h[:C], 1, actNone, nil)
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
	b.load.check(cpukern.AwakeWorkers())
	c := b.m.Config
	C := c.NEmbd
	st := b.cache.Next()
	x := b.x[:C]
	b.embed(x, id, st.LearnedPos)
	for l := range b.m.Blocks {
		blk := &b.m.Blocks[l]
		keys, vals := b.cache.Keys(l), b.cache.Values(l)
		cpukern.LayerNorm(b.h[:C], x, blk.Ln1.W, blk.Ln1.B)
		qkv := b.qkv[:3*C]
		b.linear(&blk.Attn, qkv, b.h[:C], 1, actNone, nil)
		if c.UseRoPE {
			b.rope(qkv[:C], st.RotaryPos)
			b.rope(qkv[C:2*C], st.RotaryPos)
		}
		copy(keys[st.Slot*C:(st.Slot+1)*C], qkv[C:2*C])
		copy(vals[st.Slot*C:(st.Slot+1)*C], qkv[2*C:])
		b.attend(keys, vals, nil, 1, st.Attend)
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

// readSmallFile reads at most limit bytes of path.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
