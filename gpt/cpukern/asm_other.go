//go:build !amd64 || purego

package cpukern

const hasAsm = false

var useAsm = false

// The assembly kernels do not exist in this build; useAsm is always false,
// so these are never called.

func dotsF32_4x1(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsF32_1x1(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsF32_4x3(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsF32_1x3(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsF16_4x3(out *float32, w *uint16, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsF16_1x3(out *float32, w *uint16, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsSeqF32(out *float32, w *float32, x *float32, rows, in, wstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsSeqF16(out *float32, w *uint16, x *float32, rows, in, wstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func axpyRowsF32(out, p, v *float32, n, hd, stride int) {
	panic("cpukern: no assembly kernels in this build")
}
func sumF32(x *float32, n int) float32 {
	panic("cpukern: no assembly kernels in this build")
}
func expSubF32(x *float32, n int, m float32) float32 {
	panic("cpukern: no assembly kernels in this build")
}
func geluF32(x *float32, n int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsQ8_1(out *float32, wq *int8, wd *float32, xq *int8, xd *float32, rows, in int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsQ8_4(out *float32, wq *int8, wd *float32, xq *int8, xd *float32, rows, in int) {
	panic("cpukern: no assembly kernels in this build")
}
func quantizeQ8(q *int8, d *float32, x *float32, nb int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsAccF32_4x1(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsAccF32_1x1(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsAccF32_4x3(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func dotsAccF32_1x3(out *float32, w *float32, x *float32, rows, in, wstride, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func widenF16(dst *float32, src *uint16, n int) {
	panic("cpukern: no assembly kernels in this build")
}
func widenQ8(dst *float32, q *int8, d *float32, nb int) {
	panic("cpukern: no assembly kernels in this build")
}
func scaleMaxF32(x *float32, n int, scale float32) float32 {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_1x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_2x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_3x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_4x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_5x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func gemmAccF32_6x16(out *float32, p *float32, x *float32, kc, xstride, outstride int) {
	panic("cpukern: no assembly kernels in this build")
}
func packF32T8(dst *float32, w *float32, wstride, kc int) {
	panic("cpukern: no assembly kernels in this build")
}
func packF16T8(dst *float32, w *uint16, wstride, kc int) {
	panic("cpukern: no assembly kernels in this build")
}
func packQ8T8(dst *float32, w *int8, d *float32, wstride, kc int) {
	panic("cpukern: no assembly kernels in this build")
}
