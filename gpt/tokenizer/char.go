package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/labcoreai/tokbench/weights"
)

// Char is a character-level tokenizer: token id i is the character vocab[i],
// as upstream's CharTokenizer (stoi = {ch: i for i, ch in enumerate(vocab)}).
// Characters are Unicode code points, as Python iterates a str.
type Char struct {
	vocab []string
	stoi  map[rune]int
}

var _ Tokenizer = (*Char)(nil)

// NewChar returns a character tokenizer over vocab, the "vocab" list saved
// in a checkpoint or meta.json. The vocab must be non-empty and hold
// distinct entries of exactly one character each.
func NewChar(vocab []string) (*Char, error) {
	if len(vocab) == 0 {
		return nil, errors.New("tokenizer: char vocab is empty")
	}
	c := &Char{vocab: make([]string, len(vocab)), stoi: make(map[rune]int, len(vocab))}
	for i, s := range vocab {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case s == "":
			return nil, fmt.Errorf("tokenizer: char vocab entry %d is empty", i)
		case r == utf8.RuneError && size == 1:
			return nil, fmt.Errorf("tokenizer: char vocab entry %d is not valid UTF-8: %s", i, weights.Quote(s))
		case size != len(s):
			return nil, fmt.Errorf("tokenizer: char vocab entry %d is %s, not a single character", i, weights.Quote(s))
		}
		if j, dup := c.stoi[r]; dup {
			return nil, fmt.Errorf("tokenizer: char vocab has %q twice, at %d and %d", s, j, i)
		}
		c.stoi[r] = i
		c.vocab[i] = s
	}
	return c, nil
}

// Encode returns the id of each character of s. Characters outside the
// vocab are an error that names every one of them, quoted, in order of first
// appearance. A byte of s that is not valid UTF-8 is reported as such a
// character.
func (c *Char) Encode(s string) ([]int, error) {
	ids := make([]int, 0, len(s))
	var unknown []string
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		id, ok := c.stoi[r]
		if r == utf8.RuneError && size == 1 {
			ok = false // an invalid byte, not a real U+FFFD
		}
		if ok {
			ids = append(ids, id)
		} else if ch := s[i : i+size]; !seen[ch] {
			seen[ch] = true
			unknown = append(unknown, ch)
		}
		i += size
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("tokenizer: prompt has characters outside the char vocab: %s", weights.QuoteList(unknown))
	}
	return ids, nil
}

// Decode returns the characters of ids concatenated. An id outside
// [0, VocabSize()) is an error naming it and its position.
func (c *Char) Decode(ids []int) (string, error) {
	var b strings.Builder
	for i, id := range ids {
		if id < 0 || id >= len(c.vocab) {
			return "", fmt.Errorf("tokenizer: token id %d (position %d) is outside the char vocab of size %d", id, i, len(c.vocab))
		}
		b.WriteString(c.vocab[id])
	}
	return b.String(), nil
}

// VocabSize returns the number of characters in the vocab.
func (c *Char) VocabSize() int { return len(c.vocab) }

// Name returns "char".
func (c *Char) Name() string { return "char" }

// Vocab returns a copy of the vocab, in id order.
func (c *Char) Vocab() []string { return append([]string(nil), c.vocab...) }
