package gpt

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/labcoreai/tokbench/gpt/tokenizer"
	"github.com/labcoreai/tokbench/weights"
)

// Loaded is a model ready to run with the tokenizer that goes with it.
type Loaded struct {
	Model     *Model
	Tokenizer tokenizer.Tokenizer
	// Source is "local", "hf" or "random".
	Source string
	// Warnings are things the user should hear about (unknown tensors).
	Warnings []string
}

// LoadLocal loads a LabCore checkpoint written by torch.save, with the
// tokenizer resolved from tokFlag, the meta file (with upstream's
// data/meta.json fallback) and the checkpoint, as SPEC §4 says.
func LoadLocal(ckptPath, metaPath, tokFlag string) (*Loaded, error) {
	ck, err := weights.LoadCheckpoint(ckptPath)
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromMap(ck.ModelConfig, ckptPath+": model_config")
	if err != nil {
		return nil, err
	}
	m, warns, err := FromTensors(cfg, ck.StateDict, ckptPath+": model_state_dict")
	if err != nil {
		return nil, err
	}
	meta, err := weights.FindMeta(metaPath)
	if err != nil {
		return nil, err
	}
	spec, err := weights.ResolveTokenizer(tokFlag, meta, ck.Tokenizer)
	if err != nil {
		return nil, err
	}
	tok, err := newTokenizer(spec, cfg)
	if err != nil {
		return nil, err
	}
	return &Loaded{Model: m, Tokenizer: tok, Source: "local", Warnings: warns}, nil
}

// newTokenizer builds the tokenizer and checks that its ids fit the model.
func newTokenizer(spec weights.TokenizerSpec, cfg Config) (tokenizer.Tokenizer, error) {
	tok, err := tokenizer.New(spec)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > cfg.VocabSize {
		return nil, fmt.Errorf("gpt: the %s tokenizer has %d ids but the model's vocab_size is %d", tok.Name(), tok.VocabSize(), cfg.VocabSize)
	}
	return tok, nil
}

// FallbackMessage is what upstream prints when CUDA is asked for and
// cannot be used.
const FallbackMessage = "CUDA not available, falling back to CPU."

// OpenDevice opens the backend for device ("cpu" or "cuda"). When cuda is
// asked for and this binary or machine cannot run it, it writes upstream's
// fallback message (and a hint) to w and opens the CPU backend, as upstream
// does.
func OpenDevice(device string, m *Model, w io.Writer) (Backend, error) {
	switch device {
	case "cpu", "cuda":
	default:
		return nil, fmt.Errorf("gpt: device %q: want cpu or cuda", device)
	}
	b, err := Open(device, m)
	if device == "cuda" && errors.Is(err, ErrNoDevice) {
		fmt.Fprintln(w, FallbackMessage)
		fmt.Fprintln(w, cudaHint(err))
		return Open("cpu", m)
	}
	return b, err
}

func cudaHint(err error) string {
	if !slices.Contains(Devices(), "cuda") {
		return "tokbench: this binary was built without CUDA support; build it with -tags cuda to use a GPU."
	}
	return "tokbench: " + err.Error()
}
