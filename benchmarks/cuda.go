//go:build cuda

package benchmarks

// With -tags cuda, the CUDA backend registers itself as device "cuda".
import _ "github.com/labcoreai/tokbench/cudakern"
