package cpukern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatMulPanelsMatchesFloat64 checks MatMulPanels in every precision
// against the float64 product of the weights as stored, over shapes that
// take one pass and several (in > PanelK, in not a multiple of it), row
// counts that are not multiples of 4 and x row counts that are not
// multiples of 3; out starts from given values, which must be added to,
// and the columns outside o0..o1 must not be touched.
func TestMatMulPanelsMatchesFloat64(t *testing.T) {
	both(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, s := range []struct{ t, in, nOut, o0, o1 int }{
			{4, 64, PanelRows, 0, PanelRows}, {5, 96, 70, 3, 3 + PanelRows}, {7, 288, 9, 1, 8}, {3, 768, 40, 8, 40},
			{13, 3072, 20, 0, 17}, {1, 32, 4, 0, 4}, {2, 800, PanelRows + 5, 5, PanelRows + 5},
			{20, 256, 64, 16, 64}, {23, 1536, 50, 2, 50}, {14, 96, 40, 3, 40}, // strips of 16 and x rows beyond 6
			{5, 12, 9, 0, 9}, {4, 60, 7, 2, 7}, {3, 774, 5, 0, 5}, // in not a multiple of 8: Go
		} {
			w, start, x := randVec(r, s.nOut*s.in), randVec(r, s.t*s.nOut), randVec(r, s.t*s.in)
			h := make([]uint16, len(w))
			FloatToHalf(h, w)
			var q Q8
			if s.in%Q8Block == 0 {
				q = NewQ8(len(w))
				QuantizeQ8(q, w)
			}
			for _, c := range []struct {
				name string
				w    Weights
			}{{"fp32", Weights{F32: w}}, {"fp16", Weights{F16: h}}, {"int8", Weights{Q8: q}}} {
				if c.name == "int8" && q.Q == nil {
					continue // int8 rows are whole blocks
				}
				stored := make([]float32, len(w))
				switch {
				case c.w.F16 != nil:
					HalfToFloat(stored, h)
				case c.w.Q8.Q != nil:
					DequantizeQ8(stored, q)
				default:
					copy(stored, w)
				}
				want := naive(stored, nil, x, s.t, s.in, s.nOut)
				got := make([]float32, len(start))
				for i := range got {
					got[i] = float32(math.NaN())
				}
				for row := range s.t {
					for o := s.o0; o < s.o1; o++ {
						i := row*s.nOut + o
						want[i] += start[i]
						got[i] = start[i]
					}
				}
				MatMulPanels(got, c.w, x, make([]float32, PanelFloats), s.t, s.in, s.nOut, s.o0, s.o1)
				what := fmt.Sprintf("%s t=%d in=%d rows %d..%d", c.name, s.t, s.in, s.o0, s.o1)
				for row := range s.t {
					for o := range s.nOut {
						i := row*s.nOut + o
						inside := o >= s.o0 && o < s.o1
						if !inside && !math.IsNaN(float64(got[i])) {
							t.Fatalf("%s: out[%d] (column %d) was written", what, i, o)
						}
						if inside && !(math.Abs(float64(got[i]-want[i])) <= 1e-5*math.Sqrt(float64(s.in))*(1+math.Abs(float64(want[i])))) {
							t.Fatalf("%s: out[%d] = %v, want %v", what, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}

// TestWidenAsmMatchesGo checks that the widening kernels give the Go
// conversions' values bit for bit, including half's subnormals, infinities
// and NaNs.
func TestWidenAsmMatchesGo(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	h := make([]uint16, 1<<16)
	for i := range h {
		h[i] = uint16(i)
	}
	want, got := make([]float32, len(h)), make([]float32, len(h))
	HalfToFloat(want, h)
	widenF16(&got[0], &h[0], len(h))
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("widenF16(%#04x) = %#08x, want %#08x", h[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
	r := rand.New(rand.NewPCG(23, 24))
	q := NewQ8(32 * 64)
	QuantizeQ8(q, randVec(r, q.Len()))
	q.Q[0], q.Q[1] = -127, 127
	want, got = make([]float32, q.Len()), make([]float32, q.Len())
	DequantizeQ8(want, q)
	widenQ8(&got[0], &q.Q[0], &q.D[0], len(q.D))
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("widenQ8 value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestStripsMatchWiden checks that widenStrips stores, bit for bit, what
// widen stores, transposed into strips: every half value (subnormals,
// infinities and NaNs included) and int8 blocks with their scales, over
// two strips and a kc that is not the whole row.
func TestStripsMatchWiden(t *testing.T) {
	if !hasAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(27, 28))
	const in, rows, k0, kc = 2048, 2 * StripRows, 64, 1024 + 512
	h := make([]uint16, in*(rows+1))
	for i := range h {
		h[i] = uint16(i) // every half value
	}
	q := NewQ8(len(h))
	QuantizeQ8(q, randVec(r, q.Len()))
	q.Q[in+k0], q.Q[in+k0+1] = -127, 127
	for _, c := range []struct {
		kind string
		w    Weights
	}{{"fp32", Weights{F32: randVec(r, len(h))}}, {"fp16", Weights{F16: h}}, {"int8", Weights{Q8: q}}} {
		w := c.w
		want, got := make([]float32, rows*kc), make([]float32, rows*kc)
		w.widen(want, in, 1, 1+rows, k0, kc)
		w.widenStrips(got, in, 1, rows/StripRows, k0, kc)
		for o := range rows {
			for k := range kc {
				s := o / StripRows
				g := got[s*StripRows*kc+k*StripRows+o%StripRows]
				if math.Float32bits(g) != math.Float32bits(want[o*kc+k]) {
					t.Fatalf("%s: row %d column %d: strip has %v, widen %v", c.kind, o, k, g, want[o*kc+k])
				}
			}
		}
	}
}

// TestMatMulPanelsRefusesBadShapes checks the panics that guard the kernels.
func TestMatMulPanelsRefusesBadShapes(t *testing.T) {
	x, out := make([]float32, 4*40), make([]float32, 4*100)
	for _, c := range []struct {
		name                 string
		w                    Weights
		in, o0, o1, panelLen int
	}{
		{"too many rows", Weights{F32: make([]float32, 100*8)}, 8, 0, PanelRows + 1, PanelFloats},
		{"small panel", Weights{F32: make([]float32, 100*8)}, 8, 0, 4, PanelFloats - 1},
		{"int8 in not a multiple of 32", Weights{Q8: NewQ8(100 * 32)}, 40, 0, 4, PanelFloats},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			MatMulPanels(out, c.w, x, make([]float32, c.panelLen), 2, c.in, 100, c.o0, c.o1)
		}()
	}
}

// BenchmarkMatMulPanels is one core's prompt product of 512 rows at the
// GPT-2-small shapes, every weight type, in GFLOP/s.
func BenchmarkMatMulPanels(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 26))
	const T = 512
	for _, s := range []struct {
		name     string
		in, nOut int
	}{{"attn", 768, 2304}, {"fc", 768, 3072}, {"proj", 3072, 768}} {
		w, x := randVec(r, s.in*s.nOut), randVec(r, T*s.in)
		h := make([]uint16, len(w))
		FloatToHalf(h, w)
		q := NewQ8(len(w))
		QuantizeQ8(q, w)
		out, panel := make([]float32, T*s.nOut), make([]float32, PanelFloats)
		for _, c := range []struct {
			dtype string
			w     Weights
		}{{"fp32", Weights{F32: w}}, {"fp16", Weights{F16: h}}, {"int8", Weights{Q8: q}}} {
			b.Run(s.name+"/dtype="+c.dtype, func(b *testing.B) {
				for b.Loop() {
					for o0 := 0; o0 < s.nOut; o0 += PanelRows {
						MatMulPanels(out, c.w, x, panel, T, s.in, s.nOut, o0, min(s.nOut, o0+PanelRows))
					}
				}
				b.ReportMetric(2*float64(T*s.in*s.nOut)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
