//go:build cuda

package cudakern

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/kvcache"
	"gorgonia.org/cu"
)

func init() {
	gpt.Register("cuda", func(m *gpt.Model) (gpt.Backend, error) { return Open(m) })
}

// MatmulEnv names the environment variable that picks the prefill matmul
// kernel: "tc" (tensor cores, the default) or "simple".
const MatmulEnv = "TOKBENCH_CUDA_MATMUL"

type linear struct {
	w, b    cu.DevicePtr // fp16 [out, in]; b is 0 without bias
	out, in int
}

type norm struct{ w, b cu.DevicePtr } // fp16 [C]

type block struct {
	ln1, ln2                 norm
	attn, attnProj, fc, proj linear
}

// Backend runs a model on the GPU: fp16 weights, KV cache and activations,
// fp32 accumulation, an fp32 residual stream and fp32 logits. It
// implements gpt.Backend, gpt.MemoryTracker and gpt.Synchronizer. A Backend
// is used by one goroutine at a time.
type Backend struct {
	g     *gpu
	l     *launcher
	alloc *Allocator
	cfg   gpt.Config
	dev   gpt.Device

	wte, wpe cu.DevicePtr
	blocks   []block
	lnf      norm
	k, v     []cu.DevicePtr // per layer: [block_size, C] fp16
	win      kvcache.Window

	// Scratch, block_size rows: x fp32 [T,C]; h fp16 [T,C]; qkv fp16
	// [T,3C]; att fp16 [T,C]; f fp16 [T,4C]; ids int32 [T]; logits fp32 [V].
	x, h, qkv, att, f, ids, logitsD cu.DevicePtr
	cos, sin                        cu.DevicePtr // RoPE tables, fp32 [block_size+1, hd/2]

	matmul  string
	idsHost []int32
	logits  []float32
	closed  bool
}

// Open uploads m to GPU 0 and sizes the cache and scratch for its
// block_size. It fails, wrapping gpt.ErrNoDevice, when no usable GPU is
// present, and with a plain error when the model does not fit the kernels'
// limits (shared memory) or the device's memory.
func Open(m *gpt.Model) (*Backend, error) {
	if dt := m.DType(); dt != "fp32" && dt != "fp16" {
		return nil, fmt.Errorf("cudakern: %s weights are not supported on cuda (its kernels run fp16): use dtype fp32 or fp16", dt)
	}
	g, err := getGPU()
	if err != nil {
		return nil, err
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("cudakern: %w", err)
	}
	C, T, V, hd := c.NEmbd, c.BlockSize, c.VocabSize, c.HeadSize()
	if need := 4 * C * 4; need > maxSharedMem {
		return nil, fmt.Errorf("cudakern: n_embd %d: the MLP matvec stages 4*n_embd floats (%d bytes) in shared memory, more than %d", C, need, maxSharedMem)
	}
	if need := attnShared(hd, T); need > maxSharedMem {
		return nil, fmt.Errorf("cudakern: block_size %d: attention needs %d bytes of shared memory, more than %d", T, need, maxSharedMem)
	}
	mm := "matmul_tc"
	switch os.Getenv(MatmulEnv) {
	case "", "tc":
	case "simple":
		mm = "matmul_simple"
	default:
		return nil, fmt.Errorf("cudakern: %s=%q: want tc or simple", MatmulEnv, os.Getenv(MatmulEnv))
	}
	release, err := g.bind()
	if err != nil {
		return nil, err
	}
	defer release()
	b := &Backend{
		g: g, l: newLauncher(g), alloc: NewAllocator(), cfg: c,
		dev:     gpt.Device{Type: "cuda", Name: g.name, Driver: g.driver, Weights: "fp16"},
		matmul:  mm,
		idsHost: make([]int32, T),
		logits:  make([]float32, V),
	}
	if b.win, err = kvcache.NewWindow(T); err != nil {
		return nil, err
	}
	if err := b.upload(m); err != nil {
		b.alloc.FreeAll()
		return nil, err
	}
	return b, nil
}

// attnShared is the dynamic shared memory of the attention kernel for up
// to n keys.
func attnShared(hd, n int) int { return (hd + n + attnThreads) * 4 }

