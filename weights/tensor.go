package weights

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// DType is the element type of a Tensor.
type DType uint8

// The element types the engine accepts.
const (
	Float32  DType = iota + 1 // IEEE 754 binary32
	Float16                   // IEEE 754 binary16
	BFloat16                  // bfloat16: the upper half of a binary32
)

// String returns the PyTorch name of the type: float32, float16, bfloat16.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the size of one element in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float16, BFloat16:
		return 2
	}
	return 0
}

// Tensor is a dense tensor: its elements in row-major order as little-endian
// raw bytes. Tensors read from one checkpoint storage (tied weights) share
// their Data.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// Numel returns the number of elements given by Shape (1 for a scalar).
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns a new slice holding the elements widened to float32.
// It fails when the type is unknown or Data does not hold exactly Numel
// elements.
func (t *Tensor) Float32() ([]float32, error) {
	es := t.DType.Size()
	if es == 0 {
		return nil, fmt.Errorf("weights: tensor of unknown dtype %v", t.DType)
	}
	n, ok := numel(t.Shape)
	if !ok || n > math.MaxInt/es {
		return nil, fmt.Errorf("weights: tensor shape %v is invalid", t.Shape)
	}
	if len(t.Data) != n*es {
		return nil, fmt.Errorf("weights: %v tensor of shape %v has %d bytes of data, want %d", t.DType, t.Shape, len(t.Data), n*es)
	}
	out := make([]float32, n)
	switch t.DType {
	case Float32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case Float16:
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(t.Data[2*i:])).Float32()
		}
	case BFloat16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Data[2*i:])) << 16)
		}
	}
	return out, nil
}

// numel returns the product of shape, or false when a dimension is
// negative or the product overflows.
func numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}
