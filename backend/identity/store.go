// Package identity owns entities, entity aliases, groups and group aliases:
// their storage, the in-memory indexes that answer lookups and lists, merge,
// the load at start-up and its snapshot, the auth mount table aliases point
// at, and the entities made for callers on first use.
//
// It imports core, and transfer with the dump format (internal/dump) for its
// record kinds (TransferKinds: the import and export of entities, aliases,
// groups and group aliases with their ids). What it needs of the other parts
// it reaches through Hooks, which the backend package wires: the MFA secrets
// that belong to an entity (held still, moved by a merge, deleted with it)
// and the provider sign-ins that end when an entity is disabled, merged away
// or deleted. The MFA and OIDC packages read it through the exported
// lookups.
package identity

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Options configures a Store.
type Options struct {
	core.Deps
	// SnapshotInterval is the least time between two load snapshots written
	// by the periodic function (5 minutes when zero); SnapshotMinObjects the
	// least number of entities, aliases and groups for which one is written
	// (1,000 when zero; any number when negative).
	SnapshotInterval   time.Duration
	SnapshotMinObjects int
	// Mounts is Vault's auth mount table, against which mount accessors
	// are checked; nil, or while it cannot be read, they are checked by
	// form.
	Mounts MountTable
	// Callers returns the mount's caller_entities setting (create when nil,
	// as an unset setting reads).
	Callers func() string
}

// SecretKeeper is what the identity store needs of MFA: the secrets an entity
// has for MFA methods follow it through merges and deletes. Every method is
// called with the stripes of the entities concerned held.
type SecretKeeper interface {
	// Hold runs f while no MFA method can be written or deleted (the MFA
	// configuration lock, for reading: it comes after the stripes).
	Hold(f func() error) error
	// PlanMerge checks the secrets of the from entities against those of
	// to, refusing the merge as Vault does where both have one for a method
	// (unless force), and returns what moves them to to. Inside Hold.
	PlanMerge(ctx context.Context, to string, from []string, force bool) (func(context.Context) error, error)
	// DeleteOf deletes every secret of the entity. Inside Hold.
	DeleteOf(ctx context.Context, entityID string) error
}

// Hooks are how the identity store reaches the parts built on it.
type Hooks struct {
	Secrets SecretKeeper
	// SignInsEnd is told of entities disabled, merged away or deleted.
	SignInsEnd func(entityIDs ...string)
}

// noSecrets keeps no secrets: the identity store alone, in tests.
type noSecrets struct{}

func (noSecrets) Hold(f func() error) error { return f() }
func (noSecrets) PlanMerge(context.Context, string, []string, bool) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}
func (noSecrets) DeleteOf(context.Context, string) error { return nil }

// Store holds one mount's entities, aliases and groups.
//
// Locking: every read-modify-write takes striped write locks (see lock
// keys below) on all the objects and names it may change, through
// core.Locks.Locked. Having locked, an operation checks that what it looked
// up before locking is unchanged, and starts again if not. Objects in the
// index are never modified in place: a write stores a new copy and swaps it
// in, so readers need no object locks. The index lock is a leaf of the lock
// order (core.Rank).
type Store struct {
	storage *core.Storage
	locks   *core.Locks
	logger  hclog.Logger
	now     func() time.Time
	callers func() string
	hooks   Hooks

	idx    *index
	mounts *mounts
	snap   snapshotState
	// loadInfo is how Load built the indexes; set before loaded.
	loadInfo LoadInfo
	loaded   atomic.Bool
}

// New returns a Store; nothing is read until Load. It installs the snapshot
// invalidation as opts.Storage's write hook.
func New(opts Options) *Store {
	d := opts.WithDefaults()
	s := &Store{
		storage: d.Storage,
		locks:   d.Locks,
		logger:  d.Logger,
		now:     d.Now,
		callers: opts.Callers,
		hooks:   Hooks{Secrets: noSecrets{}, SignInsEnd: func(...string) {}},
		idx:     newIndex(),
		mounts:  &mounts{table: opts.Mounts},
	}
	s.idx.mounts = s.mounts
	s.snap.mu.Rank, s.snap.running.Rank = core.RankSnapshot, core.RankSnapshotRun
	s.snap.interval, s.snap.minObjects = opts.SnapshotInterval, opts.SnapshotMinObjects
	if s.snap.interval <= 0 {
		s.snap.interval = defaultSnapshotInterval
	}
	if s.snap.minObjects == 0 {
		s.snap.minObjects = defaultSnapshotMinObjects
	}
	for i := range s.snap.armed {
		s.snap.armed[i].Store(true)
	}
	if s.callers == nil {
		s.callers = func() string { return CallerEntitiesCreate }
	}
	s.storage.BeforeWrite = func(ctx context.Context, key string) error {
		if !indexedKey(key) {
			return nil
		}
		return s.invalidateSnapshotSection(ctx, key)
	}
	return s
}

// SetHooks connects the store to the parts built on it.
func (s *Store) SetHooks(h Hooks) {
	if h.Secrets != nil {
		s.hooks.Secrets = h.Secrets
	}
	if h.SignInsEnd != nil {
		s.hooks.SignInsEnd = h.SignInsEnd
	}
}

// Load builds the indexes from storage and logs what it found.
func (s *Store) Load(ctx context.Context) error {
	start := time.Now()
	source, err := s.loadAll(ctx)
	if err != nil {
		return err
	}
	s.loadInfo = LoadInfo{Source: source, Duration: time.Since(start)}
	s.loaded.Store(true)
	var entities, aliases, groups int
	s.idx.read(func() { entities, aliases, groups = len(s.idx.entities), len(s.idx.aliases), len(s.idx.groups) })
	s.logger.Info("identity store loaded", "entities", entities, "aliases", aliases, "groups", groups, "from", source, "duration", s.loadInfo.Duration)
	return nil
}

// Invalidate brings the index up to date with one storage key written on
// another node, and reports whether the key is the identity store's.
func (s *Store) Invalidate(ctx context.Context, key string) bool {
	for _, kind := range storedKinds {
		if id, ok := strings.CutPrefix(key, kind.prefix); ok {
			if err := s.reload(ctx, kind, id); err != nil {
				s.logger.Error("failed to reload invalidated object", "key", key, "error", err)
			}
			return true
		}
	}
	return false
}

// Lock keys. Entity and group names, and alias factors, are locked in their
// case-insensitive form, so two spellings of a name share a lock.
func kEntity(id string) string                   { return "entity/" + id }
func kEntityName(name string) string             { return "entity-name/" + strings.ToLower(name) }
func kAlias(id string) string                    { return "alias/" + id }
func kAliasFactors(accessor, name string) string { return "alias-factors/" + factorKey(accessor, name) }
func kGroup(id string) string                    { return "group/" + id }
func kGroupName(name string) string              { return "group-name/" + strings.ToLower(name) }
func kGroupAliasFactors(accessor, name string) string {
	return "group-alias-factors/" + factorKey(accessor, name)
}

// EntityLockKey is the lock key of an entity, which every write of its MFA
// secrets takes with the secret's own.
func EntityLockKey(id string) string { return kEntity(id) }

// kHierarchy is taken by every write that adds a parent-child edge between
// groups, so that two such writes cannot together close a cycle that each
// alone would not.
const kHierarchy = "group-hierarchy"
