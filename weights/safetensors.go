package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"unicode/utf8"
)

// maxSafetensorsHeader bounds the JSON header of a safetensors file.
const maxSafetensorsHeader = 100 << 20

// LoadSafetensors reads every tensor of a safetensors file, following the
// format's own rules (those of the safetensors library): the header is at
// most 100 MB of UTF-8 JSON holding one object, starting with '{' and
// optionally padded with whitespace; each tensor entry has exactly the fields "dtype", "shape" and
// "data_offsets", matched case-sensitively; tensor names are distinct and
// valid Unicode; "__metadata__", when present, maps strings to strings; and
// the tensors' data_offsets, sorted, tile the data region from its first
// byte to the end of the file with no gap and no overlap. Dtypes F32, F16
// and BF16 are accepted. "__metadata__" is otherwise ignored.
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

// jsonMember is one member of a JSON object, its name decoded.
type jsonMember struct {
	key string
	val json.RawMessage
}

// jsonObject splits raw, which must hold one JSON object and nothing else
// but whitespace, into its members in order. Member names must be distinct
// and hold no unpaired surrogate escape (encoding/json would turn those into
// U+FFFD, so that two different names could read as one). raw must be valid
// UTF-8 (checked by the caller).
func jsonObject(raw []byte) ([]jsonMember, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(tok))
	}
	var out []jsonMember
	seen := make(map[string]bool)
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("bad object key %v", tok)
		}
		if err := checkSurrogates(raw[start:dec.InputOffset()]); err != nil {
			return nil, fmt.Errorf("name %s: %v", Quote(key), err)
		}
		if seen[key] {
			return nil, fmt.Errorf("name %s appears twice", Quote(key))
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, jsonMember{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	for _, c := range raw[dec.InputOffset():] {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return nil, fmt.Errorf("data after the JSON object at byte %d", dec.InputOffset())
		}
	}
	return out, nil
}

func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	default:
		return fmt.Sprintf("%T", t)
	}
}

// checkSurrogates refuses a \u escape of an unpaired UTF-16 surrogate in
// the JSON text s (which holds one string, possibly after a comma and
// whitespace).
func checkSurrogates(s []byte) error {
	hex := func(i int) (rune, bool) {
		if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(s[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			continue
		}
		if s[i+1] != 'u' {
			i++ // a two-byte escape such as \\ or \"
			continue
		}
		r, ok := hex(i)
		if !ok {
			return errors.New("bad \\u escape")
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if r2, ok := hex(i + 6); !ok || r2 < 0xDC00 || r2 > 0xDFFF {
				return errors.New("unpaired UTF-16 surrogate escape")
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("unpaired UTF-16 surrogate escape")
		default:
			i += 5
		}
	}
	return nil
}

// jsonUints reads a JSON array of non-negative integers that fit in int64.
func jsonUints(raw json.RawMessage) ([]int64, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, errors.New("want an array of integers")
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(e)), 10, 63)
		if err != nil {
			return nil, fmt.Errorf("element %d is not an integer in 0..2^63-1", i)
		}
		out[i] = int64(n)
	}
	return out, nil
}

