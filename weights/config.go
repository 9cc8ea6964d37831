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
			return nil, errf("[model]: want a table, got %s", Describe(v))
		}
		c.Model = m
	}
	gv, ok := raw["generation"]
	if !ok {
		return c, nil
	}
	g, ok := gv.(map[string]any)
	if !ok {
		return nil, errf("[generation]: want a table, got %s", Describe(gv))
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
				return nil, errf("[generation].%s: want a boolean, got %s", f.key, Describe(v))
			}
			*f.dst = &x
		}
	}
	return c, nil
}

// decodeTOMLWithNulls decodes TOML after blanking each `key = null` line
// (not TOML, but written by upstream), in one pass over the text and one
// parse: the lines are found by a scan that knows TOML's strings and
// comments, so a line inside a multi-line string is never changed. A
// blanked line keeps its newline, so that the parser's line numbers stay
// right.
func decodeTOMLWithNulls(src string) (map[string]any, error) {
	var raw map[string]any
	if _, err := toml.Decode(blankNullLines(src), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// The parser quotes the offending text: keep it short and
			// free of control bytes.
			return nil, fmt.Errorf("toml: line %d: %s", pe.Position.Line, Quote(pe.Message))
		}
		return nil, err
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return raw, nil
}

// String states of the TOML scan at the start of a line.
const (
	tomlNormal    = iota // outside any string
	tomlMLBasic          // inside a multi-line basic string (""")
	tomlMLLiteral        // inside a multi-line literal string (''')
)

// blankNullLines returns src with every `key = null` line that starts
// outside a string replaced by an empty line.
func blankNullLines(src string) string {
	var out strings.Builder
	out.Grow(len(src))
	state := tomlNormal
	for len(src) > 0 {
		line := src
		if i := strings.IndexByte(src, '\n'); i >= 0 {
			line = src[:i+1]
		}
		src = src[len(line):]
		if state == tomlNormal && nullLine.MatchString(strings.TrimRight(line, "\r\n")) {
			out.WriteString("\n")
			continue
		}
		out.WriteString(line)
		state = scanTOMLLine(line, state)
	}
	return out.String()
}

// scanTOMLLine returns the string state at the end of line, given the state
// at its start. Single-line strings and comments end with the line.
func scanTOMLLine(line string, state int) int {
	// closeML skips the closing delimiter at i and the up to two quotes
	// before it that belong to the string.
	closeML := func(i int, q byte) int {
		i += 2
		for k := 0; k < 2 && i+1 < len(line) && line[i+1] == q; k++ {
			i++
		}
		return i
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch state {
		case tomlMLBasic:
			if c == '\\' {
				i++
			} else if strings.HasPrefix(line[i:], `"""`) {
				i, state = closeML(i, '"'), tomlNormal
			}
			continue
		case tomlMLLiteral:
			if strings.HasPrefix(line[i:], `'''`) {
				i, state = closeML(i, '\''), tomlNormal
			}
			continue
		}
		switch {
		case c == '#':
			return tomlNormal
		case strings.HasPrefix(line[i:], `"""`):
			state, i = tomlMLBasic, i+2
		case strings.HasPrefix(line[i:], `'''`):
			state, i = tomlMLLiteral, i+2
		case c == '"':
			// A basic string: to its closing quote or the end of the line.
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
		case c == '\'':
			for i++; i < len(line) && line[i] != '\''; i++ {
			}
		}
	}
	return state
}

func tomlFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, got %s", Describe(v))
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
	return 0, fmt.Errorf("want an integer, got %s", Describe(v))
}
