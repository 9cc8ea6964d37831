package weights

import (
	"reflect"
	"testing"
)

func TestTensorFloat32(t *testing.T) {
	for _, tc := range []struct {
		dt   DType
		data []byte
		want []float32
	}{
		{Float32, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}, []float32{1, -2}},
		{Float16, []byte{0x00, 0x3c, 0x00, 0xb8, 0x01, 0x00}, []float32{1, -0.5, 5.9604645e-08}},
		{BFloat16, []byte{0x80, 0x3f, 0x49, 0x40}, []float32{1, 3.140625}},
	} {
		tn := &Tensor{DType: tc.dt, Shape: []int{len(tc.want)}, Data: tc.data}
		got, err := tn.Float32()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %v, %v; want %v", tc.dt, got, err, tc.want)
		}
	}
	if _, err := (&Tensor{DType: Float32, Shape: []int{2}, Data: make([]byte, 4)}).Float32(); err == nil {
		t.Error("short data accepted")
	}
	if _, err := (&Tensor{Shape: []int{1}, Data: make([]byte, 4)}).Float32(); err == nil {
		t.Error("unknown dtype accepted")
	}
	if _, err := (&Tensor{DType: Float32, Shape: []int{-1}}).Float32(); err == nil {
		t.Error("negative shape accepted")
	}
	if n := (&Tensor{Shape: []int{2, 3, 4}}).Numel(); n != 24 {
		t.Errorf("Numel = %d", n)
	}
	if Float32.Size() != 4 || Float16.Size() != 2 || BFloat16.Size() != 2 || DType(0).Size() != 0 {
		t.Error("Size")
	}
	if BFloat16.String() != "bfloat16" || DType(9).String() != "DType(9)" {
		t.Error("String")
	}
}
