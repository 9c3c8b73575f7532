// Package backend is the identity engine of one mount, built from its parts:
// the identity store (package identity), MFA (package mfa) and OIDC (package
// oidc), over the shared storage and locks of package core. It builds and
// wires them, gathers their record kinds into the import and export engine
// (package transfer, records of internal/dump), loads them once (Ready),
// routes Vault's invalidations and runs the periodic work, and owns the
// mount's own settings (caller_entities, the Vault token) and the storage
// schema version. It knows nothing of HTTP or of the plugin framework; the
// paths package adapts requests to the parts.
package backend

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
)

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
	// SnapshotInterval and SnapshotMinObjects: see identity.Options.
	SnapshotInterval   time.Duration
	SnapshotMinObjects int
	// Mounts is Vault's auth mount table, against which mount accessors
	// are checked; nil, or while it cannot be read, they are checked by
	// form.
	Mounts identity.MountTable
}

// SealWrapPrefixes are the storage prefixes that hold secrets (private keys,
// MFA secrets, client secrets, the mount's Vault token), which the plugin
// asks Vault to seal-wrap.
var SealWrapPrefixes = []string{oidc.SealWrapPrefix, mfa.MFASealWrapPrefix, oidc.ClientSealWrapPrefix, ConfigSealWrapPrefix}

// Store is one mount's engine: its parts, and the import and export of all
// of them (package transfer).
//
// Lock order, for every part (core.Rank): the stripes first (all of an
// operation's at once, through core.Locks.Locked), then the MFA
// configuration lock, then the OIDC configuration lock, then the leaves:
// the snapshot state and the identity index. Builds with the lockcheck tag
// panic when an operation takes them out of this order.
type Store struct {
	storage *core.Storage
	locks   *core.Locks
	logger  hclog.Logger
	now     func() time.Time

	identity *identity.Store
	mfa      *mfa.Service
	oidc     *oidc.Service
	transfer *transfer.Engine
	cfg      configState

	loadMu core.RWMutex
	loaded atomic.Bool
}

// New builds a mount's engine over opts.Storage. Nothing is read until Load.
func New(opts Options) *Store {
	if opts.LoadWorkers <= 0 {
		// Each read is a round trip to Vault: keep many in flight.
		opts.LoadWorkers = 32 * runtime.GOMAXPROCS(0)
	}
	d := core.Deps{
		Storage: &core.Storage{Storage: opts.Storage, Workers: opts.LoadWorkers},
		Locks:   core.NewLocks(),
		Logger:  opts.Logger,
		Now:     opts.Now,
	}.WithDefaults()
	s := &Store{
		storage: d.Storage,
		locks:   d.Locks,
		logger:  d.Logger,
		now:     d.Now,
		loadMu:  core.RWMutex{Rank: core.RankLoad},
	}
	s.identity = identity.New(identity.Options{
		Deps:             d,
		SnapshotInterval: opts.SnapshotInterval, SnapshotMinObjects: opts.SnapshotMinObjects,
		Mounts:  opts.Mounts,
		Callers: func() string { return s.cfg.get().Callers() },
	})
	s.mfa = mfa.New(mfa.Options{Deps: d, Identity: s.identity, HTTPClient: opts.HTTPClient, PollInterval: opts.MFAPollInterval})
	s.oidc = oidc.New(oidc.Options{Deps: d, Identity: s.identity})
	s.identity.SetHooks(identity.Hooks{Secrets: s.mfa.EntitySecrets(), SignInsEnd: s.oidc.EndSignIns})
	s.transfer = s.newTransfer(opts.LoadWorkers)
	return s
}

// Identity is the mount's identity store.
func (s *Store) Identity() *identity.Store { return s.identity }

// MFA is the mount's MFA.
func (s *Store) MFA() *mfa.Service { return s.mfa }

// OIDC is the mount's OIDC keys, roles, tokens and provider.
func (s *Store) OIDC() *oidc.Service { return s.oidc }

// Ready loads the store if it is not loaded yet: every request passes it
// before it reaches a part (the paths package checks it once per request),
// in case a request arrives before the load Vault's Initialize starts has
// ended. The load upgrades the storage schema if needed, then builds each
// part from storage; it runs once, and a failed load is tried again by the
// next request.
func (s *Store) Ready(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	if err := s.upgradeSchema(ctx); err != nil {
		return err
	}
	for _, load := range []func(context.Context) error{s.identity.Load, s.oidc.Load, s.mfa.Load, s.loadConfig} {
		if err := load(ctx); err != nil {
			return err
		}
	}
	s.loaded.Store(true)
	return nil
}

// Invalidate brings the in-memory view of one storage key up to date. Vault
// calls it on nodes that did not make the write themselves.
func (s *Store) Invalidate(ctx context.Context, key string) {
	if !s.loaded.Load() {
		return // the load will read the current value
	}
	if key == configKey {
		if err := s.loadConfig(ctx); err != nil {
			s.logger.Error("failed to reload invalidated mount settings", "error", err)
		}
		return
	}
	_ = s.mfa.Invalidate(ctx, key) || s.oidc.Invalidate(ctx, key) || s.identity.Invalidate(ctx, key)
}

// Periodic is the mount's periodic work: key rotation and expiry, the sweep
// of expired grants, and the load snapshot when one is due.
func (s *Store) Periodic(ctx context.Context) error {
	if !s.loaded.Load() {
		return nil
	}
	return errors.Join(s.oidc.RunPeriodic(ctx), s.oidc.SweepGrants(ctx), s.identity.SnapshotIfDue(ctx))
}

// Snapshot writes a load snapshot if one would help the next start.
func (s *Store) Snapshot(ctx context.Context) error { return s.identity.Snapshot(ctx) }

// Close ends the store's background work.
func (s *Store) Close() { s.oidc.Close() }
