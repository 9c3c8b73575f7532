package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// Regression tests of the provider's security fixes: introspection limited
// to the asking client's tokens and to enabled entities, S256 for public
// clients, and revocations of refresh token families that outlive every
// token of the family.

const secVerifier = "a-code-verifier-that-is-long-enough-0123456789abcdef"

func s256Challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// storageDump is every key of the store's storage with its value.
func (p *providerClock) storageDump(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := p.storage.List(p.ctx, prefix)
		require.NoError(t, err)
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, err := p.storage.Get(p.ctx, prefix+k)
			require.NoError(t, err)
			if e != nil {
				out[prefix+k] = string(e.Value)
			}
		}
	}
	walk("")
	return out
}

// addClient makes another client of provider "p" and returns it.
func (p *providerClock) addClient(t *testing.T, name, clientType string) *Client {
	t.Helper()
	require.NoError(t, p.st.WriteClient(p.ctx, name, ClientUpdate{
		RedirectURIs: core.Some([]string{clockRedirect}), Assignments: core.Some([]string{AllowAllAssignment}),
		ClientType: core.Some(clientType), AccessTokenTTL: core.Some(10 * time.Minute), RefreshTokenTTL: core.Some(time.Hour),
	}))
	c, err := p.st.OIDCClient(p.ctx, name)
	require.NoError(t, err)
	return c
}

// introspectAs introspects token as client c (its secret, if it has one).
func (p *providerClock) introspectAs(t *testing.T, c *Client, token string) map[string]any {
	t.Helper()
	out, err := p.st.IntrospectGrant(p.ctx, "p", ClientAuth{ID: c.ClientID, Secret: c.ClientSecret}, token, "", func(s string) string { return s })
	require.NoError(t, err)
	return out
}

// authzRequest is an authentication request of client c to provider "p"
// as alice.
func (p *providerClock) authzRequest(c *Client, challenge core.Opt[string], method string) AuthorizeRequest {
	return AuthorizeRequest{
		Provider: "p", ClientID: c.ClientID, RedirectURI: clockRedirect, Scope: "openid profile",
		ResponseType: "code", State: "st", Nonce: "n", HasEntity: true,
		CodeChallenge: challenge, CodeChallengeMethod: method,
		Caller: func() (*identity.EntityView, error) {
			return p.st.Entity(p.ctx, identity.EntitySelector{ID: p.entityID})
		},
	}
}

func (p *providerClock) setDisabled(t *testing.T, disabled bool) {
	t.Helper()
	_, _, err := p.st.UpsertEntity(p.ctx, identity.EntityUpdate{ID: p.entityID, Disabled: core.Some(disabled)})
	require.NoError(t, err)
}

// TestIntrospectionOnlyOfOwnTokens: a client learns nothing of a token
// issued to another client, a public one (authenticated by its id alone)
// or a confidential one: the answer is exactly {"active": false}, for
// access and refresh tokens, with or without a hint. The owner still sees
// them active, and asking changes nothing.
func TestIntrospectionOnlyOfOwnTokens(t *testing.T) {
	p := newProviderClock(t)
	spa := p.addClient(t, "spa", ClientPublic)
	other := p.addClient(t, "other", ClientConfidential)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)

	before := p.storageDump(t)
	for _, c := range []*Client{spa, other} {
		for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
			for _, hint := range []string{"", "access_token", "refresh_token"} {
				out, err := p.st.IntrospectGrant(p.ctx, "p", ClientAuth{ID: c.ClientID, Secret: c.ClientSecret}, token, hint, func(s string) string { return s })
				require.NoError(t, err)
				require.Equal(t, map[string]any{"active": false}, out, "%s introspecting %s… (hint %q)", c.Name, token[:7], hint)
			}
		}
	}
	require.Equal(t, before, p.storageDump(t), "introspection changes nothing")

	// The owner still sees both active, and its answer names the token.
	own := p.introspectAs(t, p.client, tok.AccessToken)
	require.Equal(t, true, own["active"])
	require.Equal(t, p.client.ClientID, own["client_id"])
	require.Equal(t, p.entityID, own["sub"])
	require.Equal(t, true, p.introspectAs(t, p.client, tok.RefreshToken)["active"])

	// The public client's own token is active for it, and not for the
	// confidential client.
	code, err := p.st.Authorize(p.ctx, p.authzRequest(spa, core.Some(s256Challenge(secVerifier)), "S256"))
	require.NoError(t, err)
	pub, err := p.st.ExchangeToken(p.ctx, TokenExchange{
		Provider: "p", Auth: ClientAuth{ID: spa.ClientID}, GrantType: GrantAuthorizationCode, Code: code,
		RedirectURI: clockRedirect, CodeVerifier: secVerifier, Issuer: func(c string) string { return c + "/v1/ident/oidc/provider/p" },
	})
	require.NoError(t, err)
	require.Equal(t, true, p.introspectAs(t, spa, pub.AccessToken)["active"])
	require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, p.client, pub.AccessToken))
}

