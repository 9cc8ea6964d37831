package benchmarks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/cpukern"
)

// Kernel shapes [in -> out] of the bundled model (C=64, vocab 65), of
// base.toml (C=256, vocab 65) and of GPT-2-small (C=768, vocab 50257):
// c_attn, mlp.c_fc, mlp.c_proj and lm_head.
var kernelShapes = []struct {
	name    string
	in, out int
}{
	{"C64/attn", 64, 192}, {"C64/fc", 64, 256}, {"C64/proj", 256, 64}, {"C64/head", 64, 65},
	{"C256/attn", 256, 768}, {"C256/fc", 256, 1024}, {"C256/proj", 1024, 256}, {"C256/head", 256, 65},
	{"C768/attn", 768, 2304}, {"C768/fc", 768, 3072}, {"C768/proj", 3072, 768}, {"C768/head", 768, 50257},
}

func randFloats(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

// impls runs f under each kernel implementation this build and CPU have.
func impls(b *testing.B, f func(b *testing.B)) {
	prev := cpukern.SetAccelerated(true)
	defer cpukern.SetAccelerated(prev)
	if cpukern.Accelerated() {
		b.Run("impl=asm", f)
	}
	cpukern.SetAccelerated(false)
	b.Run("impl=go", f)
}

// BenchmarkMatVec is one decode-step product on one core; its MB/s is the
// weight bytes streamed.
func BenchmarkMatVec(b *testing.B) {
	for _, s := range kernelShapes {
		w := randFloats(s.in*s.out, 1)
		h := make([]uint16, len(w))
		cpukern.FloatToHalf(h, w)
		x, bias, out := randFloats(s.in, 2), randFloats(s.out, 3), make([]float32, s.out)
		b.Run(s.name+"/dtype=fp32", func(b *testing.B) {
			impls(b, func(b *testing.B) {
				b.SetBytes(int64(4 * len(w)))
				for b.Loop() {
					cpukern.MatVec(out, w, bias, x)
				}
			})
		})
		b.Run(s.name+"/dtype=fp16", func(b *testing.B) {
			impls(b, func(b *testing.B) {
				b.SetBytes(int64(2 * len(h)))
				for b.Loop() {
					cpukern.MatVecF16(out, h, bias, x)
				}
			})
		})
	}
}

// BenchmarkMatMul is a prefill product of t prompt rows on one core.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range kernelShapes {
		if s.out > 4096 {
			continue
		}
		for _, t := range []int{6, 64} {
			w := randFloats(s.in*s.out, 1)
			x, out := randFloats(t*s.in, 2), make([]float32, t*s.out)
			b.Run(fmt.Sprintf("%s/t=%d", s.name, t), func(b *testing.B) {
				impls(b, func(b *testing.B) {
					for b.Loop() {
						cpukern.MatMul(out, w, nil, x, t, s.in, s.out)
					}
					b.ReportMetric(2*float64(t*s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			})
		}
	}
}

// BenchmarkAttend is one head's attention over n cached keys.
func BenchmarkAttend(b *testing.B) {
	for _, c := range []struct{ hd, heads, n int }{{32, 8, 262}, {64, 12, 262}, {64, 12, 1024}} {
		stride := c.hd * c.heads
		q, k, v := randFloats(c.hd, 1), randFloats(c.n*stride, 2), randFloats(c.n*stride, 3)
		out, scores := make([]float32, c.hd), make([]float32, c.n)
		b.Run(fmt.Sprintf("hd=%d/n=%d", c.hd, c.n), func(b *testing.B) {
			impls(b, func(b *testing.B) {
				for b.Loop() {
					cpukern.Attend(out, q, k, v, c.n, stride, 0.125, scores)
				}
			})
		})
	}
}

// BenchmarkGELU is the MLP activation of one GPT-2-small token.
func BenchmarkGELU(b *testing.B) {
	x := randFloats(3072, 1)
	impls(b, func(b *testing.B) {
		for b.Loop() {
			cpukern.GELU(x)
		}
	})
}

// BenchmarkSoftmax is the softmax of one head's attention scores over 262
// and 1024 cached keys.
func BenchmarkSoftmax(b *testing.B) {
	for _, n := range []int{262, 1024} {
		x := randFloats(n, 1)
		s := make([]float32, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			impls(b, func(b *testing.B) {
				for b.Loop() {
					copy(s, x)
					cpukern.Softmax(s)
				}
			})
		})
	}
}

type matvecTask struct {
	out, w, x []float32
	in        int
}

func (m *matvecTask) Do(part, parts int) {
	o0, o1 := cpukern.Split(len(m.out), part, parts, 4)
	cpukern.MatMulRows(m.out, m.w, nil, m.x, 1, m.in, len(m.out), o0, o1)
}

type nopTask struct{}

func (nopTask) Do(part, parts int) {}

// BenchmarkPool compares the worker pool's spin-then-park barrier with a
// plain sync-based one (spin=0) on an empty task (the barrier alone) and on
// matrix-vector products of base.toml's c_attn (~10 µs) and GPT-2-small's
// c_fc (~100 µs on one core), run back to back as in a decode step.
func BenchmarkPool(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	tasks := []struct {
		name string
		t    cpukern.Task
	}{
		{"nop", nopTask{}},
		{"C256-attn", &matvecTask{out: make([]float32, 768), w: randFloats(768*256, 1), x: randFloats(256, 2), in: 256}},
		{"C768-fc", &matvecTask{out: make([]float32, 3072), w: randFloats(3072*768, 1), x: randFloats(768, 2), in: 768}},
	}
	for _, spin := range []time.Duration{0, 20 * time.Microsecond, 200 * time.Microsecond} {
		p := cpukern.NewPool(n, spin)
		for _, t := range tasks {
			b.Run(fmt.Sprintf("spin=%v/%s", spin, t.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p.Run(t.t)
				}
			})
		}
		p.Close()
	}
}

// BenchmarkReadBandwidth is the memory read bandwidth with one goroutine
// and with GOMAXPROCS, over a buffer much larger than the caches (ProbeBytes): the
// roofline of decode (BenchmarkGenerate's roofline-% uses the GOMAXPROCS
// figure).
func BenchmarkReadBandwidth(b *testing.B) {
	for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var sum float64
			for b.Loop() {
				sum += MeasureReadBandwidth(ProbeBytes(), threads, 3)
			}
			b.ReportMetric(sum/float64(b.N)/1e9, "GB/s")
		})
	}
}

