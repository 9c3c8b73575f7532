package identity

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// testOptions are the settings a test gives an identity store of its own.
type testOptions struct {
	Storage            logical.Storage
	Now                func() time.Time
	SnapshotMinObjects int
	Mounts             MountTable
	Callers            func() string
}

// openStore builds an identity store over o.Storage, not loaded.
func openStore(o testOptions) *Store {
	return New(Options{
		Deps:               core.Deps{Storage: &core.Storage{Storage: o.Storage, Workers: 8}, Locks: core.NewLocks(), Now: o.Now},
		SnapshotMinObjects: o.SnapshotMinObjects, Mounts: o.Mounts, Callers: o.Callers,
	})
}

// newTestStore is a loaded identity store over s.
func newTestStore(t testing.TB, s logical.Storage) *Store {
	t.Helper()
	st := openStore(testOptions{Storage: s})
	require.NoError(t, st.Load(context.Background()))
	return st
}
