package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The stddev of every golden report is Python's statistics.stdev of its
// per-iteration tokens/s, to 1e-12 relative.
func TestGoldenStdDevMatchesPython(t *testing.T) {
	files, lines := pythonOverGoldens(t, `import json, statistics, sys
for f in sys.argv[1:]:
    doc = json.load(open(f, encoding="utf-8"))
    for r in doc if isinstance(doc, list) else [doc]:
        res = r["results"]
        want = statistics.stdev(res["per_iter_tokens_per_sec"])
        got = res["tokens_per_sec"]["stddev"]
        print(f, abs(got - want) <= 1e-12 * want)
`)
	require.GreaterOrEqual(t, len(lines), len(files))
}