func (b *Backend) upload(m *gpt.Model) error {
	c := b.cfg
	C, T, V := c.NEmbd, c.BlockSize, c.VocabSize
	var err error
	// matrix uploads a weight as fp16: the model's fp16 bits when it was
	// converted (gpt.Model.ConvertTo), else its fp32 values rounded the
	// same way (round to nearest even).
	matrix := func(x []float32, x16 []uint16, name string, n int) cu.DevicePtr {
		if err != nil || (x == nil && x16 == nil) {
			return 0
		}
		if x16 == nil {
			x16 = toHalf(x)
		}
		if len(x16) != n {
			err = fmt.Errorf("cudakern: %s has %d values, want %d", name, len(x16), n)
			return 0
		}
		var p cu.DevicePtr
		if p, err = b.alloc.uploadBits(x16); err != nil {
			err = fmt.Errorf("cudakern: uploading %s: %w", name, err)
		}
		return p
	}
	half := func(x []float32, name string, n int) cu.DevicePtr { return matrix(x, nil, name, n) }
	lin := func(l gpt.Linear, name string) linear {
		if c.Bias && l.B == nil && err == nil {
			err = fmt.Errorf("cudakern: %s.bias is missing", name)
		}
		return linear{w: matrix(l.W, l.W16, name+".weight", l.Out*l.In), b: half(l.B, name+".bias", l.Out), out: l.Out, in: l.In}
	}
	nrm := func(n gpt.Norm, name string) norm {
		return norm{w: half(n.W, name+".weight", C), b: half(n.B, name+".bias", C)}
	}
	b.wte = matrix(m.Wte, m.Wte16, "wte.weight", V*C)
	if !c.UseRoPE {
		b.wpe = half(m.Wpe, "wpe.weight", T*C)
	}
	b.blocks = make([]block, len(m.Blocks))
	for i, blk := range m.Blocks {
		p := fmt.Sprintf("h.%d.", i)
		b.blocks[i] = block{
			ln1: nrm(blk.Ln1, p+"ln_1"), attn: lin(blk.Attn, p+"attn.c_attn"), attnProj: lin(blk.AttnProj, p+"attn.c_proj"),
			ln2: nrm(blk.Ln2, p+"ln_2"), fc: lin(blk.Fc, p+"mlp.c_fc"), proj: lin(blk.Proj, p+"mlp.c_proj"),
		}
	}
	b.lnf = nrm(m.LnF, "ln_f")
	if err != nil {
		return err
	}
	if b.wte == 0 || (!c.UseRoPE && b.wpe == 0) || b.lnf.w == 0 {
		return errors.New("cudakern: the model lacks wte, wpe or ln_f weights")
	}
	alloc := func(n int64) cu.DevicePtr {
		if err != nil {
			return 0
		}
		var p cu.DevicePtr
		p, err = b.alloc.Alloc(n)
		return p
	}
	kvBytes := int64(T) * int64(C) * 2
	for range c.NLayer {
		b.k = append(b.k, alloc(kvBytes))
		b.v = append(b.v, alloc(kvBytes))
	}
	TC := int64(T) * int64(C)
	b.x = alloc(TC * 4)
	b.h = alloc(TC * 2)
	b.qkv = alloc(3 * TC * 2)
	b.att = alloc(TC * 2)
	b.f = alloc(4 * TC * 2)
	b.ids = alloc(int64(T) * 4)
	b.logitsD = alloc(int64(V) * 4)
	if err != nil {
		return err
	}
	if c.UseRoPE {
		cs, sn := gpt.RopeTables(c.HeadSize(), T+1)
		if b.cos, err = b.alloc.uploadFloat(cs); err != nil {
			return err
		}
		if b.sin, err = b.alloc.uploadFloat(sn); err != nil {
			return err
		}
	}
	return nil
}

// Device reports the GPU.
func (b *Backend) Device() gpt.Device { return b.dev }

// PeakBytes is the most device memory the backend held at once since the
// last ResetPeak (weights, cache and scratch).
func (b *Backend) PeakBytes() int64 { return b.alloc.PeakBytes() }

// ResetPeak restarts the high-water mark from what is held now.
func (b *Backend) ResetPeak() { b.alloc.ResetPeak() }

// Allocator exposes the backend's allocator (for tests and reports).
func (b *Backend) Allocator() *Allocator { return b.alloc }

// Sync waits for all queued GPU work.
func (b *Backend) Sync() error {
	if b.closed {
		return errClosed
	}
	release, err := b.g.bind()
	if err != nil {
		return err
	}
	defer release()
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cudakern: synchronize: %w", err)
	}
	return nil
}

// Close frees every device allocation of the backend.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	release, err := b.g.bind()
	if err != nil {
		return err
	}
	defer release()
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cudakern: synchronize before close: %w", err)
	}
	return b.alloc.FreeAll()
}

