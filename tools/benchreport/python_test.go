package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CPython re-encoding each golden report with upstream's
// json.dumps(indent=2, ensure_ascii=False) gives the same bytes: same
// key order, same float/int spelling, same string escapes.
func TestGoldenJSONMatchesPython(t *testing.T) {
	files, lines := pythonOverGoldens(t, `import json, sys
for f in sys.argv[1:]:
    s = open(f, encoding="utf-8").read()
    print(f, json.dumps(json.loads(s), indent=2, ensure_ascii=False) + "\n" == s)
`)
	require.Len(t, lines, len(files))
}

// pythonOverGoldens runs script under python3 with every golden report as
// an argument (skipping the test without python3), asserts each output
// line to end in " True", and returns the files and the lines.
func pythonOverGoldens(t *testing.T, script string) (files, lines []string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	files, err = filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	lines = strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		assert.True(t, strings.HasSuffix(l, " True"), l)
	}
	return files, lines
}
