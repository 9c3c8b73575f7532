package identity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/btree"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// hookStorage lets a test fail or hold storage calls.
type hookStorage struct {
	logical.Storage
	hidden func(key string) bool // reads of these keys find nothing
	put    func(e *logical.StorageEntry) error
	del    func(key string) error
}

func (h *hookStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if h.hidden != nil && h.hidden(key) {
		return nil, nil
	}
	return h.Storage.Get(ctx, key)
}

func (h *hookStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if h.put != nil {
		if err := h.put(e); err != nil {
			return err
		}
	}
	return h.Storage.Put(ctx, e)
}

func (h *hookStorage) Delete(ctx context.Context, key string) error {
	if h.del != nil {
		if err := h.del(key); err != nil {
			return err
		}
	}
	return h.Storage.Delete(ctx, key)
}

// snapshotStore loads a store that writes snapshots of any size.
func snapshotStore(t testing.TB, s logical.Storage) *Store {
	t.Helper()
	st := openStore(testOptions{Storage: s, SnapshotMinObjects: -1})
	require.NoError(t, st.Load(context.Background()))
	return st
}

// loadIgnoringSnapshot loads a store from the objects' own entries.
func loadIgnoringSnapshot(t testing.TB, s logical.Storage) *Store {
	t.Helper()
	st := snapshotStore(t, &hookStorage{Storage: s, hidden: func(k string) bool { return k == snapshotMarker }})
	requireSource(t, st, LoadedFromObjects)
	return st
}

func requireSource(t testing.TB, st *Store, want string) {
	t.Helper()
	info, err := st.LoadInfo(context.Background())
	require.NoError(t, err)
	require.Equal(t, want, info.Source)
}

// indexDigest is everything the index holds, in a comparable form.
type indexDigest struct {
	Entities                                     map[string]*Entity
	Aliases                                      map[string]*Alias
	Groups                                       map[string]*Group
	EntityOrder, AliasOrder, GroupOrder          []string
	EntityNames, AliasFactors, GroupNames        map[string]string
	GroupAliases, GroupAliasFactors              map[string]string
	EntityAliases, GroupsByMember, GroupChildren map[string][]string
}

func digest(st *Store) indexDigest {
	d := indexDigest{
		EntityNames: map[string]string{}, AliasFactors: map[string]string{}, GroupNames: map[string]string{},
		GroupAliases: map[string]string{}, GroupAliasFactors: map[string]string{},
		EntityAliases: map[string][]string{}, GroupsByMember: map[string][]string{}, GroupChildren: map[string][]string{},
	}
	x := st.idx
	x.read(func() {
		d.Entities, d.Aliases, d.Groups = maps.Clone(x.entities), maps.Clone(x.aliases), maps.Clone(x.groups)
		d.EntityOrder, d.AliasOrder, d.GroupOrder = ordered(x.entityOrder), ordered(x.aliasOrder), ordered(x.groupOrder)
		for k, e := range x.entityNames.by {
			d.EntityNames[k] = e.ID
		}
		for k, a := range x.aliasFactors {
			d.AliasFactors[k] = a.ID
		}
		for k, g := range x.groupNames.by {
			d.GroupNames[k] = g.ID
		}
		for k, g := range x.groupAliases {
			d.GroupAliases[k] = g.ID
		}
		for k, g := range x.groupAliasFactors {
			d.GroupAliasFactors[k] = g.ID
		}
		for k, as := range x.entityAliases {
			for _, a := range as {
				d.EntityAliases[k] = append(d.EntityAliases[k], a.ID)
			}
			slices.Sort(d.EntityAliases[k])
		}
		for k, ids := range x.groupsByMember {
			d.GroupsByMember[k] = slices.Sorted(slices.Values(ids))
		}
		for k, ids := range x.groupChildren {
			d.GroupChildren[k] = slices.Sorted(slices.Values(ids))
		}
	})
	return d
}

func ordered(t *btree.BTreeG[string]) []string {
	var ids []string
	t.Ascend(func(id string) bool { ids = append(ids, id); return true })
	return ids
}

