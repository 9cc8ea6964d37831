//go:build cuda

package cudakern

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/labcoreai/tokbench/gpt"
	"gorgonia.org/cu"
)

//go:embed kernels.ptx
var ptxSource string

// gpu is the process-wide CUDA state: device 0, its primary context and
// the kernels of kernels.ptx.
type gpu struct {
	dev    cu.Device
	ctx    cu.CUContext
	mod    cu.Module
	fns    map[string]cu.Function
	name   string
	driver string
	// cc is the compute capability, major*10+minor.
	cc int
}

var (
	gpuOnce sync.Once
	gpuVal  *gpu
	gpuErr  error
)

// getGPU initialises the device, its context and the kernels once per
// process.
func getGPU() (*gpu, error) {
	gpuOnce.Do(func() { gpuVal, gpuErr = initGPU() })
	return gpuVal, gpuErr
}

func initGPU() (*gpu, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cudakern: counting CUDA devices: %v: %w", err, gpt.ErrNoDevice)
	}
	if n == 0 {
		return nil, fmt.Errorf("cudakern: no CUDA device: %w", gpt.ErrNoDevice)
	}
	g := &gpu{fns: map[string]cu.Function{}}
	if g.dev, err = cu.GetDevice(0); err != nil {
		return nil, fmt.Errorf("cudakern: device 0: %v: %w", err, gpt.ErrNoDevice)
	}
	if g.name, err = g.dev.Name(); err != nil {
		return nil, fmt.Errorf("cudakern: device 0 name: %w", err)
	}
	major, err := g.dev.Attribute(cu.ComputeCapabilityMajor)
	if err != nil {
		return nil, fmt.Errorf("cudakern: %s: compute capability: %w", g.name, err)
	}
	minor, err := g.dev.Attribute(cu.ComputeCapabilityMinor)
	if err != nil {
		return nil, fmt.Errorf("cudakern: %s: compute capability: %w", g.name, err)
	}
	g.cc = major*10 + minor
	if g.cc < 80 {
		return nil, fmt.Errorf("cudakern: %s has compute capability %d.%d; the kernels are PTX for compute_80 (Ampere) and newer: %w",
			g.name, major, minor, gpt.ErrNoDevice)
	}
	v := cu.Version()
	g.driver = fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
	if g.ctx, err = g.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cudakern: %s: primary context: %w", g.name, err)
	}
	if err := cu.SetCurrentContext(g.ctx); err != nil {
		return nil, fmt.Errorf("cudakern: %s: set context: %w", g.name, err)
	}
	if g.mod, err = cu.LoadData(ptxSource); err != nil {
		return nil, fmt.Errorf("cudakern: %s: JIT of kernels.ptx (driver %s): %w%s", g.name, g.driver, err, jitLog())
	}
	for name := range kernelArity {
		fn, err := g.mod.Function(name)
		if err != nil {
			return nil, fmt.Errorf("cudakern: kernels.ptx: kernel %q: %w", name, err)
		}
		g.fns[name] = fn
	}
	return g, nil
}

// jitLog reloads the PTX with an error log buffer, to say why the JIT
// failed.
func jitLog() string {
	buf := make([]byte, 1<<14)
	_, err := cu.LoadDataEx(ptxSource, &cu.JITErrorLogBuffer{Buffer: buf})
	if err == nil {
		return ""
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return "\nJIT log: " + string(buf)
}

// bind makes the context current on this OS thread until release is
// called: the driver API works on the calling thread's current context and
// goroutines move between threads.
func (g *gpu) bind() (release func(), err error) {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(g.ctx); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cudakern: set context: %w", err)
	}
	return runtime.UnlockOSThread, nil
}

// launcher issues kernels on the default stream. Its argument buffer is
// reused, so a launcher is used by one goroutine at a time.
type launcher struct {
	g    *gpu
	args []uint64
	ptrs []unsafe.Pointer
}

func newLauncher(g *gpu) *launcher {
	l := &launcher{g: g, args: make([]uint64, 16), ptrs: make([]unsafe.Pointer, 16)}
	for i := range l.args {
		l.ptrs[i] = unsafe.Pointer(&l.args[i])
	}
	return l
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

// launch runs kernel name on grid x block with smem bytes of dynamic shared
// memory. Every argument is 8 bytes: a device address (0 for null) or an
// integer.
func (l *launcher) launch(name string, grid, block dim3, smem int, args ...uint64) error {
	fn, ok := l.g.fns[name]
	if !ok {
		return fmt.Errorf("cudakern: no kernel %q", name)
	}
	if len(args) != kernelArity[name] {
		return fmt.Errorf("cudakern: kernel %s takes %d arguments, given %d", name, kernelArity[name], len(args))
	}
	if grid.x <= 0 || grid.y <= 0 || grid.z <= 0 {
		return fmt.Errorf("cudakern: kernel %s: empty grid %v", name, grid)
	}
	if smem > maxSharedMem {
		return fmt.Errorf("cudakern: kernel %s: %d bytes of shared memory, more than %d", name, smem, maxSharedMem)
	}
	copy(l.args, args)
	err := fn.Launch(grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, cu.Stream{}, l.ptrs[:len(args)])
	if err != nil {
		return fmt.Errorf("cudakern: launch %s grid %v block %v: %w", name, grid, block, err)
	}
	return nil
}

// i64 passes an integer kernel argument.
func i64(v int) uint64 { return uint64(int64(v)) }

// ptr passes a device address (0 for a null pointer).
func ptr(p cu.DevicePtr) uint64 { return uint64(p) }

// errClosed is returned by a closed backend.
var errClosed = errors.New("cudakern: backend is closed")
