package gpt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/labcoreai/tokbench/weights"
	"github.com/labcoreai/tokbench/weights/hub"
)

// Hub export file names (upstream scripts/export_hf.py).
const (
	ExportConfig    = "config.json"
	ExportTokenizer = "tokenizer.json"
	ExportWeights   = "model.safetensors"
)

// maxJSONBytes bounds config.json and tokenizer.json.
const maxJSONBytes = 64 << 20

// LoadHF fetches config.json, tokenizer.json and model.safetensors of
// repoID at revision through the Hub cache (see package hub) and loads them.
// The tokenizer is tokFlag, else bpe, as upstream's benchmark does for hf.
func LoadHF(ctx context.Context, c *hub.Client, repoID, revision, tokFlag string) (*Loaded, error) {
	files, err := c.DownloadRepoFiles(ctx, repoID, revision, ExportConfig, ExportTokenizer, ExportWeights)
	if err != nil {
		return nil, err
	}
	ld, err := LoadExport(files[ExportConfig], files[ExportTokenizer], files[ExportWeights], tokFlag)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", repoID, revision, err)
	}
	ld.Source = "hf"
	return ld, nil
}

// LoadExport loads the three files of a Hub export from disk. The tied
// embedding may be stored as lm_head.weight or wte.weight.
func LoadExport(configPath, tokenizerPath, weightsPath, tokFlag string) (*Loaded, error) {
	cm, err := readJSONObject(configPath)
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromMap(cm, configPath)
	if err != nil {
		return nil, err
	}
	tm, err := readJSONObject(tokenizerPath)
	if err != nil {
		return nil, err
	}
	tensors, err := weights.LoadSafetensors(weightsPath)
	if err != nil {
		return nil, err
	}
	m, warns, err := FromTensors(cfg, tensors, weightsPath)
	if err != nil {
		return nil, err
	}
	defaulted := tokFlag == ""
	if defaulted {
		tokFlag = weights.TokenizerBPE
	}
	spec, err := weights.ResolveTokenizer(tokFlag, nil, tm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tokenizerPath, err)
	}
	tok, err := newTokenizer(spec, cfg)
	if err != nil {
		if defaulted && tm["type"] == weights.TokenizerChar {
			err = fmt.Errorf("%w: bpe is the default for --source hf (as upstream's), and %s describes a char tokenizer: pass --tokenizer char", err, tokenizerPath)
		}
		return nil, err
	}
	return &Loaded{Model: m, Tokenizer: tok, Source: "local", Warnings: warns}, nil
}

// LoadRandom builds a model of the shape in cfg's [model] section with
// upstream's random initialisation (see RandomModel), and the tokenizer
// resolved from tokFlag and the meta file as for a local checkpoint.
func LoadRandom(cfg *weights.Config, metaPath, tokFlag string, seed uint64) (*Loaded, error) {
	if cfg == nil {
		return nil, fmt.Errorf("gpt: source random needs a config whose [model] section gives the shape")
	}
	meta, err := weights.FindMeta(metaPath)
	if err != nil {
		return nil, err
	}
	model := cfg.Model
	if _, ok := model["vocab_size"]; !ok && model != nil {
		// Upstream's configs (configs/base.toml) leave vocab_size to the
		// data's meta.json, as its trainer does.
		if meta == nil || meta.VocabSize <= 0 {
			return nil, fmt.Errorf("gpt: source random: %s: [model] has no vocab_size and no meta.json gives one: "+
				"give the data's meta.json (--meta, BENCH_META) or set vocab_size in [model]", cfg.Path)
		}
		model = maps.Clone(model)
		model["vocab_size"] = int64(meta.VocabSize)
	}
	c, err := ConfigFromMap(model, cfg.Path+": [model]")
	if err != nil {
		return nil, err
	}
	if err := c.checkRequested(); err != nil {
		return nil, fmt.Errorf("gpt: %s: [model]: %w", cfg.Path, err)
	}
	if meta == nil && tokFlag != weights.TokenizerBPE {
		return nil, fmt.Errorf("gpt: source random: the char tokenizer's vocab comes from a meta.json and none was found " +
			"(--meta, BENCH_META, or data/meta.json): give one, or --tokenizer bpe")
	}
	spec, err := weights.ResolveTokenizer(tokFlag, meta, nil)
	if err != nil {
		return nil, err
	}
	tok, err := newTokenizer(spec, c)
	if err != nil {
		return nil, err
	}
	// Built last: the weights are drawn once the tokenizer is known to
	// load.
	return &Loaded{Model: randomModel(c, seed), Tokenizer: tok, Source: "random"}, nil
}

func readJSONObject(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJSONBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gpt: %s: %w", path, err)
	}
	if len(data) > maxJSONBytes {
		return nil, fmt.Errorf("gpt: %s: larger than %d bytes", path, maxJSONBytes)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("gpt: %s: not a JSON object: %w", path, err)
	}
	return m, nil
}

// Source says where a model comes from.
type Source struct {
	// Kind is "local" (Checkpoint + Meta), "hf" (RepoID at Revision) or
	// "random" (the shape of Config's [model] section).
	Kind       string
	Checkpoint string
	Meta       string
	RepoID     string
	Revision   string
	// Tokenizer is the explicit tokenizer choice ("", "char" or "bpe").
	Tokenizer string
	Config    *weights.Config
	// Seed seeds random weights.
	Seed uint64
}

// Load loads the model of any source: the one place every tool and the
// benchmark go through. The Hub client is configured from the environment
// (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
func Load(ctx context.Context, s Source) (*Loaded, error) {
	switch s.Kind {
	case "local":
		return LoadLocal(s.Checkpoint, s.Meta, s.Tokenizer)
	case "hf":
		c, err := hub.NewFromEnv()
		if err != nil {
			return nil, err
		}
		rev := s.Revision
		if rev == "" {
			rev = hub.DefaultRevision
		}
		return LoadHF(ctx, c, s.RepoID, rev, s.Tokenizer)
	case "random":
		return LoadRandom(s.Config, s.Meta, s.Tokenizer, s.Seed)
	}
	return nil, fmt.Errorf("gpt: unknown source %q (want local, hf or random)", s.Kind)
}
