package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzTexts are seed prompts: upstream's default prompt, the fixture
// vocab, and every text of the tiktoken reference file.
func fuzzTexts(f *testing.F) []string {
	texts := []string{"", "ROMEO:", "ROMEO: ¿qué?", strings.Join(shakespeareVocab, ""), "a\xffb", "\xe2\x82", EndOfTextText, "x" + EndOfTextText[:5]}
	b, err := os.ReadFile(filepath.Join("testdata", "bpe_refs.json"))
	if err != nil {
		f.Fatal(err)
	}
	var refs struct {
		Encode []struct {
			Text string `json:"text"`
		} `json:"encode"`
	}
	if err := json.Unmarshal(b, &refs); err != nil {
		f.Fatal(err)
	}
	for _, e := range refs.Encode {
		if len(e.Text) <= 4096 {
			texts = append(texts, e.Text)
		}
	}
	return texts
}

// FuzzCharRoundTrip builds a char tokenizer from a fuzzed vocab (entries
// separated by NUL; empty means the tinyshakespeare fixture vocab) and
// checks that any text made of vocab characters survives
// decode(encode(s)) == s, and that any other text is refused.
func FuzzCharRoundTrip(f *testing.F) {
	for _, s := range fuzzTexts(f) {
		f.Add("", s)
	}
	f.Add("a\x00b\x00\ufffd", "ab\ufffd")
	f.Add("é\x00è\x00\n", "éè\n")
	f.Add("ab", "ab")
	f.Fuzz(func(t *testing.T, vocab, s string) {
		v := shakespeareVocab
		if vocab != "" {
			v = strings.Split(vocab, "\x00")
		}
		c, err := NewChar(v)
		if err != nil {
			return
		}
		inVocab := utf8.ValidString(s)
		for _, r := range s {
			if _, ok := c.stoi[r]; !ok {
				inVocab = false
			}
		}
		ids, err := c.Encode(s)
		if !inVocab {
			if err == nil {
				t.Fatalf("Encode(%q) accepted text outside the vocab: %v", s, ids)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		got, err := c.Decode(ids)
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", s, err)
		}
		if got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	})
}

// fuzzIDs reads 4-byte little-endian signed token ids.
func fuzzIDs(data []byte) []int {
	ids := make([]int, 0, len(data)/4)
	for len(data) >= 4 {
		ids = append(ids, int(int32(binary.LittleEndian.Uint32(data))))
		data = data[4:]
	}
	return ids
}

// FuzzCharDecode decodes arbitrary ids with the fixture vocab: an id
// outside it is an error; otherwise encoding the text gives the ids back.
func FuzzCharDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 30), 64))
	f.Add(binary.LittleEndian.AppendUint32(nil, 65))
	f.Add(binary.LittleEndian.AppendUint32(nil, 0xffffffff))
	c, err := NewChar(shakespeareVocab)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := fuzzIDs(data)
		s, err := c.Decode(ids)
		valid := true
		for _, id := range ids {
			if id < 0 || id >= c.VocabSize() {
				valid = false
			}
		}
		if !valid {
			if err == nil {
				t.Fatalf("Decode(%v) accepted an id outside the vocab", ids)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(%v): %v", ids, err)
		}
		back, err := c.Encode(s)
		if err != nil {
			t.Fatalf("Encode(Decode(%v)) = %v", ids, err)
		}
		if len(back) != len(ids) {
			t.Fatalf("Encode(Decode(%v)) = %v", ids, back)
		}
		for i := range ids {
			if back[i] != ids[i] {
				t.Fatalf("Encode(Decode(%v)) = %v", ids, back)
			}
		}
	})
}

// FuzzBPERoundTrip: for valid UTF-8 without the special token,
// decode(encode(s)) == s; invalid bytes become U+FFFD (one per byte) and
// never panic; the special token in text is refused.
func FuzzBPERoundTrip(f *testing.F) {
	for _, s := range fuzzTexts(f) {
		f.Add(s)
	}
	b, err := NewGPT2()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := b.Encode(s)
		if strings.Contains(s, EndOfTextText) {
			if err == nil {
				t.Fatalf("Encode(%q) accepted the special token", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		for _, id := range ids {
			if id < 0 || id >= GPT2EndOfText {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
		got, err := b.Decode(ids)
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", s, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
	})
}

// FuzzBPEDecode decodes arbitrary ids: out of range is an error, anything
// else gives valid UTF-8 (broken sequences as U+FFFD).
func FuzzBPEDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(binary.LittleEndian.AppendUint32(nil, GPT2EndOfText))
	f.Add(binary.LittleEndian.AppendUint32(nil, GPT2VocabSize))
	f.Add(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 447), 239)) // ids whose bytes need not form whole UTF-8 sequences
	f.Add(binary.LittleEndian.AppendUint32(nil, 0xffffffff))
	b, err := NewGPT2()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := fuzzIDs(data)
		// Fold most ids into the vocab so that decoding is exercised;
		// ids with the top bit set stay as they are (out of range).
		for i, id := range ids {
			if id >= 0 {
				ids[i] = id % (GPT2VocabSize + 3)
			}
		}
		s, err := b.Decode(ids)
		valid := true
		for _, id := range ids {
			if id < 0 || id >= GPT2VocabSize {
				valid = false
			}
		}
		if !valid {
			if err == nil {
				t.Fatalf("Decode(%v) accepted an id outside the vocab", ids)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(%v): %v", ids, err)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("Decode(%v) = %q is not valid UTF-8", ids, s)
		}
	})
}

// FuzzBPEMatchesTiktokenGo compares Encode with tiktoken-go, a port of
// tiktoken's encoder whose merge loop rescans every part (quadratic, so
// the texts stay under 4 KB): the heap merge must pick the same pairs in
// the same order on any text, long runs without spaces included.
func FuzzBPEMatchesTiktokenGo(f *testing.F) {
	for _, s := range fuzzTexts(f) {
		f.Add(s)
	}
	f.Add(strings.Repeat("a", 1000))
	f.Add(strings.Repeat("ab", 300) + strings.Repeat("!?", 200))
	f.Add("aaaa\u00e9\u00e9\u00e9   \n\n\t 12345678901234567890 ....")
	b := mustGPT2(f)
	ref := tiktokenGo(f)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 || !utf8.ValidString(s) || strings.Contains(s, EndOfTextText) {
			return
		}
		got, err := b.Encode(s)
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		if want := ref.Encode(s, nil, nil); !slices.Equal(got, want) {
			t.Fatalf("Encode(%q)\n got %v\nwant %v (tiktoken-go)", s, got, want)
		}
	})
}
