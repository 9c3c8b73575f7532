package identity

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

func TestLoadResolvesDuplicateNames(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Dup", "dup"} {
		e := &Entity{ID: fmt.Sprintf("id-%d", i), Name: name, NamespaceID: core.NamespaceID, CreationTime: t0.Add(time.Duration(i) * time.Hour)}
		entry, _ := logical.StorageEntryJSON(entityKey(e.ID), e)
		require.NoError(t, s.Put(ctx, entry))
	}
	st := newTestStore(t, s)
	got := byName(t, st, "DUP")
	require.Equal(t, "id-0", got.ID, "the older entity keeps the name")
	other := byID(t, st, "id-1")
	require.NotNil(t, other, "the other stays reachable by id")
}

func TestInjectedClock(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	st := openStore(testOptions{Storage: new(logical.InmemStorage), Now: func() time.Time { return now }})
	e, _, err := st.UpsertEntity(context.Background(), EntityUpdate{})
	require.NoError(t, err)
	require.Equal(t, now.UTC(), e.CreationTime)
	require.Equal(t, time.UTC, e.CreationTime.Location())
}

// TestConcurrentWritersKeepInvariants runs parallel creates, renames and
// deletes over a small set of names, then checks that names are unique, the
// indexes agree with each other and with storage.
func TestConcurrentWritersKeepInvariants(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := newTestStore(t, s)
	const workers, ops, names = 8, 300, 12
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				name := fmt.Sprintf("n%d", (w*7+i)%names)
				switch i % 4 {
				case 0, 1:
					_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: name, Metadata: core.Some(map[string]string{"w": fmt.Sprint(w)})})
					if err != nil {
						t.Error(err)
					}
				case 2:
					v, err := st.Entity(ctx, EntitySelector{Name: name})
					if err != nil {
						t.Error(err) // in a worker: reported, not fatal
					}
					if v != nil {
						e := v.Entity
						to := fmt.Sprintf("n%d", (w+i)%names)
						_, _, err := st.UpsertEntity(ctx, EntityUpdate{ID: e.ID, Name: to})
						if err != nil {
							if re, ok := core.AsError(err); !ok || (re.Msg != "entity name is already in use" && re.Msg != "entity not found from id") {
								t.Error(err)
							}
						}
					}
				case 3:
					if err := st.DeleteEntityByName(ctx, name); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()

	all, err := st.Entities(ctx, Page{})
	require.NoError(t, err)
	require.NotEmpty(t, all, "some entities survive the writers")
	seen := map[string]string{}
	for _, e := range all {
		key := strings.ToLower(e.Name)
		e := e.Entity
		require.NotContains(t, seen, key, "duplicate name %q", e.Name)
		seen[key] = e.ID
		found := byName(t, st, e.Name)
		require.Same(t, e, found)
	}
	require.Equal(t, len(all), st.idx.entityNames.len(), "no stale name entries")
	require.Equal(t, len(all), st.idx.entityNames.order.Len(), "no stale names in order")

	// Storage holds exactly what the index holds.
	reloaded := newTestStore(t, s)
	again, err := reloaded.Entities(ctx, Page{})
	require.NoError(t, err)
	require.Equal(t, len(all), len(again))
	for i := range all {
		require.Equal(t, *all[i].Entity, *again[i].Entity)
	}
}

// byName and byID look an entity up, failing the test on an error: nil
// means there is no such entity, never that the lookup failed.
func byName(t testing.TB, s *Store, name string) *Entity {
	t.Helper()
	return lookupEntity(t, s, EntitySelector{Name: name})
}

func byID(t testing.TB, s *Store, id string) *Entity {
	t.Helper()
	return lookupEntity(t, s, EntitySelector{ID: id})
}

func lookupEntity(t testing.TB, s *Store, sel EntitySelector) *Entity {
	t.Helper()
	v, err := s.Entity(context.Background(), sel)
	if err != nil {
		t.Fatalf("looking up entity %+v: %v", sel, err)
	}
	if v == nil {
		return nil
	}
	return v.Entity
}

func TestInvalidateFollowsAliasesAndGroups(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	writer, reader := newTestStore(t, s), newTestStore(t, s)

	a, _, err := writer.UpsertAlias(ctx, AliasUpdate{Name: "bob", MountAccessor: "auth_userpass_12345678"})
	require.NoError(t, err)
	g, _, err := writer.UpsertGroup(ctx, GroupUpdate{Name: "g", MemberEntityIDs: core.Some([]string{a.CanonicalID})})
	require.NoError(t, err)
	for _, key := range []string{entityKey(a.CanonicalID), aliasKey(a.ID), groupKey(g.ID)} {
		reader.Invalidate(ctx, key)
	}
	v, err := reader.Entity(ctx, EntitySelector{AliasName: "BOB", AliasMountAccessor: "auth_userpass_12345678"})
	require.NoError(t, err)
	require.Equal(t, a.CanonicalID, v.ID)
	require.Equal(t, []string{g.ID}, v.DirectGroupIDs)

	require.NoError(t, writer.DeleteEntity(ctx, a.CanonicalID))
	for _, key := range []string{groupKey(g.ID), aliasKey(a.ID), entityKey(a.CanonicalID)} {
		reader.Invalidate(ctx, key)
	}
	checkGraph(t, reader)
	require.Equal(t, graphOf(writer), graphOf(reader))
}