func (b *Backend) checkID(id int) error {
	if id < 0 || id >= b.cfg.VocabSize {
		return fmt.Errorf("gpt: token id %d outside the vocab (size %d)", id, b.cfg.VocabSize)
	}
	return nil
}

// Prefill runs ids at positions 0..T-1 from an empty cache: tensor-core
// matmuls over all rows, causal attention, then ln_f and lm_head on the
// last row.
func (b *Backend) Prefill(ids []int) ([]float32, error) {
	if b.closed {
		return nil, errClosed
	}
	c := b.cfg
	T, C := len(ids), c.NEmbd
	if T == 0 || T > c.BlockSize {
		return nil, fmt.Errorf("gpt: prefill of %d tokens: want 1..block_size (%d)", T, c.BlockSize)
	}
	for i, id := range ids {
		if err := b.checkID(id); err != nil {
			return nil, err
		}
		b.idsHost[i] = int32(id)
	}
	release, err := b.g.bind()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := cu.MemcpyHtoD(b.ids, unsafe.Pointer(&b.idsHost[0]), int64(T)*4); err != nil {
		return nil, fmt.Errorf("cudakern: copying %d token ids: %w", T, err)
	}
	b.win.Reset()
	l := b.l
	row := dim3{rowThreads, 1, 1}
	if err := l.launch("embed", dim3{T, 1, 1}, row, 0, ptr(b.x), ptr(b.wte), ptr(b.wpe), ptr(b.ids), 0, 0, i64(C)); err != nil {
		return nil, err
	}
	hd := c.HeadSize()
	for i := range b.blocks {
		blk := &b.blocks[i]
		steps := []func() error{
			func() error { return b.layernorm(T, blk.ln1) },
			func() error { return b.mm(b.h, blk.attn, T, ptr(b.qkv), 0, outHalf) },
			func() error {
				return l.launch("rope_store", dim3{T, 1, 1}, row, 0, ptr(b.qkv), i64(C), i64(hd),
					ptr(b.k[i]), ptr(b.v[i]), 0, 0, ptr(b.cos), ptr(b.sin))
			},
			func() error {
				return l.launch("attention", dim3{T, c.NHead, 1}, dim3{attnThreads, 1, 1}, attnShared(hd, T),
					ptr(b.qkv), ptr(b.k[i]), ptr(b.v[i]), ptr(b.att), i64(C), i64(hd), 0, 1, 0, 0, 0, 0, 0)
			},
			func() error { return b.mm(b.att, blk.attnProj, T, 0, ptr(b.x), outAddF32) },
			func() error { return b.layernorm(T, blk.ln2) },
			func() error { return b.mm(b.h, blk.fc, T, ptr(b.f), 0, outHalfGELU) },
			func() error { return b.mm(b.f, blk.proj, T, 0, ptr(b.x), outAddF32) },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return nil, fmt.Errorf("cudakern: prefill layer %d: %w", i, err)
			}
		}
	}
	if err := b.head(T - 1); err != nil {
		return nil, err
	}
	if err := b.win.Fill(T); err != nil {
		return nil, err
	}
	return b.logits, nil
}

