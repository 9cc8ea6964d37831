// Package tokenizer turns prompts into token ids and back, the way the
// LabCore LLM tokenizers do: a character-level tokenizer with a saved
// vocabulary (upstream's CharTokenizer) and the GPT-2 byte-level BPE
// (upstream's BPETokenizer, tiktoken's "gpt2" encoding).
package tokenizer

// Tokenizer encodes text to token ids and decodes ids back to text.
// Implementations are safe for concurrent use.
type Tokenizer interface {
	// Encode returns the token ids of s.
	Encode(s string) ([]int, error)
	// Decode returns the text of ids; an id the tokenizer does not know is an error.
	Decode(ids []int) (string, error)
	// VocabSize is the number of distinct token ids, the model's vocab_size.
	VocabSize() int
	// Name is the tokenizer's type as upstream spells it: "char" or "bpe".
	Name() string
}
