//go:build cuda

package cudakern

import (
	"errors"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Allocator owns device allocations: every byte the backend holds on the
// GPU comes from it, so its live total and high-water mark are the
// backend's device memory (SPEC §3's peak VRAM). Its methods must be called
// with the context current (gpu.bind).
type Allocator struct{ t *memTracker }

// NewAllocator returns an allocator that owns nothing yet.
func NewAllocator() *Allocator { return &Allocator{t: newMemTracker()} }

// Alloc allocates n > 0 bytes of device memory.
func (a *Allocator) Alloc(n int64) (cu.DevicePtr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("cudakern: allocation of %d bytes", n)
	}
	p, err := cu.MemAlloc(n)
	if err != nil {
		cur, _, _ := a.t.stats()
		return 0, fmt.Errorf("cudakern: allocating %d bytes (%d held): %w", n, cur, err)
	}
	if err := a.t.add(uint64(p), n); err != nil {
		cu.MemFree(p)
		return 0, err
	}
	return p, nil
}

// Free releases an allocation made by Alloc.
func (a *Allocator) Free(p cu.DevicePtr) error {
	if _, err := a.t.remove(uint64(p)); err != nil {
		return err
	}
	if err := cu.MemFree(p); err != nil {
		return fmt.Errorf("cudakern: freeing %#x: %w", uint64(p), err)
	}
	return nil
}

// FreeAll releases every live allocation.
func (a *Allocator) FreeAll() error {
	var errs []error
	for _, addr := range a.t.addrs() {
		errs = append(errs, a.Free(cu.DevicePtr(addr)))
	}
	return errors.Join(errs...)
}

// Live is the number of bytes currently allocated.
func (a *Allocator) Live() int64 { cur, _, _ := a.t.stats(); return cur }

// Count is the number of live allocations.
func (a *Allocator) Count() int { _, _, n := a.t.stats(); return n }

// PeakBytes is the most bytes live at once since the last ResetPeak.
func (a *Allocator) PeakBytes() int64 { _, peak, _ := a.t.stats(); return peak }

// ResetPeak restarts the high-water mark from the bytes live now.
func (a *Allocator) ResetPeak() { a.t.resetPeak() }

// upload copies host bytes to a new allocation.
func (a *Allocator) upload(data unsafe.Pointer, n int64) (cu.DevicePtr, error) {
	p, err := a.Alloc(n)
	if err != nil {
		return 0, err
	}
	if err := cu.MemcpyHtoD(p, data, n); err != nil {
		a.Free(p)
		return 0, fmt.Errorf("cudakern: copying %d bytes to the device: %w", n, err)
	}
	return p, nil
}

// uploadHalf converts x to fp16 and copies it to a new allocation; a nil
// or empty x gives the null address.
func (a *Allocator) uploadHalf(x []float32) (cu.DevicePtr, error) {
	return a.uploadBits(toHalf(x))
}

// uploadBits copies fp16 bit patterns to a new allocation; an empty h
// gives the null address.
func (a *Allocator) uploadBits(h []uint16) (cu.DevicePtr, error) {
	if len(h) == 0 {
		return 0, nil
	}
	return a.upload(unsafe.Pointer(&h[0]), int64(len(h))*2)
}

// uploadFloat copies x (fp32) to a new allocation.
func (a *Allocator) uploadFloat(x []float32) (cu.DevicePtr, error) {
	if len(x) == 0 {
		return 0, nil
	}
	return a.upload(unsafe.Pointer(&x[0]), int64(len(x))*4)
}