// TestDisabledEntityTokens: the tokens of a disabled entity are inactive at
// introspection, userinfo refuses its access token (403 access_denied)
// and its refresh token is refused (invalid_grant), and none of it changes
// storage: enabled again, the entity's tokens work.
func TestDisabledEntityTokens(t *testing.T) {
	p := newProviderClock(t)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)
	p.setDisabled(t, true)
	before := p.storageDump(t)

	t.Run("introspection", func(t *testing.T) {
		require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, p.client, tok.AccessToken))
		require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, p.client, tok.RefreshToken))
	})
	t.Run("userinfo", func(t *testing.T) {
		_, err := p.st.UserInfo(p.ctx, "p", tok.AccessToken, true)
		requireOAuth(t, err, http.StatusForbidden, "access_denied", entityNotAssigned)
	})
	t.Run("refresh", func(t *testing.T) {
		_, err := p.refresh(tok.RefreshToken)
		requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", entityNotAssigned)
	})
	require.Equal(t, before, p.storageDump(t), "the refusals change nothing: the refresh token is not spent")

	p.setDisabled(t, false)
	require.True(t, p.active(t, tok.AccessToken))
	_, err = p.refresh(tok.RefreshToken)
	require.NoError(t, err, "the refresh token was not spent by the refusal")
}

const wantPublicS256 = "public clients must use code_challenge_method S256"

// TestPublicClientsMustUseS256: a public client's request with
// code_challenge_method plain, or none (plain by default), is refused at
// the authorization endpoint and by the sign-in page's check; a code
// recorded with plain for a public client before the rule is refused at
// the token endpoint. Confidential clients keep plain.
func TestPublicClientsMustUseS256(t *testing.T) {
	p := newProviderClock(t)
	spa := p.addClient(t, "spa", ClientPublic)
	challenge := s256Challenge(secVerifier)

	for _, c := range []struct {
		name, method, value string
	}{
		{"plain", "plain", secVerifier},
		{"no method", "", secVerifier},
		{"no method, S256-looking challenge", "", challenge},
	} {
		t.Run("authorize/"+c.name, func(t *testing.T) {
			before := p.storageDump(t)
			r := p.authzRequest(spa, core.Some(c.value), c.method)
			_, err := p.st.Authorize(p.ctx, r)
			requireOAuth(t, err, http.StatusBadRequest, "invalid_request", wantPublicS256)
			e, _ := AsOAuthError(err)
			require.Equal(t, "st", e.State)
			require.True(t, e.Redirect, "the client may be told")
			_, err = p.st.CheckAuthorize(p.ctx, r)
			requireOAuth(t, err, http.StatusBadRequest, "invalid_request", wantPublicS256)
			require.Equal(t, before, p.storageDump(t), "no code is stored")
		})
	}

	t.Run("authorize/S256", func(t *testing.T) {
		r := p.authzRequest(spa, core.Some(challenge), "S256")
		_, err := p.st.CheckAuthorize(p.ctx, r)
		require.NoError(t, err)
		_, err = p.st.Authorize(p.ctx, r)
		require.NoError(t, err)
	})

	t.Run("confidential keeps plain", func(t *testing.T) {
		for _, method := range []string{"plain", ""} {
			code, err := p.st.Authorize(p.ctx, p.authzRequest(p.client, core.Some(secVerifier), method))
			require.NoError(t, err, "method %q", method)
			_, err = p.exchange(TokenExchange{GrantType: GrantAuthorizationCode, Code: code, RedirectURI: clockRedirect, CodeVerifier: secVerifier})
			require.NoError(t, err, "method %q", method)
		}
	})

	t.Run("token/code recorded with plain", func(t *testing.T) {
		for _, method := range []string{"plain", ""} {
			code := "legacy-code-" + method
			require.NoError(t, p.st.storage.PutJSON(p.ctx, grantKey(codeGrant, code), &grant{
				Provider: "p", ClientID: spa.ClientID, EntityID: p.entityID, Scopes: []string{OpenIDScope},
				Nonce: "n", RedirectURI: clockRedirect, ExpireAt: p.clock.Now().Add(codeTTL),
				Challenge: secVerifier, ChallengeMethod: method,
			}))
			grants := p.grantKeys(t)
			_, err := p.st.ExchangeToken(p.ctx, TokenExchange{
				Provider: "p", Auth: ClientAuth{ID: spa.ClientID}, GrantType: GrantAuthorizationCode, Code: code,
				RedirectURI: clockRedirect, CodeVerifier: secVerifier, Issuer: func(c string) string { return c + "/v1/ident/oidc/provider/p" },
			})
			requireOAuth(t, err, http.StatusBadRequest, "invalid_request", wantPublicS256)
			after := p.grantKeys(t)
			require.Equal(t, grants[accessGrant], after[accessGrant], "no access token is issued")
			require.Equal(t, grants[refreshGrant], after[refreshGrant], "no refresh token is issued")
			require.Len(t, after[codeGrant], len(grants[codeGrant])-1, "the code is consumed, as every failed exchange does")
		}
	})
}

