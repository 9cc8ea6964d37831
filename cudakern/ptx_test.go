package cudakern

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPTXMatchesKernelTable checks, without a GPU, that the committed PTX
// was compiled from the committed kernels.cu (make ptx records the
// source's sha256 in it), has every kernel of kernelArity with that many
// parameters, all 8 bytes wide, and targets compute_80.
func TestPTXMatchesKernelTable(t *testing.T) {
	data, err := os.ReadFile("kernels.ptx")
	require.NoError(t, err)
	ptx := string(data)
	src, err := os.ReadFile("kernels.cu")
	require.NoError(t, err)
	sum := sha256.Sum256(src)
	assert.Contains(t, ptx, "// kernels.cu sha256 "+hex.EncodeToString(sum[:]),
		"kernels.ptx was not compiled from this kernels.cu: run make ptx")
	assert.Contains(t, ptx, ".target sm_80")
	entry := regexp.MustCompile(`(?s)\.visible \.entry (\w+)\((.*?)\)`)
	got := map[string]int{}
	for _, m := range entry.FindAllStringSubmatch(ptx, -1) {
		params := strings.Split(strings.TrimSpace(m[2]), ",")
		for _, p := range params {
			assert.Contains(t, p, ".param .u64", "kernel %s: every parameter must be 8 bytes: %q", m[1], p)
		}
		got[m[1]] = len(params)
	}
	assert.Equal(t, kernelArity, got)
}

// TestSourceMatchesKernelTable checks that the kernels declared in
// kernels.cu are those of kernelArity (run make ptx after editing it).
func TestSourceMatchesKernelTable(t *testing.T) {
	src, err := os.ReadFile("kernels.cu")
	require.NoError(t, err)
	decl := regexp.MustCompile(`extern "C" __global__ void(?: __launch_bounds__\(\d+\))?\s+(\w+)\(`)
	names := map[string]int{}
	for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = kernelArity[m[1]]
	}
	assert.Equal(t, kernelArity, names, "kernels.cu and kernelArity disagree")
}
