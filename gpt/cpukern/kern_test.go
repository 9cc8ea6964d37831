package cpukern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func randVec(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// both runs f with the Go kernels and, where available, the assembly ones.
func both(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	prev := SetAccelerated(false)
	defer SetAccelerated(prev)
	t.Run("go", f)
	if hasAsm {
		SetAccelerated(true)
		t.Run("asm", f)
	}
}

// within fails unless |got - want| <= tol * (1 + |want|) elementwise.
func within(t *testing.T, what string, want, got []float32, tol float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

// naive is the float64 reference of MatMul.
func naive(w, b, x []float32, t, in, nOut int) []float32 {
	out := make([]float32, t*nOut)
	for r := range t {
		for o := range nOut {
			var s float64
			for i := range in {
				s += float64(w[o*in+i]) * float64(x[r*in+i])
			}
			if b != nil {
				s += float64(b[o])
			}
			out[r*nOut+o] = float32(s)
		}
	}
	return out
}

var shapes = []struct{ t, in, nOut int }{
	{1, 64, 192}, {1, 64, 65}, {1, 256, 768}, {1, 768, 3}, {1, 12, 7}, {2, 256, 65},
	{3, 64, 64}, {4, 64, 9}, {5, 96, 13}, {6, 256, 1024}, {7, 8, 5}, {1, 3072, 9},
	{1, 40, 7}, {1, 200, 13}, {2, 104, 11}, {1, 8, 1}, // decode kernel tails: in not a multiple of 32
}

func TestMatMulMatchesFloat64(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, s := range shapes {
			w, b, x := randVec(r, s.nOut*s.in), randVec(r, s.nOut), randVec(r, s.t*s.in)
			want := naive(w, b, x, s.t, s.in, s.nOut)
			got := make([]float32, s.t*s.nOut)
			MatMul(got, w, b, x, s.t, s.in, s.nOut)
			within(t, "MatMul", want, got, 1e-5*math.Sqrt(float64(s.in)))
			if s.t == 1 {
				clear(got)
				MatVec(got, w, nil, x)
				within(t, "MatVec", naive(w, nil, x, 1, s.in, s.nOut), got, 1e-5*math.Sqrt(float64(s.in)))
			}
		}
	})
}

func TestMatMulRowsCoverOnlyTheirRows(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		T, in, nOut := 4, 64, 50
		w, b, x := randVec(r, nOut*in), randVec(r, nOut), randVec(r, T*in)
		want := naive(w, b, x, T, in, nOut)
		got := make([]float32, T*nOut)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		for part := range 3 {
			lo, hi := Split(nOut, part, 3, 4)
			MatMulRows(got, w, b, x, T, in, nOut, lo, hi)
		}
		within(t, "MatMulRows", want, got, 1e-4)
	})
}

func TestMatMulF16(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, s := range shapes {
			w, b, x := randVec(r, s.nOut*s.in), randVec(r, s.nOut), randVec(r, s.t*s.in)
			h := make([]uint16, len(w))
			FloatToHalf(h, w)
			wide := make([]float32, len(w))
			HalfToFloat(wide, h)
			want := naive(wide, b, x, s.t, s.in, s.nOut)
			got := make([]float32, s.t*s.nOut)
			MatMulF16(got, h, b, x, s.t, s.in, s.nOut)
			within(t, "MatMulF16", want, got, 1e-5*math.Sqrt(float64(s.in)))
			if s.t == 1 {
				MatVecF16(got, h, b, x)
				within(t, "MatVecF16", want, got, 1e-5*math.Sqrt(float64(s.in)))
			}
		}
	})
}

