// Package weights reads the artifacts of the LabCore GPT models: PyTorch
// checkpoints written by torch.save (zip format), safetensors files,
// meta.json files from data preparation and TOML configuration files.
//
// PyTorch checkpoints are decoded by a small pickle reader of its own that
// accepts only plain data (None, booleans, numbers, strings, bytes, lists,
// tuples, sets, dicts, collections.OrderedDict) and tensors, in the spirit of
// torch.load(weights_only=True). Any other Python global is refused with an
// error that names it; nothing in a checkpoint is ever executed.
//
// Python values decode to nil, bool, int64, float64, string, []byte, []any
// (lists, tuples and sets) and map[string]any (dicts; non-string keys are
// written in their Python repr form, e.g. 0 becomes "0").
package weights
