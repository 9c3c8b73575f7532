package oidc

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// Using the provider's grants once issued: userinfo, RFC 7662
// introspection, RFC 7009 revocation, the provider's keys, and the sweep of
// expired grants. Issuing them is in oidc_grant.go.

// PresentedAccessToken is the access token of a userinfo request, sent in
// one of the two ways RFC 6750 (section 2) lets this endpoint take it: an
// Authorization header with the Bearer scheme (header, when hasHeader), or
// access_token in a form-encoded POST body (body). Vault before 1.21
// removes a Bearer Authorization header before a plugin sees it, which
// leaves the body. Both at once are refused (the RFC allows one method per
// request); with neither, presented is false.
func PresentedAccessToken(header string, hasHeader bool, body string) (token string, presented bool, err error) {
	switch {
	case hasHeader && body != "":
		return "", false, invalidRequest("access token must be sent in one way only: the Authorization header or the access_token form parameter")
	case body != "":
		return body, true, nil
	}
	return header, hasHeader, nil
}

// UserInfo answers the userinfo endpoint for an access token: the entity's
// subject and the claims of the token's scopes the provider still supports.
// isBearer tells whether a token was presented (PresentedAccessToken).
func (s *Service) UserInfo(ctx context.Context, providerName, token string, isBearer bool) (map[string]any, error) {
	p, err := s.OIDCProvider(ctx, providerName)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, invalidRequest("provider not found")
	}
	if !isBearer {
		return nil, oauthError(http.StatusUnauthorized, "invalid_token", "access token must be sent as a Bearer token")
	}
	key := s.presentedKey(accessGrant, token)
	if key == "" {
		return nil, oauthError(http.StatusUnauthorized, "invalid_token", "access token is invalid")
	}
	g, err := s.activeGrant(ctx, key)
	if err != nil {
		return nil, err
	}
	switch {
	case g == nil:
		return nil, oauthError(http.StatusUnauthorized, "invalid_token", "access token is expired")
	case g.Provider != providerName:
		return nil, oauthError(http.StatusUnauthorized, "invalid_token", "access token was not issued by the provider")
	}
	v, c, err := s.checkAccess(ctx, g, p)
	if err != nil {
		return nil, err
	}
	claims, err := s.scopeClaimsFor(v, c, g.Scopes, p, s.now())
	if err != nil {
		return nil, err
	}
	claims["sub"] = v.ID
	return claims, nil
}

// Why an entity may not use a client, in Vault's words.
const (
	entityNotFound    = "identity entity associated with the request not found"
	entityNotAssigned = "identity entity not authorized by client assignment"
)

// assignedEntity returns the entity with this id, or why client c may not
// act for it (entityNotFound, entityNotAssigned).
func (s *Service) assignedEntity(ctx context.Context, c *Client, id string) (*identity.EntityView, string, error) {
	v, err := s.identity.Entity(ctx, identity.EntitySelector{ID: id})
	switch {
	case err != nil:
		return nil, "", err
	case v == nil:
		return nil, entityNotFound, nil
	case !s.assigned(c, v):
		return nil, entityNotAssigned, nil
	}
	return v, "", nil
}

// checkAccess checks that the client and entity of a token may still use
// the provider, with Vault's userinfo errors, and returns the entity and
// the client.
func (s *Service) checkAccess(ctx context.Context, g *grant, p *Provider) (*identity.EntityView, *Client, error) {
	denied := func(desc string) error { return oauthError(http.StatusForbidden, "access_denied", desc) }
	s.state.mu.RLock()
	c := s.state.clientIDs[g.ClientID]
	s.state.mu.RUnlock()
	if c == nil {
		return nil, nil, denied("client not found")
	}
	v, problem, err := s.assignedEntity(ctx, c, g.EntityID)
	if err != nil {
		return nil, nil, err
	}
	if problem != "" {
		return nil, nil, denied(problem)
	}
	if !p.allows(c.ClientID) {
		return nil, nil, denied("client is not authorized to use the provider")
	}
	return v, c, nil
}

