package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stddev of every golden report is Python's statistics.stdev of its
// per-iteration tokens/s, to 1e-12 relative.
func TestGoldenStdDevMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	script := `import json, statistics, sys
for f in sys.argv[1:]:
    doc = json.load(open(f, encoding="utf-8"))
    for r in doc if isinstance(doc, list) else [doc]:
        res = r["results"]
        want = statistics.stdev(res["per_iter_tokens_per_sec"])
        got = res["tokens_per_sec"]["stddev"]
        print(f, abs(got - want) <= 1e-12 * want)
`
	out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), len(files))
	for _, l := range lines {
		assert.True(t, strings.HasSuffix(l, " True"), l)
	}
}
