package weights

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// stFile builds safetensors bytes from a raw JSON header and data size.
func stFile(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

// A shape whose element count overflows, or whose byte size wraps around
// int64 to match the data_offsets, is refused before anything is allocated.
func TestSafetensorsShapeOverflow(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         string
	}{
		{"2^40 x 2^40", `{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}}`, "bad shape"},
		// 64^10 * 4 = 2^62 elements: 2^64 bytes, which wraps to 0 in int64
		// and used to pass the data_offsets size check (then Float32
		// tried to allocate 2^62 floats).
		{"bytes wrap to 0", `{"a":{"dtype":"F32","shape":[64,64,64,64,64,64,64,64,64,64,4],"data_offsets":[0,0]}}`, "holds more elements than the"},
		{"elements past the data", `{"a":{"dtype":"F16","shape":[64,64],"data_offsets":[0,8]}}`, "holds more elements than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := stFile(tc.header, 8)
			_, err := loadSafetensors("x.safetensors", bytes.NewReader(data), int64(len(data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.safetensors") {
				t.Fatalf("error %v, want one naming x.safetensors containing %q", err, tc.want)
			}
		})
	}
}

// Float32 refuses a shape whose byte size overflows instead of wrapping.
func TestTensorFloat32Overflow(t *testing.T) {
	tn := &Tensor{DType: Float32, Shape: []int{1 << 31, 1 << 31}}
	if _, err := tn.Float32(); err == nil {
		t.Fatal("no error for a 2^62-element tensor without data")
	}
}

// ckptLong is a LONG1 pickle integer.
func ckptLong(v int64) []byte {
	return append([]byte{0x8a, 8}, binary.LittleEndian.AppendUint64(nil, uint64(v))...)
}

// hugeSizePickle is {"model_state_dict": {"w": tensor}} whose size tuple is
// (d0, d1) over a FloatStorage of numel elements.
func hugeSizePickle(numel, d0, d1 int64) []byte {
	return cat("\x80\x02}", pStr("model_state_dict"), "}", pStr("w"),
		"ctorch._utils\n_rebuild_tensor_v2\n(",
		"(", pStr("storage"), "ctorch\nFloatStorage\n", pStr("0"), pStr("cpu"), ckptLong(numel), "tQ",
		"K\x00", "(", ckptLong(d0), ckptLong(d1), "t", "(", ckptLong(d1), "K\x01t", "\x89}tRss.")
}

func TestCheckpointShapeOverflow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d0, d1 int64
		want   string
	}{
		{"2^40 x 2^40", 1 << 40, 1 << 40, "bad size"},
		{"2^31 x 2^31 over a 4-element storage", 1 << 31, 1 << 31, "bad size"},
		{"more elements than the storage", 2, 3, "too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeCkpt(t, hugeSizePickle(4, tc.d0, tc.d1), map[string][]byte{"0": make([]byte, 16)})
			_, err := LoadCheckpoint(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `tensor "w"`) {
				t.Fatalf("error %v, want one about tensor \"w\" containing %q", err, tc.want)
			}
		})
	}
}

// rawEntry is a zip entry written with CreateRaw: its header says what the
// test wants, whatever the data.
type rawEntry struct {
	name         string
	method       uint16
	data         []byte // as stored (compressed when method is Deflate)
	crc          uint32
	uncompressed uint64
}

func deflate(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawZip(t *testing.T, entries ...rawEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: e.method, CRC32: e.crc,
			CompressedSize64: uint64(len(e.data)), UncompressedSize64: e.uncompressed})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zip entries whose declared sizes disagree with the archive are refused
