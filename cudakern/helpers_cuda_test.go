//go:build cuda

package cudakern

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"gorgonia.org/cu"
)

// dev is a test's handle on the GPU: the context bound to the test's OS
// thread, an allocator freed at the end, a launcher.
type dev struct {
	t *testing.T
	a *Allocator
	l *launcher
}

// newDev binds the GPU to the calling test; call it at the start of every
// test and subtest that touches the GPU.
func newDev(t *testing.T) *dev {
	t.Helper()
	g, err := getGPU()
	require.NoError(t, err)
	release, err := g.bind()
	require.NoError(t, err)
	d := &dev{t: t, a: NewAllocator(), l: newLauncher(g)}
	t.Cleanup(func() {
		require.NoError(t, cu.Synchronize())
		require.NoError(t, d.a.FreeAll())
		release()
	})
	return d
}

func (d *dev) half(x []float32) cu.DevicePtr {
	p, err := d.a.uploadHalf(x)
	require.NoError(d.t, err)
	return p
}

func (d *dev) float(x []float32) cu.DevicePtr {
	p, err := d.a.uploadFloat(x)
	require.NoError(d.t, err)
	return p
}

func (d *dev) int32s(x []int32) cu.DevicePtr {
	p, err := d.a.upload(unsafe.Pointer(&x[0]), int64(len(x))*4)
	require.NoError(d.t, err)
	return p
}

func (d *dev) zeros(n int64) cu.DevicePtr {
	p, err := d.a.Alloc(n)
	require.NoError(d.t, err)
	require.NoError(d.t, cu.MemsetD8(p, 0, n))
	return p
}

func (d *dev) readHalf(p cu.DevicePtr, n int) []float32 {
	h := make([]uint16, n)
	require.NoError(d.t, cu.MemcpyDtoH(unsafe.Pointer(&h[0]), p, int64(n)*2))
	return fromHalf(h)
}

func (d *dev) readFloat(p cu.DevicePtr, n int) []float32 {
	x := make([]float32, n)
	require.NoError(d.t, cu.MemcpyDtoH(unsafe.Pointer(&x[0]), p, int64(n)*4))
	return x
}

func (d *dev) launch(name string, grid, block dim3, smem int, args ...uint64) {
	d.t.Helper()
	require.NoError(d.t, d.l.launch(name, grid, block, smem, args...))
	require.NoError(d.t, cu.Synchronize(), "kernel %s", name)
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// maxErr is max |want-got| / max(1, max |want|).
func maxErr(want, got []float32) float64 {
	var scale, diff float64 = 1, 0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		d := math.Abs(float64(want[i]) - float64(got[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = math.Max(diff, d)
	}
	return diff / scale
}

func assertNear(t *testing.T, want, got []float32, tol float64, what string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	e := maxErr(want, got)
	if e > tol || math.IsNaN(e) {
		t.Errorf("%s: max error %.3g (relative to max(1, max|want|)) > %.3g", sprintf(what, args...), e, tol)
	}
}

func gelu64(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }

type stringsBuilder = strings.Builder
