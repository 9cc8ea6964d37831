package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// GPT-2 encoding constants, as tiktoken's "gpt2" encoding defines them.
const (
	GPT2VocabSize = 50257           // 50256 byte-level BPE tokens + <|endoftext|>
	GPT2EndOfText = 50256           // id of the <|endoftext|> special token
	EndOfTextText = "<|endoftext|>" // text of the <|endoftext|> special token
)

// BPE is the GPT-2 byte-level BPE tokenizer, token for token the same as
// tiktoken's "gpt2" encoding, which upstream's BPETokenizer wraps. The merge
// ranks ship inside the binary: it never touches the network or the disk.
type BPE struct {
	enc *tiktoken.Tiktoken
}

var _ Tokenizer = (*BPE)(nil)

var gpt2 struct {
	once sync.Once
	bpe  *BPE
	err  error
}

// NewGPT2 returns the GPT-2 tokenizer. The ranks are parsed once per
// process; later calls return the same value.
func NewGPT2() (*BPE, error) {
	gpt2.once.Do(func() { gpt2.bpe, gpt2.err = loadGPT2() })
	return gpt2.bpe, gpt2.err
}

func loadGPT2() (*BPE, error) {
	// tiktoken's "gpt2" (GPT-2's encoder.json + vocab.bpe) and "r50k_base"
	// have the same ranks, pattern and special token; tiktoken-go only
	// knows the latter by name. The vocab digest test pins the equality.
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	enc, err := tiktoken.GetEncoding("r50k_base")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: loading the embedded GPT-2 ranks: %w", err)
	}
	b := &BPE{enc: enc}
	if got := b.enc.Decode([]int{GPT2EndOfText}); got != EndOfTextText {
		return nil, fmt.Errorf("tokenizer: embedded GPT-2 encoding has %q at id %d, want %q", got, GPT2EndOfText, EndOfTextText)
	}
	return b, nil
}

// Encode returns the GPT-2 token ids of s, as upstream's BPETokenizer.encode
// does with tiktoken's defaults (allowed_special=set(),
// disallowed_special="all"): text containing "<|endoftext|>" is an error.
// Bytes of s that are not valid UTF-8 are encoded as U+FFFD, one per byte,
// which is what Python's tiktoken does with the lone surrogates a
// command-line argument gets for undecodable bytes.
func (b *BPE) Encode(s string) ([]int, error) {
	if i := strings.Index(s, EndOfTextText); i >= 0 {
		return nil, fmt.Errorf("tokenizer: prompt contains the special token %s at byte %d, which the gpt2 encoding does not allow in text (as tiktoken's encode)", EndOfTextText, i)
	}
	return b.enc.Encode(validUTF8(s), nil, nil), nil
}

// EncodeAllowingSpecial is Encode with tiktoken's allowed_special="all":
// each "<|endoftext|>" in s becomes the special token GPT2EndOfText.
func (b *BPE) EncodeAllowingSpecial(s string) []int {
	return b.enc.Encode(validUTF8(s), []string{"all"}, nil)
}

// Decode returns the text of ids, decoded from UTF-8 with replacement as
// upstream's tiktoken decode() (errors="replace"): an incomplete or invalid
// byte sequence becomes U+FFFD. GPT2EndOfText decodes to "<|endoftext|>".
// An id outside [0, GPT2VocabSize) is an error naming it.
func (b *BPE) Decode(ids []int) (string, error) {
	raw, err := b.decodeBytes(ids)
	if err != nil {
		return "", err
	}
	return decodeUTF8Replace(raw), nil
}

// decodeBytes returns the raw bytes of ids, concatenated.
func (b *BPE) decodeBytes(ids []int) (string, error) {
	for i, id := range ids {
		if id < 0 || id >= GPT2VocabSize {
			return "", fmt.Errorf("tokenizer: token id %d (position %d) is outside the gpt2 vocab of size %d", id, i, GPT2VocabSize)
		}
	}
	return b.enc.Decode(ids), nil
}

// VocabSize returns GPT2VocabSize.
func (b *BPE) VocabSize() int { return GPT2VocabSize }

// Name returns "bpe".
func (b *BPE) Name() string { return "bpe" }

// EncodingName returns "gpt2", tiktoken's name of the encoding.
func (b *BPE) EncodingName() string { return "gpt2" }

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for _, r := range s { // an invalid byte ranges as utf8.RuneError, width 1
		sb.WriteRune(r)
	}
	return sb.String()
}
