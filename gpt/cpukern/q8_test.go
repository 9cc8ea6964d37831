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

func TestQuantizeQ8(t *testing.T) {
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
