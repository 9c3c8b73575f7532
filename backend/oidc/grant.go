package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/base62"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// Grants of the provider: authorization codes, access tokens, refresh
// tokens, the spans of refresh token families and revoked families. Codes
// and tokens are stored under the SHA-256 of their value, never the value
// itself, and read from storage on use, so every node sees the same state
// and a restart loses nothing.
const (
	grantPrefix    = "oidc/grant/"
	codeGrant      = "code"
	accessGrant    = "access"
	refreshGrant   = "refresh"
	familySpan     = "span"
	revokedFamily  = "family"
	accessPrefix   = "hvo_at_"
	refreshPrefix  = "hvo_rt_"
	sweepInterval  = 10 * time.Minute
	randomTokenLen = 48
)

// Grant types of the token endpoint.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// GrantTypes are the grant types the token endpoint supports.
var GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

// familyPrefix holds the records of revoked refresh token families, kept in
// memory too (oidcState.revoked).
const familyPrefix = grantPrefix + revokedFamily + "/"

// spanPrefix holds, under a family's id, when the last token of the family
// issued so far expires: a revocation must last until then. Written at
// every issue of the family's tokens, read only to revoke it.
const spanPrefix = grantPrefix + familySpan + "/"

func isGrantKey(key string) bool { return strings.HasPrefix(key, grantPrefix) }

func grantKey(kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return grantPrefix + kind + "/" + hex.EncodeToString(sum[:])
}

// grant is what a code or token stands for.
type grant struct {
	Provider string    `json:"provider"`
	ClientID string    `json:"client_id"`
	EntityID string    `json:"entity_id"`
	Scopes   []string  `json:"scopes"`
	AuthTime int64     `json:"auth_time,omitempty"`
	IssuedAt time.Time `json:"issued_at"`
	ExpireAt time.Time `json:"expire_at"`
	// Family links the tokens of one authorization through refreshes;
	// revoking it revokes them all. FamilyExpireAt is when the last token
	// of the family issued up to this one expires, as recorded at issue:
	// refreshes are a chain, so the newest grant knows the latest.
	Family         string    `json:"family,omitempty"`
	FamilyExpireAt time.Time `json:"family_expire_at,omitzero"`
	// Used marks a refresh token that was exchanged: presenting it again
	// is a reuse.
	Used bool `json:"used,omitempty"`
	// Issuer, on a family's span record, is the issuer of the sign-in's
	// tokens, for its back-channel logout token (oidc_backchannel.go).
	Issuer string `json:"iss,omitempty"`

	// Authorization codes only.
	Nonce           string `json:"nonce,omitempty"`
	RedirectURI     string `json:"redirect_uri,omitempty"`
	Challenge       string `json:"code_challenge,omitempty"`
	ChallengeMethod string `json:"code_challenge_method,omitempty"`
}

// ClientAuth is how a client authenticates at the token, introspection and
// revocation endpoints: HTTP Basic (client_secret_basic) wins over the body
// (client_secret_post).
type ClientAuth struct {
	Basic                bool
	BasicID, BasicSecret string
	ID, Secret           string
	// AssertionType and Assertion are private_key_jwt's
	// client_assertion_type and client_assertion; Issuer turns the
	// provider's configured issuer into its issuer, which (or whose token
	// endpoint URL) an assertion's aud must name.
	AssertionType, Assertion string
	Issuer                   func(configured string) string
}

// TokenExchange is a request to the token endpoint.
type TokenExchange struct {
	Provider     string
	Auth         ClientAuth
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	// DeviceCode is the device_code of the device_code grant.
	DeviceCode string
	Scope      string
	// Issuer turns the provider's configured issuer ("" when unset) into
	// the issuer of its tokens.
	Issuer func(configured string) string
}

// TokenResponse is the token endpoint's answer.
type TokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
}

// clientContext is an authenticated client with its provider and key.
type clientContext struct {
	provider *Provider
	client   *Client
	key      *oidcKey
	// assertion is the client assertion that authenticated the client,
	// its jti still to spend.
	assertion *assertionUse
}