func TestReadBandwidthIsPlausible(t *testing.T) {
	bw := MeasureReadBandwidth(8<<20, 2, 2)
	if bw < 1e8 || bw > 1e13 {
		t.Fatalf("read bandwidth %.3g B/s: implausible", bw)
	}
}

// dramMatVec is a decode product over one of many copies of a weight
// matrix, split across a pool as gpt's CPU backend splits it (chunks of
// rows dealt from a counter).
type dramMatVec struct {
	out, x []float32
	w      []float32
	w16    []uint16
	in     int
	chunk  int
	next   atomic.Int64
}

func (m *dramMatVec) Do(part, parts int) {
	for {
		o0 := int(m.next.Add(1)-1) * m.chunk
		if o0 >= len(m.out) {
			return
		}
		o1 := min(len(m.out), o0+m.chunk)
		if m.w16 != nil {
			cpukern.MatMulRowsF16(m.out, m.w16, nil, m.x, 1, m.in, len(m.out), o0, o1)
		} else {
			cpukern.MatMulRows(m.out, m.w, nil, m.x, 1, m.in, len(m.out), o0, o1)
		}
	}
}

// BenchmarkMatVecDRAM is a decode product whose weights come from memory,
// not the caches (each op reads the next of as many copies of the matrix as
// fill 256 MiB), on 1 and GOMAXPROCS threads: GB/s is the weight bytes
// streamed and bw-% compares it with MeasureReadBandwidth on as many
// threads, measured in the same benchmark.
func BenchmarkMatVecDRAM(b *testing.B) {
	const total = 256 << 20
	for _, s := range kernelShapes[8:] {
		for _, dt := range []string{"fp32", "fp16"} {
			for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
				b.Run(fmt.Sprintf("%s/dtype=%s/threads=%d", s.name, dt, threads), func(b *testing.B) {
					n := s.in * s.out
					es := 4
					if dt == "fp16" {
						es = 2
					}
					copies := max(2, total/(es*n))
					m := &dramMatVec{out: make([]float32, s.out), x: randFloats(s.in, 2), in: s.in}
					m.chunk = max(4, (48<<10)/(es*s.in)&^3)
					var w []float32
					var w16 []uint16
					if dt == "fp16" {
						w16 = make([]uint16, copies*n)
						cpukern.FloatToHalf(w16[:n], randFloats(n, 1))
						for c := 1; c < copies; c++ {
							copy(w16[c*n:(c+1)*n], w16[:n])
						}
					} else {
						w = make([]float32, copies*n)
						copy(w, randFloats(n, 1))
						for c := 1; c < copies; c++ {
							copy(w[c*n:(c+1)*n], w[:n])
						}
					}
					p := cpukern.NewPool(threads, cpukern.DefaultSpin)
					defer p.Close()
					bw := MeasureReadBandwidth(ProbeBytes(), threads, 3)
					c := 0
					b.SetBytes(int64(es * n))
					for b.Loop() {
						if w16 != nil {
							m.w16 = w16[c*n : (c+1)*n]
						} else {
							m.w = w[c*n : (c+1)*n]
						}
						m.next.Store(0)
						p.Run(m)
						c = (c + 1) % copies
					}
					got := float64(es*n) * float64(b.N) / b.Elapsed().Seconds()
					b.ReportMetric(got/1e9, "GB/s")
					b.ReportMetric(100*got/bw, "bw-%")
				})
			}
		}
	}
}

