package backend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// The mount's own settings, stored under a seal-wrapped prefix because they
// may hold a Vault token.
const (
	// ConfigSealWrapPrefix is the storage prefix of the mount's settings.
	ConfigSealWrapPrefix = "config/"
	configKey            = ConfigSealWrapPrefix + "mount"
	kConfig              = "config"
)

// MountConfig is the mount's settings.
type MountConfig struct {
	// CallerEntities is identity.CallerEntitiesCreate ("" reads as it) or
	// identity.CallerEntitiesMatch.
	CallerEntities string `json:"caller_entities,omitempty"`
	// VaultToken is a token that may read Vault's auth mount table; never
	// returned by any path.
	VaultToken string `json:"vault_token,omitempty"`
	// VaultTokenSetAt is when VaultToken was last written.
	VaultTokenSetAt time.Time `json:"vault_token_set_at,omitzero"`
	// AllowKeyExport lets export/keys return the OIDC private keys.
	AllowKeyExport bool `json:"allow_key_export,omitempty"`
}

// Callers returns the caller_entities setting.
func (c MountConfig) Callers() string {
	if c.CallerEntities == "" {
		return identity.CallerEntitiesCreate
	}
	return c.CallerEntities
}

// MountConfigInput is a write of the settings: what is set changes.
type MountConfigInput struct {
	CallerEntities core.Opt[string]
	// VaultToken "" removes the token.
	VaultToken     core.Opt[string]
	AllowKeyExport core.Opt[bool]
}

// configState holds the settings in memory; writes replace the whole value.
type configState struct{ cur atomic.Pointer[MountConfig] }

func (c *configState) get() MountConfig {
	if p := c.cur.Load(); p != nil {
		return *p
	}
	return MountConfig{}
}

func (s *Store) loadConfig(ctx context.Context) error {
	var c MountConfig
	if _, err := s.storage.GetJSON(ctx, configKey, &c); err != nil {
		return err
	}
	s.cfg.cur.Store(&c)
	return nil
}

// MountConfig returns the mount's settings.
func (s *Store) MountConfig(ctx context.Context) (MountConfig, error) {
	return s.cfg.get(), nil
}

// VaultToken returns the mount's Vault token, "" when none is set or the
// settings are not loaded yet. It does not wait for the load: the mount
// table asks for it on every lookup.
func (s *Store) VaultToken() string { return s.cfg.get().VaultToken }

// WriteMountConfig changes the settings; a bad value changes nothing.
func (s *Store) WriteMountConfig(ctx context.Context, in MountConfigInput) (MountConfig, error) {
	if in.CallerEntities.Set {
		switch in.CallerEntities.Val {
		case identity.CallerEntitiesCreate, identity.CallerEntitiesMatch:
		default:
			return MountConfig{}, core.UserErrorf("caller_entities must be %q or %q", identity.CallerEntitiesCreate, identity.CallerEntitiesMatch)
		}
	}
	var out MountConfig
	err := s.locks.Locked(func() []string { return []string{kConfig} }, func() error {
		c := s.cfg.get()
		if in.CallerEntities.Set {
			c.CallerEntities = in.CallerEntities.Val
		}
		if in.VaultToken.Set {
			c.VaultToken, c.VaultTokenSetAt = in.VaultToken.Val, time.Time{}
			if c.VaultToken != "" {
				c.VaultTokenSetAt = s.now().UTC()
			}
		}
		if in.AllowKeyExport.Set {
			c.AllowKeyExport = in.AllowKeyExport.Val
		}
		if err := s.storage.PutJSON(ctx, configKey, &c); err != nil {
			return err
		}
		s.cfg.cur.Store(&c)
		out = c
		return nil
	})
	return out, err
}
