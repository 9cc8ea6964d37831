// Command asm generates the AVX2+FMA(+F16C) kernels of package cpukern with
// avo. Run it through go generate in gpt/cpukern:
//
//	cd gpt/cpukern && go generate
//
// It lives in its own module so that avo stays out of tokbench's go.mod.
package main

import (
	"fmt"
	"math"

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
				rowDots(nw, nx, f16, false)
			}
		}
	}
	for _, nx := range []int{1, 3} {
		for _, nw := range []int{4, 1} {
			rowDots(nw, nx, false, true)
		}
	}
	seqDots(false, 4)
	for mr := 1; mr <= 6; mr++ {
		gemm(mr)
	}
	for _, kind := range []string{"F32", "F16", "Q8"} {
		packT8(kind)
	}
	seqDots(true, 4)
	q8Dots(1)
	q8Dots(4)
	quantQ8()
	widenF16()
	widenQ8()
	axpy()
	sum()
	scaleMax()
	expSub()
	geluVec()
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
// With accum the kernel adds the dots to out (out[...] += dot), which is
// how a product split along in (MatMulPanels) sums its parts.
func rowDots(nw, nx int, f16, accum bool) {
	wt, es := "float32", 4
	if f16 {
		wt, es = "uint16", 2
	}
	kind := map[bool]string{false: "F32", true: "F16"}[f16]
	if accum {
		kind = "Acc" + kind
	}
	name := fmt.Sprintf("dots%s_%dx%d", kind, nw, nx)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(out *float32, w *%s, x *float32, rows, in, wstride, xstride, outstride int)", wt))
	Pragma("noescape")
	verb := "computes"
	if accum {
		verb = "adds to out the dots of"
	}
	Doc(fmt.Sprintf("%s %s %d weight row(s) against %d input row(s) per step (see rowDots in the generator).", name, verb, nw, nx))

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
			t := hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j])
			if accum {
				VADDPS(Mem{Base: outs[j]}, t, t)
			}
			VMOVUPS(t, Mem{Base: outs[j]})
		} else {
			t := hsum(acc[0][j])
			if accum {
				VADDSS(Mem{Base: outs[j]}, t, t)
			}
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
	t := hsum(acc[0])
	VZEROUPPER()
	Store(t, ReturnIndex(0))
	RET()
}

// hsum returns an XMM register whose lane 0 holds the sum of a's eight
// lanes.
func hsum(a reg.VecVirtual) reg.VecVirtual {
	t := XMM()
	VEXTRACTF128(Imm(1), a, t)
	VADDPS(t, a.AsX(), t)
	VHADDPS(t, t, t)
	VHADDPS(t, t, t)
	return t
}

