package tokenizer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// bpeRefs is testdata/bpe_refs.json, written by testdata/gen_bpe_refs.mjs
// from the real tiktoken (npm package, the WASM build of its Rust core).
type bpeRefs struct {
	TiktokenVersion string `json:"tiktoken_npm_version"`
	Encoding        string `json:"encoding"`
	NVocab          int    `json:"n_vocab"`
	VocabSHA256     string `json:"vocab_sha256"`
	Encode          []struct {
		Name       string `json:"name"`
		Text       string `json:"text"`
		IDs        []int  `json:"ids"` // null: tiktoken's encode() raised
		Error      string `json:"error"`
		AllowIDs   []int  `json:"ids_allow_special"`
		DecodedStr string `json:"decoded"`
	} `json:"encode"`
	Decode []struct {
		IDs      []int  `json:"ids"`
		BytesHex string `json:"bytes_hex"`
		Text     string `json:"text"`
	} `json:"decode"`
	UnicodeSweep []string `json:"unicode_sweep_sha256"`
}

func loadRefs(t *testing.T) *bpeRefs {
	t.Helper()
	b, err := os.ReadFile("testdata/bpe_refs.json")
	if err != nil {
		t.Fatal(err)
	}
	var r bpeRefs
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("testdata/bpe_refs.json: %v", err)
	}
	if r.Encoding != "gpt2" || r.NVocab != GPT2VocabSize || len(r.Encode) < 100 || len(r.Decode) < 50 || len(r.UnicodeSweep) != 0x110 {
		t.Fatalf("testdata/bpe_refs.json looks incomplete: encoding %q, n_vocab %d, %d encode, %d decode, %d sweep blocks",
			r.Encoding, r.NVocab, len(r.Encode), len(r.Decode), len(r.UnicodeSweep))
	}
	return &r
}

