package weights

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSafetensors(t *testing.T) {
	got, err := LoadSafetensors(filepath.Join("testdata", "tensors.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, expectedTensors(t, "tensors.safetensors"))
	if got["f16"].DType != Float16 || got["bf16"].DType != BFloat16 || got["f32"].DType != Float32 {
		t.Errorf("dtypes %v %v %v", got["f32"].DType, got["f16"].DType, got["bf16"].DType)
	}
}

// writeST writes a safetensors file with the given header and data size.
func writeST(t *testing.T, header any, dataLen int) string {
	t.Helper()
	var hb []byte
	switch h := header.(type) {
	case string:
		hb = []byte(h)
	default:
		var err error
		if hb, err = json.Marshal(h); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 8, 8+len(hb)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(hb)))
	b = append(b, hb...)
	b = append(b, make([]byte, dataLen)...)
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type stH map[string]any

func ent(dtype string, shape []int, begin, end int) map[string]any {
	return map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int{begin, end}}
}

func TestSafetensorsErrors(t *testing.T) {
	ok := writeST(t, stH{"__metadata__": map[string]string{"k": "v"}, "a": ent("F32", []int{2}, 0, 8), "b": ent("BF16", []int{2, 2}, 8, 16), "e": ent("F16", []int{0}, 16, 16)}, 16)
	m, err := LoadSafetensors(ok)
	if err != nil || len(m) != 3 {
		t.Fatalf("valid file: %v, %d tensors", err, len(m))
	}

	hugeHeader := func() string {
		p := filepath.Join(t.TempDir(), "huge.safetensors")
		b := make([]byte, 64)
		binary.LittleEndian.PutUint64(b, 200<<20)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	longHeader := func() string {
		p := filepath.Join(t.TempDir(), "long.safetensors")
		b := make([]byte, 64)
		binary.LittleEndian.PutUint64(b, 1000)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := func() string {
		p := filepath.Join(t.TempDir(), "short.safetensors")
		if err := os.WriteFile(p, []byte{1, 2, 3}, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		path func() string
		want string
	}{
		{"header over 100MB", hugeHeader, "header length 209715200 is more than the 104857600 allowed"},
		{"header past end", longHeader, "header length 1000 is more than the 56 bytes after it"},
		{"short file", short, "too short"},
		{"not json", func() string { return writeST(t, "{nope", 0) }, "not a JSON object"},
		{"out of bounds", func() string { return writeST(t, stH{"a": ent("F32", []int{4}, 0, 16)}, 8) }, `tensor "a": data_offsets [0 16] out of bounds of the 8-byte data region`},
		{"negative offset", func() string { return writeST(t, stH{"a": ent("F32", []int{1}, -4, 0)}, 8) }, "out of bounds"},
		{"reversed offsets", func() string { return writeST(t, stH{"a": ent("F32", []int{1}, 8, 4)}, 8) }, "out of bounds"},
		{"overlap", func() string {
			return writeST(t, stH{"a": ent("F32", []int{2}, 0, 8), "b": ent("F32", []int{2}, 4, 12)}, 12)
		}, `tensors "a" [0 8] and "b" [4 12] overlap`},
		{"overlap over empty", func() string {
			return writeST(t, stH{"a": ent("F32", []int{4}, 0, 16), "e": ent("F32", []int{0}, 4, 4), "c": ent("F32", []int{1}, 8, 12)}, 16)
		}, `tensors "a" [0 16] and "c" [8 12] overlap`},
		{"size mismatch", func() string { return writeST(t, stH{"a": ent("F16", []int{3}, 0, 8)}, 8) }, `tensor "a": data_offsets [0 8] hold 8 bytes, want 6`},
		{"dtype", func() string { return writeST(t, stH{"a": ent("I64", []int{1}, 0, 8)}, 8) }, `tensor "a": dtype "I64" is not supported`},
		{"missing field", func() string { return writeST(t, stH{"a": map[string]any{"dtype": "F32"}}, 8) }, "needs dtype, shape and data_offsets"},
		{"negative shape", func() string { return writeST(t, stH{"a": ent("F32", []int{-1}, 0, 0)}, 8) }, "bad shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path()
			_, err := LoadSafetensors(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q, want one naming %s and containing %q", err, p, tc.want)
			}
		})
	}
}
