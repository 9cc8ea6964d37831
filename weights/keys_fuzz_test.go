package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// canonKey is the reference for dict key equality: a key's whole content
// written out, as the hasher did before it interned keys (quadratic, and
// exponential for tuples sharing elements, but obviously right). budget
// counts the values it may visit; past it the result is meaningless and
// the caller gives up.
func canonKey(k any, budget *int) (string, bool) {
	if *budget--; *budget < 0 {
		return "", false
	}
	switch k := k.(type) {
	case nil:
		return "N", true
	case bool:
		return "b" + strconv.FormatBool(k), true
	case int64:
		return "i" + strconv.FormatInt(k, 10), true
	case *big.Int:
		return "i" + k.String(), true
	case float64:
		return "f" + strconv.FormatUint(math.Float64bits(k), 16), true
	case string:
		return "s" + k, true
	case []byte:
		return "y" + string(k), true
	case pyTuple:
		var sb strings.Builder
		sb.WriteString("t(")
		for _, e := range k {
			h, ok := canonKey(e, budget)
			if !ok {
				return "", false
			}
			sb.WriteString(strconv.Quote(h))
			sb.WriteByte(',')
		}
		sb.WriteByte(')')
		return sb.String(), true
	}
	return "", false
}

// FuzzDictKeys runs a small program of key constructions (values reused
// by reference, as through the memo) and dict stores, and checks that the
// interning hasher agrees with canonKey: same keys equal, others distinct,
// whatever object identity they have.
func FuzzDictKeys(f *testing.F) {
	f.Add([]byte{0, 2, 'a', 'b', 5, 0, 0, 2, 'a', 'b', 5, 1, 4, 2, 0, 1, 5, 2, 4, 2, 1, 0, 5, 3})
	f.Add([]byte{1, 7, 1, 7, 5, 0, 5, 1, 3, 9, 3, 9, 5, 2, 5, 3, 2, 1, 'x', 0, 1, 'x', 5, 4, 5, 5})
	f.Fuzz(func(t *testing.T, prog []byte) {
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		h := newKeyHasher()
		d := newPyDict()
		ref := map[string]int{}
		var pool []any
		pick := func() any {
			if len(pool) == 0 {
				return nil
			}
			return pool[int(next())%len(pool)]
		}
		for step := 0; len(prog) > 0; step++ {
			switch next() % 8 {
			case 0: // a new string of up to 3 bytes from a small alphabet
				n := int(next()) % 4
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a' + next()%3
				}
				pool = append(pool, string(b))
			case 1:
				pool = append(pool, int64(next()%4))
			case 2:
				n := int(next()) % 3
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a' + next()%2
				}
				pool = append(pool, b)
			case 3: // an integer beyond 64 bits
				x := new(big.Int).Lsh(big.NewInt(1), 70)
				x.Add(x, big.NewInt(int64(next()%3)))
				if next()%2 == 1 {
					x.Neg(x)
				}
				pool = append(pool, x)
			case 4:
				n := int(next()) % 4
				tup := make(pyTuple, n)
				for i := range tup {
					tup[i] = pick()
				}
				pool = append(pool, tup)
			case 5:
				pool = append(pool, []any{nil, true, false, 1.5, math.Inf(1)}[next()%5])
			default:
				k := pick()
				// 2000 values of at most 8 bytes stay under the 1 MiB
				// key limit: within the budget, the hasher must accept
				// every hashable key.
				budget := 2000
				ck, ok := canonKey(k, &budget)
				if budget < 0 {
					return
				}
				err := d.set(h, k, step)
				if ok != (err == nil) {
					t.Fatalf("key %#v: hasher error %v, reference hashable %v", k, err, ok)
				}
				if ok {
					ref[ck] = step
				}
			}
		}
		if len(d.keys) != len(ref) {
			t.Fatalf("%d keys, reference %d", len(d.keys), len(ref))
		}
		for i, k := range d.keys {
			budget := 2000
			ck, _ := canonKey(k, &budget)
			if ref[ck] != d.vals[i] {
				t.Fatalf("key %#v = %v, reference %v", k, d.vals[i], ref[ck])
			}
			if s, ok := k.(string); ok {
				if v, ok := d.get(s); !ok || v != d.vals[i] {
					t.Fatalf("get(%q) = %v, %v", s, v, ok)
				}
			}
		}
	})
}