// fillStore writes entities with metadata and aliases, internal groups
// with members and a parent, and an external group with a group alias.
func fillStore(t testing.TB, st *Store, n int) []*Entity {
	t.Helper()
	ctx := context.Background()
	var list []*Entity
	for i := range n {
		e, _, err := st.UpsertEntity(ctx, EntityUpdate{
			Name:     fmt.Sprintf("user-%d", i),
			Metadata: core.Some(map[string]string{"team": fmt.Sprintf("team-%d", i%7), "note": "line\nbreak <&>"}),
			Policies: core.Some([]string{"default", fmt.Sprintf("p%d", i%3)}),
			Disabled: core.Some(i%11 == 0),
		})
		require.NoError(t, err)
		list = append(list, e)
		if i%2 == 0 {
			_, _, err := st.UpsertAlias(ctx, AliasUpdate{Name: fmt.Sprintf("login-%d", i), MountAccessor: "auth_userpass_12345678", CanonicalID: e.ID,
				CustomMetadata: core.Some(map[string]string{"k": "v"})})
			require.NoError(t, err)
		}
	}
	parent, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: "parent", Policies: core.Some([]string{"admin"})})
	require.NoError(t, err)
	for g := range n / 5 {
		_, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: fmt.Sprintf("group-%d", g),
			MemberEntityIDs: core.Some([]string{list[g].ID, list[(g+1)%n].ID}), MemberGroupIDs: core.Some([]string{parent.ID})})
		require.NoError(t, err)
	}
	ext, _, err := st.UpsertGroup(ctx, GroupUpdate{Name: "external", Type: core.Some("external")})
	require.NoError(t, err)
	_, _, err = st.UpsertGroupAlias(ctx, GroupAliasUpdate{Name: "engineering", MountAccessor: "auth_oidc_12345678", CanonicalID: ext.ID})
	require.NoError(t, err)
	return list
}

func storageKeys(t testing.TB, s logical.Storage, prefix string) []string {
	t.Helper()
	keys, err := logical.CollectKeysWithPrefix(context.Background(), s, prefix)
	require.NoError(t, err)
	return keys
}

func TestSnapshotLoadsWhatTheObjectsHold(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := snapshotStore(t, s)
	fillStore(t, st, 200)
	require.NoError(t, st.Snapshot(ctx))
	require.Contains(t, storageKeys(t, s, snapshotPrefix), snapshotMarker)

	fromSnapshot := snapshotStore(t, s)
	requireSource(t, fromSnapshot, LoadedFromSnapshot)
	fromObjects := loadIgnoringSnapshot(t, s)
	require.Equal(t, digest(fromObjects), digest(fromSnapshot))
	require.Equal(t, digest(st), digest(fromSnapshot))
	require.Len(t, digest(fromSnapshot).Entities, 200)

	// A store loaded from a current snapshot has nothing to write.
	before := storageKeys(t, s, snapshotPrefix)
	require.NoError(t, fromSnapshot.Snapshot(ctx))
	require.Equal(t, before, storageKeys(t, s, snapshotPrefix))
}

