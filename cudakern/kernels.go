package cudakern

// Output modes of the matvec and matmul kernels (their epilogue); they
// match the OUT_* constants of kernels.cu.
const (
	outHalf     = 0 // outh = half(acc + b)
	outHalfGELU = 1 // outh = half(gelu(acc + b))
	outAddF32   = 2 // outf += acc + b (residual add)
	outF32      = 3 // outf = acc + b (logits)
)

// kernelArity is the number of parameters of every kernel of kernels.cu.
// Every parameter is 8 bytes wide: gorgonia.org/cu's Launch copies 8 bytes
// per parameter. TestPTXMatchesKernelTable checks the PTX against it.
var kernelArity = map[string]int{
	"embed":         7,
	"layernorm":     5,
	"matvec":        11,
	"matmul_tc":     9,
	"matmul_simple": 9,
	"rope_store":    9,
	"attention":     13,
}

// Launch shapes shared by the backend and the tests.
const (
	matvecThreads = 256 // 8 warps: 8 output rows per block
	rowThreads    = 128 // embed, layernorm, rope_store: one block per row
	attnThreads   = 128
	tcTile        = 64 // matmul_tc: 64x64 outputs per block of 128 threads
	simpleTile    = 16 // matmul_simple: 16x16 threads per block
	maxSharedMem  = 48 << 10
)