func TestAsmMatchesGo(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	defer SetAccelerated(SetAccelerated(true))
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range shapes {
		w, b, x := randVec(r, s.nOut*s.in), randVec(r, s.nOut), randVec(r, s.t*s.in)
		h := make([]uint16, len(w))
		FloatToHalf(h, w)
		asm, ref := make([]float32, s.t*s.nOut), make([]float32, s.t*s.nOut)
		MatMul(asm, w, b, x, s.t, s.in, s.nOut)
		SetAccelerated(false)
		MatMul(ref, w, b, x, s.t, s.in, s.nOut)
		SetAccelerated(true)
		within(t, "MatMul asm vs go", ref, asm, 1e-5*math.Sqrt(float64(s.in)))
		MatMulF16(asm, h, b, x, s.t, s.in, s.nOut)
		SetAccelerated(false)
		MatMulF16(ref, h, b, x, s.t, s.in, s.nOut)
		SetAccelerated(true)
		within(t, "MatMulF16 asm vs go", ref, asm, 1e-5*math.Sqrt(float64(s.in)))
	}
}

func TestDot(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{0, 1, 7, 8, 64, 100, 768} {
			a, b := randVec(r, n), randVec(r, n+3)
			var want float64
			for i := range n {
				want += float64(a[i]) * float64(b[i])
			}
			within(t, "Dot", []float32{float32(want)}, []float32{Dot(a, b)}, 1e-5*math.Sqrt(float64(n+1)))
		}
	})
}

// attend64 is the float64 reference of Attend: query q against keys and
// values 0..n-1 of one head (k[j*stride:][:len(q)], likewise v).
func attend64(q, k, v []float32, n, stride int, scale float32) []float32 {
	hd := len(q)
	s := make([]float64, n)
	mx := math.Inf(-1)
	for j := range n {
		for i := range hd {
			s[j] += float64(q[i]) * float64(k[j*stride+i])
		}
		s[j] *= float64(scale)
		mx = math.Max(mx, s[j])
	}
	var z float64
	for j := range s {
		s[j] = math.Exp(s[j] - mx)
		z += s[j]
	}
	want := make([]float32, hd)
	for i := range want {
		var acc float64
		for j := range n {
			acc += s[j] / z * float64(v[j*stride+i])
		}
		want[i] = float32(acc)
	}
	return want
}

func TestAttend(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, c := range []struct{ hd, heads, n int }{{32, 8, 1}, {32, 8, 262}, {64, 12, 5}, {8, 2, 3}, {6, 2, 9}, {40, 3, 17}} {
			stride := c.hd * c.heads
			q := randVec(r, c.hd)
			k, v := randVec(r, c.n*stride), randVec(r, c.n*stride)
			scale := float32(1 / math.Sqrt(float64(c.hd)))
			// On the second head.
			off := c.hd
			if c.heads == 1 {
				off = 0
			}
			got := make([]float32, c.hd)
			Attend(got, q, k[off:], v[off:], c.n, stride, scale, make([]float32, c.n))
			within(t, "Attend", attend64(q, k[off:], v[off:], c.n, stride, scale), got, 1e-5)
		}
	})
}

// TestAttendPrompt checks each query of AttendPrompt against the float64
// reference over the keys up to its position, for one to three queries,
// head sizes the kernels take and one they do not (6), and first
// positions around multiples of 4 and 8; the values go in transposed, with
// garbage past the padding that must not be read.
func TestAttendPrompt(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, c := range []struct{ hd, heads, i0 int }{{64, 12, 0}, {64, 12, 1}, {32, 8, 258}, {8, 2, 4}, {6, 2, 9}, {40, 3, 17}, {16, 2, 5}, {16, 2, 6}} {
			for nq := 1; nq <= 3; nq++ {
				C := c.hd * c.heads
				n := c.i0 + nq
				// Rows of qkv as the CPU backend lays them out: q, k, v of every head.
				qkv := randVec(r, n*3*C)
				off := c.hd * (c.heads - 1) // the last head
				vs := (n+7)&^7 + 8
				vt := randVec(r, c.hd*vs)
				for i := range c.hd {
					for j := range vs {
						if j < n {
							vt[i*vs+j] = qkv[j*3*C+2*C+off+i]
						} else if j < (n+7)&^7 {
							vt[i*vs+j] = 0
						} else {
							vt[i*vs+j] = float32(math.NaN())
						}
					}
				}
				rs := vs + 3
				out := make([]float32, nq*C)
				AttendPrompt(out[off:], C, qkv[c.i0*3*C+off:], 3*C, qkv[C+off:], 3*C, vt, vs, c.hd, c.i0, nq, 0.125, randVec(r, 3*rs), rs)
				for j := range nq {
					want := attend64(qkv[(c.i0+j)*3*C+off:][:c.hd], qkv[C+off:], qkv[2*C+off:], c.i0+j+1, 3*C, 0.125)
					within(t, fmt.Sprintf("AttendPrompt hd=%d i0=%d query %d of %d", c.hd, c.i0, j, nq), want, out[j*C+off:j*C+off+c.hd], 1e-5)
				}
			}
		}
	})
}