// TestWideDecodeOnThePool runs decode products large enough for the worker
// pool (fc and proj of a 1024-wide model: 16 MB fp32, 8 MB fp16, above
// gpt's decodeParallelBytes): the logits match one core's and a step
// allocates nothing.
func TestWideDecodeOnThePool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 13 M-parameter model")
	}
	c := gpt.Config{NLayer: 1, NHead: 16, NEmbd: 1024, BlockSize: 40, VocabSize: 65, Bias: true}
	for _, dtype := range []string{"fp32", "fp16"} {
		t.Run(dtype, func(t *testing.T) {
			m, err := gpt.RandomModel(c, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.ConvertTo(dtype); err != nil {
				t.Fatal(err)
			}
			prev := runtime.GOMAXPROCS(1)
			one, err1 := gpt.NewCPU(m)
			runtime.GOMAXPROCS(max(prev, 3))
			many, err2 := gpt.NewCPU(m)
			runtime.GOMAXPROCS(prev)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			defer one.Close()
			defer many.Close()
			prompt := []int{1, 5, 9, 13, 2, 40, 64}
			a, err1 := one.Prefill(prompt)
			b, err2 := many.Prefill(prompt)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for i := range 45 { // past block_size: the window slides
				if d := maxRelDiff(a, b); d > 1e-6 {
					t.Fatalf("step %d: logits differ by %g of max |logit|", i, d)
				}
				a, err1 = one.Decode(i % 65)
				a = append([]float32(nil), a...)
				b, err2 = many.Decode(i % 65)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
			}
			if n := testing.AllocsPerRun(20, func() { _, _ = many.Decode(3) }); n != 0 {
				t.Fatalf("%v allocations per decode step on the pool", n)
			}
		})
	}
}

func maxRelDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		m = max(m, math.Abs(float64(a[i])))
	}
	return d / m
}
