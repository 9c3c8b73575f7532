package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/base62"
	"github.com/hashicorp/vault/sdk/helper/identitytpl"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// ReservedClaims are the claims a template cannot set, in Vault's order.
var ReservedClaims = []string{"iat", "aud", "exp", "iss", "sub", "namespace", "nonce", "auth_time", "at_hash", "c_hash"}

// Role says how identity tokens are made: with which key, for which client
// id, for how long, and with which extra claims. Stored under
// oidc/role/<name>.
type Role struct {
	Name     string        `json:"name"`
	Key      string        `json:"key"`
	Template string        `json:"template"`
	TTL      time.Duration `json:"ttl"`
	ClientID string        `json:"client_id"`
	// Audiences, not in Vault, are extra audiences of the role's tokens
	// (see tokenAudience); none keeps aud the client id alone.
	Audiences []string `json:"audiences,omitempty"`
}

// RoleUpdate is a write to a role. On create, fields not Set take their
// defaults (ttl 24h, a generated client id); on update they keep their value.
type RoleUpdate struct {
	Key       core.Opt[string]
	Template  core.Opt[string]
	TTL       core.Opt[time.Duration]
	ClientID  core.Opt[string]
	Audiences core.Opt[[]string]
}

// RoleExists reports whether the role exists.
func (s *Service) RoleExists(ctx context.Context, name string) (bool, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.roles[name] != nil, nil
}

// WriteRole creates or updates a role with Vault's rules.
func (s *Service) WriteRole(ctx context.Context, name string, u RoleUpdate) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	r := &Role{Name: name, TTL: 24 * time.Hour}
	if cur := s.state.roles[name]; cur != nil {
		c := *cur
		r = &c
	}
	if u.Key.Set {
		r.Key = u.Key.Val
	}
	if r.Key == "" {
		return core.UserErrorf("the key parameter is required")
	}
	if u.Template.Set {
		r.Template = decodeTemplate(u.Template.Val)
	}
	if err := validateTemplate(r.Template); err != nil {
		return err
	}
	if u.TTL.Set {
		r.TTL = u.TTL.Val
	}
	key := s.state.keys[r.Key]
	if key == nil {
		return core.UserErrorf("cannot find key %q", r.Key)
	}
	if r.TTL > key.VerificationTTL {
		return core.UserErrorf("a role's token ttl cannot be longer than the verification_ttl of the key it references")
	}
	if u.ClientID.Set {
		r.ClientID = u.ClientID.Val
	}
	if u.Audiences.Set {
		auds, err := validateAudiences(u.Audiences.Val)
		if err != nil {
			return err
		}
		r.Audiences = auds
	}
	if r.ClientID == "" {
		id, err := base62.Random(26)
		if err != nil {
			return err
		}
		r.ClientID = id
	}
	// A key gets its material when first used, as the default key does.
	if key.SigningKeyID == "" {
		if err := s.materialize(ctx, key); err != nil {
			return err
		}
	}
	if err := s.storage.PutJSON(ctx, oidcRolePrefix+name, r); err != nil {
		return err
	}
	s.state.roles[name] = r
	s.state.nextRun = 0
	return nil
}

// decodeTemplate takes, like Vault, any template that decodes as base64 as
// its decoding.
func decodeTemplate(tpl string) string {
	if decoded, err := base64.StdEncoding.DecodeString(tpl); err == nil {
		return string(decoded)
	}
	return tpl
}

// templateKeys returns the claims a valid template gives an empty entity.
func templateKeys(tpl string) map[string]any {
	claims, _ := renderEmpty(tpl)
	return claims
}

// validateTemplate renders the template for an empty entity without groups,
// as Vault does when a role is written: it must give a JSON object without
// reserved claims.
func validateTemplate(tpl string) error {
	claims, err := renderEmpty(tpl)
	if err != nil {
		return err
	}
	for k := range claims {
		if isReserved(k) {
			return core.UserErrorf("top level key %q not allowed. Restricted keys: %s", k, strings.Join(ReservedClaims, ", "))
		}
	}
	return nil
}

func renderEmpty(tpl string) (map[string]any, error) {
	if tpl == "" {
		return nil, nil
	}
	_, out, err := identitytpl.PopulateString(identitytpl.PopulateStringInput{
		Mode:   identitytpl.JSONTemplating,
		String: tpl,
		Entity: new(logical.Entity),
		Groups: []*logical.Group{},
	})
	if err != nil {
		return nil, core.UserErrorf("error parsing template: %s", err.Error())
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		return nil, core.UserErrorf("error parsing template JSON: %s", err.Error())
	}
	return claims, nil
}

func isReserved(claim string) bool { return slices.Contains(ReservedClaims, claim) }

// OIDCRole returns the role, or nil.
func (s *Service) OIDCRole(ctx context.Context, name string) (*Role, error) {
	return core.Copied(&s.state.mu, func() *Role { return s.state.roles[name] }), nil
}

// OIDCRoleNames returns the names of all roles, sorted.
func (s *Service) OIDCRoleNames(ctx context.Context) ([]string, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return core.SortedKeys(s.state.roles), nil
}

// DeleteOIDCRole deletes a role; an unknown role is not an error.
func (s *Service) DeleteOIDCRole(ctx context.Context, name string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if err := s.storage.Remove(ctx, oidcRolePrefix+name); err != nil {
		return err
	}
	delete(s.state.roles, name)
	return nil
}