func TestGELUAndSoftmaxAreAccurate(t *testing.T) {
	both(t, testGELUAndSoftmax)
}

func testGELUAndSoftmax(t *testing.T) {
	xs := []float32{0, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 2.5, -2.5, 4, -4, 6, -6, 10, -10, 13, -13, 30, -30, 1e4, -1e4}
	r := rand.New(rand.NewPCG(13, 14))
	for range 2000 {
		xs = append(xs, float32(r.NormFloat64()*3))
	}
	got := append([]float32(nil), xs...)
	GELU(got)
	for i, x := range xs {
		want := 0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2))
		if d := math.Abs(float64(got[i]) - want); d > 3e-7*(1+math.Abs(float64(x))) {
			t.Fatalf("GELU(%v) = %v, want %v", x, got[i], want)
		}
	}
	for _, x := range []float32{-100, -87.5, -87, -50, -10, -1, -1e-3, 0, 1e-3, 1, 10, 50, 87.9, 88.5, 100} {
		want := float64(float32(math.Exp(float64(x))))
		got := float64(expf(x))
		if math.IsInf(want, 1) {
			if !math.IsInf(got, 1) {
				t.Fatalf("expf(%v) = %v, want +Inf", x, got)
			}
			continue
		}
		if d := math.Abs(got - want); d > 3e-7*want+1e-38 {
			t.Fatalf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if v := expf(float32(math.NaN())); !math.IsNaN(float64(v)) {
		t.Fatalf("expf(NaN) = %v", v)
	}
	p := []float32{1, 2, 3, -1000}
	Softmax(p)
	within(t, "Softmax", []float32{0.09003057, 0.24472847, 0.66524096, 0}, p, 1e-6)

	// Long enough for the vector kernels, with their edge lanes.
	inf := float32(math.Inf(1))
	edges := []float32{-inf, inf, -1e30, 1e30, -9.3, 9.3, -9.4, 9.4, -13, 13}
	got = append(edges, xs[:21]...)
	GELU(got)
	for i, x := range append(edges, xs[:21]...) {
		want := float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
		if math.IsInf(float64(x), -1) {
			want = 0
		}
		if d := math.Abs(float64(got[i] - want)); !(d <= 3e-7*(1+math.Abs(float64(x)))) && got[i] != want {
			t.Fatalf("GELU(%v) = %v, want %v", x, got[i], want)
		}
	}
	g := []float32{float32(math.NaN()), 0, 0, 0, 0, 0, 0, 0}
	if GELU(g); !math.IsNaN(float64(g[0])) {
		t.Fatalf("GELU(NaN) = %v", g[0])
	}
	scores := []float32{-inf, -200, -88, -87, -86, -50, -20, -3, -1, 0, 0.5, 1, 2, 3, 4.25, 5, 6, 7, 8}
	for range 40 {
		scores = append(scores, float32(r.NormFloat64()*5))
	}
	want := make([]float32, len(scores))
	m := math.Inf(-1)
	for _, v := range scores {
		m = max(m, float64(v))
	}
	var z float64
	for i, v := range scores {
		e := math.Exp(float64(v) - m)
		want[i] = float32(e)
		z += e
	}
	for i := range want {
		want[i] = float32(float64(want[i]) / z)
	}
	Softmax(scores)
	within(t, "Softmax (long)", want, scores, 1e-6)
}

func TestHalfRoundTrip(t *testing.T) {
	src := []float32{0, 1, -2, 0.1, 65504, 1e6, -1e-8, 3.14159}
	h := make([]uint16, len(src))
	FloatToHalf(h, src)
	back := make([]float32, len(src))
	HalfToFloat(back, h)
	want := []float32{0, 1, -2, 0.0999755859375, 65504, float32(math.Inf(1)), -0, 3.140625}
	for i := range want {
		if back[i] != want[i] {
			t.Fatalf("half(%v) = %v, want %v", src[i], back[i], want[i])
		}
	}
}

type countTask struct {
	hits [8]atomic.Int32
	sum  atomic.Int64
}

func (c *countTask) Do(part, parts int) {
	c.hits[part].Add(1)
	lo, hi := Split(1000, part, parts, 4)
	for i := lo; i < hi; i++ {
		c.sum.Add(int64(i))
	}
}

// dealTask deals items 0..999 from a counter, as the CPU backend's tasks do.
type dealTask struct {
	hits [8]atomic.Int32
	next atomic.Int64
	sum  atomic.Int64
	slow bool
}

func (c *dealTask) Do(part, parts int) {
	c.hits[part].Add(1)
	for {
		i := c.next.Add(1) - 1
		if i >= 1000 {
			return
		}
		if c.slow && i%100 == 0 {
			time.Sleep(10 * time.Microsecond)
		}
		c.sum.Add(i)
	}
}

func TestPoolShareCompletesTheTask(t *testing.T) {
	for _, spin := range []time.Duration{0, 50 * time.Microsecond} {
		for _, n := range []int{1, 2, 3, 8} {
			p := NewPool(n, spin)
			joined := 0
			for round := range 200 {
				c := dealTask{slow: round%2 == 0}
				p.Share(&c)
				if got := c.sum.Load(); got != 999*1000/2 {
					t.Fatalf("n=%d spin=%v round %d: sum %d, want %d", n, spin, round, got, 999*1000/2)
				}
				if c.hits[0].Load() != 1 {
					t.Fatalf("n=%d round %d: the caller ran %d times", n, round, c.hits[0].Load())
				}
				for part := 1; part < p.Size(); part++ {
					h := c.hits[part].Load()
					if h > 1 {
						t.Fatalf("n=%d round %d: part %d ran %d times", n, round, part, h)
					}
					joined += int(h)
				}
				if round%50 == 0 {
					// Static runs between shared ones still run every part.
					var c countTask
					p.Run(&c)
					if got := c.sum.Load(); got != 999*1000/2 {
						t.Fatalf("n=%d round %d: Run after Share: sum %d", n, round, got)
					}
				}
			}
			if n > 1 && joined == 0 {
				t.Logf("n=%d spin=%v: no worker joined a slow shared run", n, spin)
			}
			p.Close()
			var c dealTask
			p.Share(&c)
			if c.sum.Load() != 999*1000/2 {
				t.Fatalf("Share after Close: sum %d", c.sum.Load())
			}
		}
	}
}

func TestPoolRunsEveryPartOnce(t *testing.T) {
	for _, spin := range []time.Duration{0, 50 * time.Microsecond} {
		for _, n := range []int{0, 1, 2, 3, 8} {
			p := NewPool(n, spin)
			for round := range 50 {
				var c countTask
				p.Run(&c)
				if got := c.sum.Load(); got != 999*1000/2 {
					t.Fatalf("n=%d spin=%v round %d: sum %d, want %d", n, spin, round, got, 999*1000/2)
				}
				for part := range p.Size() {
					if h := c.hits[part].Load(); h != 1 {
						t.Fatalf("n=%d round %d: part %d ran %d times", n, round, part, h)
					}
				}
				if round == 25 {
					time.Sleep(2 * spin) // let the workers park
				}
			}
			p.Close()
			p.Close()
			var c countTask
			p.Run(&c) // after Close: inline, one part
			if c.sum.Load() != 999*1000/2 || c.hits[0].Load() != 1 {
				t.Fatalf("Run after Close: sum %d", c.sum.Load())
			}
		}
	}
}

func TestSplitCoversTheRange(t *testing.T) {
	for _, n := range []int{0, 1, 5, 65, 768, 50257} {
		for _, parts := range []int{1, 2, 3, 7} {
			next := 0
			for part := range parts {
				lo, hi := Split(n, part, parts, 4)
				if lo != next || hi < lo {
					t.Fatalf("Split(%d, %d, %d) = [%d,%d), want start %d", n, part, parts, lo, hi, next)
				}
				if part < parts-1 && hi%4 != 0 {
					t.Fatalf("Split(%d, %d, %d) = [%d,%d): not aligned", n, part, parts, lo, hi)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("Split(%d, _, %d) ends at %d", n, parts, next)
			}
		}
	}
}

func TestSum(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, n := range []int{0, 1, 31, 32, 33, 100, 4096} {
			x := randVec(r, n)
			var want float64
			for _, v := range x {
				want += float64(v)
			}
			within(t, "Sum", []float32{float32(want)}, []float32{Sum(x)}, 1e-5*math.Sqrt(float64(n+1)))
		}
	})
}