// ttlPair is a client's access and refresh token lifetimes.
type ttlPair struct{ access, refresh time.Duration }

func (x ttlPair) String() string { return fmt.Sprintf("access %s, refresh %s", x.access, x.refresh) }

// TestRevokedFamilyStaysRevoked: whatever the client's TTLs become between
// the issue of a family's tokens, their refresh and the family's
// revocation (by RFC 7009 or by the reuse of a refresh token), no token of
// the family works again before its own expiry, sweeps included: the
// revocation outlives every token of the family.
func TestRevokedFamilyStaysRevoked(t *testing.T) {
	changes := []struct {
		name  string
		apply func(ttlPair) ttlPair
	}{
		{"same", func(x ttlPair) ttlPair { return x }},
		{"refresh lowered", func(x ttlPair) ttlPair { return ttlPair{x.access, x.refresh / 6} }},
		{"refresh raised", func(x ttlPair) ttlPair { return ttlPair{x.access, x.refresh * 3} }},
		{"refresh minimum", func(x ttlPair) ttlPair { return ttlPair{x.access, time.Second} }},
		{"access lowered", func(x ttlPair) ttlPair { return ttlPair{x.access / 5, x.refresh} }},
		{"access raised", func(x ttlPair) ttlPair { return ttlPair{x.access * 9, x.refresh} }},
		{"access minimum", func(x ttlPair) ttlPair { return ttlPair{time.Second, x.refresh} }},
		{"both minimum", func(ttlPair) ttlPair { return ttlPair{time.Second, time.Second} }},
	}
	triggers := []string{"revoke newest", "revoke used", "reuse"}
	base := newProviderClock(t) // its keys are made once
	for _, afterIssue := range changes {
		for _, afterRefresh := range changes {
			for _, trigger := range triggers {
				name := fmt.Sprintf("%s, then %s, %s", afterIssue.name, afterRefresh.name, trigger)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					revokedFamilyScenario(t, base.clone(t), afterIssue.apply, afterRefresh.apply, trigger)
				})
			}
		}
	}
}

// clone is a new store, with its own clock, over a copy of p's storage.
func (p *providerClock) clone(t *testing.T) *providerClock {
	t.Helper()
	storage := new(logical.InmemStorage)
	for k, v := range p.storageDump(t) {
		require.NoError(t, storage.Put(p.ctx, &logical.StorageEntry{Key: k, Value: []byte(v)}))
	}
	clock := &fakeClock{t: p.clock.Now()}
	st := openStore(testOptions{Storage: storage, Now: clock.Now})
	require.NoError(t, st.Load(p.ctx))
	c := *p.client
	return &providerClock{ctx: p.ctx, clock: clock, storage: storage, st: st, entityID: p.entityID, client: &c}
}