// before their declared size is allocated.
func TestZipDeclaredSizes(t *testing.T) {
	pkl := cat("\x80\x02}", pStr("model_state_dict"), "}s.")
	okCRC := crc32.ChecksumIEEE(pkl)
	bomb := bytes.Repeat([]byte{'N'}, 64<<20) // 64 MiB of NONE opcodes
	for _, tc := range []struct {
		name string
		e    rawEntry
		want string
	}{
		{"stored, claims more than the file", rawEntry{"a/data.pkl", zip.Store, pkl, okCRC, 1 << 40}, "more than the 67108864 allowed"},
		{"stored, claims more than the file under the limit", rawEntry{"a/data.pkl", zip.Store, pkl, okCRC, 1 << 25}, "more than the file"},
		{"stored, claims less than it holds", rawEntry{"a/data.pkl", zip.Store, pkl, okCRC, uint64(len(pkl) - 3)}, "a/data.pkl"},
		{"deflated, inflates past its declared size", rawEntry{"a/data.pkl", zip.Deflate, deflate(t, pkl), okCRC, uint64(len(pkl) - 3)}, "a/data.pkl"},
		{"deflate bomb, honest size", rawEntry{"a/data.pkl", zip.Deflate, deflate(t, bomb), crc32.ChecksumIEEE(bomb), uint64(len(bomb))}, "compressed entries expand to more than 4 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := rawZip(t, tc.e)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			_, _, err := loadCheckpoint("z.pt", bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&ms1)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "z.pt") {
				t.Fatalf("error %v, want one naming z.pt containing %q", err, tc.want)
			}
			if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 1<<20+8*uint64(len(data)) {
				t.Errorf("allocated %d bytes for a %d-byte file", d, len(data))
			}
		})
	}
}

// hostileFiles are small files that claim a lot: each must be refused
// having allocated little more than the file.
func hostileFiles(t *testing.T) map[string][]byte {
	ckpt := func(pkl []byte, storages map[string][]byte) []byte {
		b, err := os.ReadFile(writeCkpt(t, pkl, storages))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"ckpt: storage claims 2^40 elements":   ckpt(tensorPickle(1<<40, 0, 2, 1), nil),
		"ckpt: size 2^40 x 2^40":               ckpt(hugeSizePickle(4, 1<<40, 1<<40), map[string][]byte{"0": make([]byte, 16)}),
		"ckpt: MARK nesting 100000 deep":       ckpt(cat("\x80\x02", strings.Repeat("(", 100000)), nil),
		"ckpt: list nesting 100000 deep":       ckpt(cat("\x80\x02}", pStr("model_config"), strings.Repeat("]", 100000), strings.Repeat("a", 99999), "s", pStr("model_state_dict"), "}s."), nil),
		"ckpt: pickle of 200000 empty dicts":   ckpt(cat("\x80\x02}", strings.Repeat("}", 200000)), nil),
		"ckpt: pickle of 200000 memo entries":  ckpt(cat("\x80\x02}", strings.Repeat("N\x94", 200000)), nil),
		"ckpt: string length 2^31":             ckpt(cat("\x80\x02X\xff\xff\xff\x7fab"), nil),
		"ckpt: deflate bomb":                   rawZip(t, rawEntry{"a/data.pkl", zip.Deflate, deflate(t, make([]byte, 32<<20)), crc32.ChecksumIEEE(make([]byte, 32<<20)), 32 << 20}),
		"safetensors: header claims 100 MB":    binary.LittleEndian.AppendUint64(make([]byte, 0, 64), 100<<20),
		"safetensors: header claims 2^63":      binary.LittleEndian.AppendUint64(make([]byte, 0, 64), 1<<63),
		"safetensors: tensor claims 2^62 elem": stFile(`{"a":{"dtype":"F32","shape":[64,64,64,64,64,64,64,64,64,64,4],"data_offsets":[0,0]}}`, 8),
		"safetensors: tensor past the data":    stFile(`{"a":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}`, 8),
		"safetensors: offsets overlap":         stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12),
	}
}

// Loading hostile files allocates within a small multiple of their size
// (plus a fixed 1 MiB): a header's claims are checked before they are
// allocated.
func TestHostileFilesMemory(t *testing.T) {
	for name, data := range hostileFiles(t) {
		t.Run(name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			var err error
			if strings.HasPrefix(name, "ckpt") {
				_, _, err = loadCheckpoint("h.pt", bytes.NewReader(data), int64(len(data)))
			} else {
				_, err = loadSafetensors("h.safetensors", bytes.NewReader(data), int64(len(data)))
			}
			runtime.ReadMemStats(&ms1)
			if err == nil {
				t.Fatal("hostile file accepted")
			}
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			t.Logf("%d-byte file: %d bytes allocated: %v", len(data), alloc, err)
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			limit := 1<<20 + 8*uint64(len(data))
			if strings.Contains(name, "nesting") || strings.Contains(name, "pickle of") {
				// Each opcode byte builds a value: the pickle's own
				// structure costs up to ~110 bytes a byte (an empty
				// dict), which maxPickleBytes bounds.
				limit = 1<<20 + 128*uint64(len(data))
			}
			if alloc > limit {
				t.Errorf("allocated %d bytes for a %d-byte file (limit %d)", alloc, len(data), limit)
			}
		})
	}
}

