package report

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is one value of an ordered JSON document. Exactly one of its
// kinds is used; the encoder writes it the way Python's json.dumps
// (indent=2, ensure_ascii=False) does.
type node struct {
	kind   nodeKind
	str    string
	num    float64
	i      int64
	b      bool
	keys   []string
	fields []node // object members (parallel to keys) or array items
}

type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindString
	kindFloat
	kindInt
	kindBool
	kindObject
	kindArray
)

func nullNode() node              { return node{kind: kindNull} }
func strNode(s string) node       { return node{kind: kindString, str: s} }
func floatNode(f float64) node    { return node{kind: kindFloat, num: f} }
func intNode(i int) node          { return node{kind: kindInt, i: int64(i)} }
func boolNode(b bool) node        { return node{kind: kindBool, b: b} }
func arrayNode(items []node) node { return node{kind: kindArray, fields: items} }

func optStr(s *string) node {
	if s == nil {
		return nullNode()
	}
	return strNode(*s)
}

func optFloat(f *float64) node {
	if f == nil {
		return nullNode()
	}
	return floatNode(*f)
}

// optInt is n, or null when n is 0 (unknown).
func optInt(n int) node {
	if n == 0 {
		return nullNode()
	}
	return intNode(n)
}

// object builds an ordered object from alternating key, value pairs.
type object struct{ n node }

func newObject() *object { return &object{node{kind: kindObject}} }

func (o *object) add(key string, v node) *object {
	o.n.keys = append(o.n.keys, key)
	o.n.fields = append(o.n.fields, v)
	return o
}

// encode appends n to buf at the given indentation depth.
// It fails on NaN and infinities, which have no JSON form.
func (n node) encode(buf *bytes.Buffer, depth int, path string) error {
	switch n.kind {
	case kindNull:
		buf.WriteString("null")
	case kindString:
		writePyString(buf, n.str)
	case kindFloat:
		s, err := pyFloatRepr(n.num)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		buf.WriteString(s)
	case kindInt:
		buf.WriteString(strconv.FormatInt(n.i, 10))
	case kindBool:
		if n.b {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case kindObject, kindArray:
		open, close := byte('{'), byte('}')
		if n.kind == kindArray {
			open, close = '[', ']'
		}
		buf.WriteByte(open)
		if len(n.fields) == 0 {
			buf.WriteByte(close)
			return nil
		}
		inner := strings.Repeat("  ", depth+1)
		for i, v := range n.fields {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
			buf.WriteString(inner)
			sub := path + "[" + strconv.Itoa(i) + "]"
			if n.kind == kindObject {
				writePyString(buf, n.keys[i])
				buf.WriteString(": ")
				sub = path + "." + n.keys[i]
			}
			if err := v.encode(buf, depth+1, sub); err != nil {
				return err
			}
		}
		buf.WriteByte('\n')
		buf.WriteString(strings.Repeat("  ", depth))
		buf.WriteByte(close)
	}
	return nil
}

// pyFloatRepr formats f as Python's repr(float) does, which is what the
// json module writes: the shortest digits that round-trip, fixed notation
// with at least one decimal ("1.0") when the decimal exponent lies in
// [-4, 16), else scientific notation with a signed two-digit-minimum
// exponent ("1e-05", "1.5e+16").
func pyFloatRepr(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("value %v has no JSON representation", f)
	}
	// Shortest round-trip digits in scientific form: [-]d[.ddd]e±XX.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	neg := strings.HasPrefix(sci, "-")
	sci = strings.TrimPrefix(sci, "-")
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, err := strconv.Atoi(expStr)
	if err != nil {
		return "", fmt.Errorf("formatting %v: %w", f, err)
	}
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		switch {
		case exp < 0:
			out = "0." + strings.Repeat("0", -exp-1) + digits
		case len(digits) <= exp+1:
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		default:
			out = digits[:exp+1] + "." + digits[exp+1:]
		}
	} else {
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		out = fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	if neg {
		out = "-" + out
	}
	return out, nil
}

// writePyString writes s as a JSON string the way Python's json module
// does with ensure_ascii=False: only '"', '\\' and control characters
// below U+0020 are escaped; everything else, non-ASCII included, is
// written as is. Invalid UTF-8 bytes become U+FFFD.
func writePyString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(buf, `\u%04x`, r)
			} else {
				buf.WriteRune(r)
			}
		}
	}
	buf.WriteByte('"')
}
