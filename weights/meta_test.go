package weights

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMeta(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "meta.json", `{"dataset": "tinyshakespeare", "vocab_size": 65, "dtype": "uint16",
		"tokenizer": {"type": "char", "vocab": ["a", "b"]}, "ratio": 0.5}`)
	m, err := LoadMeta(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != p || m.Dataset != "tinyshakespeare" || m.VocabSize != 65 || m.Raw["dtype"] != "uint16" || m.Raw["ratio"] != 0.5 || m.Raw["vocab_size"] != int64(65) {
		t.Errorf("meta = %+v", m)
	}
	if !reflect.DeepEqual(m.Tokenizer, map[string]any{"type": "char", "vocab": []any{"a", "b"}}) {
		t.Errorf("tokenizer = %#v", m.Tokenizer)
	}

	for content, want := range map[string]string{
		`{"vocab_size": "65"}`:  `vocab_size: want a non-negative integer, got string "65"`,
		`{"vocab_size": 6.5}`:   "vocab_size: want a non-negative integer, got float 6.5",
		`{"tokenizer": "char"}`: `tokenizer: want an object, got string "char"`,
		`{"dataset": 1}`:        "dataset: want a string",
		`[1]`:                   "not a JSON object",
		`{"a": 1`:               "invalid JSON",
		`{"a": 1} {"b": 2}`:     "data after",
	} {
		p := writeFile(t, dir, "bad.json", content)
		_, err := LoadMeta(p)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s with %q", content, err, p, want)
		}
	}
}

func TestFindMeta(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	given := writeFile(t, dir, "processed/meta.json", `{"dataset": "given"}`)

	// The given path wins.
	m, err := FindMeta(given)
	if err != nil || m == nil || m.Dataset != "given" {
		t.Fatalf("FindMeta(given) = %+v, %v", m, err)
	}
	// Missing path, no data/meta.json: no meta.
	m, err = FindMeta("processed/missing.json")
	if err != nil || m != nil {
		t.Fatalf("no fallback: %+v, %v", m, err)
	}
	m, err = FindMeta("")
	if err != nil || m != nil {
		t.Fatalf("empty path: %+v, %v", m, err)
	}
	// Missing path: data/meta.json relative to the working directory.
	writeFile(t, dir, "data/meta.json", `{"dataset": "fallback"}`)
	m, err = FindMeta("processed/missing.json")
	if err != nil || m == nil || m.Dataset != "fallback" || m.Path != filepath.Join("data", "meta.json") {
		t.Fatalf("fallback: %+v, %v", m, err)
	}
	// An existing but broken file is an error, not a fallback.
	bad := writeFile(t, dir, "processed/bad.json", `{`)
	if _, err := FindMeta(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken meta: %v", err)
	}
}

func TestParseTokenizerSpec(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]any
		want TokenizerSpec
		err  string
	}{
		{map[string]any{"type": "char", "vocab": []any{"a", "\n"}}, TokenizerSpec{Type: "char", Vocab: []string{"a", "\n"}}, ""},
		{map[string]any{"type": "bpe"}, TokenizerSpec{Type: "bpe", EncodingName: "gpt2"}, ""},
		{map[string]any{"type": "bpe", "encoding_name": "r50k_base"}, TokenizerSpec{Type: "bpe", EncodingName: "r50k_base"}, ""},
		{nil, TokenizerSpec{}, "no tokenizer"},
		{map[string]any{"vocab": []any{"a"}}, TokenizerSpec{}, "type: missing"},
		{map[string]any{"type": "sentencepiece"}, TokenizerSpec{}, `unknown tokenizer type "sentencepiece"`},
		{map[string]any{"type": int64(3)}, TokenizerSpec{}, "type: want a string, got integer 3"},
		{map[string]any{"type": "char"}, TokenizerSpec{}, "vocab: missing"},
		{map[string]any{"type": "char", "vocab": []any{"a", int64(2)}}, TokenizerSpec{}, "vocab[1]: want a string, got integer 2"},
		{map[string]any{"type": "char", "vocab": "ab"}, TokenizerSpec{}, "vocab: want a list of strings"},
		{map[string]any{"type": "bpe", "encoding_name": false}, TokenizerSpec{}, "encoding_name: want a non-empty string"},
	} {
		got, err := ParseTokenizerSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveTokenizer(t *testing.T) {
	metaChar := &Meta{Path: "meta.json", Tokenizer: map[string]any{"type": "char", "vocab": []any{"m", "e"}}}
	metaBPE := &Meta{Path: "meta.json", Tokenizer: map[string]any{"type": "bpe", "encoding_name": "p50k_base"}}
	metaNoTok := &Meta{Path: "meta.json"}
	metaTypeOnly := &Meta{Path: "meta.json", Tokenizer: map[string]any{"type": "char"}}
	metaBad := &Meta{Path: "bad/meta.json", Tokenizer: map[string]any{"type": "char", "vocab": []any{1}}}
	ckChar := map[string]any{"type": "char", "vocab": []any{"c", "k"}}
	ckBPE := map[string]any{"type": "bpe"}
	char := func(v ...string) TokenizerSpec { return TokenizerSpec{Type: "char", Vocab: v} }
	bpe := func(enc string) TokenizerSpec { return TokenizerSpec{Type: "bpe", EncodingName: enc} }

	for _, tc := range []struct {
		name string
		flag string
		meta *Meta
		ck   map[string]any
		want TokenizerSpec
		err  string
	}{
		{"meta type and vocab", "", metaChar, ckBPE, char("m", "e"), ""},
		{"meta type over checkpoint", "", metaBPE, ckChar, bpe("p50k_base"), ""},
		{"checkpoint when meta has none", "", metaNoTok, ckChar, char("c", "k"), ""},
		{"checkpoint when no meta", "", nil, ckBPE, bpe("gpt2"), ""},
		{"flag wins", "bpe", metaChar, ckChar, bpe("gpt2"), ""},
		{"flag bpe takes meta encoding", "bpe", metaBPE, nil, bpe("p50k_base"), ""},
		{"flag char, vocab from meta", "char", metaChar, ckBPE, char("m", "e"), ""},
		{"flag char, vocab from checkpoint", "char", metaBPE, ckChar, char("c", "k"), ""},
		{"meta type, checkpoint vocab", "", metaTypeOnly, ckChar, char("c", "k"), ""},
		{"default char from checkpoint vocab", "", nil, map[string]any{"vocab": []any{"x"}}, char("x"), ""},
		{"default char, no vocab", "", nil, nil, TokenizerSpec{}, "char tokenizer: no meta.json and no tokenizer in the checkpoint"},
		{"char, no vocab anywhere", "char", metaBPE, ckBPE, TokenizerSpec{}, "neither the meta.json nor the checkpoint has a tokenizer vocab"},
		{"bad flag", "word", nil, nil, TokenizerSpec{}, `tokenizer flag: unknown tokenizer type "word"`},
		{"bad meta vocab", "", metaBad, ckChar, TokenizerSpec{}, "meta bad/meta.json: tokenizer: vocab[0]"},
		{"bad checkpoint type", "", nil, map[string]any{"type": "wordpiece"}, TokenizerSpec{}, `checkpoint tokenizer: type: unknown tokenizer type "wordpiece"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTokenizer(tc.flag, tc.meta, tc.ck)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