// IntrospectGrant answers RFC 7662 introspection of an access or refresh
// token for an authenticated client of the provider: {"active": false}
// unless the token is live, was issued to the asking client (RFC 7662
// section 4: a client learns nothing of another's tokens, and a public
// client authenticates by its id alone), and its client and entity may
// still use the provider; a disabled entity may not.
func (s *Service) IntrospectGrant(ctx context.Context, providerName string, auth ClientAuth, token, hint string, issuer func(string) string) (map[string]any, error) {
	cc, err := s.authenticateClient(ctx, providerName, auth)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, invalidRequest("token parameter is required")
	}
	inactive := map[string]any{"active": false}
	for _, kind := range tokenKinds(token, hint) {
		key := s.presentedKey(kind, token)
		if key == "" {
			continue
		}
		g, err := s.activeGrant(ctx, key)
		if err != nil {
			return nil, err
		}
		if g == nil {
			continue
		}
		if g.ClientID != cc.client.ClientID || g.Provider != providerName || (kind == refreshGrant && g.Used) {
			return inactive, nil
		}
		if _, _, err := s.checkAccess(ctx, g, cc.provider); err != nil {
			if _, ok := AsOAuthError(err); ok {
				return inactive, nil
			}
			return nil, err
		}
		tokenType := "Bearer"
		if kind == refreshGrant {
			tokenType = "refresh_token"
		}
		return map[string]any{
			"active":     true,
			"scope":      strings.Join(g.Scopes, " "),
			"client_id":  g.ClientID,
			"token_type": tokenType,
			"exp":        g.ExpireAt.Unix(),
			"iat":        g.IssuedAt.Unix(),
			"sub":        g.EntityID,
			"aud":        g.ClientID,
			"iss":        issuer(cc.provider.Issuer),
		}, nil
	}
	return inactive, nil
}

// RevokeGrant serves RFC 7009 revocation: an access token is revoked; a
// refresh token revokes its whole family. Unknown tokens are not an error.
func (s *Service) RevokeGrant(ctx context.Context, providerName string, auth ClientAuth, token, hint string) error {
	cc, err := s.authenticateClient(ctx, providerName, auth)
	if err != nil {
		return err
	}
	if token == "" {
		return invalidRequest("token parameter is required")
	}
	for _, kind := range tokenKinds(token, hint) {
		key := s.presentedKey(kind, token)
		if key == "" {
			continue
		}
		g := new(grant)
		found, err := s.storage.GetJSON(ctx, key, g)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		if g.ClientID != cc.client.ClientID {
			return oauthError(http.StatusBadRequest, "unauthorized_client", "the token was not issued to the client")
		}
		if kind == refreshGrant {
			if err := s.revokeFamily(ctx, g, cc.client); err != nil {
				return err
			}
		}
		return s.storage.Remove(ctx, key)
	}
	return nil
}

// tokenKinds is where to look a token up: its prefix tells, else the hint
// goes first.
func tokenKinds(token, hint string) []string {
	switch {
	case strings.HasPrefix(token, accessPrefix), looksLikeJWT(token):
		return []string{accessGrant}
	case strings.HasPrefix(token, refreshPrefix):
		return []string{refreshGrant}
	case hint == "refresh_token":
		return []string{refreshGrant, accessGrant}
	default:
		return []string{accessGrant, refreshGrant}
	}
}

// ProviderKeys returns the public keys of the keys the provider's clients
// use: every client when the provider allows "*".
func (s *Service) ProviderKeys(ctx context.Context, providerName string) ([]jose.JSONWebKey, bool, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	p := s.state.providers[providerName]
	if p == nil {
		return nil, false, nil
	}
	used := map[string]bool{}
	for _, c := range s.state.clients {
		if p.allows(c.ClientID) {
			used[c.Key] = true
		}
	}
	keys, _, err := s.state.jwks(s.now(), used)
	return keys, true, err
}

// SweepGrants deletes expired codes, tokens, family spans and family
// revocations. It runs at most every sweepInterval; the periodic function
// calls it.
func (s *Service) SweepGrants(ctx context.Context) error {
	now := s.now()
	last := s.lastSweep.Load()
	if now.Unix()-last < int64(sweepInterval/time.Second) || !s.lastSweep.CompareAndSwap(last, now.Unix()) {
		return nil
	}
	// Family revocations are known in memory.
	var expired []string
	s.state.mu.RLock()
	for id, until := range s.state.revoked {
		if !now.Before(until) {
			expired = append(expired, id)
		}
	}
	s.state.mu.RUnlock()
	for _, id := range expired {
		if err := s.storage.Remove(ctx, familyPrefix+id); err != nil {
			return err
		}
		s.state.mu.Lock()
		delete(s.state.revoked, id)
		s.state.mu.Unlock()
	}
	for _, kind := range []string{codeGrant, accessGrant, refreshGrant, familySpan, assertionGrant, deviceGrant, userCodeGrant, deviceTries} {
		prefix := grantPrefix + kind + "/"
		keys, err := s.storage.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("failed to list %q: %w", prefix, err)
		}
		for _, k := range keys {
			var g grant
			found, err := s.storage.GetJSON(ctx, prefix+k, &g)
			if err != nil {
				return err
			}
			if found && !now.Before(g.ExpireAt) {
				if err := s.storage.Remove(ctx, prefix+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
