// Package cpukern holds the CPU kernels of the forward pass: matrix-vector
// and matrix-matrix products with bias, LayerNorm, exact GELU, softmax and
// attention over a KV cache. Each kernel is small and written plainly in Go;
// weights are row-major [out, in] as PyTorch's nn.Linear stores them.
package cpukern

import (
	"math"
)

// LNEps is the LayerNorm epsilon of upstream's nn.LayerNorm.
const LNEps = 1e-5

// MatVec sets out[o] = b[o] + sum_i w[o*in+i] * x[i] for o < len(out), with
// in = len(x). b may be nil.
func MatVec(out, w, b, x []float32) {
	in := len(x)
	for o := range out {
		row := w[o*in : o*in+in]
		out[o] = Dot(row, x)
		if b != nil {
			out[o] += b[o]
		}
	}
}

// MatMul sets out[t*nOut+o] = b[o] + dot(w[o], x[t]) for t rows of x of
// width in; w is [nOut, in]. b may be nil.
func MatMul(out, w, b, x []float32, t, in, nOut int) {
	for r := range t {
		MatVec(out[r*nOut:(r+1)*nOut], w, b, x[r*in:(r+1)*in])
	}
}

// Dot returns the dot product of a and b (len(b) >= len(a)).
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// LayerNorm sets out = (x - mean) / sqrt(var + eps) * w + b over one row.
func LayerNorm(out, x, w, b []float32) {
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var vr float64
	for _, v := range x {
		d := float64(v) - mean
		vr += d * d
	}
	vr /= float64(len(x))
	inv := 1 / math.Sqrt(vr+LNEps)
	for i, v := range x {
		out[i] = float32((float64(v)-mean)*inv)*w[i] + b[i]
	}
}

// GELU applies the exact (erf) GELU in place: x * 0.5 * (1 + erf(x/sqrt 2)).
func GELU(x []float32) {
	for i, v := range x {
		x[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
}

// Add sets dst[i] += src[i].
func Add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// Softmax normalises x in place.
func Softmax(x []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var z float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		z += e
	}
	inv := 1 / z
	for i := range x {
		x[i] *= inv
	}
}

// Attend computes one head's attention for one query: out = softmax(q.k_j *
// scale) weighted sum of v_j over n keys. Key j of this head starts at
// k[j*stride] (and likewise v); scores is scratch of at least n.
func Attend(out, q, k, v []float32, n, stride int, scale float32, scores []float32) {
	hd := len(q)
	s := scores[:n]
	for j := range n {
		s[j] = Dot(q, k[j*stride:j*stride+hd]) * scale
	}
	Softmax(s)
	clear(out[:hd])
	for j, p := range s {
		row := v[j*stride : j*stride+hd]
		for i := range hd {
			out[i] += p * row[i]
		}
	}
}

// Rotate applies RoPE to one head vector x in place: pairs (x[2j], x[2j+1])
// rotate by the angle whose cosine and sine are cos[j], sin[j].
func Rotate(x, cos, sin []float32) {
	for j := range len(x) / 2 {
		e, o := x[2*j], x[2*j+1]
		x[2*j] = e*cos[j] - o*sin[j]
		x[2*j+1] = e*sin[j] + o*cos[j]
	}
}