// TestScaleMaxMatchesGo checks scaleMaxF32 against Go's products and
// maximum, bit for bit, with the maximum in each lane position.
func TestScaleMaxMatchesGo(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{8, 16, 40, 264} {
		for top := range n {
			x := randVec(r, n)
			x[top] = 9
			want := make([]float32, n)
			m := float32(math.Inf(-1))
			for i, v := range x {
				want[i] = v * 0.125
				m = max(m, want[i])
			}
			got := scaleMaxF32(&x[0], n, 0.125)
			if got != m {
				t.Fatalf("n=%d, max at %d: scaleMaxF32 = %v, want %v", n, top, got, m)
			}
			for i := range x {
				if x[i] != want[i] {
					t.Fatalf("n=%d: x[%d] = %v, want %v", n, i, x[i], want[i])
				}
			}
		}
	}
}

// TestLayerNormMatchesFloat64 checks LayerNorm against a float64 reference
// on rows whose lengths are and are not multiples of its four accumulators,
// with a large common offset (which a one-pass variance would lose).
func TestLayerNormMatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{1, 3, 4, 7, 64, 768, 771} {
		x, w, b := randVec(r, n), randVec(r, n), randVec(r, n)
		for i := range x {
			x[i] += 1000
		}
		var mean, vr float64
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(n)
		for _, v := range x {
			vr += (float64(v) - mean) * (float64(v) - mean)
		}
		vr /= float64(n)
		want := make([]float32, n)
		for i, v := range x {
			want[i] = float32((float64(v)-mean)/math.Sqrt(vr+LNEps)*float64(w[i]) + float64(b[i]))
		}
		got := make([]float32, n)
		LayerNorm(got, x, w, b)
		within(t, fmt.Sprintf("LayerNorm n=%d", n), want, got, 1e-5)
	}
}

// TestAwakeWorkersCountsPoolsWorkers checks that AwakeWorkers counts a
// pool's workers while they spin and not once they park or the pool is
// closed.
func TestAwakeWorkersCountsPoolsWorkers(t *testing.T) {
	before := AwakeWorkers()
	p := NewPool(3, time.Hour) // spins (awake) until closed
	deadline := time.Now().Add(10 * time.Second)
	for AwakeWorkers() != before+2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := AwakeWorkers(); got != before+2 {
		t.Fatalf("spinning: AwakeWorkers = %d, want %d", got, before+2)
	}
	p.Close()
	q := NewPool(3, 0) // parks at once
	for AwakeWorkers() != before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := AwakeWorkers(); got != before {
		t.Fatalf("parked and closed: AwakeWorkers = %d, want %d", got, before)
	}
	q.Close()
}
