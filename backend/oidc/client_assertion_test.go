package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const clockProviderIssuer = clockIssuer + "/v1/ident/oidc/provider/p"

func clockIssuerFunc(configured string) string { return configured + "/v1/ident/oidc/provider/p" }

// clientKey is a client's ES256 key pair.
func clientKey(t *testing.T, kid string) (*jose.JSONWebKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k := &jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "ES256", Use: "sig"}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.Public()}})
	require.NoError(t, err)
	return k, string(set)
}

// assertion signs claims with k (typ JWT).
func assertion(t *testing.T, k *jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return out
}

// assertionClaims are good claims for client id at time now.
func assertionClaims(id string, now time.Time, jti string) map[string]any {
	return map[string]any{"iss": id, "sub": id, "aud": clockProviderIssuer + "/token", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": jti}
}

func keyAuth(a string) ClientAuth {
	return ClientAuth{AssertionType: ClientAssertionJWTBearer, Assertion: a, Issuer: clockIssuerFunc}
}

// TestClientJWKSRegistration: only public signing keys, only for
// confidential clients; a client that registers none stores as before.
func TestClientJWKSRegistration(t *testing.T) {
	p := newProviderClock(t)
	raw, err := p.storage.Get(p.ctx, oidcClientPrefix+"app")
	require.NoError(t, err)
	require.NotContains(t, string(raw.Value), "jwks")
	priv, public := clientKey(t, "k1")
	privateSet, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{*priv}})
	require.NoError(t, err)
	for set, want := range map[string]string{
		string(privateSet): "invalid jwks: key 0 is not a public key; register public keys only",
		`{"keys": []}`:     "invalid jwks: it holds no key",
		`not json`:         "invalid jwks: invalid character 'o' in literal null (expecting 'u')",
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`: "invalid jwks: key 0 is not a public key; register public keys only",
	} {
		require.EqualError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{JWKS: core.Some(set)}), want, set)
	}
	var wrongAlg jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal([]byte(public), &wrongAlg))
	wrongAlg.Keys[0].Algorithm = "RS256"
	b, err := json.Marshal(wrongAlg)
	require.NoError(t, err)
	require.EqualError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{JWKS: core.Some(string(b))}), `invalid jwks: key 0 has no supported signing algorithm (alg "RS256")`)
	require.EqualError(t, p.st.WriteClient(p.ctx, "spa", ClientUpdate{ClientType: core.Some(ClientPublic), JWKS: core.Some(public)}), "jwks is only allowed for confidential clients")

	f, err := p.st.ProviderFeatures(p.ctx, "p")
	require.NoError(t, err)
	require.False(t, f.PrivateKeyJWT)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{JWKS: core.Some(public)}))
	f, err = p.st.ProviderFeatures(p.ctx, "p")
	require.NoError(t, err)
	require.True(t, f.PrivateKeyJWT)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{JWKS: core.Some("")}))
	f, err = p.st.ProviderFeatures(p.ctx, "p")
	require.NoError(t, err)
	require.False(t, f.PrivateKeyJWT)
}

// TestPrivateKeyJWT: a client authenticates with an assertion at the token,
// introspection and revocation endpoints, each jti once; every bad
// assertion is refused with invalid_client and changes nothing.
func TestPrivateKeyJWT(t *testing.T) {
	p := newProviderClock(t)
	key, public := clientKey(t, "k1")
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{JWKS: core.Some(public)}))
	other := p.addClient(t, "other", ClientConfidential)
	otherKey, otherPublic := clientKey(t, "k1") // same kid, other key
	require.NoError(t, p.st.WriteClient(p.ctx, "other", ClientUpdate{JWKS: core.Some(otherPublic)}))
	plain := p.addClient(t, "plain", ClientConfidential)
	id := p.client.ClientID
	now := p.clock.Now()

	exchange := func(auth ClientAuth, code string) (*TokenResponse, error) {
		return p.st.ExchangeToken(p.ctx, TokenExchange{Provider: "p", Auth: auth, GrantType: GrantAuthorizationCode, Code: code, RedirectURI: clockRedirect, Issuer: clockIssuerFunc})
	}
	tok, err := exchange(keyAuth(assertion(t, key, assertionClaims(id, now, "j1"))), p.code(t))
	require.NoError(t, err)
	require.NotEmpty(t, tok.IDToken)

	// The issuer as aud works too, and at introspection and revocation.
	withIss := assertionClaims(id, now, "j2")
	withIss["aud"] = []string{clockProviderIssuer}
	in, err := p.st.IntrospectGrant(p.ctx, "p", keyAuth(assertion(t, key, withIss)), tok.AccessToken, "", clockIssuerFunc)
	require.NoError(t, err)
	require.Equal(t, true, in["active"])
	require.NoError(t, p.st.RevokeGrant(p.ctx, "p", keyAuth(assertion(t, key, assertionClaims(id, now, "j3"))), tok.AccessToken, ""))
	require.False(t, p.active(t, tok.AccessToken))
	// The secret still works.
	_, err = p.redeem(p.code(t))
	require.NoError(t, err)

	claims := func(change func(c map[string]any)) map[string]any {
		c := assertionClaims(id, now, "fresh")
		change(c)
		return c
	}
	cases := []struct {
		name string
		auth ClientAuth
		desc string
	}{
		{"reused jti", keyAuth(assertion(t, key, assertionClaims(id, now, "j1"))), "client assertion was already used (jti)"},
		{"wrong signature", keyAuth(assertion(t, otherKey, assertionClaims(id, now, "w1"))), "client assertion signature does not verify with the client's jwks"},
		{"signed by another client's key for that client", keyAuth(assertion(t, key, assertionClaims(other.ClientID, now, "w2"))), "client assertion signature does not verify with the client's jwks"},
		{"another client's assertion with this client_id", ClientAuth{ID: id, AssertionType: ClientAssertionJWTBearer, Assertion: assertion(t, otherKey, assertionClaims(other.ClientID, now, "w3")), Issuer: clockIssuerFunc}, "client_id does not match the client assertion's sub"},
		{"wrong iss", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["iss"] = other.ClientID }))), "client assertion iss and sub must both be the client_id"},
		{"wrong aud", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" }))), "client assertion aud must be the token endpoint URL or the issuer"},
		{"other endpoint as aud", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["aud"] = clockProviderIssuer + "/userinfo" }))), "client assertion aud must be the token endpoint URL or the issuer"},
		{"no exp", keyAuth(assertion(t, key, claims(func(c map[string]any) { delete(c, "exp") }))), "client assertion exp is required"},
		{"expired", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["exp"] = now.Unix() }))), "client assertion is expired"},
		{"exp too far", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["exp"] = now.Add(MaxAssertionLifetime + time.Second).Unix() }))), "client assertion exp is more than 5 minutes ahead"},
		{"not yet valid", keyAuth(assertion(t, key, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }))), "client assertion is not valid yet (nbf)"},
		{"no jti", keyAuth(assertion(t, key, claims(func(c map[string]any) { delete(c, "jti") }))), "client assertion jti is required"},
		{"client without a registered key", keyAuth(assertion(t, key, assertionClaims(plain.ClientID, now, "w4"))), "the client registered no jwks: private_key_jwt is not available to it"},
		{"unknown client", keyAuth(assertion(t, key, assertionClaims("nobody", now, "w5"))), "client failed to authenticate"},
		{"not a JWT", keyAuth("not-a-jwt"), "client assertion is not a signed JWT"},
		{"unknown assertion type", ClientAuth{AssertionType: "urn:other", Assertion: assertion(t, key, assertionClaims(id, now, "w6")), Issuer: clockIssuerFunc}, "unsupported client_assertion_type"},
	}
	before := p.storageDump(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := exchange(c.auth, "no-such-code")
			requireOAuth(t, err, http.StatusUnauthorized, "invalid_client", c.desc)
			_, err = p.st.IntrospectGrant(p.ctx, "p", c.auth, "hvo_at_x", "", clockIssuerFunc)
			requireOAuth(t, err, http.StatusUnauthorized, "invalid_client", c.desc)
			err = p.st.RevokeGrant(p.ctx, "p", c.auth, "hvo_at_x", "")
			requireOAuth(t, err, http.StatusUnauthorized, "invalid_client", c.desc)
		})
	}
	require.Equal(t, before, p.storageDump(t), "refused assertions change nothing")

	// With a secret or Basic too: two methods at once.
	both := keyAuth(assertion(t, key, assertionClaims(id, now, "b1")))
	both.Secret = p.client.ClientSecret
	_, err = exchange(both, "x")
	requireOAuth(t, err, http.StatusBadRequest, "invalid_request", "client_assertion may not be combined with another client authentication method")
	_, err = exchange(ClientAuth{Assertion: "x", Issuer: clockIssuerFunc}, "x")
	requireOAuth(t, err, http.StatusBadRequest, "invalid_request", "client_assertion and client_assertion_type go together")

	// A spent jti is refused until the assertion's exp, then swept.
	spent, err := p.storage.List(p.ctx, grantPrefix+assertionGrant+"/")
	require.NoError(t, err)
	require.Len(t, spent, 3, "j1, j2, j3")
	p.clock.Advance(sweepInterval + time.Minute)
	require.NoError(t, p.st.SweepGrants(p.ctx))
	spent, err = p.storage.List(p.ctx, grantPrefix+assertionGrant+"/")
	require.NoError(t, err)
	require.Empty(t, spent)
}
