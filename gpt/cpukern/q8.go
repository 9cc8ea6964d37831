package cpukern

import (
	"fmt"
	"math"
)

// Q8Block is the number of values that share one scale in a Q8.
const Q8Block = 32

// Q8 is a vector (or a row-major matrix whose rows are whole blocks) of
// 8-bit values in blocks of Q8Block, each with one float32 scale, as
// ggml's q8_0: value i is float32(Q[i]) * D[i/Q8Block]. Q holds -127..127
// only, so that the products of the integer kernels cannot saturate.
type Q8 struct {
	Q []int8
	D []float32
}

// NewQ8 returns a zero Q8 of n values (n a multiple of Q8Block).
func NewQ8(n int) Q8 {
	return Q8{Q: make([]int8, n), D: make([]float32, n/Q8Block)}
}

// Len is the number of values.
func (q Q8) Len() int { return len(q.Q) }

// Slice returns values lo..hi (multiples of Q8Block).
func (q Q8) Slice(lo, hi int) Q8 {
	return Q8{Q: q.Q[lo:hi], D: q.D[lo/Q8Block : hi/Q8Block]}
}

// CheckQ8Len returns an error unless n is a positive multiple of Q8Block.
// what names the quantity in the error.
func CheckQ8Len(what string, n int) error {
	if n <= 0 || n%Q8Block != 0 {
		return fmt.Errorf("%s = %d: 8-bit weights need a positive multiple of %d (one scale per block of %d)", what, n, Q8Block, Q8Block)
	}
	return nil
}

// QuantizeQ8 sets dst to src in blocks of Q8Block: the scale of a block is
// max|x| / 127 and each value is rounded to the nearest multiple of it
// (halves away from zero), so the error of a value is at most half its
// block's scale. A block holding NaN or ±Inf gets the scale NaN (and
// zeros), so that whatever uses it is NaN rather than a finite wrong
// number. len(src) must be a multiple of Q8Block and dst at least as long.
func QuantizeQ8(dst Q8, src []float32) {
	nb := len(src) / Q8Block
	q, d := dst.Q[:nb*Q8Block], dst.D[:nb]
	if useAsm && nb > 0 {
		quantizeQ8(&q[0], &d[0], &src[0], nb)
		return
	}
	for b := range nb {
		x := src[b*Q8Block : (b+1)*Q8Block]
		qb := q[b*Q8Block : (b+1)*Q8Block]
		var amax float32
		for _, v := range x {
			amax = max(amax, math.Float32frombits(math.Float32bits(v)&0x7fffffff))
		}
		if !(amax <= math.MaxFloat32) { // NaN or Inf
			d[b] = float32(math.NaN())
			clear(qb)
			continue
		}
		if amax == 0 {
			d[b] = 0
			clear(qb)
			continue
		}
		d[b] = amax / 127
		id := 127 / amax
		for i, v := range x {
			// |v*id| <= 127 (+ rounding): clamp so that no value leaves
			// -127..127.
			r := v * id
			if r >= 0 {
				qb[i] = int8(min(r+0.5, 127))
			} else {
				qb[i] = int8(max(r-0.5, -127))
			}
		}
	}
}

// DequantizeQ8 sets dst[i] to the value i of src.
func DequantizeQ8(dst []float32, src Q8) {
	dst = dst[:len(src.Q)]
	for b, d := range src.D {
		for i, v := range src.Q[b*Q8Block : (b+1)*Q8Block] {
			dst[b*Q8Block+i] = float32(v) * d
		}
	}
}

// MatMulRowsQ8 is MatMulRows with 8-bit weights w ([nOut, in]) and an
// input x already quantized to 8 bits (QuantizeQ8 over its t rows of
// width in): out[r*nOut+o] = b[o] + sum over blocks k of w.D[..] * x.D[..]
// * (the integer dot product of the block), for o0 <= o < o1. in must be a
// multiple of Q8Block.
func MatMulRowsQ8(out []float32, w Q8, b []float32, x Q8, t, in, nOut, o0, o1 int) {
	if o0 >= o1 || t <= 0 {
		return
	}
	if in <= 0 || in%Q8Block != 0 {
		panic(fmt.Sprintf("cpukern: MatMulRowsQ8: in = %d is not a multiple of %d", in, Q8Block))
	}
	nb := in / Q8Block
	w = w.Slice(o0*in, o1*in)
	x = x.Slice(0, t*in)
	_ = out[(t-1)*nOut+o1-1]
	rows := o1 - o0
	if !useAsm {
		for r := range t {
			xr := x.Slice(r*in, (r+1)*in)
			dst := out[r*nOut+o0 : r*nOut+o1]
			for o := range dst {
				dst[o] = refDotQ8(w.Slice(o*in, (o+1)*in), xr)
			}
		}
	} else {
		blk := rows
		if t > 1 {
			blk = max(4, blockBytes/in&^3)
		}
		for r0 := 0; r0 < rows; r0 += blk {
			nr := min(blk, rows-r0)
			n4 := nr &^ 3
			for tt := range t {
				o := tt*nOut + o0 + r0
				xq, xd := &x.Q[tt*in], &x.D[tt*nb]
				if t == 1 {
					dotsQ8_1(&out[o], &w.Q[r0*in], &w.D[r0*nb], xq, xd, nr, in)
					continue
				}
				if n4 > 0 {
					dotsQ8_4(&out[o], &w.Q[r0*in], &w.D[r0*nb], xq, xd, n4, in)
				}
				if n4 < nr {
					dotsQ8_1(&out[o+n4], &w.Q[(r0+n4)*in], &w.D[(r0+n4)*nb], xq, xd, nr-n4, in)
				}
			}
		}
	}
	addBias(out, b, t, nOut, o0, o1)
}

// refDotQ8 is the pure-Go dot product of two Q8 vectors of the same
// length: exact integer sums per block, each times the product of the two
// scales, summed in float32.
func refDotQ8(w, x Q8) float32 {
	var s float32
	xq := x.Q[:len(w.Q)]
	xd := x.D[:len(w.D)]
	for b, wd := range w.D {
		wb, xb := w.Q[b*Q8Block:(b+1)*Q8Block], xq[b*Q8Block:(b+1)*Q8Block]
		var is int32
		for i, v := range wb {
			is += int32(v) * int32(xb[i])
		}
		s += float32(is) * (wd * xd[b])
	}
	return s
}
