package weights

import (
	"strings"
	"testing"
)

const baseTOML = `# LabCore base config
[general]
seed = null
run_name = "base"

[data]
dataset = "tinyshakespeare"
meta = "data/processed/meta.json"

[model]
vocab_size = 65
block_size = 128
n_layer = 6
n_head = 8
n_embd = 256
dropout = 0.1
bias = true
use_rope = false

[training]
learning_rate = 3e-4
notes = """
seed = null stays text here
"""

[generation]
temperature = 0.8
top_k = 40
top_p = 1   # an integer for a float field
repetition_penalty = 1.1
seed = null
deterministic = true
use_kv_cache = false
max_new_tokens = 200.0
`

func TestLoadConfig(t *testing.T) {
	p := writeFile(t, t.TempDir(), "base.toml", baseTOML)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Generation
	if g.Seed != nil {
		t.Errorf("seed = %d, want none", *g.Seed)
	}
	if g.Temperature == nil || *g.Temperature != 0.8 || g.TopK == nil || *g.TopK != 40 ||
		g.TopP == nil || *g.TopP != 1 || g.RepetitionPenalty == nil || *g.RepetitionPenalty != 1.1 ||
		g.Deterministic == nil || !*g.Deterministic || g.UseKVCache == nil || *g.UseKVCache ||
		g.MaxNewTokens == nil || *g.MaxNewTokens != 200 {
		t.Errorf("generation = %+v", g)
	}
	if c.Model["n_embd"] != int64(256) || c.Model["bias"] != true || c.Model["dropout"] != 0.1 {
		t.Errorf("model = %v", c.Model)
	}
	if _, ok := c.Raw["general"].(map[string]any)["seed"]; ok {
		t.Error("[general].seed = null should be absent")
	}
	if c.Raw["general"].(map[string]any)["run_name"] != "base" {
		t.Errorf("raw = %v", c.Raw)
	}
	if notes := c.Raw["training"].(map[string]any)["notes"]; notes != "seed = null stays text here\n" {
		t.Errorf("multi-line string changed: %q", notes)
	}
	if c.Path != p {
		t.Errorf("Path = %q", c.Path)
	}

	// Absent sections and keys stay nil.
	c, err = LoadConfig(writeFile(t, t.TempDir(), "empty.toml", "# nothing\n"))
	if err != nil || c.Model != nil || c.Generation != (Generation{}) {
		t.Errorf("empty config: %+v, %v", c, err)
	}
	c, err = LoadConfig(writeFile(t, t.TempDir(), "seed.toml", "[generation]\nseed = 1337\n"))
	if err != nil || c.Generation.Seed == nil || *c.Generation.Seed != 1337 {
		t.Errorf("seed: %+v, %v", c, err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		body string
		want string
	}{
		{"[generation]\nuse_kv_cache = \"yes\"\n", `base.toml: [generation].use_kv_cache: want a boolean, got string "yes"`},
		{"[generation]\nseed = 1.5\n", "base.toml: [generation].seed: want an integer, got float 1.5"},
		{"[generation]\nseed = \"42\"\n", `base.toml: [generation].seed: want an integer, got string "42"`},
		{"[generation]\ntop_k = 4.2\n", "[generation].top_k: want an integer, got float 4.2"},
		{"[generation]\ntemperature = \"hot\"\n", `[generation].temperature: want a number, got string "hot"`},
		{"[generation]\ndeterministic = 1\n", "[generation].deterministic: want a boolean, got integer 1"},
		{"[generation]\nmax_new_tokens = 1e300\n", "[generation].max_new_tokens: want an integer"},
		{"generation = 3\n", "[generation]: want a table, got integer 3"},
		{"model = \"x\"\n", "[model]: want a table"},
		{"[generation]\nseed = nul\n", "base.toml: toml: line 2"},
		{"[generation]\nseed = null\ntop_k = \n", "base.toml: toml: line 3"},
	} {
		p := writeFile(t, dir, "base.toml", tc.body)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}
