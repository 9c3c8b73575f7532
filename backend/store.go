// Package backend is the identity store: its objects, their storage and the
// in-memory indexes that answer lookups. It knows nothing of HTTP or of the
// plugin framework; the paths package adapts requests to it.
package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

// NamespaceID is the namespace every object belongs to. A plugin mount lives
// in one namespace and sees only its own storage, so ids are those of the
// root namespace, as on Vault Community Edition.
const NamespaceID = "root"

// Options configures a Store.
type Options struct {
	// Storage is the mount's storage. It is the source of truth: every
	// acknowledged write is in it before the call returns.
	Storage logical.Storage
	Logger  hclog.Logger
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
	// LoadWorkers is how many storage reads run at once while loading.
	LoadWorkers int
	// HTTPClient reaches the MFA providers (Duo, Okta, PingID).
	HTTPClient *http.Client
	// MFAPollInterval is how often a pending push is polled (Okta).
	MFAPollInterval time.Duration
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
}

// Store holds one mount's identity data.
//
// Locking: every read-modify-write takes striped write locks (see lockKeys)
// on all the objects and names it may change, acquired together in stripe
// order, so no two operations can deadlock. Having locked, an operation checks
// that what it looked up before locking is unchanged, and starts again if not.
// Objects in the indexes are never modified in place: a write stores a new
// copy and swaps it in, so readers need no object locks.
//
// Lock order, for the whole store: the stripes first (all of an operation's
// at once, through s.locked, in ascending stripe order), then s.mfa.mu, then
// s.oidc.mu, then the index lock (s.idx) innermost. A lock may be taken
// while holding only locks earlier in this order: nobody takes a stripe
// while holding s.mfa.mu, s.oidc.mu or the index lock, nor s.mfa.mu while
// holding s.oidc.mu or the index lock, nor s.oidc.mu while holding the
// index lock. s.mfa.mu and s.oidc.mu are RWMutexes that must not be taken
// twice by one operation (a waiting writer would deadlock the second read).
// Every write of an entity's MFA secret holds its stripes and s.mfa.mu for
// reading (lockedSecret, withMFAConfig) and checks under them that its
// method still exists; DeleteMFAMethod holds s.mfa.mu for writing while it
// deletes a method and all its secrets.
type Store struct {
	storage logical.Storage
	logger  hclog.Logger
	now     func() time.Time
	workers int
	locks   *stripes

	loadMu sync.Mutex
	loaded atomic.Bool

	idx    *index
	mounts *mounts
	oidc   *oidcState
	mfa    *mfaState
	cfg    configState
	snap   snapshotState
	bc     backchannelState
	// loadInfo is how Load built the indexes; set before loaded.
	loadInfo LoadInfo

	httpClient   *http.Client
	pollInterval time.Duration
	// lastSweep is when expired OIDC grants were last swept (Unix seconds).
	lastSweep atomic.Int64
}

// refuseRedirects keeps the MFA providers' answers as they are: their APIs
// do not redirect, and following one would send the method's credentials
// (Go's client keeps the Authorization header for the same host name, even on
// another port or over plain http) wherever the answer points.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// New returns a Store over opts.Storage. Nothing is read until Load.
func New(opts Options) *Store {
	s := &Store{
		storage: opts.Storage,
		logger:  opts.Logger,
		now:     opts.Now,
		workers: opts.LoadWorkers,
		locks:   newStripes(),
		idx:     newIndex(),
		mounts:  &mounts{table: opts.Mounts},
		oidc:    newOIDCState(),
		mfa:     newMFAState(),

		httpClient:   opts.HTTPClient,
		pollInterval: opts.MFAPollInterval,
	}
	s.idx.mounts = s.mounts
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
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: 90 * time.Second, CheckRedirect: refuseRedirects}
	}
	if s.pollInterval <= 0 {
		s.pollInterval = time.Second
	}
	if s.logger == nil {
		s.logger = hclog.NewNullLogger()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.workers <= 0 {
		// Each read is a round trip to Vault: keep many in flight.
		s.workers = 32 * runtime.GOMAXPROCS(0)
	}
	return s
}

// Load upgrades the storage schema if needed and builds the in-memory indexes
// from storage. It runs once; later calls return at once.
func (s *Store) Load(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	start := time.Now()
	if err := s.upgradeSchema(ctx); err != nil {
		return err
	}
	source, err := s.loadAll(ctx)
	if err != nil {
		return err
	}
	if err := s.loadOIDC(ctx); err != nil {
		return err
	}
	if err := s.loadMFA(ctx); err != nil {
		return err
	}
	if err := s.loadConfig(ctx); err != nil {
		return err
	}
	s.loadInfo = LoadInfo{Source: source, Duration: time.Since(start)}
	s.loaded.Store(true)
	var entities, aliases, groups int
	s.idx.read(func() { entities, aliases, groups = len(s.idx.entities), len(s.idx.aliases), len(s.idx.groups) })
	s.logger.Info("identity store loaded", "entities", entities, "aliases", aliases, "groups", groups, "from", source, "duration", s.loadInfo.Duration)
	return nil
}