func (b *Backend) layernorm(T int, n norm) error {
	return b.l.launch("layernorm", dim3{T, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(b.h), ptr(b.x), ptr(n.w), ptr(n.b), i64(b.cfg.NEmbd))
}

// mm runs the prefill product out[T, l.out] = a[T, l.in] . l.w^T + l.b.
func (b *Backend) mm(a cu.DevicePtr, w linear, T int, outh, outf uint64, mode int) error {
	return launchMatmul(b.l, b.matmul, a, w.w, w.b, T, w.out, w.in, outh, outf, mode)
}

// launchMatmul launches kernel (matmul_tc or matmul_simple) for
// out[M, N] = a[M, K] . w[N, K]^T + bias.
func launchMatmul(l *launcher, kernel string, a, w, bias cu.DevicePtr, M, N, K int, outh, outf uint64, mode int) error {
	grid, blk := dim3{ceilDiv(N, tcTile), ceilDiv(M, tcTile), 1}, dim3{128, 1, 1}
	if kernel == "matmul_simple" {
		grid, blk = dim3{ceilDiv(N, simpleTile), ceilDiv(M, simpleTile), 1}, dim3{simpleTile, simpleTile, 1}
	}
	return l.launch(kernel, grid, blk, 0, ptr(a), ptr(w), ptr(bias), i64(M), i64(N), i64(K), outh, outf, i64(mode))
}

// launchMatvec launches matvec for out[N] = w[N, K] . x + bias, x being xh
// (fp16) or, when xh is 0, xf (fp32), layer-normalised first when ln.w is
// set.
func launchMatvec(l *launcher, w, bias cu.DevicePtr, N, K int, xf, xh cu.DevicePtr, ln norm, outh, outf uint64, mode int) error {
	rows := matvecThreads / 32
	return l.launch("matvec", dim3{ceilDiv(N, rows), 1, 1}, dim3{matvecThreads, 1, 1}, K*4,
		ptr(w), ptr(bias), i64(N), i64(K), ptr(xf), ptr(xh), ptr(ln.w), ptr(ln.b), outh, outf, i64(mode))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// head runs ln_f and lm_head (the tied wte) on residual row t and copies
// the fp32 logits to the host.
func (b *Backend) head(t int) error {
	C, V := b.cfg.NEmbd, b.cfg.VocabSize
	xrow := b.x + cu.DevicePtr(t*C*4)
	if err := launchMatvec(b.l, b.wte, 0, V, C, xrow, 0, b.lnf, 0, ptr(b.logitsD), outF32); err != nil {
		return fmt.Errorf("cudakern: lm_head: %w", err)
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&b.logits[0]), b.logitsD, int64(V)*4); err != nil {
		return fmt.Errorf("cudakern: copying %d logits to the host: %w", V, err)
	}
	return nil
}

// Decode runs one token against the cache: per layer, LayerNorm fused into
// the qkv matvec; RoPE, the cache write and attention over slots
// 0..Attend-1 in one kernel; the projection with its residual add; LayerNorm
// fused into the MLP matvec with GELU; the MLP projection with its residual
// add. The token and the step's slot and positions travel as kernel
// arguments: the only copy is the logits back to the host.
func (b *Backend) Decode(id int) ([]float32, error) {
	if b.closed {
		return nil, errClosed
	}
	if err := b.checkID(id); err != nil {
		return nil, err
	}
	if b.win.Len() == 0 {
		return nil, errors.New("gpt: decode before prefill")
	}
	release, err := b.g.bind()
	if err != nil {
		return nil, err
	}
	defer release()
	c := b.cfg
	C, hd := c.NEmbd, c.HeadSize()
	st := b.win.Next()
	l := b.l
	if err := l.launch("embed", dim3{1, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(b.x), ptr(b.wte), ptr(b.wpe), 0, i64(id), i64(st.LearnedPos), i64(C)); err != nil {
		return nil, err
	}
	for i := range b.blocks {
		blk := &b.blocks[i]
		if err := launchMatvec(l, blk.attn.w, blk.attn.b, 3*C, C, b.x, 0, blk.ln1, ptr(b.qkv), 0, outHalf); err != nil {
			return nil, fmt.Errorf("cudakern: decode layer %d: %w", i, err)
		}
		if err := l.launch("attention", dim3{1, c.NHead, 1}, dim3{attnThreads, 1, 1}, attnShared(hd, st.Attend),
			ptr(b.qkv), ptr(b.k[i]), ptr(b.v[i]), ptr(b.att), i64(C), i64(hd), i64(st.Attend), 0, 1,
			i64(st.Slot), i64(st.RotaryPos), ptr(b.cos), ptr(b.sin)); err != nil {
			return nil, fmt.Errorf("cudakern: decode layer %d: %w", i, err)
		}
		if err := launchMatvec(l, blk.attnProj.w, blk.attnProj.b, C, C, 0, b.att, norm{}, 0, ptr(b.x), outAddF32); err != nil {
			return nil, fmt.Errorf("cudakern: decode layer %d: %w", i, err)
		}
		if err := launchMatvec(l, blk.fc.w, blk.fc.b, 4*C, C, b.x, 0, blk.ln2, ptr(b.f), 0, outHalfGELU); err != nil {
			return nil, fmt.Errorf("cudakern: decode layer %d: %w", i, err)
		}
		if err := launchMatvec(l, blk.proj.w, blk.proj.b, C, 4*C, 0, b.f, norm{}, 0, ptr(b.x), outAddF32); err != nil {
			return nil, fmt.Errorf("cudakern: decode layer %d: %w", i, err)
		}
	}
	if err := b.head(0); err != nil {
		return nil, err
	}
	b.win.Commit()
	return b.logits, nil
}

var _ interface {
	gpt.Backend
	gpt.MemoryTracker
	gpt.Synchronizer
} = (*Backend)(nil)

// finite reports whether every logit is finite (used by tests).
func finite(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
