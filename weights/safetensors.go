package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// maxSafetensorsHeader bounds the JSON header of a safetensors file.
const maxSafetensorsHeader = 100 << 20

// LoadSafetensors reads every tensor of a safetensors file. The header must
// be at most 100 MB; dtypes F32, F16 and BF16 are accepted; each tensor's
// data_offsets must lie within the data region, hold exactly its elements
// and not overlap another tensor's. "__metadata__" is ignored.
func LoadSafetensors(path string) (map[string]*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	return loadSafetensors(path, f, st.Size())
}

type stEntry struct {
	name   string
	dtype  DType
	shape  []int
	begin  int64
	end    int64
	offset int64 // in the file
}

func loadSafetensors(name string, r io.ReaderAt, size int64) (map[string]*Tensor, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: "+format, append([]any{name}, args...)...)
	}
	var lenBuf [8]byte
	if size < 8 {
		return nil, errf("%d bytes: too short for a safetensors file", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, errf("reading the header length: %v", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxSafetensorsHeader {
		return nil, errf("header length %d is more than the %d allowed", hlen, maxSafetensorsHeader)
	}
	if hlen > uint64(size-8) {
		return nil, errf("header length %d is more than the %d bytes after it: truncated or not safetensors", hlen, size-8)
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, errf("reading the header: %v", err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, errf("header is not a JSON object: %v", err)
	}
	dataStart := int64(8 + hlen)
	dataLen := size - dataStart
	entries := make([]stEntry, 0, len(raw))
	for tname, msg := range raw {
		if tname == "__metadata__" {
			continue
		}
		var e struct {
			DType       *string  `json:"dtype"`
			Shape       *[]int64 `json:"shape"`
			DataOffsets *[]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, errf("tensor %q: bad header entry: %v", tname, err)
		}
		if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
			return nil, errf("tensor %q: header entry needs dtype, shape and data_offsets", tname)
		}
		var dt DType
		switch *e.DType {
		case "F32":
			dt = Float32
		case "F16":
			dt = Float16
		case "BF16":
			dt = BFloat16
		default:
			return nil, errf("tensor %q: dtype %q is not supported (want F32, F16 or BF16)", tname, *e.DType)
		}
		shape := make([]int, len(*e.Shape))
		for i, d := range *e.Shape {
			if d < 0 || d > size {
				return nil, errf("tensor %q: bad shape %v", tname, *e.Shape)
			}
			shape[i] = int(d)
		}
		n, ok := numel(shape)
		if !ok {
			return nil, errf("tensor %q: bad shape %v", tname, *e.Shape)
		}
		off := *e.DataOffsets
		if len(off) != 2 {
			return nil, errf("tensor %q: data_offsets %v: want [begin, end]", tname, off)
		}
		if off[0] < 0 || off[1] < off[0] || off[1] > dataLen {
			return nil, errf("tensor %q: data_offsets %v out of bounds of the %d-byte data region", tname, off, dataLen)
		}
		if int64(n) > dataLen/int64(dt.Size()) {
			// Checked first: the byte count could wrap around int64.
			return nil, errf("tensor %q: shape %v holds more elements than the %d-byte data region", tname, *e.Shape, dataLen)
		}
		if want := int64(n) * int64(dt.Size()); off[1]-off[0] != want {
			return nil, errf("tensor %q: data_offsets %v hold %d bytes, want %d for %s %v", tname, off, off[1]-off[0], want, dt, shape)
		}
		entries = append(entries, stEntry{name: tname, dtype: dt, shape: shape, begin: off[0], end: off[1], offset: dataStart + off[0]})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	last := -1 // the non-empty entry reaching furthest so far
	for i, e := range entries {
		if e.end == e.begin {
			continue
		}
		if last >= 0 && e.begin < entries[last].end {
			p := entries[last]
			return nil, errf("tensors %q %v and %q %v overlap", p.name, []int64{p.begin, p.end}, e.name, []int64{e.begin, e.end})
		}
		if last < 0 || e.end > entries[last].end {
			last = i
		}
	}
	out := make(map[string]*Tensor, len(entries))
	for _, e := range entries {
		data := make([]byte, e.end-e.begin)
		if _, err := r.ReadAt(data, e.offset); err != nil {
			return nil, errf("tensor %q: reading its data: %v", e.name, err)
		}
		out[e.name] = &Tensor{DType: e.dtype, Shape: e.shape, Data: data}
	}
	return out, nil
}