// authenticate finds the provider and authenticates the client, in Vault's
// order.
func (s *Service) authenticate(providerName string, a ClientAuth) (*clientContext, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	p := s.state.providers[providerName]
	if p == nil {
		return nil, invalidRequest("provider not found")
	}
	id, secret := a.ID, a.Secret
	var assertion *assertionUse
	if a.AssertionType != "" || a.Assertion != "" {
		var err error
		if id, assertion, err = s.checkAssertion(p, a); err != nil {
			return nil, err
		}
	} else if a.Basic {
		id, secret = a.BasicID, a.BasicSecret
	} else if id == "" {
		return nil, invalidRequest("client_id parameter is required")
	}
	c := s.state.clientIDs[id]
	if c == nil || (assertion == nil && c.ClientType == ClientConfidential && subtle.ConstantTimeCompare([]byte(c.ClientSecret), []byte(secret)) != 1) {
		return nil, invalidClient("client failed to authenticate")
	}
	if !p.allows(id) {
		return nil, invalidClient("client is not authorized to use the provider")
	}
	k := s.state.keys[c.Key]
	if k == nil {
		return nil, oauthError(http.StatusInternalServerError, "server_error", fmt.Sprintf("client key %q not found", c.Key))
	}
	if !k.allows(id) {
		return nil, invalidClient("client is not authorized to use the key")
	}
	pc, cc := *p, *c
	return &clientContext{provider: &pc, client: &cc, key: k, assertion: assertion}, nil
}

func invalidClient(desc string) *OAuthError {
	return oauthError(http.StatusUnauthorized, "invalid_client", desc)
}

func invalidGrant(desc string) *OAuthError {
	return oauthError(http.StatusBadRequest, "invalid_grant", desc)
}

// ExchangeToken serves the token endpoint.
func (s *Service) ExchangeToken(ctx context.Context, r TokenExchange) (*TokenResponse, error) {
	cc, err := s.authenticateClient(ctx, r.Provider, r.Auth)
	if err != nil {
		return nil, err
	}
	switch r.GrantType {
	case "":
		return nil, invalidRequest("grant_type parameter is required")
	case GrantAuthorizationCode:
		return s.exchangeCode(ctx, cc, r)
	case GrantRefreshToken:
		return s.refresh(ctx, cc, r)
	case GrantClientCredentials:
		return s.clientCredentials(ctx, cc, r)
	case GrantDeviceCode:
		return s.exchangeDeviceCode(ctx, cc, r)
	default:
		return nil, oauthError(http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type value")
	}
}

// exchangeCode redeems an authorization code. The code is consumed whatever
// the outcome, as in Vault.
func (s *Service) exchangeCode(ctx context.Context, cc *clientContext, r TokenExchange) (*TokenResponse, error) {
	if r.Code == "" {
		return nil, invalidRequest("code parameter is required")
	}
	code, err := s.takeGrant(ctx, grantKey(codeGrant, r.Code))
	if err != nil {
		return nil, err
	}
	switch {
	case code == nil || !s.now().Before(code.ExpireAt):
		return nil, invalidGrant("authorization grant is invalid or expired")
	case code.ClientID != cc.client.ClientID:
		return nil, invalidGrant("authorization code was not issued to the client")
	case code.Provider != r.Provider:
		return nil, invalidGrant("authorization code was not issued by the provider")
	case r.RedirectURI == "":
		return nil, invalidRequest("redirect_uri parameter is required")
	case code.RedirectURI != r.RedirectURI:
		return nil, invalidGrant("redirect_uri does not match the redirect_uri used in the authorization request")
	}
	v, problem, err := s.assignedEntity(ctx, cc.client, code.EntityID)
	if err != nil {
		return nil, err
	}
	if problem != "" {
		return nil, invalidRequest(problem)
	}
	if err := checkVerifier(code, cc.client, r.CodeVerifier); err != nil {
		return nil, err
	}
	g := &grant{Provider: r.Provider, ClientID: code.ClientID, EntityID: v.ID, Scopes: code.Scopes, AuthTime: code.AuthTime}
	return s.issue(ctx, cc, r, v, g, idTokenExtras{nonce: code.Nonce, code: r.Code})
}

// checkVerifier checks the PKCE code_verifier against the code's challenge.
// A public client's code recorded with plain (issued before public clients
// had to use S256) is refused.
func checkVerifier(code *grant, c *Client, verifier string) error {
	if code.Challenge == "" {
		if c.ClientType == ClientPublic {
			return invalidRequest("PKCE is required for public clients")
		}
		if verifier != "" {
			return invalidRequest("unexpected code_verifier for token exchange")
		}
		return nil
	}
	if c.ClientType == ClientPublic && code.ChallengeMethod != "S256" {
		return invalidRequest(publicNeedsS256)
	}
	if verifier == "" {
		return invalidRequest("expected code_verifier for token exchange")
	}
	want := verifier
	if code.ChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(code.Challenge)) != 1 {
		return invalidGrant("invalid code_verifier for token exchange")
	}
	return nil
}

