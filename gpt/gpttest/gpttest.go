// Package gpttest gives tests the PyTorch fixtures of testdata/models (made
// by testdata/gen/make_fixtures.py): their files and their reference
// outputs (ref.json), so that every backend's tests compare against the
// same PyTorch numbers.
package gpttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/sampler"
)

// Models are the fixture models: learned positions with bias (also the
// suite's bundled benchmark model), RoPE without bias, and fp16 storage.
var Models = []string{"learned_bias", "rope_nobias", "fp16"}

// Path is one greedy path of a reference: the generated ids and the logits
// at some steps (step s holds the logits that ids[s] was drawn from).
type Path struct {
	IDs   []int `json:"ids"`
	Steps []struct {
		Step   int       `json:"step"`
		Logits []float32 `json:"logits"`
	} `json:"steps"`
	Text string `json:"text"`
	// Margins are the top-2 logit gaps at every step.
	Margins []float64 `json:"margins"`
}

// Greedy is a greedy continuation with the KV cache and without it.
type Greedy struct {
	NNew    int  `json:"n_new"`
	KV      Path `json:"kv"`
	NoCache Path `json:"nocache"`
}

// Ref is a fixture's ref.json.
type Ref struct {
	ParamsM          float64   `json:"params_m"`
	Prompt           string    `json:"prompt"`
	PromptIDs        []int     `json:"prompt_ids"`
	PromptLogitsLast []float32 `json:"prompt_logits_last"`
	Greedy           Greedy    `json:"greedy"`
	LongPrompt       struct {
		Prompt            string    `json:"prompt"`
		PromptIDs         []int     `json:"prompt_ids"`
		KeptIDs           []int     `json:"kept_ids"`
		PrefillLogitsLast []float32 `json:"prefill_logits_last"`
		Greedy            Greedy    `json:"greedy"`
	} `json:"long_prompt"`
}

// Dir is the folder of fixture model name: testdata/models/NAME in the
// working directory or the nearest folder above it that has one, so that it
// works from any package of the module (go test runs in the package's
// folder) and from a copied test bundle (make gpu-bundle).
func Dir(name string) string {
	rel := filepath.Join("testdata", "models", name)
	if d, err := os.Getwd(); err == nil {
		for {
			if fi, err := os.Stat(filepath.Join(d, rel)); err == nil && fi.IsDir() {
				return filepath.Join(d, rel)
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return rel // not found: errors will name this path
}

// Checkpoint is the fixture's ckpt.pt.
func Checkpoint(name string) string { return filepath.Join(Dir(name), "ckpt.pt") }

// Meta is the fixture's meta.json.
func Meta(name string) string { return filepath.Join(Dir(name), "meta.json") }

// LoadRef reads the fixture's ref.json.
func LoadRef(name string) (*Ref, error) {
	data, err := os.ReadFile(filepath.Join(Dir(name), "ref.json"))
	if err != nil {
		return nil, fmt.Errorf("gpttest: %w", err)
	}
	var r Ref
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("gpttest: %s: %w", name, err)
	}
	return &r, nil
}

// MustRef is LoadRef that fails the test on error.
func MustRef(t testing.TB, name string) *Ref {
	t.Helper()
	r, err := LoadRef(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// MustLoad loads the fixture's checkpoint and meta.json (as
// gpt.LoadLocal), failing the test on error.
func MustLoad(t testing.TB, name string) *gpt.Loaded {
	t.Helper()
	ld, err := gpt.LoadLocal(Checkpoint(name), Meta(name), "")
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// GreedySampler returns a sampler that keeps only the top logit (top_k 1),
// as `--top-k 1` does: what the references' greedy paths used.
func GreedySampler() *sampler.Sampler {
	seed := uint64(0)
	s, err := sampler.New(sampler.Settings{Temperature: 1, TopK: 1, TopP: 1, RepetitionPenalty: 1}, &seed)
	if err != nil {
		panic(err) // constant, valid settings
	}
	return s
}
