package weights

import (
	"errors"
	"fmt"
)

// Tokenizer types.
const (
	TokenizerChar = "char"
	TokenizerBPE  = "bpe"
)

// DefaultEncodingName is the BPE encoding used when none is named.
const DefaultEncodingName = "gpt2"

// TokenizerSpec says which tokenizer to build.
type TokenizerSpec struct {
	Type         string   // "char" or "bpe"
	Vocab        []string // char: the vocabulary, id order
	EncodingName string   // bpe: the tiktoken encoding name, "gpt2" by default
}

// ParseTokenizerSpec reads an upstream tokenizer dict: {"type": "char",
// "vocab": [...]} or {"type": "bpe", "encoding_name": "gpt2"}.
func ParseTokenizerSpec(m map[string]any) (TokenizerSpec, error) {
	spec, err := parseTokenizerSpec(m)
	if err != nil {
		return TokenizerSpec{}, fmt.Errorf("weights: tokenizer: %w", err)
	}
	return spec, nil
}

func parseTokenizerSpec(m map[string]any) (TokenizerSpec, error) {
	if m == nil {
		return TokenizerSpec{}, errors.New("no tokenizer description")
	}
	typ, err := tokenizerType(m)
	if err != nil {
		return TokenizerSpec{}, err
	}
	switch typ {
	case "":
		return TokenizerSpec{}, errors.New("type: missing")
	case TokenizerChar:
		vocab, ok, err := tokenizerVocab(m)
		if err != nil {
			return TokenizerSpec{}, err
		}
		if !ok {
			return TokenizerSpec{}, errors.New("vocab: missing for a char tokenizer")
		}
		return TokenizerSpec{Type: TokenizerChar, Vocab: vocab}, nil
	case TokenizerBPE:
		enc, err := encodingName(m)
		if err != nil {
			return TokenizerSpec{}, err
		}
		return TokenizerSpec{Type: TokenizerBPE, EncodingName: enc}, nil
	}
	return TokenizerSpec{}, fmt.Errorf("type: unknown tokenizer type %s (want char or bpe)", Quote(typ))
}

func tokenizerType(m map[string]any) (string, error) {
	v, ok := m["type"]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("type: want a string, got %s", Describe(v))
	}
	if s != TokenizerChar && s != TokenizerBPE {
		return "", fmt.Errorf("type: unknown tokenizer type %s (want char or bpe)", Quote(s))
	}
	return s, nil
}

// tokenizerVocab returns m["vocab"]; ok is false when there is none.
func tokenizerVocab(m map[string]any) (vocab []string, ok bool, err error) {
	v, present := m["vocab"]
	if !present || v == nil {
		return nil, false, nil
	}
	l, isList := v.([]any)
	if !isList {
		return nil, false, fmt.Errorf("vocab: want a list of strings, got %s", Describe(v))
	}
	vocab = make([]string, len(l))
	for i, e := range l {
		s, isStr := e.(string)
		if !isStr {
			return nil, false, fmt.Errorf("vocab[%d]: want a string, got %s", i, Describe(e))
		}
		vocab[i] = s
	}
	return vocab, true, nil
}

func encodingName(m map[string]any) (string, error) {
	v, ok := m["encoding_name"]
	if !ok || v == nil {
		return DefaultEncodingName, nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("encoding_name: want a non-empty string, got %s", Describe(v))
	}
	return s, nil
}

// ResolveTokenizer chooses the tokenizer as upstream does (SPEC §4): the
// type is the flag when not empty, else the meta's tokenizer type, else the
// checkpoint's, else char. A char vocabulary comes from the meta when it has
// one, else from the checkpoint. A bpe encoding name comes from the first of
// meta and checkpoint that describes a bpe tokenizer naming one, else gpt2.
// meta and ckptTokenizer may be nil. Errors name the source at fault.
func ResolveTokenizer(flag string, meta *Meta, ckptTokenizer map[string]any) (TokenizerSpec, error) {
	type source struct {
		name string
		m    map[string]any
	}
	var sources []source
	if meta != nil && meta.Tokenizer != nil {
		sources = append(sources, source{"meta " + meta.Path + ": tokenizer", meta.Tokenizer})
	}
	if ckptTokenizer != nil {
		sources = append(sources, source{"checkpoint tokenizer", ckptTokenizer})
	}
	typ := flag
	if typ != "" && typ != TokenizerChar && typ != TokenizerBPE {
		return TokenizerSpec{}, fmt.Errorf("weights: tokenizer flag: unknown tokenizer type %s (want char or bpe)", Quote(flag))
	}
	if typ == "" {
		for _, s := range sources {
			t, err := tokenizerType(s.m)
			if err != nil {
				return TokenizerSpec{}, fmt.Errorf("weights: %s: %w", s.name, err)
			}
			if t != "" {
				typ = t
				break
			}
		}
	}
	if typ == "" {
		typ = TokenizerChar
	}
	switch typ {
	case TokenizerChar:
		for _, s := range sources {
			vocab, ok, err := tokenizerVocab(s.m)
			if err != nil {
				return TokenizerSpec{}, fmt.Errorf("weights: %s: %w", s.name, err)
			}
			if ok {
				return TokenizerSpec{Type: TokenizerChar, Vocab: vocab}, nil
			}
		}
		where := "no meta.json and no tokenizer in the checkpoint"
		if len(sources) > 0 {
			where = "neither the meta.json nor the checkpoint has a tokenizer vocab"
			if meta != nil && meta.Tokenizer == nil {
				where += " (meta " + meta.Path + " has no tokenizer)"
			}
		}
		return TokenizerSpec{}, fmt.Errorf("weights: char tokenizer: %s", where)
	default:
		for _, s := range sources {
			t, err := tokenizerType(s.m)
			if err != nil {
				return TokenizerSpec{}, fmt.Errorf("weights: %s: %w", s.name, err)
			}
			if t != TokenizerBPE {
				continue
			}
			enc, err := encodingName(s.m)
			if err != nil {
				return TokenizerSpec{}, fmt.Errorf("weights: %s: %w", s.name, err)
			}
			return TokenizerSpec{Type: TokenizerBPE, EncodingName: enc}, nil
		}
		return TokenizerSpec{Type: TokenizerBPE, EncodingName: DefaultEncodingName}, nil
	}
}
