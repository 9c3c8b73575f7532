package identity

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// storageCalls counts the puts and deletes that reach storage, each one a
// Raft log entry (and an fsync) on integrated storage.
type storageCalls struct {
	puts, deletes, validity atomic.Int64
}

func (c *storageCalls) storage() logical.Storage {
	return &hookStorage{
		Storage: new(logical.InmemStorage),
		put:     func(*logical.StorageEntry) error { c.puts.Add(1); return nil },
		del: func(key string) error {
			c.deletes.Add(1)
			if strings.HasPrefix(key, snapshotPrefix) {
				c.validity.Add(1)
			}
			return nil
		},
	}
}

func (c *storageCalls) take() (puts, deletes, validity int64) {
	return c.puts.Swap(0), c.deletes.Swap(0), c.validity.Swap(0)
}

// TestStorageCallsPerWrite pins how many storage calls each identity write
// makes: one put per object it changes, and after a load snapshot at most
// one round of validity deletes per snapshot section (the first write to
// each section), never one per write. docs/BENCHMARKS.md's integrated
// storage section relies on these counts.
func TestStorageCallsPerWrite(t *testing.T) {
	ctx := context.Background()
	var calls storageCalls
	st := openStore(testOptions{Storage: calls.storage(), SnapshotMinObjects: -1})
	require.NoError(t, st.Load(ctx))

	create := func(i int) *Entity {
		e, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: fmt.Sprintf("e-%d", i)})
		require.NoError(t, err)
		return e
	}
	// The first write after a load deletes the snapshot marker, whatever
	// the load found; no later one does until the next snapshot.
	calls.take()
	create(-1)
	puts, deletes, validity := calls.take()
	require.Equal(t, [3]int64{1, 1, 1}, [3]int64{puts, deletes, validity}, "the first write: its put and the marker's delete")
	e := create(0)
	puts, deletes, _ = calls.take()
	require.Equal(t, [2]int64{1, 0}, [2]int64{puts, deletes}, "entity create: one put")

	_, _, err := st.UpsertEntity(ctx, EntityUpdate{ID: e.ID, Metadata: core.Some(map[string]string{"k": "v"})})
	require.NoError(t, err)
	puts, deletes, _ = calls.take()
	require.Equal(t, [2]int64{1, 0}, [2]int64{puts, deletes}, "entity update: one put")

	_, _, err = st.UpsertAlias(ctx, AliasUpdate{Name: "a-0", MountAccessor: benchAccessor})
	require.NoError(t, err)
	puts, deletes, _ = calls.take()
	require.Equal(t, [2]int64{2, 0}, [2]int64{puts, deletes}, "alias create with a new entity: its entity and the alias")

	g, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: "g"})
	require.NoError(t, err)
	calls.take()
	_, _, err = st.UpsertGroup(ctx, GroupUpdate{ID: g.ID, AddMemberEntityIDs: []string{e.ID}})
	require.NoError(t, err)
	puts, deletes, _ = calls.take()
	require.Equal(t, [2]int64{1, 0}, [2]int64{puts, deletes}, "member added: one put of the group")

	// After a snapshot, the first write to each section deletes that
	// section's validity entry; later writes to it delete nothing.
	require.NoError(t, st.Snapshot(ctx))
	calls.take()
	const n = 2000
	for i := 1; i <= n; i++ {
		create(i)
	}
	puts, deletes, validity = calls.take()
	require.Equal(t, int64(n), puts, "one put per create")
	require.Equal(t, deletes, validity, "the only deletes are the snapshot's validity entries")
	require.LessOrEqual(t, validity, int64(snapshotSections+1), "at most one validity delete per section (and the marker) per snapshot")
	t.Logf("%d creates after a snapshot: %d puts, %d validity deletes (%d sections)", n, puts, validity, snapshotSections)
	for i := n + 1; i <= 2*n; i++ {
		create(i)
	}
	puts, deletes, _ = calls.take()
	require.Equal(t, [2]int64{n, 0}, [2]int64{puts, deletes}, "once every section is invalidated, creates only put")
}
