// Package oidc owns OIDC: signing keys, roles and the identity tokens they
// sign, and Vault as an OIDC provider (assignments, scopes, clients,
// providers, the authorization, token, userinfo, introspection,
// revocation, device and logout endpoints, and their grants). Tokens and the
// provider share the keys, so they share one package and one lock.
//
// It imports core, identity, and transfer with the dump format
// (internal/dump) for its record kinds (TransferKinds), and identity's
// lookups give the entity, its aliases and groups behind every token. The
// identity store reaches it back only through EndSignIns (back-channel
// logout), which the backend package wires.
package oidc

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// Options configures a Service.
type Options struct {
	core.Deps
	Identity *identity.Store
}

// Service holds one mount's OIDC configuration and serves its tokens.
//
// Locking: s.state.mu (core.RankOIDCConfig) guards keys, roles and the
// provider's objects: writes hold it exclusively, token issuance and reads
// share it. It comes after the stripes and the MFA configuration lock and
// before the identity index. Grants (codes, tokens, device codes) are
// written under the stripes of their keys.
type Service struct {
	storage  *core.Storage
	locks    *core.Locks
	identity *identity.Store
	logger   hclog.Logger
	now      func() time.Time
	state    *oidcState
	bc       backchannelState
	// lastSweep is when expired grants were last swept (Unix seconds).
	lastSweep atomic.Int64
}

// New returns a Service; nothing is read until Load.
func New(opts Options) *Service {
	d := opts.WithDefaults()
	return &Service{
		storage:  d.Storage,
		locks:    d.Locks,
		identity: opts.Identity,
		logger:   d.Logger,
		now:      d.Now,
		state:    newOIDCState(),
	}
}

// Load reads the configuration, keys, roles and provider objects.
func (s *Service) Load(ctx context.Context) error { return s.loadOIDC(ctx) }

// Invalidate reloads OIDC configuration written on another node, and reports
// whether the key is OIDC's.
func (s *Service) Invalidate(ctx context.Context, key string) bool {
	if !strings.HasPrefix(key, "oidc/") {
		return false
	}
	if err := s.invalidateOIDC(ctx, key); err != nil {
		s.logger.Error("failed to reload invalidated OIDC configuration", "key", key, "error", err)
	}
	return true
}

// EndSignIns ends the provider sign-ins of entities disabled, merged away or
// deleted: the clients that asked for back-channel logout are told.
func (s *Service) EndSignIns(entityIDs ...string) { s.endSignInsOf(entityIDs...) }
