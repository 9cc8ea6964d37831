package cpukern

import "fmt"

// A prompt's products (many rows of x against one weight matrix) run in
// panels: PanelRows weight rows by PanelK columns, widened once to float32
// into a scratch panel that stays in the core's L2 cache while every row
// of x runs against it. The panel's rows are stored in strips of 16,
// transposed (k-major) as they are widened, which six rows of x at a time
// run against with the gemm kernels; rows past the last whole strip stay
// rows, for the dot-product kernels (three rows of x and four of the
// panel at a time).
// Splitting in into passes keeps both the panel and the slice of x a pass
// reads in cache whatever the width of the matrix (GPT-2's 3072-wide MLP
// projection included), and widening once means an fp16 or int8 weight is
// converted once per prompt instead of once per row of x; the arithmetic
// is float32 for every precision. ggml's CPU backend converts its
// operands before its tiled products in the same spirit.
//
// The sizes were measured with the dot-product kernels alone
// (BenchmarkMatMulPanels, one core, GPT-2-small's three shapes, 512 rows,
// fp32, runs back to back): 48 or 64 rows by 768 columns (a 144 KiB panel
// for 48) ran at 75-86 GFLOP/s, the rate of dotsAccF32_4x3 on data already
// in L1 (84 GFLOP/s); 32 rows, or 256 columns, at 69-79. With the strips,
// in three rounds alternating with the build before them, the same
// benchmark gave 63-88 GFLOP/s against 48-76, 3-33 % more by median per
// shape and type (the 3072-wide projection least).
const (
	// PanelRows is the most output rows one MatMulPanels call computes.
	PanelRows = 48
	// PanelK is the weight columns of one pass (a multiple of Q8Block).
	PanelK = 768
	// PanelFloats is the float32 scratch one concurrent MatMulPanels call
	// needs.
	PanelFloats = PanelRows * PanelK
)

// Weights is a [Out, In] weight matrix in one of the stored precisions:
// exactly one of F32, F16 and Q8 is set.
type Weights struct {
	F32 []float32
	F16 []uint16
	Q8  Q8
}

// widen writes rows o0..o1-1, columns k0..k0+kc-1 of w (in columns) to
// panel as float32 rows of kc values.
func (w Weights) widen(panel []float32, in, o0, o1, k0, kc int) {
	for o := o0; o < o1; o++ {
		dst := panel[(o-o0)*kc : (o-o0+1)*kc]
		src := o*in + k0
		switch {
		case w.F16 != nil:
			if useAsm && kc%8 == 0 {
				widenF16(&dst[0], &w.F16[src], kc)
			} else {
				HalfToFloat(dst, w.F16[src:src+kc])
			}
		case w.Q8.Q != nil:
			if useAsm {
				widenQ8(&dst[0], &w.Q8.Q[src], &w.Q8.D[src/Q8Block], kc/Q8Block)
			} else {
				DequantizeQ8(dst, w.Q8.Slice(src, src+kc))
			}
		default:
			copy(dst, w.F32[src:src+kc])
		}
	}
}

// MatMulPanels adds x @ w^T to out for the outputs o0 <= o < o1 (at most
// PanelRows of them) of each of the t rows of x (width in):
// out[r*nOut+o] += dot(w[o], x[r]). panel is PanelFloats of scratch that
// no other call uses at the same time. in must be a multiple of Q8Block
// for Q8 weights; the assembly runs where it is a multiple of 8, Go
// elsewhere. Each of the in/PanelK passes adds its partial
// dot products to out, so out must hold the starting values (the bias, or
// the residual stream).
func MatMulPanels(out []float32, w Weights, x, panel []float32, t, in, nOut, o0, o1 int) {
	if o0 >= o1 || t <= 0 {
		return
	}
	if o1-o0 > PanelRows || len(panel) < PanelFloats {
		panic(fmt.Sprintf("cpukern: MatMulPanels: %d rows with %d floats of panel (at most %d rows, %d floats)", o1-o0, len(panel), PanelRows, PanelFloats))
	}
	if w.Q8.Q != nil && in%Q8Block != 0 {
		panic(fmt.Sprintf("cpukern: MatMulPanels: int8 weights with in = %d, not a multiple of %d", in, Q8Block))
	}
	_ = out[(t-1)*nOut+o1-1]
	_ = x[t*in-1]
	rows := o1 - o0
	asm := useAsm && in%8 == 0
	ns := 0 // strips of StripRows rows
	if asm {
		ns = rows / StripRows
	}
	rs := ns * StripRows
	for k0 := 0; k0 < in; k0 += PanelK {
		kc := min(PanelK, in-k0)
		w.widenStrips(panel, in, o0, ns, k0, kc)
		stripDots(out[o0:], panel, x[k0:], t, ns, kc, in, nOut)
		w.widen(panel[rs*kc:], in, o0+rs, o1, k0, kc)
		panelDots(out[o0+rs:], panel[rs*kc:], x[k0:], t, rows-rs, kc, in, nOut, asm)
	}
}

