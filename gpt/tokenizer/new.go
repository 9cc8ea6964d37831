package tokenizer

import (
	"errors"
	"fmt"

	"github.com/labcoreai/tokbench/weights"
)

// New builds the tokenizer spec describes: "char" gives NewChar(spec.Vocab);
// "bpe" gives NewGPT2() for the encoding "gpt2" (or none named). An empty
// type means "char", upstream's default.
func New(spec weights.TokenizerSpec) (Tokenizer, error) {
	switch spec.Type {
	case weights.TokenizerChar, "":
		if len(spec.Vocab) == 0 {
			return nil, errors.New("tokenizer: a char tokenizer needs a saved vocab, and none was found (meta.json or checkpoint \"tokenizer\".\"vocab\")")
		}
		return NewChar(spec.Vocab)
	case weights.TokenizerBPE:
		if spec.EncodingName != "" && spec.EncodingName != weights.DefaultEncodingName {
			return nil, fmt.Errorf("tokenizer: bpe encoding %s is not supported (only %q)", weights.Quote(spec.EncodingName), weights.DefaultEncodingName)
		}
		return NewGPT2()
	}
	return nil, fmt.Errorf("tokenizer: unknown tokenizer type %s (want char or bpe)", weights.Quote(spec.Type))
}