// refresh redeems a refresh token: it is rotated on every use, and a token
// used twice revokes every token of its family.
func (s *Service) refresh(ctx context.Context, cc *clientContext, r TokenExchange) (*TokenResponse, error) {
	if r.RefreshToken == "" {
		return nil, invalidRequest("refresh_token parameter is required")
	}
	if cc.client.RefreshTokenTTL <= 0 {
		return nil, oauthError(http.StatusBadRequest, "unauthorized_client", "the client is not allowed the refresh_token grant")
	}
	key := grantKey(refreshGrant, r.RefreshToken)
	var out *TokenResponse
	err := s.locks.Locked(func() []string { return []string{key} }, func() error {
		old, err := s.activeGrant(ctx, key)
		if err != nil {
			return err
		}
		switch {
		case old == nil:
			return invalidGrant("refresh token is invalid or expired")
		case old.ClientID != cc.client.ClientID:
			return invalidGrant("refresh token was not issued to the client")
		case old.Provider != r.Provider:
			return invalidGrant("refresh token was not issued by the provider")
		case old.Used:
			if err := s.revokeFamily(ctx, old, cc.client); err != nil {
				return err
			}
			s.logger.Warn("refresh token reused: its grant is revoked", "client_id", old.ClientID, "entity_id", old.EntityID)
			return invalidGrant("refresh token was already used; the grant is revoked")
		}
		scopes := old.Scopes
		if r.Scope != "" {
			scopes = parseScopes(r.Scope)
			for _, sc := range scopes {
				if !slices.Contains(old.Scopes, sc) {
					return oauthError(http.StatusBadRequest, "invalid_scope", "requested scope exceeds the scope granted")
				}
			}
		}
		v, problem, err := s.assignedEntity(ctx, cc.client, old.EntityID)
		if err != nil {
			return err
		}
		if problem != "" {
			return invalidGrant(entityNotAssigned)
		}
		used := *old
		used.Used = true
		if err := s.storage.PutJSON(ctx, key, &used); err != nil {
			return err
		}
		g := &grant{
			Provider: r.Provider, ClientID: old.ClientID, EntityID: v.ID, Scopes: scopes, AuthTime: old.AuthTime,
			Family: old.Family, FamilyExpireAt: old.FamilyExpireAt,
		}
		withOpenID := slices.Contains(scopes, OpenIDScope)
		out, err = s.issue(ctx, cc, r, v, g, idTokenExtras{skip: !withOpenID})
		return err
	})
	return out, err
}

// clientCredentials issues an access token to a confidential client for
// the entity it is bound to.
func (s *Service) clientCredentials(ctx context.Context, cc *clientContext, r TokenExchange) (*TokenResponse, error) {
	c := cc.client
	if c.ClientType != ClientConfidential {
		return nil, oauthError(http.StatusBadRequest, "unauthorized_client", "the client_credentials grant is for confidential clients only")
	}
	if c.ClientCredentialsEntityID == "" {
		return nil, oauthError(http.StatusBadRequest, "unauthorized_client", "the client is not bound to an entity: set its client_credentials_entity_id")
	}
	v, problem, err := s.assignedEntity(ctx, c, c.ClientCredentialsEntityID)
	if err != nil {
		return nil, err
	}
	if problem != "" {
		return nil, invalidGrant(entityNotAssigned)
	}
	scopes := cc.provider.supported(parseScopes(r.Scope))
	g := &grant{Provider: r.Provider, ClientID: c.ClientID, EntityID: v.ID, Scopes: scopes}
	out, err := s.issue(ctx, cc, r, v, g, idTokenExtras{skip: true, noRefresh: true})
	if err != nil {
		return nil, err
	}
	out.Scope = strings.Join(scopes, " ")
	return out, nil
}