// StripRows is the weight rows of a strip: the panel's rows in groups of
// 16, each stored k-major (16 values of column k, then of column k+1) for
// the gemm kernels; the rows past the last whole strip are stored as rows
// for the dot-product kernels.
const StripRows = 16

// widenStrips writes rows o0..o0+16*ns-1, columns k0..k0+kc-1 of w (in
// columns) to ps as ns strips of 16 rows, k-major: row o0+16s+j's column
// k0+k at ps[s*16*kc + k*16 + j]. The assembly only (kc a multiple of 8,
// and of Q8Block for Q8).
func (w Weights) widenStrips(ps []float32, in, o0, ns, k0, kc int) {
	for s := range ns {
		_ = ps[(s+1)*StripRows*kc-1]
		for h := 0; h < StripRows; h += 8 {
			dst := &ps[s*StripRows*kc+h]
			src := (o0+s*StripRows+h)*in + k0
			switch {
			case w.F16 != nil:
				_ = w.F16[src+7*in+kc-1]
				packF16T8(dst, &w.F16[src], in, kc)
			case w.Q8.Q != nil:
				_ = w.Q8.Q[src+7*in+kc-1]
				packQ8T8(dst, &w.Q8.Q[src], &w.Q8.D[src/Q8Block], in, kc)
			default:
				_ = w.F32[src+7*in+kc-1]
				packF32T8(dst, &w.F32[src], in, kc)
			}
		}
	}
}

// gemmKernels[mr] is the gemm kernel for mr rows of x.
var gemmKernels = [...]func(out *float32, p *float32, x *float32, kc, xstride, outstride int){
	nil, gemmAccF32_1x16, gemmAccF32_2x16, gemmAccF32_3x16, gemmAccF32_4x16, gemmAccF32_5x16, gemmAccF32_6x16,
}

// stripDots sets out[r*nOut+o] += dot(row o of the strips, x[r*xstride:][:kc])
// for r < t, o < 16*ns: six rows of x at a time against each strip, their
// 12 accumulators of 8 outputs each held in registers over kc (gemm in
// the generator). The figures are at the top of this file.
func stripDots(out, ps, x []float32, t, ns, kc, xstride, nOut int) {
	if ns == 0 {
		return
	}
	_ = out[(t-1)*nOut+ns*StripRows-1]
	_ = x[(t-1)*xstride+kc-1]
	for tt := 0; tt < t; tt += 6 {
		k := gemmKernels[min(6, t-tt)]
		for s := range ns {
			k(&out[tt*nOut+s*StripRows], &ps[s*StripRows*kc], &x[tt*xstride], kc, xstride, nOut)
		}
	}
}

// panelDots sets out[r*nOut+o] += dot(p[o*kc:][:kc], x[r*xstride:][:kc])
// for r < t, o < rows: three rows of x at a time against every row of the
// panel, with the assembly kernels if asm (kc a multiple of 8). (Splitting
// t or the panel's rows further, so that a part of the panel stays in L1,
// measured slower on GPT-2-small's shapes.)
func panelDots(out, p, x []float32, t, rows, kc, xstride, nOut int, asm bool) {
	if !asm {
		refPanelDots(out, p, x, t, rows, kc, xstride, nOut)
		return
	}
	n4 := rows &^ 3
	tt := 0
	for ; tt+3 <= t; tt += 3 {
		o := tt * nOut
		if n4 > 0 {
			dotsAccF32_4x3(&out[o], &p[0], &x[tt*xstride], n4, kc, kc, xstride, nOut)
		}
		if n4 < rows {
			dotsAccF32_1x3(&out[o+n4], &p[n4*kc], &x[tt*xstride], rows-n4, kc, kc, xstride, nOut)
		}
	}
	for ; tt < t; tt++ {
		o := tt * nOut
		if n4 > 0 {
			dotsAccF32_4x1(&out[o], &p[0], &x[tt*xstride], n4, kc, kc, xstride, nOut)
		}
		if n4 < rows {
			dotsAccF32_1x1(&out[o+n4], &p[n4*kc], &x[tt*xstride], rows-n4, kc, kc, xstride, nOut)
		}
	}
}

// refPanelDots is panelDots in Go.
func refPanelDots(out, p, x []float32, t, rows, kc, xstride, nOut int) {
	for r := range t {
		xr := x[r*xstride : r*xstride+kc]
		dst := out[r*nOut : r*nOut+rows]
		for o := range dst {
			dst[o] += refDot(p[o*kc:(o+1)*kc], xr)
		}
	}
}