// ready makes sure the indexes are loaded before a request is served, in case
// a request arrives before the framework's Initialize call.
func (s *Store) ready(ctx context.Context) error { return s.Load(ctx) }

// Invalidate brings the in-memory view of one storage key up to date. Vault
// calls it on nodes that did not make the write themselves.
func (s *Store) Invalidate(ctx context.Context, key string) {
	if !s.loaded.Load() {
		return // Load will read the current value
	}
	if strings.HasPrefix(key, mfaMethodPrefix) || strings.HasPrefix(key, mfaEnforcementPrefix) {
		if err := s.invalidateMFA(ctx, key); err != nil {
			s.logger.Error("failed to reload invalidated MFA configuration", "key", key, "error", err)
		}
		return
	}
	if key == configKey {
		if err := s.loadConfig(ctx); err != nil {
			s.logger.Error("failed to reload invalidated mount settings", "error", err)
		}
		return
	}
	if strings.HasPrefix(key, "oidc/") {
		if err := s.invalidateOIDC(ctx, key); err != nil {
			s.logger.Error("failed to reload invalidated OIDC configuration", "key", key, "error", err)
		}
		return
	}
	for _, kind := range storedKinds {
		if id, ok := strings.CutPrefix(key, kind.prefix); ok {
			if err := s.reload(ctx, kind, id); err != nil {
				s.logger.Error("failed to reload invalidated object", "key", key, "error", err)
			}
			return
		}
	}
}

// locked runs apply while holding the write locks of every key plan names.
//
// This is the one way writes lock, and so the documented lock order: plan
// runs without locks and returns the lock keys of every object and name the
// write may read or change (see the k* functions); their stripes are locked
// all at once in ascending stripe order, so no two writes can deadlock. plan
// then runs again under the locks; if the objects moved in between and it now
// names a stripe not held, everything is released and the attempt repeats
// with both sets. apply must look objects up afresh, under the locks. A plan
// names the key of every lookup it makes, found or not: a name that is free
// must stay free until apply has run.
func (s *Store) locked(plan func() []string, apply func() error) error {
	held := s.locks.set(plan())
	for {
		s.locks.lock(held)
		again := s.locks.set(plan())
		covered := held.covers(again)
		var err error
		if covered {
			err = apply()
		}
		s.locks.unlock(held)
		if covered {
			return err
		}
		for w := range held {
			held[w] |= again[w]
		}
	}
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

// kHierarchy is taken by every write that adds a parent-child edge between
// groups, so that two such writes cannot together close a cycle that each
// alone would not.
const kHierarchy = "group-hierarchy"

func (s *Store) delete(ctx context.Context, key string) error {
	if indexedKey(key) {
		if err := s.invalidateSnapshotSection(ctx, key); err != nil {
			return err
		}
	}
	if err := s.storage.Delete(ctx, key); err != nil {
		return fmt.Errorf("failed to delete %q: %w", key, err)
	}
	return nil
}

func (s *Store) putJSON(ctx context.Context, key string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("failed to encode %q: %w", key, err)
	}
	if indexedKey(key) {
		if err := s.invalidateSnapshotSection(ctx, key); err != nil {
			return err
		}
	}
	if err := s.storage.Put(ctx, entry); err != nil {
		return fmt.Errorf("failed to write %q: %w", key, err)
	}
	return nil
}

// getJSON reads key into v and reports whether it existed.
func (s *Store) getJSON(ctx context.Context, key string, v any) (bool, error) {
	entry, err := s.storage.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("failed to read %q: %w", key, err)
	}
	if entry == nil {
		return false, nil
	}
	if err := json.Unmarshal(entry.Value, v); err != nil {
		return false, fmt.Errorf("failed to decode %q: %w", key, err)
	}
	return true, nil
}

// loadPrefix reads every entry under prefix with s.workers concurrent reads and
// hands each one, decoded into a new T, to add with its name (the key
// without prefix). add is called by one goroutine at a time.
func loadPrefix[T any](ctx context.Context, s *Store, prefix string, add func(name string, v *T)) error {
	return loadPrefixWhere(ctx, s, prefix, nil, add)
}

// loadPrefixWhere is loadPrefix for the keys want accepts (all when nil).
func loadPrefixWhere[T any](ctx context.Context, s *Store, prefix string, want func(key string) bool, add func(name string, v *T)) error {
	keys, err := s.storage.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("failed to list %q: %w", prefix, err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers)
	var mu sync.Mutex
	for _, k := range keys {
		if strings.HasSuffix(k, "/") || want != nil && !want(prefix+k) {
			continue
		}
		g.Go(func() error {
			v := new(T)
			found, err := s.getJSON(ctx, prefix+k, v)
			if err != nil || !found {
				return err
			}
			mu.Lock()
			add(k, v)
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}
