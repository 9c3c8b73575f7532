package oidc

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// providerClock is a store with an injected clock, a provider "p", a
// confidential client with refresh tokens and the entity alice.
type providerClock struct {
	ctx      context.Context
	clock    *fakeClock
	storage  *logical.InmemStorage
	st       *testStore
	entityID string
	client   *Client
}

const (
	clockIssuer   = "https://vault.test:8200"
	clockRedirect = "https://app.test/callback"
)

func newProviderClock(t *testing.T) *providerClock {
	t.Helper()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	storage := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: storage, Now: clock.Now})
	require.NoError(t, st.Load(ctx))
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	require.NoError(t, st.WriteScope(ctx, "profile", ScopeUpdate{Template: core.Some(`{"name": {{identity.entity.name}}}`)}))
	_, err = st.WriteProvider(ctx, "p", ProviderUpdate{Issuer: core.Some(clockIssuer), AllowedClientIDs: core.Some([]string{"*"}), ScopesSupported: core.Some([]string{"profile"})})
	require.NoError(t, err)
	require.NoError(t, st.WriteClient(ctx, "app", ClientUpdate{
		RedirectURIs: core.Some([]string{clockRedirect}), Assignments: core.Some([]string{AllowAllAssignment}),
		IDTokenTTL: core.Some(5 * time.Minute), AccessTokenTTL: core.Some(10 * time.Minute), RefreshTokenTTL: core.Some(time.Hour),
	}))
	c, err := st.OIDCClient(ctx, "app")
	require.NoError(t, err)
	return &providerClock{ctx: ctx, clock: clock, storage: storage, st: st, entityID: e.ID, client: c}
}

func (p *providerClock) code(t *testing.T) string {
	t.Helper()
	code, err := p.st.Authorize(p.ctx, AuthorizeRequest{
		Provider: "p", ClientID: p.client.ClientID, RedirectURI: clockRedirect, Scope: "openid profile",
		ResponseType: "code", State: "st", Nonce: "n", HasEntity: true,
		Caller: func() (*identity.EntityView, error) {
			return p.st.Entity(p.ctx, identity.EntitySelector{ID: p.entityID})
		},
	})
	require.NoError(t, err)
	return code
}

func (p *providerClock) exchange(r TokenExchange) (*TokenResponse, error) {
	r.Provider = "p"
	r.Auth = ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}
	r.Issuer = func(configured string) string { return configured + "/v1/ident/oidc/provider/p" }
	return p.st.ExchangeToken(p.ctx, r)
}

func (p *providerClock) redeem(code string) (*TokenResponse, error) {
	return p.exchange(TokenExchange{GrantType: GrantAuthorizationCode, Code: code, RedirectURI: clockRedirect})
}

func (p *providerClock) refresh(token string) (*TokenResponse, error) {
	return p.exchange(TokenExchange{GrantType: GrantRefreshToken, RefreshToken: token})
}

func (p *providerClock) active(t *testing.T, token string) bool {
	t.Helper()
	out, err := p.st.IntrospectGrant(p.ctx, "p", ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, token, "", func(s string) string { return s })
	require.NoError(t, err)
	return out["active"] == true
}

// grantKeys lists the grants in storage, by kind.
func (p *providerClock) grantKeys(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, kind := range []string{codeGrant, accessGrant, refreshGrant, familySpan, revokedFamily} {
		keys, err := p.storage.List(p.ctx, grantPrefix+kind+"/")
		require.NoError(t, err)
		sort.Strings(keys)
		if len(keys) > 0 {
			out[kind] = keys
		}
	}
	return out
}

func requireOAuth(t *testing.T, err error, status int, code, desc string) {
	t.Helper()
	e, ok := AsOAuthError(err)
	require.True(t, ok, "an OAuth error: %v", err)
	require.Equal(t, status, e.Status)
	require.Equal(t, code, e.Code)
	require.Equal(t, desc, e.Description)
}

// TestProviderCodeExpiry: a code is good for 5 minutes and no longer.
func TestProviderCodeExpiry(t *testing.T) {
	p := newProviderClock(t)
	justInTime := p.code(t)
	late := p.code(t)
	p.clock.Advance(codeTTL - time.Second)
	_, err := p.redeem(justInTime)
	require.NoError(t, err, "a code is good until its fifth minute ends")
	p.clock.Advance(time.Second)
	_, err = p.redeem(late)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "authorization grant is invalid or expired")
	require.NotContains(t, p.grantKeys(t), codeGrant, "an expired code is consumed too")
}

