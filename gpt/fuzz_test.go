package gpt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/labcoreai/tokbench/weights"
)

// The Hub export's JSON files are decoded as readJSONObject does
// (json.Unmarshal into a map) without the file system: a disk round trip
// per input makes the engine's input minimisation take minutes.

func fixtureSeed(f *testing.F, parts ...string) []byte {
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "testdata", "models"}, parts...)...))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzConfigJSON: any config.json gives a valid Config or an error, and a
// valid one passes the block-size proportion check's arithmetic without
// overflow.
func FuzzConfigJSON(f *testing.F) {
	f.Add(fixtureSeed(f, "learned_bias", "config.json"))
	f.Add([]byte(`{"vocab_size": 65, "block_size": 1e6, "use_rope": true, "n_embd": 64, "n_head": 4}`))
	f.Add([]byte(`{"vocab_size": 65.5}`))
	f.Add([]byte(`{"vocab_size": 4194304, "n_embd": 65536, "n_head": 65536, "n_layer": 1024, "block_size": 1048576}`))
	f.Add([]byte(`{"vocab_size": 65, "n_embd": 6, "n_head": 3, "use_rope": true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		c, err := ConfigFromMap(m, "config.json")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ConfigFromMap accepted an invalid config: %v", err)
		}
		if c.NumParams() <= 0 {
			t.Fatalf("NumParams %d for %+v", c.NumParams(), c)
		}
		checkBlockBuffers(c)
	})
}

// FuzzLoadExport: config.json and tokenizer.json of a Hub export, with the
// fixture's weights: the model and tokenizer load, or fail cleanly; a
// loaded tokenizer never has more ids than the model.
func FuzzLoadExport(f *testing.F) {
	cfg := fixtureSeed(f, "learned_bias", "config.json")
	tok := fixtureSeed(f, "learned_bias", "tokenizer.json")
	f.Add(cfg, tok, "char")
	f.Add(cfg, tok, "")
	f.Add(cfg, []byte(`{"type": "bpe"}`), "bpe")
	f.Add(cfg, []byte(`{"type": "char", "vocab": ["a", "a"]}`), "char")
	f.Add([]byte(`{"vocab_size": 65, "block_size": 1000000, "n_layer": 3, "n_head": 4, "n_embd": 64, "use_rope": true}`), tok, "char")
	tensors, err := weights.LoadSafetensors(filepath.Join("..", "testdata", "models", "learned_bias", "model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cfgJSON, tokJSON []byte, flag string) {
		var cm, tm map[string]any
		if json.Unmarshal(cfgJSON, &cm) != nil || json.Unmarshal(tokJSON, &tm) != nil {
			return
		}
		c, err := ConfigFromMap(cm, "config.json")
		if err != nil {
			return
		}
		m, _, err := FromTensors(c, tensors, "model.safetensors")
		if err != nil {
			return
		}
		if m.Config != c || len(m.Blocks) != c.NLayer || len(m.Wte) != c.VocabSize*c.NEmbd {
			t.Fatalf("model does not match its config %+v", c)
		}
		spec, err := weights.ResolveTokenizer(flag, nil, tm)
		if err != nil {
			return
		}
		tk, err := newTokenizer(spec, c)
		if err != nil {
			return
		}
		if tk.VocabSize() > c.VocabSize {
			t.Fatalf("tokenizer of %d ids for vocab_size %d", tk.VocabSize(), c.VocabSize)
		}
	})
}
