package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/labcoreai/tokbench/weights"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		spec     weights.TokenizerSpec
		name     string
		vocab    int
		romeoIDs []int
	}{
		{weights.TokenizerSpec{Type: "char", Vocab: shakespeareVocab}, "char", 65, []int{30, 27, 25, 17, 27, 10}},
		{weights.TokenizerSpec{Vocab: shakespeareVocab}, "char", 65, []int{30, 27, 25, 17, 27, 10}},
		{weights.TokenizerSpec{Type: "bpe"}, "bpe", 50257, []int{33676, 4720, 25}},
		{weights.TokenizerSpec{Type: "bpe", EncodingName: "gpt2"}, "bpe", 50257, []int{33676, 4720, 25}},
	} {
		tok, err := New(tc.spec)
		if err != nil {
			t.Errorf("New(%+v): %v", tc.spec, err)
			continue
		}
		ids, err := tok.Encode("ROMEO:")
		if tok.Name() != tc.name || tok.VocabSize() != tc.vocab || err != nil || !slices.Equal(ids, tc.romeoIDs) {
			t.Errorf("New(%+v): name %q, vocab %d, Encode(ROMEO:) = %v, %v", tc.spec, tok.Name(), tok.VocabSize(), ids, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		spec weights.TokenizerSpec
		want string
	}{
		{weights.TokenizerSpec{Type: "bpe", EncodingName: "cl100k_base"}, `bpe encoding "cl100k_base" is not supported`},
		{weights.TokenizerSpec{Type: "sentencepiece"}, `unknown tokenizer type "sentencepiece"`},
		{weights.TokenizerSpec{Type: "char"}, "needs a saved vocab"},
		{weights.TokenizerSpec{Type: "char", Vocab: []string{"ab"}}, `entry 0 is "ab"`},
	} {
		tok, err := New(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, %v; want error containing %q", tc.spec, tok, err, tc.want)
		}
	}
}