func TestWritesInvalidateOnlyTheirSections(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(t *testing.T, st *Store, list []*Entity){
		"entity create": func(t *testing.T, st *Store, _ []*Entity) {
			_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: "new"})
			require.NoError(t, err)
		},
		"entity delete": func(t *testing.T, st *Store, list []*Entity) {
			require.NoError(t, st.DeleteEntity(ctx, list[3].ID))
		},
		"alias create": func(t *testing.T, st *Store, list []*Entity) {
			_, _, err := st.UpsertAlias(ctx, AliasUpdate{Name: "other", MountAccessor: "auth_userpass_12345678", CanonicalID: list[1].ID})
			require.NoError(t, err)
		},
		"group membership": func(t *testing.T, st *Store, list []*Entity) {
			_, _, err := st.UpsertGroup(ctx, GroupUpdate{ID: "", ByName: true, Name: "group-1", AddMemberEntityIDs: []string{list[9].ID}})
			require.NoError(t, err)
		},
		"merge": func(t *testing.T, st *Store, list []*Entity) {
			require.NoError(t, st.MergeEntities(ctx, MergeRequest{To: list[1].ID, From: []string{list[2].ID}}))
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			mem := new(logical.InmemStorage)
			hs := &hookStorage{Storage: mem}
			st := snapshotStore(t, hs)
			list := fillStore(t, st, 20)
			require.NoError(t, st.Snapshot(ctx))
			require.Len(t, validEntries(t, mem), snapshotSections)
			write(t, st, list)
			left := len(validEntries(t, mem))
			require.Less(t, left, snapshotSections, "the written sections are no longer valid")
			require.Positive(t, left)

			// A start now, as after a crash, reads the snapshot's valid
			// sections and only the other sections' objects.
			var objectGets atomic.Int64
			hs.hidden = func(k string) bool {
				if indexedKey(k) {
					objectGets.Add(1)
				}
				return false
			}
			restarted := snapshotStore(t, hs)
			requireSource(t, restarted, LoadedFromBoth)
			require.Equal(t, digest(st), digest(restarted))
			objects := len(storageKeys(t, mem, entityPrefix)) + len(storageKeys(t, mem, aliasPrefix)) + len(storageKeys(t, mem, groupPrefix))
			require.Less(t, int(objectGets.Load()), objects/2, "objects read one by one")
			hs.hidden = nil

			// The next snapshot has the write and replaces the old entries.
			require.NoError(t, st.Snapshot(ctx))
			again := snapshotStore(t, mem)
			requireSource(t, again, LoadedFromSnapshot)
			require.Equal(t, digest(st), digest(again))
			requireOneGeneration(t, mem)
		})
	}
}

// validEntries lists the validity entries of the generation the marker
// names.
func validEntries(t *testing.T, s logical.Storage) []string {
	t.Helper()
	var rec snapshotRecord
	found, err := openStore(testOptions{Storage: s}).storage.GetJSON(context.Background(), snapshotMarker, &rec)
	require.NoError(t, err)
	if !found {
		return nil
	}
	var valid []string
	for _, k := range storageKeys(t, s, snapshotPrefix+rec.Generation+"/") {
		if strings.Contains(k, "/valid-") {
			valid = append(valid, k)
		}
	}
	return valid
}

// requireOneGeneration checks that the marker and one generation of chunks
// and validity entries are all that is stored under the snapshot prefix.
func requireOneGeneration(t *testing.T, s logical.Storage) {
	t.Helper()
	entries, err := s.List(context.Background(), snapshotPrefix)
	require.NoError(t, err)
	require.Len(t, entries, 2, entries)
	require.Contains(t, entries, "current")
}

// hookedStore is a snapshot-writing store of n entities over hookable
// in-memory storage.
func hookedStore(t *testing.T, n int) (*logical.InmemStorage, *hookStorage, *Store) {
	t.Helper()
	mem := new(logical.InmemStorage)
	hs := &hookStorage{Storage: mem}
	st := snapshotStore(t, hs)
	fillStore(t, st, n)
	return mem, hs, st
}

// writeDuringSnapshot creates the entity "late" while a snapshot of st is
// held at its first chunk, its view already taken, and returns the entity
// and the snapshot's error. markerErr, when set, fails the marker's write.
func writeDuringSnapshot(t *testing.T, hs *hookStorage, st *Store, markerErr error) (*Entity, error) {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hs.put = func(e *logical.StorageEntry) error {
		if e.Key == snapshotMarker {
			return markerErr
		}
		if strings.HasPrefix(e.Key, snapshotPrefix) {
			once.Do(func() { close(held); <-release })
		}
		return nil
	}
	defer func() { hs.put = nil }()
	done := make(chan error)
	go func() { done <- st.Snapshot(context.Background()) }()
	<-held
	late, _, err := st.UpsertEntity(context.Background(), EntityUpdate{Name: "late"})
	require.NoError(t, err)
	close(release)
	return late, <-done
}

