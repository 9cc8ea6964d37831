// Package cudakern is tokbench's CUDA backend: the LabCore GPT forward pass
// on an NVIDIA GPU with fp16 weights, KV cache and activations and fp32
// accumulation, through the CUDA driver API (gorgonia.org/cu) and kernels of
// its own (kernels.cu, compiled to the committed kernels.ptx by `make ptx`
// and JIT-compiled by the driver at load time).
//
// The backend is built only with the cuda build tag. Importing the package
// in a cuda-tagged binary registers it with gpt.Register("cuda", ...), so
// gpt.OpenDevice("cuda", ...) finds it:
//
//	import _ "github.com/labcoreai/tokbench/cudakern"
//
// gorgonia.org/cu initialises the driver when the process starts and exits
// it when no GPU is present, so a cuda-tagged binary runs only on a GPU
// machine. Without the tag this package holds only bookkeeping shared with
// the tagged code (kernel signatures, memory accounting) and registers
// nothing.
package cudakern