func revokedFamilyScenario(t *testing.T, p *providerClock, afterIssue, afterRefresh func(ttlPair) ttlPair, trigger string) {
	start := p.clock.Now()
	creds := ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}
	ttls := ttlPair{p.client.AccessTokenTTL, p.client.RefreshTokenTTL}
	setTTLs := func(x ttlPair) {
		require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenTTL: core.Some(x.access), RefreshTokenTTL: core.Some(x.refresh)}))
		ttls = x
	}
	sweep := func() {
		p.st.lastSweep.Store(0) // every step sweeps, whatever sweepInterval says
		require.NoError(t, p.st.SweepGrants(p.ctx))
	}

	first, err := p.redeem(p.code(t))
	require.NoError(t, err)
	p.clock.Advance(5 * time.Minute)
	setTTLs(afterIssue(ttls))
	second, err := p.refresh(first.RefreshToken)
	require.NoError(t, err)
	p.clock.Advance(2 * time.Minute)
	setTTLs(afterRefresh(ttls))

	// Each token's own expiry, as recorded at its issue.
	tokens := map[string]string{"access 1": first.AccessToken, "refresh 1": first.RefreshToken, "access 2": second.AccessToken, "refresh 2": second.RefreshToken}
	expiry := map[string]time.Time{}
	for name, token := range tokens {
		kind := accessGrant
		if strings.HasPrefix(token, refreshPrefix) {
			kind = refreshGrant
		}
		var g grant
		found, err := p.st.storage.GetJSON(p.ctx, grantKey(kind, token), &g)
		require.NoError(t, err)
		require.True(t, found, name)
		expiry[name] = g.ExpireAt
	}

	switch trigger {
	case "revoke newest":
		require.NoError(t, p.st.RevokeGrant(p.ctx, "p", creds, second.RefreshToken, ""))
	case "revoke used":
		require.NoError(t, p.st.RevokeGrant(p.ctx, "p", creds, first.RefreshToken, ""))
	case "reuse":
		_, err := p.refresh(first.RefreshToken)
		requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "refresh token was already used; the grant is revoked")
	}

	// Check at every token's expiry and just before, and every 5 minutes
	// until the last one.
	revokedAt := p.clock.Now()
	var last time.Time
	for _, e := range expiry {
		if e.After(last) {
			last = e
		}
	}
	var at []time.Time
	for ts := revokedAt; !ts.After(last.Add(sweepInterval)); ts = ts.Add(5 * time.Minute) {
		at = append(at, ts)
	}
	for _, e := range expiry {
		at = append(at, e.Add(-time.Second), e)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	at = slices.Compact(at)
	for _, ts := range at {
		if ts.Before(revokedAt) {
			continue
		}
		p.clock.t = ts
		sweep()
		when := fmt.Sprintf("at +%s (revoked at +%s; TTLs now %v)", ts.Sub(start), revokedAt.Sub(start), ttls)
		_, err := p.refresh(second.RefreshToken)
		require.Error(t, err, "refresh 2 yields tokens %s", when)
		requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or expired")
		for name, token := range tokens {
			require.False(t, p.active(t, token), "%s is active %s", name, when)
		}
		for _, name := range []string{"access 1", "access 2"} {
			_, err := p.st.UserInfo(p.ctx, "p", tokens[name], true)
			require.Error(t, err, "userinfo accepts %s %s", name, when)
			requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is expired")
		}
	}
}

// TestFamilySpanAndLegacyFloor: every issue of a family's tokens records
// the family's latest expiry in its span and its grants; a family issued
// before spans were recorded is revoked for the client's current TTLs
// from now, as before.
func TestFamilySpanAndLegacyFloor(t *testing.T) {
	p := newProviderClock(t)
	t0 := p.clock.Now()
	readGrant := func(key string) (grant, bool) {
		var g grant
		found, err := p.st.storage.GetJSON(p.ctx, key, &g)
		require.NoError(t, err)
		return g, found
	}
	first, err := p.redeem(p.code(t))
	require.NoError(t, err)
	rg, _ := readGrant(grantKey(refreshGrant, first.RefreshToken))
	ag, _ := readGrant(grantKey(accessGrant, first.AccessToken))
	span, found := readGrant(spanPrefix + rg.Family)
	require.True(t, found)
	require.Equal(t, t0.Add(time.Hour), span.ExpireAt.UTC())
	require.Equal(t, span.ExpireAt, rg.FamilyExpireAt)
	require.Equal(t, span.ExpireAt, ag.FamilyExpireAt, "the access token carries it too")

	// A refresh with a lower refresh_token_ttl keeps the latest expiry.
	p.clock.Advance(time.Minute)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{RefreshTokenTTL: core.Some(time.Minute)}))
	second, err := p.refresh(first.RefreshToken)
	require.NoError(t, err)
	rg2, _ := readGrant(grantKey(refreshGrant, second.RefreshToken))
	span, _ = readGrant(spanPrefix + rg.Family)
	require.Equal(t, t0.Add(time.Hour), span.ExpireAt.UTC())
	require.Equal(t, t0.Add(time.Hour), rg2.FamilyExpireAt.UTC())

	// A family of before: no span, no recorded expiry.
	third, err := p.redeem(p.code(t))
	require.NoError(t, err)
	legacy, _ := readGrant(grantKey(refreshGrant, third.RefreshToken))
	require.NoError(t, p.storage.Delete(p.ctx, spanPrefix+legacy.Family))
	legacy.FamilyExpireAt = time.Time{}
	require.NoError(t, p.st.storage.PutJSON(p.ctx, grantKey(refreshGrant, third.RefreshToken), &legacy))
	p.clock.Advance(time.Minute)
	require.NoError(t, p.st.RevokeGrant(p.ctx, "p", ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, third.RefreshToken, ""))
	rec, found := readGrant(familyPrefix + legacy.Family)
	require.True(t, found)
	require.Equal(t, p.clock.Now().Add(10*time.Minute), rec.ExpireAt.UTC(), "now + max(access 10m, refresh 1m)")
}