func TestSnapshotWithAWriteDuringItLeavesThatSectionOut(t *testing.T) {
	mem, hs, st := hookedStore(t, 20)
	late, err := writeDuringSnapshot(t, hs, st, nil)
	require.NoError(t, err)

	valid := validEntries(t, mem)
	require.Len(t, valid, snapshotSections-1)
	require.NotContains(t, valid, validityKey(firstGeneration(t, mem), snapshotSection(entityKey(late.ID))))
	restarted := snapshotStore(t, mem)
	requireSource(t, restarted, LoadedFromBoth)
	require.Equal(t, digest(st), digest(restarted))
	require.NotNil(t, byID(t, restarted, late.ID), "the write during the snapshot is loaded")
}

// A write while the next snapshot is written invalidates its section in the
// snapshot the marker still names, so a start after that snapshot fails to
// complete has the write.
func TestWriteDuringAFailedSnapshotInvalidatesThePreviousOne(t *testing.T) {
	ctx := context.Background()
	mem, hs, st := hookedStore(t, 20)
	require.NoError(t, st.Snapshot(ctx))
	_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: "makes the next snapshot due"})
	require.NoError(t, err)

	late, err := writeDuringSnapshot(t, hs, st, errors.New("storage unavailable"))
	require.ErrorContains(t, err, "storage unavailable")

	restarted := snapshotStore(t, mem)
	require.Equal(t, digest(st), digest(restarted))
	require.NotNil(t, byID(t, restarted, late.ID), "the write during the failed snapshot is loaded")
}

func TestUnusableSnapshotFallsBackToObjects(t *testing.T) {
	ctx := context.Background()
	spoil := map[string]func(t *testing.T, s logical.Storage){
		"altered chunk": func(t *testing.T, s logical.Storage) {
			key := firstChunk(t, s)
			e, err := s.Get(ctx, key)
			require.NoError(t, err)
			e.Value = append([]byte(nil), e.Value...)
			e.Value[len(e.Value)/2] ^= 0xff
			require.NoError(t, s.Put(ctx, e))
		},
		"missing chunk": func(t *testing.T, s logical.Storage) {
			require.NoError(t, s.Delete(ctx, firstChunk(t, s)))
		},
		"other format": func(t *testing.T, s logical.Storage) {
			rewriteMarker(t, s, func(r *snapshotRecord) { r.Format++ })
		},
		"wrong counts": func(t *testing.T, s logical.Storage) {
			rewriteMarker(t, s, func(r *snapshotRecord) { r.Entities++ })
		},
		"no valid section": func(t *testing.T, s logical.Storage) {
			for _, k := range validEntries(t, s) {
				require.NoError(t, s.Delete(ctx, k))
			}
		},
		"marker not JSON": func(t *testing.T, s logical.Storage) {
			require.NoError(t, s.Put(ctx, &logical.StorageEntry{Key: snapshotMarker, Value: []byte("{")}))
		},
	}
	for name, f := range spoil {
		t.Run(name, func(t *testing.T) {
			s := new(logical.InmemStorage)
			st := snapshotStore(t, s)
			fillStore(t, st, 30)
			require.NoError(t, st.Snapshot(ctx))
			f(t, s)
			loaded := snapshotStore(t, s)
			requireSource(t, loaded, LoadedFromObjects)
			require.Equal(t, digest(st), digest(loaded))
			// It writes a usable one when asked.
			require.NoError(t, loaded.Snapshot(ctx))
			requireSource(t, snapshotStore(t, s), LoadedFromSnapshot)
		})
	}
}

func firstChunk(t *testing.T, s logical.Storage) string {
	t.Helper()
	return snapshotChunkKey(firstGeneration(t, s), 0)
}

// firstGeneration is the generation the marker names.
func firstGeneration(t *testing.T, s logical.Storage) string {
	t.Helper()
	var rec snapshotRecord
	found, err := openStore(testOptions{Storage: s}).storage.GetJSON(context.Background(), snapshotMarker, &rec)
	require.NoError(t, err)
	require.True(t, found)
	return rec.Generation
}

