package kvcache

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWindowFollowsUpstream replays upstream's rules with a plain list: the
// cache is the list of token indices it holds, cut to the newest size.
func TestWindowFollowsUpstream(t *testing.T) {
	const size = 4
	w, err := NewWindow(size)
	require.NoError(t, err)
	require.NoError(t, w.Fill(3))
	held := []int{0, 1, 2} // upstream's cache, oldest first, by token index
	slots := map[int]int{0: 0, 1: 1, 2: 2}
	for tok := 3; tok < 12; tok++ {
		st := w.Next()
		assert.Equal(t, min(len(held), size-1), st.LearnedPos, "token %d", tok)
		assert.Equal(t, len(held), st.RotaryPos, "token %d", tok)
		held = append(held, tok)
		if len(held) > size {
			held = held[len(held)-size:]
		}
		// The evicted token's slot is the one reused.
		for k, s := range slots {
			if s == st.Slot {
				delete(slots, k)
			}
		}
		slots[tok] = st.Slot
		w.Commit()
		assert.Equal(t, len(held), st.Attend)
		assert.Equal(t, len(held), w.Len())
		// Exactly the held tokens occupy slots 0..Attend-1.
		got := map[int]bool{}
		for _, h := range held {
			s, ok := slots[h]
			require.True(t, ok, "token %d lost its slot", h)
			assert.Less(t, s, st.Attend)
			got[s] = true
		}
		assert.Len(t, got, len(held))
	}
	assert.Equal(t, size, w.Next().RotaryPos, "RoPE position stays at block_size once full")
	assert.Equal(t, size-1, w.Next().LearnedPos)
}

func TestFillBounds(t *testing.T) {
	w, err := NewWindow(4)
	require.NoError(t, err)
	assert.Error(t, w.Fill(0))
	assert.Error(t, w.Fill(5))
	require.NoError(t, w.Fill(4))
	assert.Equal(t, 0, w.Next().Slot)
	_, err = NewWindow(0)
	assert.Error(t, err)
}

func TestStoreLayout(t *testing.T) {
	s, err := NewStore(2, 3, 5)
	require.NoError(t, err)
	assert.Len(t, s.Keys(1), 15)
	assert.Len(t, s.Values(0), 15)
	assert.Equal(t, int64(2*2*15*4), s.Bytes())
	_, err = NewStore(0, 3, 5)
	assert.Error(t, err)
}
