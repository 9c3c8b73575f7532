package oidc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Storage of the OIDC identity token configuration. Private key material is
// kept apart, under a prefix the plugin declares seal-wrapped.
const (
	oidcConfigKey      = "oidc/config"
	oidcKeyPrefix      = "oidc/key/"
	oidcMaterialPrefix = "oidc/key-material/"
	oidcRolePrefix     = "oidc/role/"

	// SealWrapPrefix is the storage prefix holding private keys.
	SealWrapPrefix = oidcMaterialPrefix
)

// DefaultKeyName is the key that always exists and cannot be deleted.
const DefaultKeyName = "default"

// oidcState is the OIDC configuration in memory, loaded with the rest of
// the store. OIDC configuration changes rarely, so one lock guards it: writes
// (config, keys, roles, rotation) hold it exclusively, token issuance and
// reads share it.
type oidcState struct {
	mu     core.RWMutex
	issuer string
	keys   map[string]*oidcKey
	roles  map[string]*Role

	assignments map[string]*Assignment
	scopes      map[string]*Scope
	clients     map[string]*Client // by name
	clientIDs   map[string]*Client // by client_id
	providers   map[string]*Provider
	// revoked are the refresh token families revoked, with when their
	// record expires: tokens are checked against it without a storage read.
	revoked map[string]time.Time
	// nextRun is when the periodic function next has work to do.
	nextRun int64
}

type oidcConfig struct {
	Issuer string `json:"issuer"`
}

func newOIDCState() *oidcState {
	return &oidcState{
		mu:   core.RWMutex{Rank: core.RankOIDCConfig},
		keys: map[string]*oidcKey{}, roles: map[string]*Role{},
		assignments: map[string]*Assignment{}, scopes: map[string]*Scope{},
		clients: map[string]*Client{}, clientIDs: map[string]*Client{}, providers: map[string]*Provider{},
		revoked: map[string]time.Time{},
	}
}

// OIDCIssuer returns the configured issuer address ("" if unset).
func (s *Service) OIDCIssuer(ctx context.Context) (string, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.issuer, nil
}

// SetOIDCIssuer sets the issuer address; "" restores the default.
func (s *Service) SetOIDCIssuer(ctx context.Context, issuer string) error {
	if issuer != "" && !validIssuer(issuer) {
		return core.UserErrorf("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if err := s.storage.PutJSON(ctx, oidcConfigKey, oidcConfig{Issuer: issuer}); err != nil {
		return err
	}
	s.state.issuer = issuer
	return nil
}

// loadOIDC reads the OIDC configuration, keys and roles, and makes sure the
// default key exists.
func (s *Service) loadOIDC(ctx context.Context) error {
	var c oidcConfig
	if _, err := s.storage.GetJSON(ctx, oidcConfigKey, &c); err != nil {
		return err
	}
	st := newOIDCState()
	st.issuer = c.Issuer
	names, err := s.storage.List(ctx, oidcKeyPrefix)
	if err != nil {
		return fmt.Errorf("failed to list OIDC keys: %w", err)
	}
	for _, name := range names {
		k, err := s.readKey(ctx, name)
		if err != nil {
			return err
		}
		if k != nil {
			st.keys[name] = k
		}
	}
	if err := core.LoadPrefix(ctx, s.storage, oidcRolePrefix, func(name string, r *Role) { st.roles[name] = r }); err != nil {
		return err
	}
	if st.keys[DefaultKeyName] == nil {
		k := defaultKey()
		if err := s.putDefault(ctx, oidcKeyPrefix+DefaultKeyName, k.NamedKey); err != nil {
			return err
		}
		st.keys[DefaultKeyName] = k
	}
	if err := s.loadProvider(ctx, st); err != nil {
		return err
	}
	s.state = st
	return nil
}

// putDefault stores a built-in object made at load. A node that cannot
// write (a standby or secondary) keeps it in memory only; the active node
// stores it.
func (s *Service) putDefault(ctx context.Context, key string, v any) error {
	if err := s.storage.PutJSON(ctx, key, v); err != nil && !errors.Is(err, logical.ErrReadOnly) {
		return err
	}
	return nil
}

// invalidateOIDC reloads the OIDC object behind a changed storage key.
func (s *Service) invalidateOIDC(ctx context.Context, key string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if id, ok := strings.CutPrefix(key, familyPrefix); ok {
		var g grant
		found, err := s.storage.GetJSON(ctx, key, &g)
		if found {
			s.state.revoked[id] = g.ExpireAt
		} else if err == nil {
			delete(s.state.revoked, id)
		}
		return err
	}
	if isGrantKey(key) {
		return nil // codes and tokens are read from storage on use
	}
	if ok, err := s.invalidateProvider(ctx, key); ok {
		return err
	}
	switch {
	case key == oidcConfigKey:
		var c oidcConfig
		if _, err := s.storage.GetJSON(ctx, oidcConfigKey, &c); err != nil {
			return err
		}
		s.state.issuer = c.Issuer
	case strings.HasPrefix(key, oidcKeyPrefix), strings.HasPrefix(key, oidcMaterialPrefix):
		name := strings.TrimPrefix(strings.TrimPrefix(key, oidcKeyPrefix), oidcMaterialPrefix)
		k, err := s.readKey(ctx, name)
		if err != nil {
			return err
		}
		if k == nil {
			delete(s.state.keys, name)
		} else {
			s.state.keys[name] = k
		}
	case strings.HasPrefix(key, oidcRolePrefix):
		name := strings.TrimPrefix(key, oidcRolePrefix)
		r := new(Role)
		found, err := s.storage.GetJSON(ctx, key, r)
		if err != nil {
			return err
		}
		if found {
			s.state.roles[name] = r
		} else {
			delete(s.state.roles, name)
		}
	}
	s.state.nextRun = 0
	return nil
}
