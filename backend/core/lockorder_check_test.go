//go:build lockcheck

package core

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLockOrderChecked(t *testing.T) {
	mfa, oidc, idx := &RWMutex{Rank: RankMFAConfig}, &RWMutex{Rank: RankOIDCConfig}, &RWMutex{Rank: RankIndex}
	locks := NewLocks()

	// In order: stripes, MFA, OIDC, index.
	require.NotPanics(t, func() {
		_ = locks.Locked(func() []string { return []string{"k"} }, func() error {
			mfa.RLock()
			defer mfa.RUnlock()
			oidc.RLock()
			defer oidc.RUnlock()
			idx.Lock()
			defer idx.Unlock()
			return nil
		})
	})

	require.PanicsWithValue(t,
		"lock order broken: taking the MFA configuration lock while holding the OIDC configuration lock (order: load, snapshot run, stripes, MFA configuration, OIDC configuration, snapshot state, identity index)",
		func() {
			oidc.Lock()
			defer oidc.Unlock()
			mfa.RLock()
		})
	require.Panics(t, func() {
		idx.RLock()
		defer idx.RUnlock()
		locks.All(func() {})
	}, "a stripe under the index lock")
	require.Panics(t, func() {
		mfa.RLock()
		defer mfa.RUnlock()
		mfa.RLock()
	}, "the same lock twice")
}
