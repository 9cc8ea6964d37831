package cudakern

import "github.com/x448/float16"

// toHalf rounds x to fp16 (round to nearest even), as bit patterns.
func toHalf(x []float32) []uint16 {
	h := make([]uint16, len(x))
	for i, v := range x {
		h[i] = float16.Fromfloat32(v).Bits()
	}
	return h
}

// fromHalf widens fp16 bit patterns to float32.
func fromHalf(h []uint16) []float32 {
	x := make([]float32, len(h))
	for i, v := range h {
		x[i] = float16.Frombits(v).Float32()
	}
	return x
}

// roundHalf returns x rounded to fp16 and widened back: what the device
// holds of a float32 tensor.
func roundHalf(x []float32) []float32 { return fromHalf(toHalf(x)) }
