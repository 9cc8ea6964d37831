package cpukern

import (
	"math"
	"math/rand/v2"
	"testing"
)

func quantize(x []float32) Q8 {
	q := NewQ8(len(x))
	QuantizeQ8(q, x)
	return q
}

func TestQuantizeQ8(t *testing.T) { both(t, testQuantizeQ8) }

// The assembly quantizer gives the Go one's bits, exact halves, signed
// zeros, tiny and huge values, zero and non-finite blocks included.
func TestAsmQuantizeMatchesGo(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	defer SetAccelerated(SetAccelerated(true))
	r := rand.New(rand.NewPCG(19, 20))
	const nb = 64
	x := randVec(r, nb*Q8Block)
	for b := range nb {
		blk := x[b*Q8Block : (b+1)*Q8Block]
		switch b % 8 {
		case 1: // values on exact halves of the scale: max 127, others k + 1/2
			blk[0] = 127
			for i := 1; i < len(blk); i++ {
				blk[i] = float32(i-16) + 0.5
			}
		case 2:
			clear(blk)
			blk[3] = float32(math.Copysign(0, -1))
		case 3:
			for i := range blk {
				blk[i] *= 1e-30
			}
		case 4:
			for i := range blk {
				blk[i] *= 1e37
			}
		case 5:
			blk[b%Q8Block] = float32(math.NaN())
		case 6:
			blk[31] = float32(math.Inf(-1))
		case 7:
			blk[0] = math.MaxFloat32
		}
	}
	asm, ref := NewQ8(len(x)), NewQ8(len(x))
	QuantizeQ8(asm, x)
	SetAccelerated(false)
	QuantizeQ8(ref, x)
	SetAccelerated(true)
	for b := range nb {
		if math.Float32bits(asm.D[b]) != math.Float32bits(ref.D[b]) && !(math.IsNaN(float64(asm.D[b])) && math.IsNaN(float64(ref.D[b]))) {
			t.Fatalf("block %d: scale %v, Go's %v", b, asm.D[b], ref.D[b])
		}
	}
	for i := range asm.Q {
		if asm.Q[i] != ref.Q[i] {
			t.Fatalf("value %d (%v): %d, Go's %d", i, x[i], asm.Q[i], ref.Q[i])
		}
	}
}

func testQuantizeQ8(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := randVec(r, 8*Q8Block)
	for i := range x {
		x[i] *= float32(1 + i/Q8Block) // blocks of different scales
	}
	clear(x[2*Q8Block : 3*Q8Block]) // an all-zero block
	x[5*Q8Block+3] = 1e6            // one outlier sets its block's scale
	q := quantize(x)
	back := make([]float32, len(x))
	DequantizeQ8(back, q)
	for b := range len(x) / Q8Block {
		var amax float64
		for _, v := range x[b*Q8Block : (b+1)*Q8Block] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		if d := float64(q.D[b]); math.Abs(d-amax/127) > 1e-6*amax/127 {
			t.Fatalf("block %d: scale %g, want max|x|/127 = %g", b, d, amax/127)
		}
		for i := b * Q8Block; i < (b+1)*Q8Block; i++ {
			if q.Q[i] < -127 {
				t.Fatalf("Q[%d] = %d: below -127", i, q.Q[i])
			}
			if e := math.Abs(float64(back[i] - x[i])); e > 0.5*float64(q.D[b])*(1+1e-5) {
				t.Fatalf("value %d: %g back as %g: error %g over half the scale %g", i, x[i], back[i], e, q.D[b])
			}
		}
	}
	if q.Q[5*Q8Block+3] != 127 {
		t.Errorf("the largest value of a block quantizes to %d, want 127", q.Q[5*Q8Block+3])
	}
	x[Q8Block+4] = -x[Q8Block+4] - 1e3 // a negative maximum
	q = quantize(x)
	if q.Q[Q8Block+4] != -127 {
		t.Errorf("the most negative value of a block quantizes to %d, want -127", q.Q[Q8Block+4])
	}
	// Non-finite blocks are NaN, not a finite wrong number.
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x[7*Q8Block+1] = bad
		q = quantize(x)
		if !math.IsNaN(float64(q.D[7])) || !math.IsNaN(float64(refDotQ8(q, quantize(randVec(r, len(x)))))) {
			t.Errorf("%v in a block: scale %v; want NaN and a NaN dot product", bad, q.D[7])
		}
		if math.IsNaN(float64(q.D[6])) {
			t.Errorf("%v in block 7 spoils block 6", bad)
		}
	}
}

// naiveQ8 is the float64 reference of MatMulRowsQ8 over all rows: the
// dequantized values multiplied and summed in float64.
func naiveQ8(w Q8, b []float32, x Q8, t, in, nOut int) []float32 {
	wf, xf := make([]float32, w.Len()), make([]float32, x.Len())
	DequantizeQ8(wf, w)
	DequantizeQ8(xf, x)
	return naive(wf, b, xf, t, in, nOut)
}

var q8Shapes = []struct{ t, in, nOut int }{
	{1, 32, 1}, {1, 64, 192}, {1, 64, 65}, {1, 96, 7}, {1, 256, 768}, {1, 768, 3}, {1, 3072, 9},
	{2, 256, 65}, {3, 64, 64}, {4, 64, 9}, {5, 96, 13}, {6, 256, 1030}, {7, 32, 5},
}