// stHeaderEntry decodes a tensor's header entry: exactly dtype, shape and
// data_offsets.
func stHeaderEntry(raw json.RawMessage) (dtype string, shape, off []int64, err error) {
	members, err := jsonObject(raw)
	if err != nil {
		return "", nil, nil, err
	}
	var have int
	for _, m := range members {
		switch m.key {
		case "dtype":
			if len(m.val) == 0 || m.val[0] != '"' {
				return "", nil, nil, errors.New("dtype: want a string")
			}
			if err := json.Unmarshal(m.val, &dtype); err != nil {
				return "", nil, nil, fmt.Errorf("dtype: %v", err)
			}
		case "shape":
			if shape, err = jsonUints(m.val); err != nil {
				return "", nil, nil, fmt.Errorf("shape: %v", err)
			}
		case "data_offsets":
			if off, err = jsonUints(m.val); err != nil {
				return "", nil, nil, fmt.Errorf("data_offsets: %v", err)
			}
		default:
			return "", nil, nil, fmt.Errorf("unknown field %s (want exactly dtype, shape and data_offsets)", Quote(m.key))
		}
		have++
	}
	if have != 3 {
		return "", nil, nil, errors.New("header entry needs dtype, shape and data_offsets")
	}
	return dtype, shape, off, nil
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
	if !utf8.Valid(hdr) {
		return nil, errf("header is not valid UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		// The format's rule (the library's InvalidHeaderStart).
		return nil, errf("header does not start with '{'")
	}
	members, err := jsonObject(hdr)
	if err != nil {
		return nil, errf("header is not a JSON object: %v", err)
	}
	dataStart := int64(8 + hlen)
	dataLen := size - dataStart
	entries := make([]stEntry, 0, len(members))
	for _, m := range members {
		tname := m.key
		if tname == "__metadata__" {
			if err := checkMetadata(m.val); err != nil {
				return nil, errf("__metadata__: %v", err)
			}
			continue
		}
		dtype, shape64, off, err := stHeaderEntry(m.val)
		if err != nil {
			return nil, errf("tensor %s: %v", Quote(tname), err)
		}
		var dt DType
		switch dtype {
		case "F32":
			dt = Float32
		case "F16":
			dt = Float16
		case "BF16":
			dt = BFloat16
		default:
			return nil, errf("tensor %s: dtype %s is not supported (want F32, F16 or BF16)", Quote(tname), Quote(dtype))
		}
		shape := make([]int, len(shape64))
		for i, d := range shape64 {
			if d > size {
				return nil, errf("tensor %s: bad shape %s", Quote(tname), dims(shape64))
			}
			shape[i] = int(d)
		}
		n, ok := numel(shape)
		if !ok {
			return nil, errf("tensor %s: bad shape %s", Quote(tname), dims(shape64))
		}
		if len(off) != 2 {
			return nil, errf("tensor %s: data_offsets %s: want [begin, end]", Quote(tname), dims(off))
		}
		if off[1] < off[0] || off[1] > dataLen {
			return nil, errf("tensor %s: data_offsets %v out of bounds of the %d-byte data region", Quote(tname), off, dataLen)
		}
		if int64(n) > dataLen/int64(dt.Size()) {
			// Checked first: the byte count could wrap around int64.
			return nil, errf("tensor %s: shape %s holds more elements than the %d-byte data region", Quote(tname), dims(shape64), dataLen)
		}
		if want := int64(n) * int64(dt.Size()); off[1]-off[0] != want {
			return nil, errf("tensor %s: data_offsets %v hold %d bytes, want %d for %s %s", Quote(tname), off, off[1]-off[0], want, dt, dims(shape64))
		}
		entries = append(entries, stEntry{name: tname, dtype: dt, shape: shape, begin: off[0], end: off[1], offset: dataStart + off[0]})
	}
	// As the safetensors library: sorted by offsets, the tensors tile the
	// data region exactly.
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos int64
	for i, e := range entries {
		if e.begin < pos {
			p := entries[i-1]
			return nil, errf("tensors %s %v and %s %v overlap", Quote(p.name), []int64{p.begin, p.end}, Quote(e.name), []int64{e.begin, e.end})
		}
		if e.begin > pos {
			return nil, errf("tensor %s starts at byte %d of the data region, leaving bytes %d..%d unused (safetensors tensors must tile the data region)", Quote(e.name), e.begin, pos, e.begin)
		}
		pos = e.end
	}
	if pos != dataLen {
		return nil, errf("the tensors end at byte %d of the %d-byte data region: %d bytes after them (safetensors tensors must reach the end of the file)", pos, dataLen, dataLen-pos)
	}
	out := make(map[string]*Tensor, len(entries))
	for _, e := range entries {
		data := make([]byte, e.end-e.begin)
		if _, err := r.ReadAt(data, e.offset); err != nil {
			return nil, errf("tensor %s: reading its data: %v", Quote(e.name), err)
		}
		out[e.name] = &Tensor{DType: e.dtype, Shape: e.shape, Data: data}
	}
	return out, nil
}

// checkMetadata checks that __metadata__ is null or maps strings to strings.
func checkMetadata(raw json.RawMessage) error {
	if string(raw) == "null" {
		return nil
	}
	members, err := jsonObject(raw)
	if err != nil {
		return err
	}
	for _, m := range members {
		if len(m.val) == 0 || m.val[0] != '"' {
			return fmt.Errorf("value of %s is not a string", Quote(m.key))
		}
		var s string
		if err := json.Unmarshal(m.val, &s); err != nil {
			return fmt.Errorf("value of %s: %v", Quote(m.key), err)
		}
		if err := checkSurrogates(m.val); err != nil {
			return fmt.Errorf("value of %s: %v", Quote(m.key), err)
		}
	}
	return nil
}
