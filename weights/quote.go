package weights

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxQuoted is how many bytes of an input value a message shows.
const maxQuoted = 200

// Quote returns s as a Go string literal, safe to print on a terminal:
// control bytes, escape sequences and invalid UTF-8 are escaped. A string
// longer than 200 bytes is cut to its first 200 bytes (on a character
// boundary) followed by "... (N bytes)". Every value from an input file
// that an error or warning of this package or of package gpt shows goes
// through Quote, so that a file can neither rewrite the terminal nor make a
// message of megabytes.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > maxQuoted-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// maxListed is how many names QuoteList shows.
const maxListed = 20

// QuoteList quotes the first 20 names with Quote, separated by ", ",
// followed by "and N more" when there are more: a message listing the names
// of a file stays short however many the file holds.
func QuoteList(names []string) string {
	var b []byte
	for i, n := range names {
		if i == maxListed {
			b = fmt.Appendf(b, ", and %d more", len(names)-maxListed)
			break
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, Quote(n)...)
	}
	return string(b)
}