func TestMatMulQ8MatchesFloat64(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, s := range q8Shapes {
			w, x := quantize(randVec(r, s.nOut*s.in)), quantize(randVec(r, s.t*s.in))
			b := randVec(r, s.nOut)
			want := naiveQ8(w, b, x, s.t, s.in, s.nOut)
			got := make([]float32, s.t*s.nOut)
			// In three parts of rows, as a pool's workers compute them, with
			// NaN where nothing may be left.
			for i := range got {
				got[i] = float32(math.NaN())
			}
			for part := range 3 {
				lo, hi := Split(s.nOut, part, 3, 4)
				MatMulRowsQ8(got, w, b, x, s.t, s.in, s.nOut, lo, hi)
			}
			within(t, "MatMulRowsQ8", want, got, 1e-5*math.Sqrt(float64(s.in)))
		}
	})
}

func TestAsmMatchesGoQ8(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	defer SetAccelerated(SetAccelerated(true))
	r := rand.New(rand.NewPCG(15, 16))
	for _, s := range q8Shapes {
		w, x := quantize(randVec(r, s.nOut*s.in)), quantize(randVec(r, s.t*s.in))
		// Extreme values: every product at +-127*127, the pairs that could
		// saturate int16 if |x| or w reached 128.
		for i := range w.Q[:min(len(w.Q), 3*Q8Block)] {
			w.Q[i], x.Q[i%len(x.Q)] = 127, int8(-127+254*(i%2))
		}
		asm, ref := make([]float32, s.t*s.nOut), make([]float32, s.t*s.nOut)
		MatMulRowsQ8(asm, w, nil, x, s.t, s.in, s.nOut, 0, s.nOut)
		SetAccelerated(false)
		MatMulRowsQ8(ref, w, nil, x, s.t, s.in, s.nOut, 0, s.nOut)
		SetAccelerated(true)
		within(t, "MatMulRowsQ8 asm vs go", ref, asm, 1e-5*math.Sqrt(float64(s.in)))
		within(t, "MatMulRowsQ8 asm vs float64", naiveQ8(w, nil, x, s.t, s.in, s.nOut), asm, 1e-5*math.Sqrt(float64(s.in)))
	}
}

func TestCheckQ8Len(t *testing.T) {
	for _, n := range []int{0, -32, 31, 48} {
		if err := CheckQ8Len("n_embd", n); err == nil {
			t.Errorf("CheckQ8Len(%d) = nil", n)
		}
	}
	if err := CheckQ8Len("n_embd", 64); err != nil {
		t.Error(err)
	}
}

// BenchmarkMatVecQ8 is one decode product of GPT-2-small's MLP (768 ->
// 3072) on one core, its weights from memory (each op reads the next of as
// many copies as fill 256 MiB of fp16): fp16 against int8 read one row
// after the other (dotsQ8_1, what decode uses) and four rows at a time
// (dotsQ8_4). MB/s counts the weights as 2 bytes, so that the rates
// compare as products per second.
func BenchmarkMatVecQ8(b *testing.B) {
	if !hasAsm {
		b.Skip("no assembly kernels")
	}
	const in, nOut, total = 768, 3072, 256 << 20
	n := in * nOut
	copies := total / (2 * n)
	r := rand.New(rand.NewPCG(17, 18))
	w := randVec(r, n)
	h := make([]uint16, copies*n)
	FloatToHalf(h[:n], w)
	q := NewQ8(copies * n)
	QuantizeQ8(q.Slice(0, n), w)
	for c := 1; c < copies; c++ {
		copy(h[c*n:(c+1)*n], h[:n])
		copy(q.Q[c*n:(c+1)*n], q.Q[:n])
		copy(q.D[c*n/Q8Block:(c+1)*n/Q8Block], q.D[:n/Q8Block])
	}
	x := randVec(r, in)
	xq := quantize(x)
	out := make([]float32, nOut)
	b.Run("dtype=fp16", func(b *testing.B) {
		b.SetBytes(2 * int64(n))
		c := 0
		for b.Loop() {
			MatVecF16(out, h[c*n:(c+1)*n], nil, x)
			c = (c + 1) % copies
		}
	})
	for _, k := range []struct {
		name string
		f    func(out *float32, wq *int8, wd *float32, xq *int8, xd *float32, rows, in int)
	}{{"int8/rows=1", dotsQ8_1}, {"int8/rows=4", dotsQ8_4}} {
		b.Run("dtype="+k.name, func(b *testing.B) {
			b.SetBytes(2 * int64(n))
			c := 0
			for b.Loop() {
				k.f(&out[0], &q.Q[c*n], &q.D[c*n/Q8Block], &xq.Q[0], &xq.D[0], nOut, in)
				c = (c + 1) % copies
			}
		})
	}
	b.Run("quantize-x", func(b *testing.B) {
		x4 := randVec(r, 4*in)
		x4q := NewQ8(4 * in)
		b.SetBytes(4 * 4 * in)
		for b.Loop() {
			QuantizeQ8(x4q, x4)
		}
	})
}