// hsum4 returns an XMM register holding the sums of the eight lanes of
// a0, a1, a2 and a3, in that order (a0 and a2 are overwritten).
func hsum4(a0, a1, a2, a3 reg.VecVirtual) reg.VecVirtual {
	VHADDPS(a1, a0, a0) // [a01 a23 b01 b23 | a45 a67 b45 b67]
	VHADDPS(a3, a2, a2)
	VHADDPS(a2, a0, a0) // [a b c d | a' b' c' d']
	t := XMM()
	VEXTRACTF128(Imm(1), a0, t)
	VADDPS(t, a0.AsX(), t)
	return t
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
	VMOVSS(hsum(acc[0]), Mem{Base: out})
	ADDQ(Imm(4), out)
	ADDQ(wstride, w)
	DECQ(rows)
	JMP(LabelRef(name + "_rows"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// q8Dots emits dotsQ8_<nw>: rows (a multiple of nw) rows of 8-bit
// weights against one 8-bit input vector, both in blocks of 32 values with
// a float32 scale each (cpukern.Q8):
//
//	for r < rows: out[r] = sum_{b < in/32} wd[r*in/32+b] * xd[b] *
//	                       sum_{i<32} wq[r*in+32b+i] * xq[32b+i]
//
// in must be a multiple of 32 and the values within -127..127. As ggml's
// q8_0 dot product on AVX2: VPSIGNB moves x's signs onto w, so that
// VPMADDUBSW multiplies |x| (unsigned) by them (signed) into pairs of
// int16 (at most 2*127*127, no saturation); VPMADDWD by ones sums those
// into eight int32, converted to float and scaled per block. nw = 4 shares
// the loads of x across four rows (prefill); nw = 1 reads one row after the
// other as a sequential stream, two blocks a step into two accumulators
// (decode), prefetching the weights q8Prefetch bytes ahead.
func q8Dots(nw int) {
	// q8Prefetch is how far ahead of its loads, in bytes, dotsQ8_1 asks for
	// the weight stream (one 64-byte line a step of two blocks). Unlike
	// dotsSeqF16, where software prefetch only slowed the loop (by 5 % at
	// 2048 bytes and 15 % at 4096, medians of 4 runs), the 8-bit loop's
	// longer arithmetic per byte leaves the hardware prefetcher behind: on
	// DRAM-resident GPT-2-small MLP rows (BenchmarkMatVecQ8,
	// dtype=int8/rows=1, medians of 4 to 8 runs) one core took 19-20 % less
	// time with 2048 and 4096 and 8-15 % less with 512 to 1024; two cores
	// at once took 11-19 % less with 4096 (two series) and 13 % less with
	// 2048. Prefetching the scales as well gave nothing clear.
	const q8Prefetch = 4096
	name := fmt.Sprintf("dotsQ8_%d", nw)
	TEXT(name, NOSPLIT, "func(out *float32, wq *int8, wd *float32, xq *int8, xd *float32, rows, in int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[r] = sum over 32-value blocks b of wd[r*in/32+b]*xd[b]*dot(wq[r*in+32b:][:32], xq[32b:][:32]) for r < rows (a multiple of %d, in a multiple of 32).", name, nw))
	out := Load(Param("out"), GP64())
	wq := Load(Param("wq"), GP64())
	wd := Load(Param("wd"), GP64())
	rows := Load(Param("rows"), GP64())
	in := Load(Param("in"), GP64())
	wds := GP64() // bytes of scales per row: in/32*4
	MOVQ(in, wds)
	SHRQ(U8(3), wds)
	ones := YMM()
	VMOVDQU(vconstU32("ones16", 0x00010001), ones)

	Label(name + "_rows")
	CMPQ(rows, Imm(0))
	JE(LabelRef(name + "_done"))
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	var wq2, wd2 reg.GPVirtual
	if nw == 4 {
		wq2, wd2 = GP64(), GP64()
		LEAQ(Mem{Base: wq, Index: in, Scale: 2}, wq2)
		LEAQ(Mem{Base: wd, Index: wds, Scale: 2}, wd2)
	}
	rowMem := func(i int, base, base2, stride reg.Register, disp int) Mem {
		switch i {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1:
			return Mem{Base: base, Index: stride, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: base2, Disp: disp}
		default:
			return Mem{Base: base2, Index: stride, Scale: 1, Disp: disp}
		}
	}
	nacc := max(nw, 2)
	acc := make([]reg.VecVirtual, nacc)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	nbk := GP64()
	MOVQ(in, nbk)
	SHRQ(U8(5), nbk)
	block := func(j int) { // block j of this step
		dq, dd := 32*j, 4*j
		xv, ax, xs := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: xq, Disp: dq}, xv)
		VPABSB(xv, ax)
		VBROADCASTSS(Mem{Base: xd, Disp: dd}, xs)
		for i := range nw {
			wv, ws := YMM(), YMM()
			VMOVDQU(rowMem(i, wq, wq2, in, dq), wv)
			VPSIGNB(xv, wv, wv)    // w * sign(x)
			VPMADDUBSW(wv, ax, wv) // |x| * that, pairs summed: int16
			VPMADDWD(ones, wv, wv) // pairs summed: int32
			VCVTDQ2PS(wv, wv)
			VMULPS(xs, wv, wv)
			VBROADCASTSS(rowMem(i, wd, wd2, wds, dd), ws)
			VFMADD231PS(wv, ws, acc[i+j])
		}
	}
	advance := func(n int) {
		for _, r := range []reg.Register{xq, wq, wq2} {
			if r != nil {
				ADDQ(Imm(uint64(32*n)), r)
			}
		}
		for _, r := range []reg.Register{xd, wd, wd2} {
			if r != nil {
				ADDQ(Imm(uint64(4*n)), r)
			}
		}
		SUBQ(Imm(uint64(n)), nbk)
	}
	step := nacc / nw // blocks per step
	Label(name + "_k")
	CMPQ(nbk, Imm(uint64(step)))
	JL(LabelRef(name + "_tail"))
	if nw == 1 {
		PREFETCHT0(Mem{Base: wq, Disp: q8Prefetch})
	}
	for j := range step {
		block(j)
	}
	advance(step)
	JMP(LabelRef(name + "_k"))
	Label(name + "_tail")
	if step > 1 {
		CMPQ(nbk, Imm(0))
		JE(LabelRef(name + "_reduce"))
		block(0)
		advance(1)
		JMP(LabelRef(name + "_tail"))
	}
	Label(name + "_reduce")
	if nw == 4 {
		VMOVUPS(hsum4(acc[0], acc[1], acc[2], acc[3]), Mem{Base: out})
		// wq and wd have moved one row on; skip the other three.
		LEAQ(Mem{Base: wq, Index: in, Scale: 2}, wq)
		ADDQ(in, wq)
		LEAQ(Mem{Base: wd, Index: wds, Scale: 2}, wd)
		ADDQ(wds, wd)
	} else {
		VADDPS(acc[1], acc[0], acc[0])
		VMOVSS(hsum(acc[0]), Mem{Base: out})
	}
	ADDQ(Imm(uint64(4*nw)), out)
	SUBQ(Imm(uint64(nw)), rows)
	JMP(LabelRef(name + "_rows"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// quantQ8 emits quantizeQ8: cpukern.QuantizeQ8 on nb blocks of 32 floats,
// bit for bit (the same float32 operations: amax/127, 127/amax, v*id,
// then plus or minus 1/2 and truncation). max|x| is an integer maximum of
// the absolute values' bits, which orders non-negative floats as floats
// do and ranks NaN above Inf, so that a NaN is not lost as VMAXPS would
// lose it.
func quantQ8() {
	const name = "quantizeQ8"
	TEXT(name, NOSPLIT, "func(q *int8, d *float32, x *float32, nb int)")
	Pragma("noescape")
	Doc(name + " quantizes nb blocks of 32 floats of x into q and d, as QuantizeQ8.")
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	x := Load(Param("x"), GP64())
	nb := Load(Param("nb"), GP64())
	absMask, signMask, half := YMM(), YMM(), YMM()
	VMOVUPS(vconstU32("absMask", 0x7fffffff), absMask)
	VMOVUPS(vconstU32("signMask", 0x80000000), signMask)
	VMOVUPS(vconst("half", 0.5), half)
	perm := GLOBL("q8perm", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
	permv := YMM()
	VMOVDQU(perm, permv)
	c127 := XMM()
	VMOVSS(vconst("f127", 127), c127)

	Label(name + "_loop")
	CMPQ(nb, Imm(0))
	JE(LabelRef(name + "_done"))
	xs := make([]reg.VecVirtual, 4)
	as := make([]reg.VecVirtual, 4)
	for i := range xs {
		xs[i], as[i] = YMM(), YMM()
		VMOVUPS(Mem{Base: x, Disp: 32 * i}, xs[i])
		VANDPS(absMask, xs[i], as[i])
	}
	VPMAXSD(as[1], as[0], as[0])
	VPMAXSD(as[3], as[2], as[2])
	VPMAXSD(as[2], as[0], as[0])
	t := XMM()
	VEXTRACTI128(Imm(1), as[0], t)
	VPMAXSD(t, as[0].AsX(), t)
	u := XMM()
	VPSHUFD(Imm(0x4e), t, u)
	VPMAXSD(u, t, t)
	VPSHUFD(Imm(0xb1), t, u)
	VPMAXSD(u, t, t) // amax in every lane
	bits := GP32()
	VMOVD(t, bits)
	CMPL(bits, U32(0x7f800000))
	JAE(LabelRef(name + "_nonfinite"))
	TESTL(bits, bits)
	JE(LabelRef(name + "_zero"))
	ds, ids := XMM(), XMM()
	VDIVSS(c127, t, ds) // amax / 127
	VMOVSS(ds, Mem{Base: d})
	VDIVSS(t, c127, ids) // 127 / amax
	idv := YMM()
	VBROADCASTSS(ids, idv)
	for i := range xs {
		r, h := YMM(), YMM()
		VMULPS(idv, xs[i], r)
		VANDPS(signMask, xs[i], h)
		VORPS(half, h, h)
		VADDPS(h, r, r)
		VCVTTPS2DQ(r, xs[i])
	}
	VPACKSSDW(xs[1], xs[0], xs[0])
	VPACKSSDW(xs[3], xs[2], xs[2])
	VPACKSSWB(xs[2], xs[0], xs[0])
	VPERMD(xs[0], permv, xs[0])
	VMOVDQU(xs[0], Mem{Base: q})
	JMP(LabelRef(name + "_next"))

	Label(name + "_nonfinite")
	MOVL(U32(0x7fc00000), Mem{Base: d}) // NaN
	Label(name + "_zero")
	z := YMM()
	VPXOR(z, z, z)
	VMOVDQU(z, Mem{Base: q})
	CMPL(bits, U32(0))
	JNE(LabelRef(name + "_next"))
	MOVL(U32(0), Mem{Base: d})

	Label(name + "_next")
	ADDQ(Imm(128), x)
	ADDQ(Imm(32), q)
	ADDQ(Imm(4), d)
	DECQ(nb)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// widenF16 emits widenF16: dst[i] = src[i] for i < n (n a multiple of 8),
// IEEE half widened to float32 with VCVTPH2PS, eight values a step.
func widenF16() {
	TEXT("widenF16", NOSPLIT, "func(dst *float32, src *uint16, n int)")
	Pragma("noescape")
	Doc("widenF16 sets dst[i] = src[i] for i < n (n a multiple of 8), half to float32.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	i := GP64()
	XORQ(i, i)
	Label("widenF16_loop")
	CMPQ(i, n)
	JGE(LabelRef("widenF16_done"))
	v := YMM()
	VCVTPH2PS(Mem{Base: src, Index: i, Scale: 2}, v)
	VMOVUPS(v, Mem{Base: dst, Index: i, Scale: 4})
	ADDQ(Imm(8), i)
	JMP(LabelRef("widenF16_loop"))
	Label("widenF16_done")
	VZEROUPPER()
	RET()
}

// widenQ8 emits widenQ8: nb blocks of 32 8-bit values q with a float32
// scale d each, written as float32: dst[32b+i] = d[b] * q[32b+i], as
// cpukern.DequantizeQ8 (one float32 product per value, so bit for bit).
func widenQ8() {
	TEXT("widenQ8", NOSPLIT, "func(dst *float32, q *int8, d *float32, nb int)")
	Pragma("noescape")
	Doc("widenQ8 sets dst[32b+i] = d[b]*q[32b+i] for b < nb, i < 32, as DequantizeQ8.")
	dst := Load(Param("dst"), GP64())
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	nb := Load(Param("nb"), GP64())
	Label("widenQ8_loop")
	CMPQ(nb, Imm(0))
	JE(LabelRef("widenQ8_done"))
	s := YMM()
	VBROADCASTSS(Mem{Base: d}, s)
	for j := range 4 {
		v := YMM()
		VPMOVSXBD(Mem{Base: q, Disp: 8 * j}, v)
		VCVTDQ2PS(v, v)
		VMULPS(s, v, v)
		VMOVUPS(v, Mem{Base: dst, Disp: 32 * j})
	}
	ADDQ(Imm(32), q)
	ADDQ(Imm(4), d)
	ADDQ(Imm(128), dst)
	DECQ(nb)
	JMP(LabelRef("widenQ8_loop"))
	Label("widenQ8_done")
	VZEROUPPER()
	RET()
}

// vconsts holds the 32-byte constants emitted so far, by name.
var vconsts = map[string]Mem{}

// vconst returns a read-only vector of 8 copies of the float32 f. It is
// written as its bit pattern: the assembler reads avo's F32(-87) as the
// integer -87.
func vconst(name string, f float32) Mem {
	return vconstU32(name, math.Float32bits(f))
}

// vconstU32 is vconst for a 32-bit integer (or bit pattern).
func vconstU32(name string, u uint32) Mem {
	if m, ok := vconsts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := range 8 {
		DATA(4*i, U32(u))
	}
	vconsts[name] = m
	return m
}

// vexp sets y = exp(v) for lanes v <= 0, as mathf.go's expf (Cephes:
// n = floor(v*log2e + 1/2), r = v - n*ln2 in two parts, a degree-6
// polynomial, times 2^n), with fused multiply-adds; lanes below -87 (and
// -Inf) give 0 where expf gives at most 1.6e-38.
func vexp(v, y reg.VecVirtual) {
	lo := vconst("expLo", -87)
	vc, t, r, p, rr, ti, mask := YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
	VMAXPS(lo, v, vc)
	VMOVUPS(vconst("log2e", 1.44269504088896341), t)
	VFMADD213PS(vconst("half", 0.5), vc, t) // t = vc*log2e + 0.5
	VROUNDPS(U8(9), t, t)                   // floor, no precision exception
	VMOVAPS(vc, r)
	VFNMADD231PS(vconst("ln2hi", 0.693359375), t, r) // r = vc - t*ln2hi
	VFNMADD231PS(vconst("ln2lo", -2.12194440e-4), t, r)
	VMOVUPS(vconst("expP0", 1.9875691500e-4), p)
	for i, c := range []float32{1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		VFMADD213PS(vconst(fmt.Sprintf("expP%d", i+1), c), r, p) // p = p*r + c
	}
	VMULPS(r, r, rr)
	VADDPS(vconst("one", 1), r, y)
	VFMADD231PS(p, rr, y) // y = p*r*r + r + 1
	VCVTTPS2DQ(t, ti)
	VPADDD(vconstU32("i127", 127), ti, ti)
	VPSLLD(U8(23), ti, ti)
	VMULPS(ti, y, y)              // times 2^n
	VCMPPS(U8(0x1d), lo, v, mask) // v >= -87 (false for NaN)
	VANDPS(mask, y, y)
}

// expSub emits expSubF32: x[i] = exp(x[i] - m) for i < n (n a multiple of
// 8, x[i] <= m), returning their sum: the body of Softmax.
func expSub() {
	const name = "expSubF32"
	TEXT(name, NOSPLIT, "func(x *float32, n int, m float32) float32")
	Pragma("noescape")
	Doc(name + " sets x[i] = exp(x[i]-m) for i < n (n a multiple of 8, x[i] <= m) and returns their sum.")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	ms := Load(Param("m"), XMM())
	mv := YMM()
	VBROADCASTSS(ms, mv)
	acc := YMM()
	VXORPS(acc, acc, acc)
	Label(name + "_loop")
	CMPQ(n, Imm(0))
	JLE(LabelRef(name + "_reduce"))
	v, y := YMM(), YMM()
	VMOVUPS(Mem{Base: x}, v)
	VSUBPS(mv, v, v)
	vexp(v, y)
	VMOVUPS(y, Mem{Base: x})
	VADDPS(y, acc, acc)
	ADDQ(Imm(32), x)
	SUBQ(Imm(8), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_reduce")
	t := hsum(acc)
	VZEROUPPER()
	Store(t, ReturnIndex(0))
	RET()
}

// scaleMax emits scaleMaxF32: x[i] *= scale for i < n (n a multiple of
// 8, at least 8), returning the largest product; a NaN may be passed over
// (VMAXPS), which the caller's check of the result or the exponentials
// that follow bring back.
func scaleMax() {
	const name = "scaleMaxF32"
	TEXT(name, NOSPLIT, "func(x *float32, n int, scale float32) float32")
	Pragma("noescape")
	Doc(name + " sets x[i] *= scale for i < n (n a positive multiple of 8) and returns their maximum.")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	ss := Load(Param("scale"), XMM())
	sv := YMM()
	VBROADCASTSS(ss, sv)
	mx := YMM()
	VMULPS(Mem{Base: x}, sv, mx)
	Label(name + "_loop")
	CMPQ(n, Imm(0))
	JLE(LabelRef(name + "_reduce"))
	v := YMM()
	VMULPS(Mem{Base: x}, sv, v)
	VMOVUPS(v, Mem{Base: x})
	VMAXPS(v, mx, mx)
	ADDQ(Imm(32), x)
	SUBQ(Imm(8), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_reduce")
	t := XMM()
	VEXTRACTF128(Imm(1), mx, t)
	VMAXPS(t, mx.AsX(), t)
	u := XMM()
	VPERMILPS(Imm(0b01001110), t, u)
	VMAXPS(u, t, t)
	VPERMILPS(Imm(0b10110001), t, u)
	VMAXPS(u, t, t)
	VZEROUPPER()
	Store(t, ReturnIndex(0))
	RET()
}

// geluVec emits geluF32: mathf.go's gelu over x[:n] in place (n a multiple
// of 8), eight lanes at a time: erfc(|x|/sqrt 2) from Abramowitz & Stegun
// 7.1.26 with vexp, then x/2*erfc for x < 0 and x*(1 - erfc/2) otherwise.
func geluVec() {
	const name = "geluF32"
	TEXT(name, NOSPLIT, "func(x *float32, n int)")
	Pragma("noescape")
	Doc(name + " applies the exact GELU to x[:n] in place (n a multiple of 8).")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	Label(name + "_loop")
	CMPQ(n, Imm(0))
	JLE(LabelRef(name + "_done"))
	xv, z, t, p, v, e, h, o := YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: x}, xv)
	VANDPS(vconstU32("absMask", 0x7fffffff), xv, z)
	VMULPS(vconst("rsqrt2", 0.70710678118654752), z, z)
	VMOVUPS(vconst("asP", 0.3275911), t)
	VFMADD213PS(vconst("one", 1), z, t) // 1 + p*z
	VMOVUPS(vconst("one", 1), o)
	VDIVPS(t, o, t) // t = 1/(1 + p*z)
	VMOVUPS(vconst("asA5", 1.061405429), p)
	for i, c := range []float32{-1.453152027, 1.421413741, -0.284496736, 0.254829592} {
		VFMADD213PS(vconst(fmt.Sprintf("asA%d", 4-i), c), t, p) // p = p*t + c
	}
	VMULPS(t, p, p)
	VMULPS(z, z, v)
	VXORPS(vconstU32("signMask", 0x80000000), v, v) // -z*z
	vexp(v, e)
	VMULPS(p, e, e) // erfc(|x|/sqrt 2)
	// Negative lanes: x/2*e, with x clamped so that -Inf gives 0, not NaN.
	VMAXPS(vconst("negBig", -3e38), xv, h)
	VMULPS(vconst("half", 0.5), h, h)
	VMULPS(e, h, h)
	// Other lanes: x*(1 - e/2).
	VFNMADD231PS(vconst("half", 0.5), e, o) // o = 1 - e/2
	VMULPS(xv, o, o)
	VBLENDVPS(xv, h, o, o) // sign of x set: h
	VMOVUPS(o, Mem{Base: x})
	ADDQ(Imm(32), x)
	SUBQ(Imm(8), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// gemm emits gemmAccF32_<mr>x16: mr (1 to 6) rows of x against a strip
// of 16 weight rows packed k-major (p[k*16+j] is row j's column k; see
// packT8), adding to out:
//
//	for r < mr, j < 16: out[r*outstride+j] += sum_{k<kc} x[r*xstride+k] * p[k*16+j]
//
// Each step loads two vectors of the strip, broadcasts one value of each
// row of x and runs 2*mr FMAs into as many accumulators: the register
// tile of the classic GEMM micro-kernel (as in BLIS or OpenBLAS), whose
// outputs are whole vectors, so no horizontal sums.
func gemm(mr int) {
	name := fmt.Sprintf("gemmAccF32_%dx16", mr)
	TEXT(name, NOSPLIT, "func(out *float32, p *float32, x *float32, kc, xstride, outstride int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds %d row(s) of x times a k-major strip of 16 weight rows to out (see gemm in the generator).", name, mr))
	out := Load(Param("out"), GP64())
	p := Load(Param("p"), GP64())
	x0 := Load(Param("x"), GP64())
	kc := Load(Param("kc"), GP64())
	xs := Load(Param("xstride"), GP64())
	SHLQ(U8(2), xs)
	x3 := GP64()
	LEAQ(Mem{Base: x0, Index: xs, Scale: 2}, x3)
	ADDQ(xs, x3)
	xm := func(r, disp int) Mem { // row r of x, disp bytes on
		base := x0
		if r >= 3 {
			base, r = x3, r-3
		}
		m := Mem{Base: base, Disp: disp}
		if r > 0 {
			m.Index, m.Scale = xs, uint8(r)
		}
		return m
	}
	acc := make([][2]reg.VecVirtual, mr)
	for r := range acc {
		for h := range 2 {
			acc[r][h] = YMM()
			VXORPS(acc[r][h], acc[r][h], acc[r][h])
		}
	}
	step := func(u int) {
		b0, b1 := YMM(), YMM()
		VMOVUPS(Mem{Base: p, Disp: 64 * u}, b0)
		VMOVUPS(Mem{Base: p, Disp: 64*u + 32}, b1)
		for r := range mr {
			xb := YMM()
			VBROADCASTSS(xm(r, 4*u), xb)
			VFMADD231PS(b0, xb, acc[r][0])
			VFMADD231PS(b1, xb, acc[r][1])
		}
	}
	advance := func(n int) {
		ADDQ(U32(uint32(64*n)), p)
		ADDQ(Imm(uint64(4*n)), x0)
		ADDQ(Imm(uint64(4*n)), x3)
		SUBQ(Imm(uint64(n)), kc)
	}
	Label(name + "_k4")
	CMPQ(kc, Imm(4))
	JL(LabelRef(name + "_k1"))
	for u := range 4 {
		step(u)
	}
	advance(4)
	JMP(LabelRef(name + "_k4"))
	Label(name + "_k1")
	CMPQ(kc, Imm(0))
	JE(LabelRef(name + "_store"))
	step(0)
	advance(1)
	JMP(LabelRef(name + "_k1"))
	Label(name + "_store")
	ostride := Load(Param("outstride"), GP64())
	SHLQ(U8(2), ostride)
	for r := range mr {
		for h := range 2 {
			m := Mem{Base: out, Disp: 32 * h}
			t := YMM()
			VADDPS(m, acc[r][h], t)
			VMOVUPS(t, m)
		}
		if r < mr-1 {
			ADDQ(ostride, out)
		}
	}
	VZEROUPPER()
	RET()
}

// packT8 emits pack<kind>T8: eight weight rows (row stride wstride
// elements), kc columns (a multiple of 8; of 32 for Q8), widened to
// float32 and transposed into half of a strip of 16 (see gemm):
//
//	for k < kc, j < 8: dst[k*16+j] = float32(w[j*wstride+k])
//
// F32 copies, F16 converts with VCVTPH2PS, Q8 (bytes with one float32
// scale per block of 32, d[j*wstride/32+k/32]) multiplies by the scale;
// each takes 8 columns of the 8 rows at a time and transposes them in
// registers.
func packT8(kind string) {
	name := "pack" + kind + "T8"
	wt, es := map[string]string{"F32": "float32", "F16": "uint16", "Q8": "int8"}[kind], map[string]int{"F32": 4, "F16": 2, "Q8": 1}[kind]
	sig := fmt.Sprintf("func(dst *float32, w *%s, wstride, kc int)", wt)
	if kind == "Q8" {
		sig = "func(dst *float32, w *int8, d *float32, wstride, kc int)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s widens eight %s weight rows to float32, transposed into half of a k-major strip of 16 (see packT8 in the generator).", name, wt))
	dst := Load(Param("dst"), GP64())
	w0 := Load(Param("w"), GP64())
	ws := Load(Param("wstride"), GP64())
	kc := Load(Param("kc"), GP64())
	if es > 1 {
		SHLQ(U8(map[int]uint8{2: 1, 4: 2}[es]), ws)
	}
	// Rows 0-2 from w0, 3-5 from w3, 6-7 from w6, indexed by ws.
	bases := func(b0, stride reg.Register) (reg.Register, reg.Register) {
		b3, b6 := GP64(), GP64()
		LEAQ(Mem{Base: b0, Index: stride, Scale: 2}, b3)
		ADDQ(stride, b3)
		LEAQ(Mem{Base: b3, Index: stride, Scale: 2}, b6)
		ADDQ(stride, b6)
		return b3, b6
	}
	rowMem := func(j int, b0, b3, b6, stride reg.Register) Mem {
		base := []reg.Register{b0, b3, b6}[j/3]
		m := Mem{Base: base}
		if j%3 > 0 {
			m.Index, m.Scale = stride, uint8(j%3)
		}
		return m
	}
	w3, w6 := bases(w0, ws)
	var d0, d3, d6, ds reg.Register
	if kind == "Q8" {
		d0 = Load(Param("d"), GP64())
		ds = GP64() // bytes of scales per row: wstride/32*4
		MOVQ(ws, ds)
		SHRQ(U8(3), ds)
		d3, d6 = bases(d0, ds)
	}
	// one step: columns k..k+7 of the eight rows, transposed to dst.
	step := func(sub int) {
		r := make([]reg.VecVirtual, 8)
		for j := range r {
			r[j] = YMM()
			m := rowMem(j, w0, w3, w6, ws)
			m.Disp = 8 * es * sub
			switch kind {
			case "F32":
				VMOVUPS(m, r[j])
			case "F16":
				VCVTPH2PS(m, r[j])
			case "Q8":
				VPMOVSXBD(m, r[j])
				VCVTDQ2PS(r[j], r[j])
				sc := YMM()
				VBROADCASTSS(rowMem(j, d0, d3, d6, ds), sc)
				VMULPS(sc, r[j], r[j])
			}
		}
		t := make([]reg.VecVirtual, 8)
		for j := 0; j < 8; j += 2 {
			t[j], t[j+1] = YMM(), YMM()
			VUNPCKLPS(r[j+1], r[j], t[j])
			VUNPCKHPS(r[j+1], r[j], t[j+1])
		}
		u := make([]reg.VecVirtual, 8)
		for q := 0; q < 8; q += 4 { // t0,t2 -> u0,u1; t1,t3 -> u2,u3
			for i, pr := range [][2]int{{0, 2}, {0, 2}, {1, 3}, {1, 3}} {
				u[q+i] = YMM()
				imm := uint8(0x44)
				if i%2 == 1 {
					imm = 0xEE
				}
				VSHUFPS(U8(imm), t[q+pr[1]], t[q+pr[0]], u[q+i])
			}
		}
		for i := range 4 {
			lo, hi := YMM(), YMM()
			VPERM2F128(U8(0x20), u[4+i], u[i], lo)
			VPERM2F128(U8(0x31), u[4+i], u[i], hi)
			VMOVUPS(lo, Mem{Base: dst, Disp: 64*i + 512*sub})
			VMOVUPS(hi, Mem{Base: dst, Disp: 64*(i+4) + 512*sub})
		}
	}
	n := 1 // columns steps of 8 per loop iteration
	if kind == "Q8" {
		n = 4 // a block of 32 shares its scale
	}
	Label(name + "_k")
	CMPQ(kc, Imm(0))
	JLE(LabelRef(name + "_done"))
	for sub := range n {
		step(sub)
	}
	ADDQ(U32(uint32(512*n)), dst)
	for _, b := range []reg.Register{w0, w3, w6} {
		ADDQ(Imm(uint64(8*es*n)), b)
	}
	if kind == "Q8" {
		for _, b := range []reg.Register{d0, d3, d6} {
			ADDQ(Imm(4), b)
		}
	}
	SUBQ(Imm(uint64(8*n)), kc)
	JMP(LabelRef(name + "_k"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
