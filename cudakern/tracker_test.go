package cudakern

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemTrackerPeakIsLiveSumAtHighPoint(t *testing.T) {
	tr := newMemTracker()
	require.NoError(t, tr.add(0x1000, 100))
	require.NoError(t, tr.add(0x2000, 50))
	n, err := tr.remove(0x1000)
	require.NoError(t, err)
	assert.Equal(t, int64(100), n)
	require.NoError(t, tr.add(0x3000, 30))
	require.NoError(t, tr.add(0x4000, 90)) // live: 50+30+90 = 170, the high point
	_, err = tr.remove(0x3000)
	require.NoError(t, err)
	cur, peak, live := tr.stats()
	assert.Equal(t, int64(140), cur)
	assert.Equal(t, int64(170), peak)
	assert.Equal(t, 2, live)

	tr.resetPeak()
	_, peak, _ = tr.stats()
	assert.Equal(t, int64(140), peak, "a reset peak starts from what is live")
	require.NoError(t, tr.add(0x5000, 10))
	_, peak, _ = tr.stats()
	assert.Equal(t, int64(150), peak)
	assert.ElementsMatch(t, []uint64{0x2000, 0x4000, 0x5000}, tr.addrs())
}

func TestMemTrackerRefusesUnknownAndDuplicate(t *testing.T) {
	tr := newMemTracker()
	_, err := tr.remove(0x10)
	assert.ErrorContains(t, err, "does not own")
	require.NoError(t, tr.add(0x10, 1))
	assert.ErrorContains(t, tr.add(0x10, 1), "allocated twice")
}
