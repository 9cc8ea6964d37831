package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// decodeUTF8Replace decodes b as UTF-8 the way Python's
// bytes.decode("utf-8", errors="replace") does: each maximal subpart of an
// ill-formed sequence becomes one U+FFFD (Unicode's recommended practice,
// also WHATWG's). Go's own conversions differ: strings.ToValidUTF8 folds a
// whole invalid run into one U+FFFD, and range yields one per byte.
func decodeUTF8Replace(b string) string {
	if utf8.ValidString(b) {
		return b
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		default: // continuation byte without a lead, C0, C1, F5..FF
			sb.WriteRune(utf8.RuneError)
			i++
			continue
		}
		j := i + 1
		for k := 0; k < need; k++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				break
			}
			j++
			lo, hi = 0x80, 0xBF
		}
		if j-i == need+1 {
			sb.WriteString(b[i:j])
		} else {
			sb.WriteRune(utf8.RuneError)
		}
		i = j
	}
	return sb.String()
}