// decodeTOMLReparse is the former reading of `key = null` lines, kept as
// the reference: parse, and while the parser stops on a null line, blank
// it and parse again (one parse per null line).
func decodeTOMLReparse(src string) (map[string]any, error) {
	lines := strings.SplitAfter(src, "\n")
	for tries := 0; ; tries++ {
		var raw map[string]any
		_, err := toml.Decode(strings.Join(lines, ""), &raw)
		if err == nil {
			if raw == nil {
				raw = map[string]any{}
			}
			return raw, nil
		}
		var pe toml.ParseError
		if !errors.As(err, &pe) || tries > len(lines) {
			return nil, err
		}
		i := pe.Position.Line - 1
		if i < 0 || i >= len(lines) || !nullLine.MatchString(strings.TrimRight(lines[i], "\r\n")) {
			return nil, err
		}
		lines[i] = "\n"
	}
}

// FuzzTOMLNullLines checks the one-pass null-line scan against the
// re-parsing reference: whatever the reference reads, the scan reads the
// same (it may also read files where the reference gave up).
func FuzzTOMLNullLines(f *testing.F) {
	for _, s := range []string{
		"a = null\nb = 1\n",
		"s = \"\"\"\nx = null\n\"\"\"\ny = null\n",
		"s = '''\nx = null\n''''\ny = null\n",
		"c = \"\\\"\" # \"\"\"\nd = null\n",
		"e = \"\"\"q\\\"\"\"\nz = null\n\"\"\"\n",
		"[t]\n'k' = null # c\n\"q\" = null\nv = [\n1,\n]\n",
		"h = \"\"\"a\"\"\"\"\"\ni = null\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return // the reference parses once per null line
		}
		want, err := decodeTOMLReparse(src)
		if err != nil {
			return
		}
		got, err := decodeTOMLWithNulls(src)
		if err != nil {
			t.Fatalf("the reference reads it, the scan fails: %v\n%q", err, src)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scan read %v, reference %v\n%q", got, want, src)
		}
	})
}

// FuzzSafetensorsHeader fuzzes the JSON header of a safetensors file whose
// data region holds 64 bytes. A file that loads must satisfy the format's
// rules, checked independently: one tensor per distinct (case-sensitive)
// header name, valid UTF-8 names, and tensors covering the data region
// exactly.
func FuzzSafetensorsHeader(f *testing.F) {
	for _, s := range []string{
		`{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}}`,
		`{"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2,8],"data_offsets":[0,32]},"b":{"dtype":"BF16","shape":[16],"data_offsets":[32,64]}}`,
		`{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},"e":{"dtype":"F32","shape":[0],"data_offsets":[64,64]}}  `,
		`{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64],"DTYPE":"F16"}}`,
		`{"\ud800":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},"\udc00":{"dtype":"F32","shape":[8],"data_offsets":[32,64]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		data := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		data = append(append(data, header...), make([]byte, 64)...)
		m, err := loadSafetensors("fuzz.safetensors", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if len(err.Error()) > 2000 || strings.ContainsAny(err.Error(), "\x1b\r") {
				t.Fatalf("message of %d bytes or with control bytes: %q", len(err.Error()), err)
			}
			return
		}
		if !utf8.ValidString(header) {
			t.Fatal("loaded an invalid UTF-8 header")
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(header), &raw); err != nil {
			t.Fatalf("loaded a header encoding/json refuses: %v", err)
		}
		names := len(raw)
		if _, ok := raw["__metadata__"]; ok {
			names--
		}
		if len(m) != names {
			t.Fatalf("%d tensors from %d header names", len(m), names)
		}
		total := 0
		for name, tn := range m {
			if !utf8.ValidString(name) {
				t.Fatalf("name %q is not valid UTF-8", name)
			}
			var e map[string]json.RawMessage
			if err := json.Unmarshal(raw[name], &e); err != nil || len(e) != 3 {
				t.Fatalf("tensor %q: entry %s", name, raw[name])
			}
			for _, k := range []string{"dtype", "shape", "data_offsets"} {
				if _, ok := e[k]; !ok {
					t.Fatalf("tensor %q: no exact %q field", name, k)
				}
			}
			if _, err := tn.Float32(); err != nil {
				t.Fatal(err)
			}
			total += len(tn.Data)
		}
		if total != 64 {
			t.Fatalf("tensors hold %d bytes of the 64-byte data region", total)
		}
	})
}
