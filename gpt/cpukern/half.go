package cpukern

import (
	"sync"

	"github.com/x448/float16"
)

// halfTable maps every IEEE half bit pattern to its float32 value.
var halfTable = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return &t
})

// FloatToHalf sets dst[i] to src[i] rounded to the nearest IEEE half
// (ties to even; out of range values become ±Inf).
func FloatToHalf(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float16.Fromfloat32(v).Bits()
	}
}

// HalfToFloat widens IEEE half bits to float32: dst[i] = src[i].
func HalfToFloat(dst []float32, src []uint16) {
	t := halfTable()
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = t[h]
	}
}
