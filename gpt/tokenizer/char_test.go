package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/weights"
)

// shakespeareVocab is the vocab upstream's CharTokenizer.fit builds from
// tinyshakespeare: sorted(set(text)).
var shakespeareVocab = strings.Split("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "")

func TestShakespeareVocabShape(t *testing.T) {
	if len(shakespeareVocab) != 65 || !slices.IsSorted(shakespeareVocab) {
		t.Fatalf("test vocab: %d entries, sorted=%v: %q", len(shakespeareVocab), slices.IsSorted(shakespeareVocab), shakespeareVocab)
	}
}

func TestCharRoundTrip(t *testing.T) {
	c, err := NewChar(shakespeareVocab)
	if err != nil {
		t.Fatal(err)
	}
	if c.VocabSize() != 65 || c.Name() != "char" {
		t.Fatalf("VocabSize, Name = %d, %q", c.VocabSize(), c.Name())
	}
	ids, err := c.Encode("ROMEO:")
	if err != nil {
		t.Fatal(err)
	}
	// stoi is the index in the vocab: '\n'=0, ' '=1, ':'=10, 'A'=13...
	if want := []int{30, 27, 25, 17, 27, 10}; !slices.Equal(ids, want) {
		t.Fatalf("Encode(ROMEO:) = %v, want %v", ids, want)
	}
	text := "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak!"
	ids, err = c.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(text) {
		t.Fatalf("%d ids for %d characters", len(ids), len(text))
	}
	got, err := c.Decode(ids)
	if err != nil || got != text {
		t.Fatalf("Decode(Encode(text)) = %q, %v", got, err)
	}
	if ids, err := c.Encode(""); err != nil || len(ids) != 0 {
		t.Fatalf("Encode(\"\") = %v, %v", ids, err)
	}
}

func TestCharMultiByteVocab(t *testing.T) {
	vocab := []string{"é", "日", "😀", "a", "\t", "\uFFFD"}
	c, err := NewChar(vocab)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.Encode("a😀é\t日\uFFFDa")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 2, 0, 4, 1, 5, 3}; !slices.Equal(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	if s, _ := c.Decode(ids); s != "a😀é\t日\uFFFDa" {
		t.Fatalf("Decode = %q", s)
	}
	// An invalid byte is not the vocab's real U+FFFD.
	if _, err := c.Encode("a\xffa"); err == nil || !strings.Contains(err.Error(), `"\xff"`) {
		t.Fatalf("invalid byte: err = %v", err)
	}
	// Returned vocab is a copy.
	v := c.Vocab()
	v[0] = "x"
	if s, _ := c.Decode([]int{0}); s != "é" {
		t.Fatalf("Vocab() aliases the tokenizer's vocab")
	}
}

func TestCharUnknownCharactersNamed(t *testing.T) {
	c, err := NewChar(shakespeareVocab)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Encode("café\tau lait\t é, ça 😀")
	const want = `tokenizer: prompt has characters outside the char vocab: "é", "\t", "ç", "😀"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	_, err = c.Encode("ROMEO:\x00\xfe")
	const want2 = `tokenizer: prompt has characters outside the char vocab: "\x00", "\xfe"`
	if err == nil || err.Error() != want2 {
		t.Fatalf("err = %v\nwant %s", err, want2)
	}
}

func TestCharVocabValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vocab []string
		want  string
	}{
		{"nil", nil, "char vocab is empty"},
		{"empty", []string{}, "char vocab is empty"},
		{"empty entry", []string{"a", ""}, "entry 1 is empty"},
		{"two chars", []string{"a", "ab"}, `entry 1 is "ab", not a single character`},
		{"combining sequence", []string{"e\u0301"}, "entry 0 is \"e\u0301\", not a single character"},
		{"invalid UTF-8", []string{"a", "\xff"}, `entry 1 is not valid UTF-8: "\xff"`},
		{"duplicate", []string{"a", "b", "a"}, `has "a" twice, at 0 and 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChar(tc.vocab)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewChar(%q) = %v, %v; want error containing %q", tc.vocab, c, err, tc.want)
			}
		})
	}
}

func TestCharDecodeOutOfRange(t *testing.T) {
	c, err := NewChar([]string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []int
		want string
	}{
		{[]int{0, 3}, "token id 3 (position 1) is outside the char vocab of size 3"},
		{[]int{-1}, "token id -1 (position 0) is outside the char vocab of size 3"},
		{[]int{2, 1, 0, 1 << 40}, "token id 1099511627776 (position 3)"},
	} {
		s, err := c.Decode(tc.ids)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%v) = %q, %v; want error containing %q", tc.ids, s, err, tc.want)
		}
	}
	if s, err := c.Decode(nil); s != "" || err != nil {
		t.Errorf("Decode(nil) = %q, %v", s, err)
	}
}

// Values from a checkpoint, meta.json or a prompt reach errors quoted (no raw
// control byte can rewrite the terminal) and capped in length.
func TestTokenizerMessagesTerminalSafe(t *testing.T) {
	c, err := NewChar(shakespeareVocab)
	if err != nil {
		t.Fatal(err)
	}
	var prompt strings.Builder
	for r := rune(0x10000); r < 0x10000+100000; r++ { // no surrogates: 100000 distinct characters
		prompt.WriteRune(r)
	}
	_, err = c.Encode(prompt.String())
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "and 99980 more") {
		t.Fatalf("100000 unknown characters: %d-byte error %.300q", len(err.Error()), err)
	}

	hostile := "\x1b[2K\rOK" + strings.Repeat("x", 1<<20)
	for name, build := range map[string]func() error{
		"vocab entry": func() error { _, err := NewChar([]string{"a", hostile}); return err },
		"type":        func() error { _, err := New(weights.TokenizerSpec{Type: hostile}); return err },
		"encoding": func() error {
			_, err := New(weights.TokenizerSpec{Type: weights.TokenizerBPE, EncodingName: hostile})
			return err
		},
	} {
		err := build()
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\x1b\r") || len(msg) > 400 || !strings.Contains(msg, `\x1b[2K\rOK`) {
			t.Errorf("%s: %d-byte error %.300q", name, len(msg), msg)
		}
	}
}