func mustGPT2(t testing.TB) *BPE {
	t.Helper()
	b, err := NewGPT2()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGPT2Basics(t *testing.T) {
	b := mustGPT2(t)
	if b.VocabSize() != 50257 || b.Name() != "bpe" || b.EncodingName() != "gpt2" {
		t.Fatalf("VocabSize, Name, EncodingName = %d, %q, %q", b.VocabSize(), b.Name(), b.EncodingName())
	}
	ids, err := b.Encode("ROMEO:")
	if err != nil || !slices.Equal(ids, []int{33676, 4720, 25}) {
		t.Fatalf("Encode(ROMEO:) = %v, %v", ids, err)
	}
	if b2, _ := NewGPT2(); b2 != b {
		t.Fatal("NewGPT2 parsed the ranks twice")
	}
}

func TestGPT2VocabMatchesTiktoken(t *testing.T) {
	r := loadRefs(t)
	b := mustGPT2(t)
	h := sha256.New()
	var n [4]byte
	for id := range GPT2VocabSize {
		tok, err := b.decodeBytes([]int{id})
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(n[:], uint32(len(tok)))
		h.Write(n[:])
		h.Write([]byte(tok))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.VocabSHA256 {
		t.Fatalf("vocab digest %s, tiktoken %s gpt2 has %s", got, r.TiktokenVersion, r.VocabSHA256)
	}
}

func TestGPT2EncodeMatchesTiktoken(t *testing.T) {
	r := loadRefs(t)
	b := mustGPT2(t)
	for _, c := range r.Encode {
		ids, err := b.Encode(c.Text)
		switch {
		case c.IDs == nil && err == nil:
			t.Errorf("%s: Encode(%.60q) = %v, tiktoken raised %q", c.Name, c.Text, ids, c.Error)
		case c.IDs == nil && !strings.Contains(err.Error(), EndOfTextText):
			t.Errorf("%s: Encode(%.60q) error %q does not name %s", c.Name, c.Text, err, EndOfTextText)
		case c.IDs != nil && err != nil:
			t.Errorf("%s: Encode(%.60q): %v", c.Name, c.Text, err)
		case c.IDs != nil && !slices.Equal(ids, c.IDs):
			t.Errorf("%s: Encode(%.60q)\n got %v\nwant %v", c.Name, c.Text, ids, c.IDs)
		}
		if got := b.EncodeAllowingSpecial(c.Text); !slices.Equal(got, c.AllowIDs) {
			t.Errorf("%s: EncodeAllowingSpecial(%.60q)\n got %v\nwant %v", c.Name, c.Text, got, c.AllowIDs)
		}
		s, err := b.Decode(c.AllowIDs)
		if err != nil || s != c.DecodedStr || s != c.Text {
			t.Errorf("%s: Decode = %.60q, %v; tiktoken %.60q, text %.60q", c.Name, s, err, c.DecodedStr, c.Text)
		}
	}
}

func TestGPT2DecodeMatchesTiktoken(t *testing.T) {
	r := loadRefs(t)
	b := mustGPT2(t)
	for _, c := range r.Decode {
		raw, err := b.decodeBytes(c.IDs)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString([]byte(raw)); got != c.BytesHex {
			t.Errorf("bytes of %v = %s, tiktoken %s", c.IDs, got, c.BytesHex)
		}
		s, err := b.Decode(c.IDs)
		if err != nil || s != c.Text {
			t.Errorf("Decode(%v) (bytes %s) = %+q, %v; want %+q", c.IDs, c.BytesHex, s, err, c.Text)
		}
	}
}

// TestGPT2UnicodeSweep encodes two probes around every code point and
// compares per-block digests with tiktoken's. By default it covers planes 0
// and 1 (every script, emoji, math letters); TOKBENCH_FULL_UNICODE_SWEEP=1
// covers all 17 planes.
func TestGPT2UnicodeSweep(t *testing.T) {
	r := loadRefs(t)
	b := mustGPT2(t)
	blocks := 0x20
	if os.Getenv("TOKBENCH_FULL_UNICODE_SWEEP") == "1" {
		blocks = len(r.UnicodeSweep)
	} else if testing.Short() {
		blocks = 0x10
	}
	for block := range blocks {
		h := sha256.New()
		var buf []byte
		for cp := rune(block * 0x1000); cp < rune(block+1)*0x1000; cp++ {
			if cp >= 0xD800 && cp <= 0xDFFF {
				continue
			}
			c := string(cp)
			for _, probe := range []string{"a" + c + "1", " " + c + c} {
				ids := b.EncodeAllowingSpecial(probe)
				buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(ids)))
				for _, id := range ids {
					buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
				}
				h.Write(buf)
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != r.UnicodeSweep[block] {
			t.Errorf("code points U+%04X..U+%04X encode differently from tiktoken", block*0x1000, (block+1)*0x1000-1)
		}
	}
}

func TestGPT2SpecialToken(t *testing.T) {
	b := mustGPT2(t)
	_, err := b.Encode("Hello <|endoftext|> World")
	if err == nil || !strings.Contains(err.Error(), "<|endoftext|> at byte 6") {
		t.Fatalf("err = %v", err)
	}
	// Pieces of it are ordinary text.
	for _, s := range []string{"<|endoftext", "endoftext|>", "<|endoftext |>"} {
		ids, err := b.Encode(s)
		if err != nil || slices.Contains(ids, GPT2EndOfText) {
			t.Errorf("Encode(%q) = %v, %v", s, ids, err)
		}
	}
	if got := b.EncodeAllowingSpecial("<|endoftext|>"); !slices.Equal(got, []int{GPT2EndOfText}) {
		t.Fatalf("EncodeAllowingSpecial = %v", got)
	}
	if s, err := b.Decode([]int{GPT2EndOfText}); s != EndOfTextText || err != nil {
		t.Fatalf("Decode(eot) = %q, %v", s, err)
	}
}

func TestGPT2InvalidUTF8(t *testing.T) {
	b := mustGPT2(t)
	// Each invalid byte encodes as U+FFFD, as tiktoken does with the lone
	// surrogates Python's surrogateescape gives undecodable argv bytes.
	got, err := b.Encode("a\xff\xfeb\xe2\x82")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := b.Encode("a\uFFFD\uFFFDb\uFFFD\uFFFD")
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(invalid) = %v, want %v", got, want)
	}
}

func TestGPT2DecodeOutOfRange(t *testing.T) {
	b := mustGPT2(t)
	for _, tc := range []struct {
		ids  []int
		want string
	}{
		{[]int{15496, 50257}, "token id 50257 (position 1) is outside the gpt2 vocab of size 50257"},
		{[]int{-1}, "token id -1 (position 0)"},
		{[]int{1 << 40}, "token id 1099511627776 (position 0)"},
	} {
		s, err := b.Decode(tc.ids)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%v) = %q, %v; want error containing %q", tc.ids, s, err, tc.want)
		}
	}
	if s, err := b.Decode(nil); s != "" || err != nil {
		t.Errorf("Decode(nil) = %q, %v", s, err)
	}
}

