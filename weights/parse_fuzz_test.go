package weights

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addFixtureSeeds adds the files matching pattern (relative to the
// repository root) to the corpus.
func addFixtureSeeds(f *testing.F, pattern string) {
	paths, err := filepath.Glob(filepath.Join("..", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed fixtures match %s (%v)", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// The parsers are fuzzed without the file system (LoadMeta and LoadConfig
// only add os.ReadFile): a disk round trip per input makes the engine's
// input minimisation take minutes.

// FuzzLoadMeta: any meta.json gives a *Meta or an error; the tokenizer it
// describes resolves or fails cleanly.
func FuzzLoadMeta(f *testing.F) {
	addFixtureSeeds(f, "testdata/models/*/meta.json")
	f.Add([]byte(`{"vocab_size": 50257, "tokenizer": {"type": "bpe", "encoding_name": "gpt2"}}`))
	f.Add([]byte(`{"vocab_size": 1e400}`))
	f.Add([]byte(`{"tokenizer": {"type": "char", "vocab": ["a", 1]}} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMeta("meta.json", data)
		if err != nil {
			if m != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if m.Raw == nil || m.VocabSize < 0 {
			t.Fatalf("meta %+v", m)
		}
		for _, flag := range []string{"", TokenizerChar, TokenizerBPE} {
			if spec, err := ResolveTokenizer(flag, m, nil); err == nil && spec.Type != TokenizerChar && spec.Type != TokenizerBPE {
				t.Fatalf("flag %q: spec type %q", flag, spec.Type)
			}
		}
	})
}

// FuzzTokenizerSpec parses a tokenizer description (tokenizer.json, or
// meta.json's / the checkpoint's "tokenizer") as JSON decodes it.
func FuzzTokenizerSpec(f *testing.F) {
	addFixtureSeeds(f, "testdata/models/*/tokenizer.json")
	f.Add([]byte(`{"type": "bpe"}`))
	f.Add([]byte(`{"type": "bpe", "encoding_name": "cl100k_base"}`))
	f.Add([]byte(`{"type": "char", "vocab": []}`))
	f.Add([]byte(`{"type": "char", "vocab": {"a": 0}}`))
	f.Add([]byte(`{"type": "char", "stoi": {"a": 0, "b": 1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil {
			return
		}
		m, ok := jsonValue(doc).(map[string]any)
		if !ok {
			return
		}
		// An empty char vocab is accepted here and refused by the
		// tokenizer (tokenizer.NewChar).
		if spec, err := ParseTokenizerSpec(m); err == nil && spec.Type != TokenizerChar && spec.Type != TokenizerBPE {
			t.Fatalf("spec type %q from %s", spec.Type, data)
		}
		meta := &Meta{Tokenizer: m, Raw: map[string]any{"tokenizer": m}}
		for _, flag := range []string{"", TokenizerChar, TokenizerBPE, "sentencepiece"} {
			ResolveTokenizer(flag, meta, m)
			ResolveTokenizer(flag, nil, m)
		}
	})
}

// FuzzLoadConfig: any TOML gives a *Config or an error; `key = null`
// lines never make a typed value appear, and a document that loads keeps
// loading the same once its null lines are removed.
func FuzzLoadConfig(f *testing.F) {
	addFixtureSeeds(f, "testdata/models/configs/*.toml")
	f.Add([]byte("[generation]\nseed = null\ntemperature = 0.8\n"))
	f.Add([]byte("[generation]\nseed = null # no seed\ntop_k = 200.0\n"))
	f.Add([]byte("[generation]\nseed = 1.5\n"))
	f.Add([]byte("[model]\nn_layer = null\n[generation]\n\"seed\" = null\nmax_new_tokens = 1e30\n"))
	f.Add([]byte("s = \"\"\"\nseed = null\n\"\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return // keep each run short
		}
		c, err := parseConfig("config.toml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if c.Raw == nil {
			t.Fatal("nil Raw")
		}
		g, _ := c.Raw["generation"].(map[string]any)
		if c.Generation.Seed != nil {
			if _, ok := g["seed"]; !ok {
				t.Fatalf("Seed set without a seed key: %s", data)
			}
		}
		var kept []string
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if nullLine.MatchString(strings.TrimRight(line, "\r\n")) {
				line = "\n"
			}
			kept = append(kept, line)
		}
		c2, err := parseConfig("config2.toml", []byte(strings.Join(kept, "")))
		if err != nil {
			// Only a null line inside a multi-line string may change
			// the meaning; anything else must still load.
			if !strings.Contains(string(data), `"""`) && !strings.Contains(string(data), `'''`) {
				t.Fatalf("loads with its null lines but not without them: %v\n%s", err, data)
			}
			return
		}
		if (c.Generation.Seed == nil) != (c2.Generation.Seed == nil) && !strings.Contains(string(data), `"""`) && !strings.Contains(string(data), `'''`) {
			t.Fatalf("seed differs once null lines are removed: %v vs %v\n%s", c.Generation.Seed, c2.Generation.Seed, data)
		}
	})
}
