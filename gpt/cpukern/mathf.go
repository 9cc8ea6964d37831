package cpukern

import "math"

// expf is exp for float32 (Cephes' expf: range reduction by ln 2 and a
// degree-6 polynomial, relative error about 1e-7), several times faster
// than float32(math.Exp(float64(x))).
func expf(x float32) float32 {
	if !(x > -87 && x < 88) { // also NaN
		return float32(math.Exp(float64(x)))
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// gelu is the exact (erf) GELU, x/2 * (1 + erf(x/sqrt 2)), with erfc from
// Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), so that the
// negative tail keeps its relative precision.
func gelu(x float32) float32 {
	z := x * (1 / math.Sqrt2)
	if z < 0 {
		z = -z
	}
	if z > 9 { // erfc(9) < 1e-36
		if x < 0 {
			return 0
		}
		return x
	}
	t := 1 / (1 + 0.3275911*z)
	poly := t * (0.254829592 + t*(-0.284496736+t*(1.421413741+t*(-1.453152027+t*1.061405429))))
	e := poly * expf(-z*z) // erfc(|x|/sqrt 2)
	if x < 0 {
		return 0.5 * x * e
	}
	return x * (1 - 0.5*e)
}
