package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStdDevMatchesPython checks the sample standard deviation against
// Python's statistics.stdev on the same values (the expected numbers are
// its output, python3 3.x).
func TestStdDevMatchesPython(t *testing.T) {
	for _, c := range []struct {
		values []float64
		want   float64
	}{
		{[]float64{7582.1, 7672.4, 7012.9}, 357.5572168665226},
		{[]float64{59074.67, 58000.5, 60010.25, 57111.0}, 1262.3096182923318},
		{[]float64{1e308, -1e308}, 1.4142135623730951e+308}, // no overflow
		{[]float64{5, 5, 5}, 0},
	} {
		s, err := NewStats(c.values)
		require.NoError(t, err)
		require.NotNil(t, s.StdDev, "%v", c.values)
		assert.InDelta(t, c.want, *s.StdDev, 1e-12*c.want, "%v", c.values)
	}
	s, err := NewStats([]float64{42})
	require.NoError(t, err)
	assert.Nil(t, s.StdDev, "one value has no sample standard deviation")
}

// TestStdDevInJSON checks that stddev is written after max as an added
// key, and left out where it is undefined.
func TestStdDevInJSON(t *testing.T) {
	r := sample()
	s, err := NewStats([]float64{90, 100, 110})
	require.NoError(t, err)
	r.Results.TokensPerSec = s
	js, err := Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"tokens_per_sec": {
      "mean": 100.0,
      "min": 90.0,
      "max": 110.0,
      "stddev": 10.0
    }`)
	r.Results.TokensPerSec.StdDev = nil
	js, err = Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(js), "stddev")

	r.Results.TokensPerSec.StdDev = ptr(-1.0)
	_, err = Marshal(r)
	assert.ErrorContains(t, err, "results.tokens_per_sec.stddev: -1 is negative")
}
