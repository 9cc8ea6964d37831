// Command asm generates the AVX2+FMA(+F16C) kernels of package cpukern with
// avo. Run it through go generate in gpt/cpukern:
//
//	cd gpt/cpukern && go generate
//
// It lives in its own module so that avo stays out of tokbench's go.mod.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
	for _, f16 := range []bool{false, true} {
		for _, nx := range []int{1, 3} {
			for _, nw := range []int{4, 1} {
				if f16 && nx == 1 {
					continue // the decode products use dotsSeqF16
				}
				rowDots(nw, nx, f16)
			}
		}
	}
	seqDots(false, 4)
	seqDots(true, 4)
	axpy()
	sum()
	Generate()
}

// rowDots emits a kernel computing nw weight rows against nx input rows per
// step:
//
//	for r := 0; r < rows; r += nw
//	    for j < nx, i < nw: out[j*outstride + r+i] = dot(w[(r+i)*wstride:][:in], x[j*xstride:][:in])
//
// rows must be a multiple of nw and in a multiple of 8; strides count
// elements. With f16 the weights are IEEE half, widened with VCVTPH2PS.
func rowDots(nw, nx int, f16 bool) {
	wt, es := "float32", 4
	if f16 {
		wt, es = "uint16", 2
	}
	name := fmt.Sprintf("dots%s_%dx%d", map[bool]string{false: "F32", true: "F16"}[f16], nw, nx)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(out *float32, w *%s, x *float32, rows, in, wstride, xstride, outstride int)", wt))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d weight row(s) against %d input row(s) per step (see rowDots in the generator).", name, nw, nx))

	out := Load(Param("out"), GP64())
	w := Load(Param("w"), GP64())
	x0 := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	in := Load(Param("in"), GP64())
	wstride := Load(Param("wstride"), GP64())
	if es == 4 {
		SHLQ(U8(2), wstride)
	} else {
		SHLQ(U8(1), wstride)
	}
	xs := []reg.Register{x0}
	outs := []reg.Register{out}
	if nx > 1 {
		xstride := Load(Param("xstride"), GP64())
		SHLQ(U8(2), xstride)
		ostride := Load(Param("outstride"), GP64())
		SHLQ(U8(2), ostride)
		for j := 1; j < nx; j++ {
			xj := GP64()
			LEAQ(Mem{Base: xs[j-1], Index: xstride, Scale: 1}, xj)
			xs = append(xs, xj)
			oj := GP64()
			LEAQ(Mem{Base: outs[j-1], Index: ostride, Scale: 1}, oj)
			outs = append(outs, oj)
		}
	}

	Label(name + "_rows")
	CMPQ(rows, Imm(0))
	JE(LabelRef(name + "_done"))
	// Row pointers of this step.
	ws := []reg.Register{w}
	for i := 1; i < nw; i++ {
		wi := GP64()
		LEAQ(Mem{Base: ws[i-1], Index: wstride, Scale: 1}, wi)
		ws = append(ws, wi)
	}
	acc := make([][]reg.VecVirtual, nw)
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, nx)
		for j := range acc[i] {
			acc[i][j] = YMM()
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	// Decode kernels (nx == 1) prefetch the next nw rows while they read
	// these: consecutive rows are short streams that the hardware
	// prefetchers do not ramp up on. Prefetching past the end is harmless.
	var pf []Mem
	if nx == 1 {
		nb := GP64()
		LEAQ(Mem{Base: ws[nw-1], Index: wstride, Scale: 1}, nb)
		// The next block is nw*in*es bytes; k advances 8 elements per
		// iteration, so base + scale*k walks it in len(pf) pieces.
		switch {
		case nw == 4 && !f16: // 16*in bytes: two halves at 8 bytes per element of k
			nb2 := GP64()
			MOVQ(in, nb2)
			SHLQ(U8(3), nb2)
			ADDQ(nb, nb2)
			pf = []Mem{{Base: nb, Index: k0(), Scale: 8}, {Base: nb2, Index: k0(), Scale: 8}}
		case nw == 4: // 8*in bytes
			pf = []Mem{{Base: nb, Index: k0(), Scale: 8}}
		default: // es*in bytes
			pf = []Mem{{Base: nb, Index: k0(), Scale: uint8(es)}}
		}
	}
	k := GP64()
	XORQ(k, k)
	for i := range pf {
		pf[i].Index = k
	}
	Label(name + "_k")
	CMPQ(k, in)
	JGE(LabelRef(name + "_reduce"))
	for _, m := range pf {
		PREFETCHT0(m)
	}
	xv := make([]reg.VecVirtual, nx)
	for j := range xv {
		xv[j] = YMM()
		VMOVUPS(Mem{Base: xs[j], Index: k, Scale: 4}, xv[j])
	}
	for i := range nw {
		wm := Mem{Base: ws[i], Index: k, Scale: uint8(es)}
		if !f16 && nx == 1 {
			VFMADD231PS(wm, xv[0], acc[i][0])
			continue
		}
		wv := YMM()
		if f16 {
			VCVTPH2PS(wm, wv)
		} else {
			VMOVUPS(wm, wv)
		}
		for j := range nx {
			VFMADD231PS(wv, xv[j], acc[i][j])
		}
	}
	ADDQ(Imm(8), k)
	JMP(LabelRef(name + "_k"))

	Label(name + "_reduce")
	for j := range nx {
		if nw == 4 {
			a0, a1, a2, a3 := acc[0][j], acc[1][j], acc[2][j], acc[3][j]
			VHADDPS(a1, a0, a0) // [a01 a23 b01 b23 | a45 a67 b45 b67]
			VHADDPS(a3, a2, a2)
			VHADDPS(a2, a0, a0) // [a b c d | a' b' c' d']
			t := XMM()
			VEXTRACTF128(Imm(1), a0, t)
			VADDPS(t, a0.AsX(), t)
			VMOVUPS(t, Mem{Base: outs[j]})
		} else {
			a := acc[0][j]
			t := XMM()
			VEXTRACTF128(Imm(1), a, t)
			VADDPS(t, a.AsX(), t)
			VHADDPS(t, t, t)
			VHADDPS(t, t, t)
			VMOVSS(t, Mem{Base: outs[j]})
		}
		ADDQ(Imm(uint64(4*nw)), outs[j])
	}
	// Next nw rows.
	for range nw {
		ADDQ(wstride, w)
	}
	SUBQ(Imm(uint64(nw)), rows)
	JMP(LabelRef(name + "_rows"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// axpy emits axpyRowsF32: out[i] = sum_{j<n} p[j] * v[j*stride+i] for
// i < hd; hd must be a multiple of 8, stride counts elements.
func axpy() {
	const name = "axpyRowsF32"
	TEXT(name, NOSPLIT, "func(out, p, v *float32, n, hd, stride int)")
	Pragma("noescape")
	Doc(name + " sets out[i] = sum_{j<n} p[j]*v[j*stride+i] for i < hd (hd a multiple of 8).")
	out := Load(Param("out"), GP64())
	p := Load(Param("p"), GP64())
	v := Load(Param("v"), GP64())
	n := Load(Param("n"), GP64())
	hd := Load(Param("hd"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)

	for _, width := range []int{32, 8} {
		lbl := fmt.Sprintf("%s_b%d", name, width)
		nacc := width / 8
		Label(lbl)
		CMPQ(hd, Imm(uint64(width)))
		JL(LabelRef(fmt.Sprintf("%s_b%d_end", name, width)))
		acc := make([]reg.VecVirtual, nacc)
		for i := range acc {
			acc[i] = YMM()
			VXORPS(acc[i], acc[i], acc[i])
		}
		pp, vp, j := GP64(), GP64(), GP64()
		MOVQ(p, pp)
		MOVQ(v, vp)
		MOVQ(n, j)
		Label(lbl + "_j")
		CMPQ(j, Imm(0))
		JE(LabelRef(lbl + "_store"))
		bc := YMM()
		VBROADCASTSS(Mem{Base: pp}, bc)
		for i := range acc {
			VFMADD231PS(Mem{Base: vp, Disp: 32 * i}, bc, acc[i])
		}
		ADDQ(Imm(4), pp)
		ADDQ(stride, vp)
		DECQ(j)
		JMP(LabelRef(lbl + "_j"))
		Label(lbl + "_store")
		for i := range acc {
			VMOVUPS(acc[i], Mem{Base: out, Disp: 32 * i})
		}
		ADDQ(Imm(uint64(4*width)), out)
		ADDQ(Imm(uint64(4*width)), v)
		SUBQ(Imm(uint64(width)), hd)
		JMP(LabelRef(lbl))
		Label(fmt.Sprintf("%s_b%d_end", name, width))
	}
	VZEROUPPER()
	RET()
}

// sum emits sumF32: the sum of n floats (n a multiple of 32), read with
// four independent vector accumulators: the read loop of the memory
// bandwidth benchmark.
func sum() {
	const name = "sumF32"
	TEXT(name, NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc(name + " returns the sum of x[:n] (n a multiple of 32).")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	acc := make([]reg.VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label(name + "_loop")
	CMPQ(n, Imm(0))
	JLE(LabelRef(name + "_reduce"))
	for i := range acc {
		VADDPS(Mem{Base: x, Disp: 32 * i}, acc[i], acc[i])
	}
	ADDQ(Imm(128), x)
	SUBQ(Imm(32), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_reduce")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	t := XMM()
	VEXTRACTF128(Imm(1), acc[0], t)
	VADDPS(t, acc[0].AsX(), t)
	VHADDPS(t, t, t)
	VHADDPS(t, t, t)
	VZEROUPPER()
	Store(t, ReturnIndex(0))
	RET()
}

// k0 is a placeholder index register, replaced by the loop counter.
func k0() reg.Register { return reg.RAX }

// seqDots emits a decode kernel that reads the weight rows one after the
// other, each with unroll independent accumulators:
//
//	for r < rows: out[r] = dot(w[r*wstride:][:in], x[:in])
//
// in must be a multiple of 8. Consecutive rows of a matrix are adjacent, so
// the weights are one sequential stream, as in sumF32, which the hardware
// prefetchers follow at full speed: measured on DRAM-resident GPT-2-small
// matrices (best of 40, one core) this reads at 90-100% of sumF32's rate,
// where four interleaved row streams with software prefetch (rowDots
// 4x1) reached 50-70%, and software prefetch added to this loop only
// slowed it.
func seqDots(f16 bool, unroll int) {
	wt, es := "float32", 4
	name := "dotsSeqF32"
	if f16 {
		wt, es, name = "uint16", 2, "dotsSeqF16"
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(out *float32, w *%s, x *float32, rows, in, wstride int)", wt))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[r] = dot(w[r*wstride:][:in], x[:in]) for r < rows, one row at a time with %d accumulators (in a multiple of 8).", name, unroll))
	out := Load(Param("out"), GP64())
	w := Load(Param("w"), GP64())
	x := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	in := Load(Param("in"), GP64())
	wstride := Load(Param("wstride"), GP64())
	if es == 4 {
		SHLQ(U8(2), wstride)
	} else {
		SHLQ(U8(1), wstride)
	}
	inU := GP64()
	MOVQ(in, inU)
	ANDQ(I32(int32(-8*unroll)), inU)
	Label(name + "_rows")
	CMPQ(rows, Imm(0))
	JE(LabelRef(name + "_done"))
	acc := make([]reg.VecVirtual, unroll)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	k := GP64()
	XORQ(k, k)
	Label(name + "_k")
	CMPQ(k, inU)
	JGE(LabelRef(name + "_tail"))
	for u := range unroll {
		xv := YMM()
		VMOVUPS(Mem{Base: x, Index: k, Scale: 4, Disp: 32 * u}, xv)
		wm := Mem{Base: w, Index: k, Scale: uint8(es), Disp: 8 * es * u}
		if f16 {
			wv := YMM()
			VCVTPH2PS(wm, wv)
			VFMADD231PS(wv, xv, acc[u])
		} else {
			VFMADD231PS(wm, xv, acc[u])
		}
	}
	ADDQ(Imm(uint64(8*unroll)), k)
	JMP(LabelRef(name + "_k"))
	Label(name + "_tail")
	CMPQ(k, in)
	JGE(LabelRef(name + "_reduce"))
	{
		xv := YMM()
		VMOVUPS(Mem{Base: x, Index: k, Scale: 4}, xv)
		wm := Mem{Base: w, Index: k, Scale: uint8(es)}
		if f16 {
			wv := YMM()
			VCVTPH2PS(wm, wv)
			VFMADD231PS(wv, xv, acc[0])
		} else {
			VFMADD231PS(wm, xv, acc[0])
		}
	}
	ADDQ(Imm(8), k)
	JMP(LabelRef(name + "_tail"))
	Label(name + "_reduce")
	for n := unroll; n > 1; n /= 2 {
		for i := range n / 2 {
			VADDPS(acc[i+n/2], acc[i], acc[i])
		}
	}
	t := XMM()
	VEXTRACTF128(Imm(1), acc[0], t)
	VADDPS(t, acc[0].AsX(), t)
	VHADDPS(t, t, t)
	VHADDPS(t, t, t)
	VMOVSS(t, Mem{Base: out})
	ADDQ(Imm(4), out)
	ADDQ(wstride, w)
	DECQ(rows)
	JMP(LabelRef(name + "_rows"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