// idTokenExtras are the parts of an ID token that depend on the grant.
type idTokenExtras struct {
	nonce     string
	code      string // for c_hash
	skip      bool   // no ID token
	noRefresh bool   // no refresh token
}

// issue makes the tokens of a grant: an access token, an ID token unless
// skipped, and a refresh token when the client has refresh tokens on. The
// ID token is signed before anything is stored, so a failure stores nothing.
// Tokens of a refresh token family carry the family's latest expiry, which
// the family's span record gets first, so no token outlives it.
func (s *Service) issue(ctx context.Context, cc *clientContext, r TokenExchange, v *identity.EntityView, g *grant, x idTokenExtras) (*TokenResponse, error) {
	now := s.now()
	c := cc.client
	access, accessKey, err := s.newAccessToken(cc, r.Issuer, g, now)
	if err != nil {
		return nil, err
	}
	out := &TokenResponse{TokenType: "Bearer", AccessToken: access, ExpiresIn: int64(c.AccessTokenTTL / time.Second)}
	// The sign-in's family: made for refresh tokens, and for the ID tokens
	// of a client that uses logout even without them, whose sid it is, so
	// that ending the session revokes the sign-in's tokens (oidc_logout.go).
	refreshOn := c.RefreshTokenTTL > 0 && !x.noRefresh
	if g.Family == "" && (refreshOn || (!x.skip && c.usesLogout())) {
		if g.Family, err = core.NewID(); err != nil {
			return nil, err
		}
	}
	if !x.skip {
		iss := r.Issuer(cc.provider.Issuer)
		if iss == "" {
			return nil, oauthError(http.StatusInternalServerError, "server_error", ErrNoIssuer.Msg)
		}
		claims := map[string]any{
			"iss":       iss,
			"namespace": core.NamespaceID,
			"sub":       v.ID,
			"aud":       c.ClientID,
			"iat":       now.Unix(),
			"exp":       now.Add(c.IDTokenTTL).Unix(),
			"at_hash":   halfHash(cc.key.Algorithm, access),
		}
		if x.nonce != "" {
			claims["nonce"] = x.nonce
		}
		if g.AuthTime != 0 {
			claims["auth_time"] = g.AuthTime
		}
		if x.code != "" {
			claims["c_hash"] = halfHash(cc.key.Algorithm, x.code)
		}
		if g.Family != "" && c.usesLogout() {
			claims["sid"] = g.Family
		}
		extra, err := s.scopeClaimsFor(v, c, g.Scopes, cc.provider, now)
		if err != nil {
			return nil, err
		}
		maps.Copy(claims, extra) // the templates' reserved claims are dropped already
		payload, err := json.Marshal(claims)
		if err != nil {
			return nil, err
		}
		if out.IDToken, err = cc.key.sign(payload); err != nil {
			return nil, oauthError(http.StatusInternalServerError, "server_error", "error signing OIDC token: "+err.Error())
		}
	}
	g.IssuedAt = now
	if g.Family != "" {
		expire := now.Add(c.AccessTokenTTL)
		if refreshOn {
			if out.RefreshToken, err = randomToken(refreshPrefix); err != nil {
				return nil, err
			}
			expire = latest(expire, now.Add(c.RefreshTokenTTL))
		}
		g.FamilyExpireAt = latest(g.FamilyExpireAt, expire)
		var iss string
		if c.BackchannelLogoutURI != "" && r.Issuer != nil {
			iss = r.Issuer(cc.provider.Issuer)
		}
		if err := s.storage.PutJSON(ctx, spanPrefix+g.Family, spanFor(c, g, iss, now)); err != nil {
			return nil, err
		}
	}
	if refreshOn {
		rg := *g
		rg.ExpireAt = now.Add(c.RefreshTokenTTL)
		if err := s.storage.PutJSON(ctx, grantKey(refreshGrant, out.RefreshToken), &rg); err != nil {
			return nil, err
		}
	}
	g.ExpireAt = now.Add(c.AccessTokenTTL)
	if err := s.storage.PutJSON(ctx, accessKey, g); err != nil {
		return nil, err
	}
	return out, nil
}