func rewriteMarker(t *testing.T, s logical.Storage, change func(*snapshotRecord)) {
	t.Helper()
	st := openStore(testOptions{Storage: s})
	var rec snapshotRecord
	_, err := st.storage.GetJSON(context.Background(), snapshotMarker, &rec)
	require.NoError(t, err)
	change(&rec)
	require.NoError(t, st.storage.PutJSON(context.Background(), snapshotMarker, rec))
}

func TestWriteFailsWhenItsSectionCannotBeInvalidated(t *testing.T) {
	ctx := context.Background()
	mem, hs, st := hookedStore(t, 10)
	require.NoError(t, st.Snapshot(ctx))
	before := storageKeys(t, mem, "")

	hs.del = func(key string) error {
		if strings.HasPrefix(key, snapshotPrefix) {
			return errors.New("storage unavailable")
		}
		return nil
	}
	_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: "refused"})
	require.ErrorContains(t, err, "storage unavailable")
	require.Equal(t, before, storageKeys(t, mem, ""), "nothing written")
	require.Nil(t, byName(t, st, "refused"))
	requireSource(t, snapshotStore(t, mem), LoadedFromSnapshot)

	hs.del = nil
	_, _, err = st.UpsertEntity(ctx, EntityUpdate{Name: "accepted"})
	require.NoError(t, err)
	restarted := snapshotStore(t, mem)
	requireSource(t, restarted, LoadedFromBoth)
	require.NotNil(t, byName(t, restarted, "accepted"))
}

// A marker that cannot be read at start is deleted by the first write, so
// that a later start cannot use it with sections the write made stale.
func TestUnreadableMarkerIsDeletedByTheFirstWrite(t *testing.T) {
	ctx := context.Background()
	mem, hs, st := hookedStore(t, 10)
	require.NoError(t, st.Snapshot(ctx))
	hs.Storage = &failingGet{Storage: mem, key: snapshotMarker}
	unlucky := snapshotStore(t, hs)
	requireSource(t, unlucky, LoadedFromObjects)
	_, _, err := unlucky.UpsertEntity(ctx, EntityUpdate{Name: "later"})
	require.NoError(t, err)
	require.NotContains(t, storageKeys(t, mem, snapshotPrefix), snapshotMarker)
	restarted := snapshotStore(t, mem)
	requireSource(t, restarted, LoadedFromObjects)
	require.Equal(t, digest(unlucky), digest(restarted))
}

// failingGet fails reads of one key.
type failingGet struct {
	logical.Storage
	key string
}

func (f *failingGet) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if key == f.key {
		return nil, errors.New("read failed")
	}
	return f.Storage.Get(ctx, key)
}