// TestProviderAccessTokenExpiry: an access token works until its
// access_token_ttl, then userinfo refuses it and introspection calls it
// inactive; a refresh token outlives it and gets a new one.
func TestProviderAccessTokenExpiry(t *testing.T) {
	p := newProviderClock(t)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)
	require.Equal(t, int64(600), tok.ExpiresIn)
	require.True(t, strings.HasPrefix(tok.AccessToken, accessPrefix))

	p.clock.Advance(10*time.Minute - time.Second)
	claims, err := p.st.UserInfo(p.ctx, "p", tok.AccessToken, true)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"sub": p.entityID, "name": "alice"}, claims)
	require.True(t, p.active(t, tok.AccessToken))

	p.clock.Advance(time.Second)
	_, err = p.st.UserInfo(p.ctx, "p", tok.AccessToken, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is expired")
	require.False(t, p.active(t, tok.AccessToken))

	again, err := p.refresh(tok.RefreshToken)
	require.NoError(t, err)
	claims, err = p.st.UserInfo(p.ctx, "p", again.AccessToken, true)
	require.NoError(t, err)
	require.Equal(t, p.entityID, claims["sub"])
}

// TestProviderRefreshTokenExpiry: a refresh token lives refresh_token_ttl
// from its issue; each rotation starts a new one.
func TestProviderRefreshTokenExpiry(t *testing.T) {
	p := newProviderClock(t)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)

	p.clock.Advance(50 * time.Minute)
	rotated, err := p.refresh(tok.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, tok.RefreshToken, rotated.RefreshToken)

	// The rotated token is good for an hour from its own issue.
	p.clock.Advance(time.Hour - time.Second)
	require.True(t, p.active(t, rotated.RefreshToken))
	p.clock.Advance(time.Second)
	require.False(t, p.active(t, rotated.RefreshToken))
	_, err = p.refresh(rotated.RefreshToken)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or expired")

	// An expired, already used token is not a reuse: it is just expired.
	_, err = p.refresh(tok.RefreshToken)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or expired")
}

// TestProviderSweepGrants: the sweep deletes expired codes, tokens, family
// spans and family revocations from storage, keeps live ones, and runs at
// most every sweepInterval.
func TestProviderSweepGrants(t *testing.T) {
	p := newProviderClock(t)
	// At t0: a code (5m), tokens of a grant (access 10m, refresh 1h), and
	// a revoked family (lives max(refresh, access) = 1h).
	p.code(t)
	first, err := p.redeem(p.code(t))
	require.NoError(t, err)
	revoked, err := p.redeem(p.code(t))
	require.NoError(t, err)
	require.NoError(t, p.st.RevokeGrant(p.ctx, "p", ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, revoked.RefreshToken, ""))
	before := p.grantKeys(t)
	require.Len(t, before[codeGrant], 1)
	require.Len(t, before[accessGrant], 2)
	require.Len(t, before[refreshGrant], 1, "the revoked refresh token is deleted at once")
	require.Len(t, before[familySpan], 2, "each family's span, until its last token expires (1h)")
	require.Len(t, before[revokedFamily], 1)

	// Nothing has expired yet: the sweep keeps everything.
	require.NoError(t, p.st.SweepGrants(p.ctx))
	require.Equal(t, before, p.grantKeys(t))

	// 5 minutes on the code has expired, but a sweep within sweepInterval
	// of the last does nothing.
	p.clock.Advance(codeTTL)
	require.NoError(t, p.st.SweepGrants(p.ctx))
	require.Equal(t, before, p.grantKeys(t), "too soon after the last sweep")

	// 11 minutes on, the code and both access tokens have expired. A token
	// issued now must survive the sweep.
	p.clock.Advance(6 * time.Minute)
	live, err := p.refresh(first.RefreshToken)
	require.NoError(t, err)
	require.NoError(t, p.st.SweepGrants(p.ctx))
	after := p.grantKeys(t)
	require.NotContains(t, after, codeGrant)
	require.Equal(t, []string{grantKey(accessGrant, live.AccessToken)[len(grantPrefix+accessGrant+"/"):]}, after[accessGrant],
		"only the live access token is left")
	require.Len(t, after[refreshGrant], 2, "the used refresh token and its rotation live an hour")
	require.Len(t, after[familySpan], 2, "the spans live until their family's last token expires")
	require.Len(t, after[revokedFamily], 1, "the revocation outlives its tokens")
	claims, err := p.st.UserInfo(p.ctx, "p", live.AccessToken, true)
	require.NoError(t, err)
	require.Equal(t, p.entityID, claims["sub"])

	// An hour and a sweep later only the rotated refresh token is left,
	// with its family's span, which lasts as long.
	p.clock.Advance(time.Hour - 11*time.Minute)
	require.NoError(t, p.st.SweepGrants(p.ctx))
	after = p.grantKeys(t)
	var rotated grant
	found, err := p.st.storage.GetJSON(p.ctx, grantKey(refreshGrant, live.RefreshToken), &rotated)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, map[string][]string{
		refreshGrant: {grantKey(refreshGrant, live.RefreshToken)[len(grantPrefix+refreshGrant+"/"):]},
		familySpan:   {rotated.Family},
	}, after)
	_, err = p.refresh(live.RefreshToken)
	require.NoError(t, err, "the kept refresh token still works")
}
