package identity

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const benchAccessor = "auth_userpass_0000beef"

// benchStore holds n entities, each with one alias, on in-memory storage.
func benchStore(b *testing.B, n int) (*Store, []*Entity) {
	b.Helper()
	ctx := context.Background()
	st := openStore(testOptions{Storage: new(logical.InmemStorage)})
	if err := st.Load(ctx); err != nil {
		b.Fatal(err)
	}
	entities := make([]*Entity, n)
	for i := range n {
		a, _, err := st.UpsertAlias(ctx, AliasUpdate{Name: fmt.Sprintf("user-%d", i), MountAccessor: benchAccessor})
		if err != nil {
			b.Fatal(err)
		}
		entities[i] = byID(b, st, a.CanonicalID)
	}
	return st, entities
}

// BenchmarkAliasLookup finds entities by alias mount accessor and name, as
// lookup/entity and the caller mapping do, among 100k entities.
func BenchmarkAliasLookup(b *testing.B) {
	st, _ := benchStore(b, 100_000)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		v, err := st.Entity(ctx, EntitySelector{AliasName: fmt.Sprintf("USER-%d", i%100_000), AliasMountAccessor: benchAccessor})
		if err != nil || v == nil {
			b.Fatal("not found", err)
		}
		i++
	}
}

// BenchmarkInheritedGroups reads an entity with its direct and inherited
// groups among 100k entities and 10k groups. "ladder" is the hierarchy that
// makes path-enumerating walks exponential (Vault issue 5605): 5,000 levels
// of two groups, each group a child of both groups above it, and the entity
// in a bottom group, so it inherits 9,998 groups through 2^4998 paths.
// "typical" is an entity in one group three levels deep.
func BenchmarkInheritedGroups(b *testing.B) {
	ctx := context.Background()
	st, entities := benchStore(b, 100_000)
	const levels = 5000
	ids := make([][2]string, levels)
	for l := range levels {
		for k := range 2 {
			g, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: fmt.Sprintf("g-%d-%d", l, k)})
			if err != nil {
				b.Fatal(err)
			}
			ids[l][k] = g.ID
		}
	}
	for l := range levels - 1 {
		for k := range 2 {
			_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: ids[l][k], MemberGroupIDs: core.Some([]string{ids[l+1][0], ids[l+1][1]})})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	deep, typical := entities[0], entities[1]
	for _, u := range []GroupUpdate{
		{ID: ids[levels-1][0], MemberEntityIDs: core.Some([]string{deep.ID})},
		{ID: ids[2][0], MemberEntityIDs: core.Some([]string{typical.ID})},
	} {
		if _, _, err := st.UpsertGroup(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for name, c := range map[string]struct {
		e         *Entity
		inherited int
	}{"ladder": {deep, 2 * (levels - 1)}, "typical": {typical, 4}} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := st.Entity(ctx, EntitySelector{ID: c.e.ID})
				if err != nil || len(v.DirectGroupIDs)+len(v.InheritedGroupIDs) != c.inherited+1 {
					b.Fatalf("got %d direct and %d inherited groups (%v)", len(v.DirectGroupIDs), len(v.InheritedGroupIDs), err)
				}
			}
		})
	}
}

// BenchmarkLoad starts a store over 100k entities (each with one alias and
// realistic metadata) and 10k groups of ten members each: the work of the
// plugin's Initialize. It reports the heap the loaded indexes keep per
// entity (the storage's own copy is not counted).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	const entities, groups = 100_000, 10_000
	st, list := benchStore(b, entities)
	for i := range entities {
		_, _, err := st.UpsertEntity(ctx, EntityUpdate{ID: list[i].ID, Policies: core.Some([]string{"default"}), Metadata: core.Some(map[string]string{"team": fmt.Sprintf("team-%d", i%100)})})
		if err != nil {
			b.Fatal(err)
		}
	}
	for g := range groups {
		members := make([]string, 10)
		for k := range members {
			members[k] = list[(g*10+k)%entities].ID
		}
		if _, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: fmt.Sprintf("group-%d", g), MemberEntityIDs: core.Some(members)}); err != nil {
			b.Fatal(err)
		}
	}
	storage := st.storage
	st = nil
	b.Run("from=objects", func(b *testing.B) { benchLoad(b, storage, LoadedFromObjects, entities) })
	snap := openStore(testOptions{Storage: storage})
	if err := snap.Load(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := snap.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("writing the load snapshot took %s", time.Since(start))
	snap = nil
	b.Run("from=snapshot", func(b *testing.B) { benchLoad(b, storage, LoadedFromSnapshot, entities) })
}

func benchLoad(b *testing.B, storage logical.Storage, source string, entities int) {
	ctx := context.Background()
	var bytesPerEntity float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		loaded := openStore(testOptions{Storage: storage})
		if err := loaded.Load(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := len(loaded.idx.entities); n != entities {
			b.Fatalf("loaded %d entities", n)
		}
		if loaded.loadInfo.Source != source {
			b.Fatalf("loaded from %s", loaded.loadInfo.Source)
		}
		bytesPerEntity = float64(after.HeapAlloc-before.HeapAlloc) / float64(entities)
		b.StartTimer()
	}
	b.ReportMetric(bytesPerEntity, "heap-B/entity")
}
