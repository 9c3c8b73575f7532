package core

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStripeSet(t *testing.T) {
	st := NewLocks()
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("entity/%d", i)
	}
	set := st.set(keys)
	var want []int
	for _, k := range keys {
		want = append(want, int(st.of(k)))
	}
	slices.Sort(want)
	want = slices.Compact(want)

	var up []int
	set.each(func(i int) { up = append(up, i) })
	require.Equal(t, want, up, "ascending")

	require.True(t, set.covers(st.set(keys[:10])))
	require.True(t, set.covers(stripeSet{}))
	var other stripeSet
	for i := 0; i < 256; i++ {
		if !slices.Contains(want, i) {
			other[i/64] |= 1 << (i % 64)
			break
		}
	}
	require.False(t, set.covers(other))

	st.lock(set)
	for _, i := range want {
		require.False(t, st.mu[i].TryLock(), "stripe %d held", i)
	}
	st.unlock(set)
	for _, i := range want {
		require.True(t, st.mu[i].TryLock(), "stripe %d released", i)
		st.mu[i].Unlock()
	}
}
