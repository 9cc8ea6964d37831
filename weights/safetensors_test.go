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
		{"negative offset", func() string { return writeST(t, stH{"a": ent("F32", []int{1}, -4, 0)}, 8) }, `tensor "a": data_offsets: element 0 is not an integer`},
		{"reversed offsets", func() string { return writeST(t, stH{"a": ent("F32", []int{1}, 8, 4)}, 8) }, "out of bounds"},
		{"overlap", func() string {
			return writeST(t, stH{"a": ent("F32", []int{2}, 0, 8), "b": ent("F32", []int{2}, 4, 12)}, 12)
		}, `tensors "a" [0 8] and "b" [4 12] overlap`},
		{"overlap over empty", func() string {
			return writeST(t, stH{"a": ent("F32", []int{4}, 0, 16), "e": ent("F32", []int{0}, 4, 4), "c": ent("F32", []int{1}, 8, 12)}, 16)
		}, `tensors "a" [0 16] and "e" [4 4] overlap`},
		{"size mismatch", func() string { return writeST(t, stH{"a": ent("F16", []int{3}, 0, 8)}, 8) }, `tensor "a": data_offsets [0 8] hold 8 bytes, want 6`},
		{"dtype", func() string { return writeST(t, stH{"a": ent("I64", []int{1}, 0, 8)}, 8) }, `tensor "a": dtype "I64" is not supported`},
		{"missing field", func() string { return writeST(t, stH{"a": map[string]any{"dtype": "F32"}}, 8) }, "needs dtype, shape and data_offsets"},
		{"negative shape", func() string { return writeST(t, stH{"a": ent("F32", []int{-1}, 0, 0)}, 8) }, `tensor "a": shape: element 0 is not an integer`},
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

// stRaw writes a safetensors file from raw header bytes and data bytes.
func stRaw(t *testing.T, header string, data []byte) string {
	t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(append(b, header...), data...)
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The header is read as the safetensors library reads it (serde_json,
// case-sensitive field names, tensors tiling the data region), or refused:
// never a different set of tensors than the reference would load.
func TestSafetensorsReferenceRules(t *testing.T) {
	one := []byte{0, 0, 0x80, 0x3f} // 1.0f
	for _, tc := range []struct {
		name   string
		header string
		data   []byte
		want   string
	}{
		// encoding/json matches field names case-insensitively: "DTYPE"
		// and "Shape" used to override dtype and shape.
		{"field case", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"DTYPE":"F16"}}`, one, `tensor "a": unknown field "DTYPE"`},
		{"field case only", `{"a":{"DType":"F32","Shape":[1],"Data_Offsets":[0,4]}}`, one, `tensor "a": unknown field "DType"`},
		{"duplicate field", `{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, one, `name "dtype" appears twice`},
		{"duplicate tensor", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, one, `name "a" appears twice`},
		{"invalid UTF-8 name", "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", one, "not valid UTF-8"},
		// Two lone surrogates both decode to U+FFFD in encoding/json.
		{"lone surrogates", `{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\udc00":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, one, "unpaired UTF-16 surrogate"},
		{"null header", `null`, nil, "header does not start with '{'"},
		{"array header", `[]`, nil, "header does not start with '{'"},
		{"leading space", ` {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one, "header does not start with '{'"},
		{"null tensor entry", `{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":null}`, one, `tensor "b": want a JSON object, got null`},
		{"trailing bytes", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}xx`, one, "data after the JSON object"},
		{"second object", `{}{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one, "data after the JSON object"},
		{"gap", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, append(make([]byte, 4), one...), `tensor "a" starts at byte 4 of the data region, leaving bytes 0..4 unused`},
		{"bytes after the tensors", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, append(one, 1, 2), "the tensors end at byte 4 of the 6-byte data region"},
		{"metadata value not a string", `{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one, `__metadata__: value of "k" is not a string`},
		{"metadata not an object", `{"__metadata__":[1],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one, "__metadata__: want a JSON object"},
		{"null shape", `{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, one, `tensor "a": shape: want an array of integers`},
		{"null in shape", `{"a":{"dtype":"F32","shape":[null],"data_offsets":[0,4]}}`, one, `tensor "a": shape: element 0 is not an integer`},
		{"float offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}`, one, `tensor "a": data_offsets: element 1 is not an integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stRaw(t, tc.header, tc.data)
			m, err := LoadSafetensors(p)
			if err == nil {
				t.Fatalf("loaded %d tensors, want an error containing %q", len(m), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q, want one naming %s and containing %q", err, p, tc.want)
			}
		})
	}
	// What the format allows still loads: whitespace padding after the
	// JSON (the library pads to 8 bytes with spaces), a null or
	// string-to-string __metadata__, escaped names, and empty tensors at
	// the end of the data region.
	for _, header := range []string{
		`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}     `,
		`{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}}`,
		`{"__metadata__":{"format":"pt"},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		`{"a":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"}}`,
	} {
		m, err := LoadSafetensors(stRaw(t, header, one))
		if err != nil {
			t.Errorf("%s: %v", header, err)
			continue
		}
		x, err := m["a"].Float32()
		if err != nil || len(x) != 1 || x[0] != 1 {
			t.Errorf("%s: a = %v, %v; want [1]", header, x, err)
		}
	}
}

// Names from the file are quoted (control bytes escaped) and cut short in
// messages: a file cannot rewrite the terminal nor make a huge message.
func TestSafetensorsMessagesQuoted(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name, tname string
		want        string
	}{
		{"control bytes", "a\r\x1b[2KOK", `tensor "a\r\x1b[2KOK": dtype`},
		{"long name", long, `... (1048576 bytes): dtype`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, _ := json.Marshal(map[string]any{tc.tname: ent("I64", []int{1}, 0, 8)})
			_, err := LoadSafetensors(stRaw(t, string(hdr), make([]byte, 8)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\r\x1b") || len(err.Error()) > 600 {
				t.Errorf("message of %d bytes with raw control bytes or too long: %q", len(err.Error()), err)
			}
		})
	}
}

// Integer lists from the header (shape, data_offsets) reach messages cut to
// 16 entries: a header of 64 Ki dimensions does not make a message of
// hundreds of kilobytes.
func TestSafetensorsLongListsCut(t *testing.T) {
	ones := make([]int, 1<<16)
	for i := range ones {
		ones[i] = 1
	}
	huge := append(append([]int{}, ones...), 1<<40)
	for _, tc := range []struct {
		name string
		e    map[string]any
		want string
	}{
		{"bad shape", ent("F32", huge, 0, 4), "bad shape [1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1]... (65537 dimensions)"},
		{"shape and data_offsets disagree", ent("F32", ones, 0, 8), "want 4 for float32 [1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1]... (65536 dimensions)"},
		{"data_offsets", map[string]any{"dtype": "F32", "shape": []int{2}, "data_offsets": ones}, "data_offsets [1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1]... (65536 dimensions): want [begin, end]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSafetensors(writeST(t, stH{"w": tc.e}, 8))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.600v, want one containing %q", err, tc.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("message of %d bytes", len(err.Error()))
			}
		})
	}
}
