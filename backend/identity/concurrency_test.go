package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// TestConcurrentGraphWriters runs parallel writers over a small shared set of
// entities, aliases and groups (additive membership edits, hierarchy edits,
// alias moves, entity deletes and re-creates, merges), then checks the
// graph's invariants in memory and after a reload from storage.
func TestConcurrentGraphWriters(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := newTestStore(t, s)
	const (
		workers  = 8
		ops      = 250
		entities = 10
		groups   = 6
		acc1     = "auth_userpass_00000001"
		acc2     = "auth_approle_00000002"
	)
	groupIDs := make([]string, groups)
	for i := range groupIDs {
		g, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: fmt.Sprintf("g%d", i)})
		require.NoError(t, err)
		groupIDs[i] = g.ID
	}
	// entityByName runs in the workers: a failed lookup is reported (it
	// must not read as "no such entity"), not fatal.
	entityByName := func(n string) *Entity {
		v, err := st.Entity(context.Background(), EntitySelector{Name: n})
		if err != nil {
			t.Error(err)
		}
		if v == nil {
			return nil
		}
		return v.Entity
	}
	// Each worker adds its own entity to every group; these adds must all
	// survive (no lost updates) since nobody removes them.
	keep := make([]string, workers)
	for w := range keep {
		e, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: fmt.Sprintf("keep-%d", w)})
		require.NoError(t, err)
		keep[w] = e.ID
	}

	var added sync.Map // "<group id>/<keep id>" for every acknowledged add
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			fail := func(err error) {
				if _, ok := core.AsError(err); err != nil && !ok {
					t.Error(err)
				}
			}
			for i := range ops {
				name := fmt.Sprintf("e%d", r.IntN(entities))
				gid := groupIDs[r.IntN(groups)]
				switch i % 9 {
				case 0:
					_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: name})
					fail(err)
				case 1:
					if e := entityByName(name); e != nil {
						_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: gid, AddMemberEntityIDs: []string{e.ID, keep[w]}})
						fail(err)
						if err == nil {
							added.Store(gid+"/"+keep[w], true)
						}
					}
				case 2:
					if e := entityByName(name); e != nil {
						_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: gid, RemoveMemberEntityIDs: []string{e.ID}})
						fail(err)
					}
				case 3:
					_, _, err := st.UpsertAlias(ctx, AliasUpdate{Name: name, MountAccessor: []string{acc1, acc2}[r.IntN(2)]})
					fail(err)
				case 4:
					if e := entityByName(name); e != nil {
						_, _, err := st.UpsertAlias(ctx, AliasUpdate{Name: fmt.Sprintf("e%d", r.IntN(entities)), MountAccessor: acc1, CanonicalID: e.ID})
						fail(err)
					}
				case 5:
					fail(st.DeleteEntityByName(ctx, name))
				case 6:
					child := groupIDs[r.IntN(groups)]
					_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: gid, AddMemberGroupIDs: []string{child}})
					fail(err)
				case 7:
					_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: gid, RemoveMemberGroupIDs: []string{groupIDs[r.IntN(groups)]}})
					fail(err)
				case 8:
					a, b := entityByName(name), entityByName(fmt.Sprintf("e%d", r.IntN(entities)))
					if a != nil && b != nil && a.ID != b.ID {
						err := st.MergeEntities(ctx, MergeRequest{To: a.ID, From: []string{b.ID}})
						var clash *MergeConflictError
						if !errors.As(err, &clash) {
							fail(err)
						}
					}
				}
			}
		}()
	}
	wg.Wait()

	checkGraph(t, st)
	// Nobody removes the keep-* entities, so every acknowledged add of one
	// must still be there: concurrent edits of a group lose nothing.
	count := 0
	added.Range(func(k, _ any) bool {
		gid, id, _ := strings.Cut(k.(string), "/")
		g, _ := st.Group(ctx, GroupSelector{ID: gid})
		require.Contains(t, g.MemberEntityIDs, id)
		count++
		return true
	})
	require.Greater(t, count, workers, "the workers made their adds")
	reloaded := newTestStore(t, s)
	checkGraph(t, reloaded)
	require.Equal(t, graphOf(st), graphOf(reloaded), "storage holds exactly what memory holds")
}

// checkGraph verifies the invariants every write must keep.
func checkGraph(t *testing.T, st *Store) {
	t.Helper()
	x := st.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	names := map[string]bool{}
	for _, e := range x.entities {
		require.False(t, names[strings.ToLower(e.Name)], "duplicate entity name %q", e.Name)
		names[strings.ToLower(e.Name)] = true
		require.Same(t, e, x.entityNames.get(e.Name))
	}
	require.Equal(t, len(x.entities), x.entityNames.len())
	require.Equal(t, len(x.entities), x.entityNames.order.Len(), "the name order has every name once")
	perMount := map[string]bool{}
	for _, a := range x.aliases {
		require.NotNil(t, x.entities[a.CanonicalID], "alias %s points at a missing entity", a.ID)
		require.Same(t, a, x.aliasFactors[factorKey(a.MountAccessor, a.Name)])
		key := a.CanonicalID + "/" + a.MountAccessor
		require.False(t, perMount[key], "two aliases on one mount for entity %s", a.CanonicalID)
		perMount[key] = true
	}
	require.Len(t, x.aliasFactors, len(x.aliases))
	for _, g := range x.groups {
		for _, m := range g.MemberEntityIDs {
			require.NotNil(t, x.entities[m], "group %s lists missing entity %s", g.Name, m)
			require.Contains(t, x.groupsByMember[m], g.ID)
		}
		for _, p := range g.ParentGroupIDs {
			require.NotNil(t, x.groups[p], "group %s has missing parent %s", g.Name, p)
			require.Contains(t, x.groupChildren[p], g.ID)
			require.False(t, x.isDescendant(g.ID, p), "cycle through %s and %s", g.ID, p)
		}
	}
	for m, gs := range x.groupsByMember {
		for _, gid := range gs {
			require.Contains(t, x.groups[gid].MemberEntityIDs, m)
		}
	}
	for p, cs := range x.groupChildren {
		for _, c := range cs {
			require.Contains(t, x.groups[c].ParentGroupIDs, p)
		}
	}
}

// graphOf is the stored state of every object, for comparing two stores.
func graphOf(st *Store) map[string]any {
	out := map[string]any{}
	st.idx.read(func() {
		for id, e := range st.idx.entities {
			out["entity/"+id] = *e
		}
		for id, a := range st.idx.aliases {
			out["alias/"+id] = *a
		}
		for id, g := range st.idx.groups {
			c := *g
			c.MemberEntityIDs = slices.Sorted(slices.Values(c.MemberEntityIDs))
			out["group/"+id] = c
		}
	})
	return out
}
