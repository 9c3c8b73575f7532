// Package mfa owns MFA: methods (TOTP, Duo, Okta, PingID), login
// enforcements, the secrets and attempt state entities have for them,
// validation and the push providers' clients.
//
// It imports core, identity, and transfer with the dump format
// (internal/dump) for its record kinds (TransferKinds: methods, enforcements
// and secrets). It reads entities and their groups through the identity
// store's lookups and takes an entity's lock key with a secret's. The
// identity store reaches it back only through the identity.SecretKeeper that
// EntitySecrets returns, which the backend package wires.
package mfa

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// Options configures a Service.
type Options struct {
	core.Deps
	Identity *identity.Store
	// HTTPClient reaches the MFA providers (Duo, Okta, PingID).
	HTTPClient *http.Client
	// PollInterval is how often a pending push is polled (Okta).
	PollInterval time.Duration
}

// Service holds one mount's MFA configuration and reaches its secrets.
//
// Locking: s.state.mu (core.RankMFAConfig) guards the methods and
// enforcements; it comes after the stripes and before the OIDC lock and the
// index. Every write of an entity's secret holds its stripes and s.state.mu
// for reading (lockedSecret) and checks under them that its method still
// exists; DeleteMFAMethod holds s.state.mu for writing while it deletes a
// method and all its secrets.
type Service struct {
	storage  *core.Storage
	locks    *core.Locks
	identity *identity.Store
	logger   hclog.Logger
	now      func() time.Time
	state    *mfaState

	httpClient   *http.Client
	pollInterval time.Duration
}

// New returns a Service; nothing is read until Load.
func New(opts Options) *Service {
	d := opts.WithDefaults()
	s := &Service{
		storage:      d.Storage,
		locks:        d.Locks,
		identity:     opts.Identity,
		logger:       d.Logger,
		now:          d.Now,
		state:        newMFAState(),
		httpClient:   opts.HTTPClient,
		pollInterval: opts.PollInterval,
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: 90 * time.Second, CheckRedirect: core.RefuseRedirects}
	}
	if s.pollInterval <= 0 {
		s.pollInterval = time.Second
	}
	return s
}

// Load reads the methods and enforcements.
func (s *Service) Load(ctx context.Context) error { return s.loadMFA(ctx) }

// Invalidate reloads a method or enforcement written on another node, and
// reports whether the key is MFA's configuration.
func (s *Service) Invalidate(ctx context.Context, key string) bool {
	if !strings.HasPrefix(key, mfaMethodPrefix) && !strings.HasPrefix(key, mfaEnforcementPrefix) {
		return false
	}
	if err := s.invalidateMFA(ctx, key); err != nil {
		s.logger.Error("failed to reload invalidated MFA configuration", "key", key, "error", err)
	}
	return true
}
