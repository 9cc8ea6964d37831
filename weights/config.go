package weights

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is a TOML configuration file (upstream configs/*.toml).
type Config struct {
	Path       string
	Model      map[string]any // [model], as decoded; nil when absent
	Generation Generation     // [generation], typed
	Raw        map[string]any // the whole document, [model] and [generation] included
}

// Generation holds the [generation] settings; a nil field was not given.
type Generation struct {
	Temperature       *float64
	TopK              *int
	TopP              *float64
	RepetitionPenalty *float64
	Seed              *int64
	Deterministic     *bool
	UseKVCache        *bool
	MaxNewTokens      *int
}

// nullLine matches a `key = null` line, which upstream files contain and
// TOML does not allow.
var nullLine = regexp.MustCompile(`^\s*([A-Za-z0-9_-]+|"[^"\\]*"|'[^']*')\s*=\s*null\s*(#.*)?$`)

// LoadConfig reads a TOML config. A `key = null` line (not valid TOML, but
// written by upstream) is read as if the key were absent. Numbers accept
// TOML integers and floats: a float field accepts an integer, an integer
// field accepts an integral float. Type errors name the key.
func LoadConfig(path string) (*Config, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(path, b)
}

// parseConfig is LoadConfig on the content b of the file path.
func parseConfig(path string, b []byte) (*Config, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: "+format, append([]any{path}, args...)...)
	}
	raw, err := decodeTOMLWithNulls(string(b))
	if err != nil {
		return nil, errf("%v", err)
	}
	c := &Config{Path: path, Raw: raw}
	if v, ok := raw["model"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errf("[model]: want a table, got %s", describe(v))
		}
		c.Model = m
	}
	gv, ok := raw["generation"]
	if !ok {
		return c, nil
	}
	g, ok := gv.(map[string]any)
	if !ok {
		return nil, errf("[generation]: want a table, got %s", describe(gv))
	}
	floats := []struct {
		key string
		dst **float64
	}{
		{"temperature", &c.Generation.Temperature},
		{"top_p", &c.Generation.TopP},
		{"repetition_penalty", &c.Generation.RepetitionPenalty},
	}
	for _, f := range floats {
		if v, ok := g[f.key]; ok {
			x, err := tomlFloat(v)
			if err != nil {
				return nil, errf("[generation].%s: %v", f.key, err)
			}
			*f.dst = &x
		}
	}
	ints := []struct {
		key string
		dst **int
	}{
		{"top_k", &c.Generation.TopK},
		{"max_new_tokens", &c.Generation.MaxNewTokens},
	}
	for _, f := range ints {
		if v, ok := g[f.key]; ok {
			x, err := tomlInt(v)
			if err != nil {
				return nil, errf("[generation].%s: %v", f.key, err)
			}
			n := int(x)
			*f.dst = &n
		}
	}
	if v, ok := g["seed"]; ok {
		x, err := tomlInt(v)
		if err != nil {
			return nil, errf("[generation].seed: %v", err)
		}
		c.Generation.Seed = &x
	}
	bools := []struct {
		key string
		dst **bool
	}{
		{"deterministic", &c.Generation.Deterministic},
		{"use_kv_cache", &c.Generation.UseKVCache},
	}
	for _, f := range bools {
		if v, ok := g[f.key]; ok {
			x, ok := v.(bool)
			if !ok {
				return nil, errf("[generation].%s: want a boolean, got %s", f.key, describe(v))
			}
			*f.dst = &x
		}
	}
	return c, nil
}

// decodeTOMLWithNulls decodes TOML, dropping each `key = null` line the
// parser rejects. Only lines the parser reports as erroneous are touched,
// so text inside multi-line strings is never changed.
// maxNullLines bounds the `key = null` lines decodeTOMLWithNulls drops: a
// file of thousands of them took seconds to minutes (one parse per line).
const maxNullLines = 1000

func decodeTOMLWithNulls(src string) (map[string]any, error) {
	lines := strings.SplitAfter(src, "\n")
	for tries := 0; ; tries++ {
		var raw map[string]any
		_, err := toml.Decode(strings.Join(lines, ""), &raw)
		if err == nil {
			if raw == nil {
				raw = map[string]any{}
			}
			return raw, nil
		}
		var pe toml.ParseError
		if !errors.As(err, &pe) || tries > len(lines) {
			return nil, err
		}
		if tries >= maxNullLines {
			// Each dropped line costs a whole parse.
			return nil, fmt.Errorf("more than %d `key = null` lines", maxNullLines)
		}
		i := pe.Position.Line - 1
		if i < 0 || i >= len(lines) || !nullLine.MatchString(strings.TrimRight(lines[i], "\r\n")) {
			return nil, fmt.Errorf("%s", pe.Error())
		}
		// Keep the line count, so later errors have the right line numbers.
		lines[i] = "\n"
	}
}

func tomlFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, got %s", describe(v))
}

func tomlInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || x < -(1<<63) || x >= 1<<63 {
			return 0, fmt.Errorf("want an integer, got float %v", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(v))
}
