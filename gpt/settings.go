package gpt

import (
	"github.com/labcoreai/tokbench/sampler"
	"github.com/labcoreai/tokbench/weights"
)

// Settings are the resolved generation settings of a run.
type Settings struct {
	Sampling sampler.Settings
	// Seed is nil when no seed was asked for.
	Seed          *uint64
	Deterministic bool
	UseKVCache    bool
}

// Overrides are the settings given explicitly (flags or environment);
// nil fields were not given.
type Overrides struct {
	Temperature       *float64
	TopK              *int
	TopP              *float64
	RepetitionPenalty *float64
	Seed              *int64
	UseKVCache        *bool
}

// ResolveSettings is the one place where generation defaults are resolved:
// an explicit override wins, then the config's [generation] section (cfg may
// be nil), then upstream's defaults (temperature 0.9, top_k 40, top_p 1.0,
// repetition_penalty 1.0, no seed). use_kv_cache: explicit, else the
// config's value, which defaults to true whenever a config file is given,
// else kvDefault (upstream: true for local, false for hf). The result is
// validated.
func ResolveSettings(cfg *weights.Config, o Overrides, kvDefault bool) (Settings, error) {
	var g weights.Generation
	if cfg != nil {
		g = cfg.Generation
		kvDefault = true
	}
	s := Settings{Sampling: sampler.Defaults(), UseKVCache: kvDefault}
	pick(&s.Sampling.Temperature, o.Temperature, g.Temperature)
	pick(&s.Sampling.TopK, o.TopK, g.TopK)
	pick(&s.Sampling.TopP, o.TopP, g.TopP)
	pick(&s.Sampling.RepetitionPenalty, o.RepetitionPenalty, g.RepetitionPenalty)
	pick(&s.UseKVCache, o.UseKVCache, g.UseKVCache)
	if g.Deterministic != nil {
		s.Deterministic = *g.Deterministic
	}
	var seed *int64
	pick(&seed, ptr(o.Seed), ptr(g.Seed))
	if seed != nil {
		u := uint64(*seed)
		s.Seed = &u
	}
	return s, s.Sampling.Validate()
}

func ptr[T any](p *T) **T {
	if p == nil {
		return nil
	}
	return &p
}

func pick[T any](dst *T, explicit, config *T) {
	switch {
	case explicit != nil:
		*dst = *explicit
	case config != nil:
		*dst = *config
	}
}