func TestGPT2Concurrent(t *testing.T) {
	b := mustGPT2(t)
	texts := []string{"ROMEO:\nBut soft, what light", "日本語 😀 café", "  x\n\n\ty  ", "12345 it's"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i], _ = b.Encode(s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for k := range 50 {
				i := (g + k) % len(texts)
				ids, err := b.Encode(texts[i])
				if err != nil || !slices.Equal(ids, want[i]) {
					errs <- fmt.Errorf("goroutine %d: Encode(%q) = %v, %v", g, texts[i], ids, err)
					return
				}
				if s, err := b.Decode(ids); err != nil || s != texts[i] {
					errs <- fmt.Errorf("goroutine %d: Decode = %q, %v", g, s, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecodeUTF8Replace(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"\xff", "\uFFFD"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte: one maximal subpart
		{"\xe2\x82\xac", "€"},                  //
		{"\xe2\x82a", "\uFFFDa"},               //
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated 4-byte
		{"\xf0\x9f\x98\x80\x80", "😀\uFFFD"},    // stray continuation
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED then two lone continuations
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"}, // overlong
		{"\xc0\xaf", "\uFFFD\uFFFD"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // above U+10FFFF
		{"\xf4\x8f\xbf\xbf", "\U0010FFFF"},
	} {
		if got := decodeUTF8Replace(tc.in); got != tc.want {
			t.Errorf("decodeUTF8Replace(%q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkGPT2Encode(b *testing.B) {
	t := mustGPT2(b)
	text := strings.Repeat("First Citizen:\nBefore we proceed any further, hear me speak.\n\n", 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := t.Encode(text); err != nil {
			b.Fatal(err)
		}
	}
}

// tiktokenGo is tiktoken-go's "r50k_base" (the gpt2 ranks, pattern and
// special token), from its embedded ranks: a reference for Encode.
func tiktokenGo(t testing.TB) *tiktoken.Tiktoken {
	t.Helper()
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	ref, err := tiktoken.GetEncoding("r50k_base")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestGPT2LongPiecesMatchTiktokenGo encodes long pieces (runs without
// spaces, where the merge order matters most) and compares with
// tiktoken-go, a port of tiktoken's merge loop that is quadratic in the
// piece length (so the pieces stay at a few KB here).
func TestGPT2LongPiecesMatchTiktokenGo(t *testing.T) {
	b := mustGPT2(t)
	ref := tiktokenGo(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"a", "ab", "abc", "aab", "eiou", "xyzq", "ﬀéa", "0123456789", "!?.,-", "日本語"}
	var texts []string
	for _, alpha := range alphabets {
		runes := []rune(alpha)
		for _, n := range []int{2, 3, 17, 255, 1000, 4096} {
			var sb strings.Builder
			for range n {
				sb.WriteRune(runes[rng.IntN(len(runes))])
			}
			texts = append(texts, sb.String())
		}
	}
	texts = append(texts, strings.Repeat("a", 3000), strings.Repeat("ab", 1500), strings.Repeat("hello", 700),
		strings.Repeat("x", 2000)+" "+strings.Repeat("y", 2000), strings.Repeat(" ", 3000)+"z")
	for _, s := range texts {
		want := ref.Encode(s, nil, nil)
		got, err := b.Encode(s)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Encode(%.40q... %d bytes) = %d tokens, %v; tiktoken-go %d tokens", s, len(s), len(got), err, len(want))
			continue
		}
		if d, err := b.Decode(got); err != nil || d != s {
			t.Errorf("Decode(Encode(%.40q...)) differs: %v", s, err)
		}
	}
}

// TestGPT2LongRun encodes 100 KB of "a" (23 s with a quadratic merge)
// and checks what the tokens must be: the decoded text is the input and
// every token is a run of "a" that the vocabulary knows.
func TestGPT2LongRun(t *testing.T) {
	b := mustGPT2(t)
	s := strings.Repeat("a", 100_000)
	ids, err := b.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.Decode(ids)
	if err != nil || d != s {
		t.Fatalf("Decode(Encode(100 KB of a)) = %d bytes, %v", len(d), err)
	}
	// The vocabulary has runs of "a" up to 8 bytes long; unmerged bytes
	// would give one token each.
	if len(ids) > len(s)/4 {
		t.Fatalf("%d tokens for %d bytes: the merges did not run", len(ids), len(s))
	}
}

// BenchmarkGPT2EncodeLongRun is one long piece without spaces (letters,
// and the other classes of the GPT-2 pattern): its cost per byte should
// stay flat from 10 KB to 100 KB (linear up to a log).
func BenchmarkGPT2EncodeLongRun(b *testing.B) {
	t := mustGPT2(b)
	for _, run := range []struct{ name, unit string }{
		{"a", "a"}, {"ab", "ab"}, {"digits", "0123456789"}, {"punct", "!?"}, {"spaces", " "}, {"cjk", "日本語"},
	} {
		for _, n := range []int{10_000, 100_000} {
			text := strings.Repeat(run.unit, n/len(run.unit))
			b.Run(fmt.Sprintf("run=%s/bytes=%d", run.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					if _, err := t.Encode(text); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
