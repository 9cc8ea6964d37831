package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// GPT-2 encoding constants, as tiktoken's "gpt2" encoding defines them.
const (
	GPT2VocabSize = 50257           // 50256 byte-level BPE tokens + <|endoftext|>
	GPT2EndOfText = 50256           // id of the <|endoftext|> special token
	EndOfTextText = "<|endoftext|>" // text of the <|endoftext|> special token
)

// gpt2Pattern is the pre-tokenizer of tiktoken's "gpt2" encoding (GPT-2's
// encoder.py): text is cut into pieces that are merged separately.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// BPE is the GPT-2 byte-level BPE tokenizer, token for token the same as
// tiktoken's "gpt2" encoding, which upstream's BPETokenizer wraps. The merge
// ranks ship inside the binary: it never touches the network or the disk.
// Encoding takes time linear in the text up to a logarithmic factor, also
// on one long piece (a run of letters without spaces).
type BPE struct {
	ranks   map[string]int // token bytes -> id (rank) of the 50256 mergeable tokens
	decoder []string       // id -> token bytes, GPT2EndOfText included
	pattern *regexp2.Regexp
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
	// have the same ranks, pattern and special token; the loader only
	// knows the latter's file. The vocab digest test pins the equality.
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe("r50k_base.tiktoken")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: loading the embedded GPT-2 ranks: %w", err)
	}
	if len(ranks) != GPT2EndOfText {
		return nil, fmt.Errorf("tokenizer: embedded GPT-2 ranks have %d tokens, want %d", len(ranks), GPT2EndOfText)
	}
	dec := make([]string, GPT2VocabSize)
	for tok, id := range ranks {
		if id < 0 || id >= GPT2EndOfText || dec[id] != "" {
			return nil, fmt.Errorf("tokenizer: embedded GPT-2 ranks: id %d is out of range or given twice", id)
		}
		dec[id] = tok
	}
	dec[GPT2EndOfText] = EndOfTextText
	re, err := regexp2.Compile(gpt2Pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: compiling the GPT-2 pattern: %w", err)
	}
	return &BPE{ranks: ranks, decoder: dec, pattern: re}, nil
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
	return b.encodeOrdinary(nil, validUTF8(s)), nil
}

// EncodeAllowingSpecial is Encode with tiktoken's allowed_special="all":
// each "<|endoftext|>" in s becomes the special token GPT2EndOfText.
func (b *BPE) EncodeAllowingSpecial(s string) []int {
	s = validUTF8(s)
	var ids []int
	for {
		i := strings.Index(s, EndOfTextText)
		if i < 0 {
			return b.encodeOrdinary(ids, s)
		}
		ids = append(b.encodeOrdinary(ids, s[:i]), GPT2EndOfText)
		s = s[i+len(EndOfTextText):]
	}
}

// encodeOrdinary appends to ids the tokens of s, valid UTF-8 without
// special tokens: s is cut into pieces by the GPT-2 pattern and each piece
// is merged on its own.
func (b *BPE) encodeOrdinary(ids []int, s string) []int {
	if s == "" {
		return ids
	}
	m, err := b.pattern.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = b.pattern.FindNextMatch(m) {
		piece := m.String()
		if id, ok := b.ranks[piece]; ok {
			ids = append(ids, id)
			continue
		}
		ids = b.mergePiece(ids, piece)
	}
	if err != nil { // only a match timeout, and none is set
		panic(fmt.Sprintf("tokenizer: GPT-2 pattern: %v", err))
	}
	return ids
}

// mergePiece appends the tokens of piece, byte-pair merged as tiktoken
// does: while two adjacent parts concatenate to a known token, merge the
// pair of lowest rank, the leftmost one on a tie. The parts form a linked
// list and the candidate pairs a min-heap, so a piece of n bytes costs
// O(n log n) (tiktoken-go's loop rescans all parts per merge: O(n²)).
func (b *BPE) mergePiece(ids []int, piece string) []int {
	n := len(piece)
	// Part i covers piece[i:end[i]]; next/prev link the live parts (-1:
	// none). A part that was merged into its left neighbour has end -1.
	end := make([]int, n)
	next := make([]int, n)
	prev := make([]int, n)
	for i := range n {
		end[i], next[i], prev[i] = i+1, i+1, i-1
	}
	next[n-1] = -1
	h := make(pairHeap, 0, n)
	push := func(i int) {
		j := next[i]
		if j < 0 {
			return
		}
		if r, ok := b.ranks[piece[i:end[j]]]; ok {
			h.push(pair{rank: r, left: i, end: end[j]})
		}
	}
	for i := range n - 1 {
		push(i)
	}
	for len(h) > 0 {
		p := h.pop()
		i := p.left
		j := next[i]
		// A stale pair: its left part was merged away, or either part
		// grew since the pair was pushed.
		if end[i] < 0 || j < 0 || end[j] != p.end {
			continue
		}
		end[i] = end[j]
		end[j] = -1
		next[i] = next[j]
		if next[i] >= 0 {
			prev[next[i]] = i
		}
		push(i)
		if prev[i] >= 0 {
			push(prev[i])
		}
		// Re-pushed pairs carry the new end, so the old ones read stale.
	}
	for i := 0; i >= 0; i = next[i] {
		ids = append(ids, b.ranks[piece[i:end[i]]])
	}
	return ids
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
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(b.decoder[id])
	}
	return sb.String(), nil
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

// pair is a candidate merge: the part starting at left with its right
// neighbour, which then ended at end.
type pair struct{ rank, left, end int }

// pairHeap is a binary min-heap of pairs by rank, then leftmost first
// (tiktoken's order). It is container/heap's algorithm without boxing
// each pair in an interface.
type pairHeap []pair

func (p pair) less(q pair) bool {
	if p.rank != q.rank {
		return p.rank < q.rank
	}
	return p.left < q.left
}

func (h *pairHeap) push(p pair) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *pairHeap) pop() pair {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && s[l].less(s[least]) {
			least = l
		}
		if r < n && s[r].less(s[least]) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
	return top
}