// scopeClaimsFor renders the templates of the granted scopes the provider
// still supports for the entity, as client c sees it: only the groups of
// its group_filter.
func (s *Service) scopeClaimsFor(v *identity.EntityView, c *Client, scopes []string, p *Provider, now time.Time) (map[string]any, error) {
	supported := p.supported(scopes)
	render := func(tpl string) map[string]any {
		claims := map[string]any{}
		s.mergeTemplateFiltered(claims, tpl, v, c.GroupFilter, now)
		return claims
	}
	s.state.mu.RLock()
	claims, conflict := s.state.scopeClaims(supported, render)
	s.state.mu.RUnlock()
	if conflict != nil {
		return nil, invalidRequest(fmt.Sprintf("found scopes with conflicting top-level claim: claim %q in scopes %q, %q", conflict.claim, conflict.first, conflict.second))
	}
	return claims, nil
}

// halfHash is the at_hash or c_hash of a value: the left half of its hash
// with the hash of the signing algorithm, base64url without padding.
func halfHash(alg, value string) string {
	var h hash.Hash
	switch alg {
	case "RS256", "ES256":
		h = sha256.New()
	case "RS384", "ES384":
		h = sha512.New384()
	default: // RS512, ES512, EdDSA
		h = sha512.New()
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func randomToken(prefix string) (string, error) {
	v, err := base62.Random(randomTokenLen)
	if err != nil {
		return "", err
	}
	return prefix + v, nil
}

// takeGrant reads and deletes a grant, so that only one caller gets it.
func (s *Service) takeGrant(ctx context.Context, key string) (*grant, error) {
	var g *grant
	err := s.locks.Locked(func() []string { return []string{key} }, func() error {
		v := new(grant)
		found, err := s.storage.GetJSON(ctx, key, v)
		if err != nil || !found {
			return err
		}
		g = v
		return s.storage.Remove(ctx, key)
	})
	return g, err
}

// activeGrant reads a token's grant; nil when it does not exist, has
// expired or its family was revoked.
func (s *Service) activeGrant(ctx context.Context, key string) (*grant, error) {
	g := new(grant)
	found, err := s.storage.GetJSON(ctx, key, g)
	if err != nil || !found || !s.now().Before(g.ExpireAt) {
		return nil, err
	}
	if g.Family != "" {
		s.state.mu.RLock()
		_, revoked := s.state.revoked[g.Family]
		s.state.mu.RUnlock()
		if revoked {
			return nil, nil
		}
	}
	return g, nil
}

// revokeFamily revokes every token of the family of presented, a grant of
// it, for as long as any of them can live: until the latest expiry recorded
// at their issue, in the family's span record or in presented, whatever
// the client's TTLs have become since. The client's current TTLs from now
// are a floor, for families issued before expiries were recorded. An
// existing revocation is never shortened.
func (s *Service) revokeFamily(ctx context.Context, presented *grant, c *Client) error {
	family := presented.Family
	if family == "" {
		return nil
	}
	now := s.now()
	until := latest(presented.FamilyExpireAt, now.Add(max(c.RefreshTokenTTL, c.AccessTokenTTL)))
	var span grant
	found, err := s.storage.GetJSON(ctx, spanPrefix+family, &span)
	if err != nil {
		return err
	}
	if found {
		until = latest(until, span.ExpireAt)
	}
	// Under the lock, so that two revocations store the later expiry.
	s.state.mu.Lock()
	cur, already := s.state.revoked[family]
	if already && !cur.Before(until) {
		s.state.mu.Unlock()
		return nil
	}
	if err := s.storage.PutJSON(ctx, familyPrefix+family, &grant{IssuedAt: now, ExpireAt: until}); err != nil {
		s.state.mu.Unlock()
		return err
	}
	s.state.revoked[family] = until
	s.state.mu.Unlock()
	// The sign-in ended now: tell its client (never blocks).
	if found && !already {
		s.notifyLogout(family, &span)
	}
	return nil
}

// latest returns the latest of times.
func latest(times ...time.Time) time.Time {
	var out time.Time
	for _, t := range times {
		if t.After(out) {
			out = t
		}
	}
	return out
}
