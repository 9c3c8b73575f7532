package identity

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// TestCallerEntityCreatedOnceUnderRace: rounds of eight first requests of
// one new caller at once, released together, make one entity with one
// alias per Vault alias, which every request returns; storage holds the
// same after a reload, and a racing writer of the Vault name loses nothing.
func TestCallerEntityCreatedOnceUnderRace(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		s := new(logical.InmemStorage)
		st := newTestStore(t, s)
		// Slow writes of entities and aliases widen the window between a
		// lookup and its write.
		st.storage.Storage = &hookStorage{Storage: s, put: func(e *logical.StorageEntry) error {
			if strings.HasPrefix(e.Key, entityPrefix) || strings.HasPrefix(e.Key, aliasPrefix) {
				time.Sleep(time.Millisecond)
			}
			return nil
		}}
		c := Caller{Name: "carol", Aliases: []AliasRef{
			{MountAccessor: "auth_userpass_00000001", Name: "carol"},
			{MountAccessor: "auth_approle_00000002", Name: "role-1"},
		}}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			ids     = make([]string, 8)
			aliases = make([]string, 8)
			errs    = make([]error, 8)
		)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, a, err := st.CallerEntity(ctx, c)
				errs[i] = err
				if v != nil {
					ids[i], aliases[i] = v.ID, a.ID
				}
			}()
		}
		// An operator creating an entity of the Vault entity's name at the
		// same time: the caller's entity takes the name or a generated one.
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: "Carol"})
			require.NoError(t, err)
		}()
		close(start)
		wg.Wait()
		for i := range ids {
			require.NoError(t, errs[i])
			require.NotEmpty(t, ids[i], "round %d", round)
			require.Equal(t, ids[0], ids[i], "round %d: one entity", round)
			require.Equal(t, aliases[0], aliases[i], "round %d: the same matched alias", round)
		}
		// The operator's write made an entity "Carol" when it came first
		// (then the caller's has a generated name), or updated the
		// caller's entity (the name selects it).
		mine := byID(t, st, ids[0])
		require.NotNil(t, mine)
		n, err := st.EntityCount(ctx)
		require.NoError(t, err)
		if mine.Name == "carol" || mine.Name == "Carol" {
			require.Equal(t, 1, n, "round %d", round)
		} else {
			require.Regexp(t, `^entity_[0-9a-f]{8}$`, mine.Name)
			require.Equal(t, 2, n, "round %d", round)
		}
		all, err := st.Aliases(ctx, Page{})
		require.NoError(t, err)
		require.Len(t, all, 2, "one alias per Vault alias")

		reloaded := newTestStore(t, s)
		v, a, err := reloaded.CallerEntity(ctx, c)
		require.NoError(t, err)
		require.Equal(t, ids[0], v.ID)
		require.Equal(t, aliases[0], a.ID)
		require.Len(t, v.Aliases, 2)
	}
}

// TestCallerEntityMatchMode: with caller_entities=match nothing is created.
func TestCallerEntityMatchMode(t *testing.T) {
	ctx := context.Background()
	st := openStore(testOptions{Storage: new(logical.InmemStorage), Callers: func() string { return CallerEntitiesMatch }})
	require.NoError(t, st.Load(ctx))
	v, a, err := st.CallerEntity(ctx, Caller{Name: "carol", Aliases: []AliasRef{{MountAccessor: "auth_userpass_00000001", Name: "carol"}}})
	require.NoError(t, err)
	require.Nil(t, v)
	require.Nil(t, a)
	n, err := st.EntityCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