func TestSnapshotWhenDue(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: s, Now: func() time.Time { return now }, SnapshotMinObjects: 60})
	require.NoError(t, st.Load(ctx))
	list := fillStore(t, st, 30) // 30 entities, 15 aliases, 8 groups
	require.NoError(t, st.SnapshotIfDue(ctx))
	require.Empty(t, storageKeys(t, s, snapshotPrefix), "too small to need one")

	for i := range 10 {
		_, _, err := st.UpsertEntity(ctx, EntityUpdate{Name: fmt.Sprintf("more-%d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, st.SnapshotIfDue(ctx))
	require.Contains(t, storageKeys(t, s, snapshotPrefix), snapshotMarker)

	// Within the interval a changed store waits; after it, it is written.
	require.NoError(t, st.DeleteEntity(ctx, list[0].ID))
	now = now.Add(defaultSnapshotInterval - time.Second)
	require.NoError(t, st.SnapshotIfDue(ctx))
	require.Less(t, len(validEntries(t, s)), snapshotSections)
	now = now.Add(time.Second)
	require.NoError(t, st.SnapshotIfDue(ctx))
	require.Len(t, validEntries(t, s), snapshotSections)
	requireOneGeneration(t, s)
	restarted := openStore(testOptions{Storage: s})
	require.NoError(t, restarted.Load(ctx))
	requireSource(t, restarted, LoadedFromSnapshot)
	require.Equal(t, digest(st), digest(restarted))
}

func TestSnapshotOnAReadOnlyNode(t *testing.T) {
	ctx := context.Background()
	mem := new(logical.InmemStorage)
	st := snapshotStore(t, mem)
	fillStore(t, st, 10)
	readOnly := &hookStorage{Storage: mem,
		put: func(*logical.StorageEntry) error { return logical.ErrReadOnly },
		del: func(string) error { return logical.ErrReadOnly }}
	standby := snapshotStore(t, readOnly)
	require.NoError(t, standby.Snapshot(ctx))
	require.Empty(t, storageKeys(t, mem, snapshotPrefix))
}

// TestSnapshotsRaceWriters takes snapshots while writers create, change
// and delete entities, aliases and groups; after each round a start must
// load exactly what the objects hold, whatever sections stayed valid.
func TestSnapshotsRaceWriters(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := snapshotStore(t, s)
	list := fillStore(t, st, 40)
	sources := map[string]int{}
	const rounds = 100
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for i := range 1 + r.IntN(4) {
					e := list[r.IntN(len(list))]
					var err error
					switch r.IntN(4) {
					case 0:
						_, _, err = st.UpsertEntity(ctx, EntityUpdate{Name: fmt.Sprintf("r%d-w%d-%d", round, w, i)})
					case 1:
						_, _, err = st.UpsertEntity(ctx, EntityUpdate{ID: e.ID, Metadata: core.Some(map[string]string{"round": fmt.Sprint(round)})})
					case 2:
						_, _, err = st.UpsertAlias(ctx, AliasUpdate{Name: fmt.Sprintf("a%d-w%d-%d", round, w, i), MountAccessor: "auth_userpass_12345678", CanonicalID: e.ID})
					case 3:
						_, _, err = st.UpsertGroup(ctx, GroupUpdate{ByName: true, Name: fmt.Sprintf("group-%d", r.IntN(8)), AddMemberEntityIDs: []string{e.ID}})
					}
					if err != nil && !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "already") {
						t.Error(err)
					}
				}
			})
		}
		time.Sleep(time.Duration(round%10) * 20 * time.Microsecond)
		require.NoError(t, st.Snapshot(ctx))
		wg.Wait()
		loaded := snapshotStore(t, s)
		info, err := loaded.LoadInfo(ctx)
		require.NoError(t, err)
		sources[info.Source]++
		require.Equal(t, digest(loadIgnoringSnapshot(t, s)), digest(loaded), "round %d", round)
	}
	t.Logf("starts by source: %v", sources)
	require.Positive(t, sources[LoadedFromBoth], "some rounds left part of a snapshot valid")
}

// TestLoadInfoReportsTheSnapshot: LoadInfo says when the snapshot storage
// names was taken, on the node that wrote it and on one that loaded it, and
// whether a write has outdated it since; Count counts every kind.
func TestLoadInfoReportsTheSnapshot(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := snapshotStore(t, s)
	info, err := st.LoadInfo(ctx)
	require.NoError(t, err)
	require.True(t, info.LastSnapshot.IsZero(), "none yet")
	require.False(t, info.SnapshotCurrent)

	fillStore(t, st, 20)
	before := time.Now()
	require.NoError(t, st.Snapshot(ctx))
	info, err = st.LoadInfo(ctx)
	require.NoError(t, err)
	require.WithinRange(t, info.LastSnapshot, before.Add(-time.Second), time.Now())
	require.True(t, info.SnapshotCurrent)

	loaded := snapshotStore(t, s)
	again, err := loaded.LoadInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, info.LastSnapshot, again.LastSnapshot)
	require.True(t, again.SnapshotCurrent)
	require.Equal(t, st.Count(), loaded.Count())
	require.Equal(t, 20, loaded.Count().Entities)

	_, _, err = loaded.UpsertEntity(ctx, EntityUpdate{Name: "late"})
	require.NoError(t, err)
	again, err = loaded.LoadInfo(ctx)
	require.NoError(t, err)
	require.False(t, again.SnapshotCurrent, "a write outdates it")
	require.Equal(t, info.LastSnapshot, again.LastSnapshot)
}
