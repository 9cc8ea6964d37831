package weights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Meta is a meta.json written by data preparation.
type Meta struct {
	Path      string
	Dataset   string         // "dataset"; empty when absent
	VocabSize int            // "vocab_size"; 0 when absent
	Tokenizer map[string]any // "tokenizer"; nil when absent
	Raw       map[string]any // the whole document
}

// DefaultMetaPath is where FindMeta looks when the given meta.json does
// not exist, relative to the working directory.
var DefaultMetaPath = filepath.Join("data", "meta.json")

// LoadMeta reads a meta.json. JSON numbers decode to int64 when integral,
// else float64.
func LoadMeta(path string) (*Meta, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	return parseMeta(path, b)
}

// maxTextFile bounds meta.json and config TOML files, as gpt bounds
// config.json and tokenizer.json.
const maxTextFile = 64 << 20

// readSmallFile reads a whole file of at most maxTextFile bytes, without
// trusting its size (a FIFO, /dev/zero, a file still growing).
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > maxTextFile {
		return nil, fmt.Errorf("weights: %s: larger than %d bytes", path, maxTextFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTextFile+1))
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	if len(b) > maxTextFile {
		return nil, fmt.Errorf("weights: %s: larger than %d bytes", path, maxTextFile)
	}
	return b, nil
}

// parseMeta is LoadMeta on the content b of the file path.
func parseMeta(path string, b []byte) (*Meta, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: "+format, append([]any{path}, args...)...)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, errf("invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, errf("invalid JSON: data after the top-level value")
	}
	raw, ok := jsonValue(doc).(map[string]any)
	if !ok {
		return nil, errf("top-level value is not a JSON object")
	}
	m := &Meta{Path: path, Raw: raw}
	if v, ok := raw["dataset"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, errf("dataset: want a string, got %s", Describe(v))
		}
		m.Dataset = s
	}
	if v, ok := raw["vocab_size"]; ok && v != nil {
		n, ok := v.(int64)
		if !ok || n < 0 || n > math.MaxInt32 {
			return nil, errf("vocab_size: want a non-negative integer, got %s", Describe(v))
		}
		m.VocabSize = int(n)
	}
	if v, ok := raw["tokenizer"]; ok && v != nil {
		t, ok := v.(map[string]any)
		if !ok {
			return nil, errf("tokenizer: want an object, got %s", Describe(v))
		}
		m.Tokenizer = t
	}
	return m, nil
}

// FindMeta implements the upstream fallback: the meta.json at path when it
// exists, else DefaultMetaPath when it exists, else (nil, nil). A file that
// exists but cannot be read or parsed is an error.
func FindMeta(path string) (*Meta, error) {
	for _, p := range []string{path, DefaultMetaPath} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("weights: %w", err)
		}
		return LoadMeta(p)
	}
	return nil, nil
}

// jsonValue converts json.Number to int64 or float64, recursively.
func jsonValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = jsonValue(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonValue(x[k])
		}
	}
	return v
}

// Describe names a value decoded from JSON, TOML or a pickle for a
// message: its type, with its value when that is a number, a boolean or a
// string (quoted and cut short by Quote).
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + Quote(x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case int:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case []any:
		return fmt.Sprintf("array of %d", len(x))
	case map[string]any:
		return "table/object"
	case []byte:
		return fmt.Sprintf("bytes of length %d", len(x))
	}
	return fmt.Sprintf("%T", v)
}