// The valid fixtures too: a checkpoint loads within a small multiple of
// its size.
func TestFixtureLoadMemory(t *testing.T) {
	for _, p := range []string{filepath.Join("..", "testdata", "models", "learned_bias", "ckpt.pt"), filepath.Join("..", "testdata", "models", "learned_bias", "model.safetensors")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		if strings.HasSuffix(p, ".pt") {
			_, err = LoadCheckpoint(p)
		} else {
			_, err = LoadSafetensors(p)
		}
		runtime.ReadMemStats(&ms1)
		if err != nil {
			t.Fatal(err)
		}
		alloc := ms1.TotalAlloc - ms0.TotalAlloc
		t.Logf("%s: %d bytes, %d allocated", p, fi.Size(), alloc)
		if alloc > 1<<20+3*uint64(fi.Size()) {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", p, alloc, fi.Size())
		}
	}
}

// `key = null` lines cost one pass over the file, not a parse each: 2000
// of them around a 1 MB string (2000 parses of the file before) allocate a
// small multiple of the file.
func TestConfigManyNullLines(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("[generation]\nseed = null\n")
	for i := range 1000 {
		fmt.Fprintf(&sb, "k%d = null\n", i)
	}
	fmt.Fprintf(&sb, "pad = \"%s\"\n", strings.Repeat("x", 1<<20))
	for i := range 1000 {
		fmt.Fprintf(&sb, "j%d = null # upstream writes these\n", i)
	}
	src := []byte(sb.String())
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	c, err := parseConfig("many.toml", src)
	runtime.ReadMemStats(&ms1)
	if err != nil || c.Generation.Seed != nil {
		t.Fatalf("2001 null lines: %v", err)
	}
	if _, ok := c.Raw["generation"].(map[string]any)["k999"]; ok {
		t.Error("k999 = null read as a key")
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 20*uint64(len(src)) {
		t.Errorf("allocated %d bytes for a %d-byte config", alloc, len(src))
	}
}

// A `key = null` line inside a multi-line string is text, kept as is; the
// scan follows TOML's strings, escapes and comments.
func TestConfigNullLinesInStrings(t *testing.T) {
	src := `a = """
x = null
"""
b = '''
y = null
''''
c = "\"" # """
d = null
e = """q\"""
z = null
"""
f = '#'
g = null
h = """a"""""
i = null
`
	c, err := parseConfig("s.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "x = null\n", "b": "y = null\n'", "c": `"`, "e": "q\"\"\"\nz = null\n", "f": "#", "h": `a""`}
	for k, v := range want {
		if c.Raw[k] != v {
			t.Errorf("%s = %q, want %q", k, c.Raw[k], v)
		}
	}
	for _, k := range []string{"d", "g", "i"} {
		if _, ok := c.Raw[k]; ok {
			t.Errorf("%s = null read as a key", k)
		}
	}
}

// meta.json and config TOML files over 64 MB are refused having read at
// most 64 MB: the size the file system reports is not trusted.
func TestTextFilesBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"pad": "`)
	if err := f.Truncate(maxTextFile + 10); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	if _, err := LoadMeta(big); err == nil || !strings.Contains(err.Error(), "larger than 67108864 bytes") || !strings.Contains(err.Error(), big) {
		t.Errorf("meta: %v", err)
	}
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than 67108864 bytes") {
		t.Errorf("config: %v", err)
	}
	runtime.ReadMemStats(&ms1)
	if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes", d)
	}
	if _, err := LoadMeta("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("/dev/zero: %v", err)
	}
}
