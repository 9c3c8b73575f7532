package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/sdk/helper/identitytpl"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// ErrNoIssuer is returned when no address is known to build the issuer from.
var ErrNoIssuer = &core.Error{Status: 400, Msg: `no issuer is configured for identity tokens: set one with "vault write <mount>/oidc/config issuer=https://vault.example.com:8200", or register the plugin with -env=VAULT_API_ADDR=<Vault's address>`}

// TokenRequest asks for an identity token from a role. Caller resolves the
// calling entity; it runs only after the role and key checks, as in Vault.
type TokenRequest struct {
	Role   string
	Issuer string
	Caller func() (*identity.EntityView, error)
}

// IdentityToken is a signed token and what Vault reports with it.
type IdentityToken struct {
	Token    string
	ClientID string
	TTL      time.Duration // the role's ttl
	Warning  string        // set when the key's verification_ttl capped the ttl
}

// IssueToken signs an identity token for the caller's entity.
func (s *Service) IssueToken(ctx context.Context, req TokenRequest) (*IdentityToken, error) {
	s.state.mu.RLock()
	role, key := s.state.roles[req.Role], (*oidcKey)(nil)
	if role != nil {
		key = s.state.keys[role.Key]
	}
	s.state.mu.RUnlock()
	switch {
	case role == nil:
		return nil, core.UserErrorf("role %q not found", req.Role)
	case key == nil:
		return nil, core.UserErrorf("key %q not found", role.Key)
	case !key.allows(role.ClientID):
		return nil, core.UserErrorf("the key %q does not list the client ID of the role %q as an allowed client ID", role.Key, req.Role)
	}
	entity, err := req.Caller()
	if err != nil {
		return nil, err
	}
	if req.Issuer == "" {
		return nil, ErrNoIssuer
	}
	out := &IdentityToken{ClientID: role.ClientID, TTL: role.TTL}
	ttl := role.TTL
	if ttl > key.VerificationTTL {
		ttl = key.VerificationTTL
		out.Warning = fmt.Sprintf("a role's token ttl cannot be longer than the verification_ttl of the key it references, setting token ttl to %d", ttl)
	}
	now := s.now()
	claims := map[string]any{
		"iss":       req.Issuer,
		"namespace": core.NamespaceID,
		"sub":       entity.ID,
		"aud":       tokenAudience(role),
		"exp":       now.Add(ttl).Unix(),
		"iat":       now.Unix(),
	}
	s.mergeTemplate(claims, role.Template, entity, now)
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	if out.Token, err = key.sign(payload); err != nil {
		return nil, fmt.Errorf("error signing OIDC token: %w", err)
	}
	return out, nil
}

// mergeTemplate renders the role template for the entity and adds its
// top-level claims, except reserved ones. As in Vault, a template that
// fails at run time is logged and the token keeps its base claims.
func (s *Service) mergeTemplate(claims map[string]any, tpl string, v *identity.EntityView, now time.Time) {
	s.mergeTemplateFiltered(claims, tpl, v, nil, now)
}

// mergeTemplateFiltered is mergeTemplate for a template that sees only the
// groups groupFilter keeps (all when empty): see filterGroups.
func (s *Service) mergeTemplateFiltered(claims map[string]any, tpl string, v *identity.EntityView, groupFilter []string, now time.Time) {
	if tpl == "" {
		return
	}
	entity, groups := s.identity.TemplateInput(v)
	groups = filterGroups(groupFilter, groups)
	_, out, err := identitytpl.PopulateString(identitytpl.PopulateStringInput{
		Mode:        identitytpl.JSONTemplating,
		String:      tpl,
		Entity:      entity,
		Groups:      groups,
		NamespaceID: core.NamespaceID,
		Now:         now,
	})
	if err != nil {
		s.logger.Warn("error populating OIDC token template", "error", err)
	}
	var extra map[string]any
	if err := json.Unmarshal([]byte(out), &extra); err != nil {
		s.logger.Warn("error parsing OIDC template", "error", err)
	}
	for k, val := range extra {
		if !isReserved(k) {
			claims[k] = val
		}
	}
}

// sign makes a compact JWS of the payload with the current key; the header
// carries alg and kid.
func (k *oidcKey) sign(payload []byte) (string, error) {
	priv := k.private[k.SigningKeyID]
	if priv == nil {
		return "", errors.New("signing key is nil; rotate the key and try again")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: priv}, nil)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

var signatureAlgorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(SupportedAlgorithms))
	for i, a := range SupportedAlgorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// Introspect checks an identity token as Vault's oidc/introspect does and
// returns "" for an active token, or why it is not.
func (s *Service) Introspect(ctx context.Context, token, clientID, issuer string) (string, error) {
	parsed, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		return fmt.Sprintf("error parsing token: %s", err.Error()), nil
	}
	keys, _, err := s.JWKS(ctx)
	if err != nil {
		return "", err
	}
	var claims jwt.Claims
	valid := false
	for _, k := range keys {
		if err := parsed.Claims(k, &claims); err == nil {
			valid = true
			break
		}
	}
	if !valid {
		return "unable to validate the token signature", nil
	}
	expected := jwt.Expected{Issuer: issuer, Time: s.now()}
	if clientID != "" {
		expected.AnyAudience = jwt.Audience{clientID}
	}
	if err := claims.Validate(expected); err != nil {
		return fmt.Sprintf("error validating claims: %s", err.Error()), nil
	}
	v, err := s.identity.Entity(ctx, identity.EntitySelector{ID: claims.Subject})
	if err != nil {
		return "", err
	}
	switch {
	case v == nil || claims.Subject == "":
		return "entity was not found", nil
	case v.Disabled:
		return "entity is disabled", nil
	}
	return "", nil
}

// RunPeriodic rotates keys whose rotation is due and drops expired public
// keys. It does nothing until the soonest rotation or expiry it computed
// last time, unless the configuration changed since.
func (s *Service) RunPeriodic(ctx context.Context) error {
	now := s.now()
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if now.Unix() < s.state.nextRun {
		return nil
	}
	next := now.Add(24 * time.Hour)
	for _, name := range core.SortedKeys(s.state.keys) {
		k := s.state.keys[name]
		c := k.clone()
		changed := c.expire(now)
		if c.SigningKeyID != "" && now.After(c.NextRotation) {
			if err := c.rotate(now, c.VerificationTTL); err != nil {
				return err
			}
			changed = true
			s.logger.Info("rotated OIDC key", "key", name)
		}
		if changed {
			if err := s.saveKey(ctx, c); err != nil {
				return err
			}
		}
		if c.SigningKeyID != "" && c.NextRotation.Before(next) {
			next = c.NextRotation
		}
		for _, r := range c.KeyRing {
			if !r.ExpireAt.IsZero() && r.ExpireAt.Before(next) {
				next = r.ExpireAt
			}
		}
	}
	s.state.nextRun = next.Unix()
	return nil
}
