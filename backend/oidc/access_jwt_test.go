package oidc

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// jwtClock is providerClock with client "app" on JWT access tokens.
func jwtClock(t *testing.T) *providerClock {
	t.Helper()
	p := newProviderClock(t)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some(AccessTokenJWT)}))
	c, err := p.st.OIDCClient(p.ctx, "app")
	require.NoError(t, err)
	p.client = c
	return p
}

// atClaims are the claims of an RFC 9068 access token.
type atClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	AuthTime int64  `json:"auth_time"`
}

// resourceServer verifies an access token as a resource server does, with
// the provider's JWKS alone: signature, typ at+jwt, iss, aud and exp.
func resourceServer(t *testing.T, p *providerClock, token string) (*atClaims, error) {
	t.Helper()
	keys, ok, err := p.st.ProviderKeys(p.ctx, "p")
	require.NoError(t, err)
	require.True(t, ok)
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		return nil, jwt.ErrInvalidClaims
	}
	var out atClaims
	if err := parsed.Claims(jose.JSONWebKeySet{Keys: keys}, &out); err != nil {
		return nil, err
	}
	err = out.ValidateWithLeeway(jwt.Expected{
		Issuer: clockIssuer + "/v1/ident/oidc/provider/p", AnyAudience: jwt.Audience{p.client.ClientID}, Time: p.clock.Now(),
	}, 0)
	return &out, err
}

// TestJWTAccessToken: a client with access_token_format jwt gets RFC 9068
// access tokens a resource server verifies with the JWKS alone; the token
// is also a grant like an opaque one: userinfo, introspection, revocation.
func TestJWTAccessToken(t *testing.T) {
	p := jwtClock(t)
	now := p.clock.Now()
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)
	require.False(t, strings.HasPrefix(tok.AccessToken, accessPrefix))

	claims, err := resourceServer(t, p, tok.AccessToken)
	require.NoError(t, err)
	require.Equal(t, p.entityID, claims.Subject)
	require.Equal(t, p.client.ClientID, claims.ClientID)
	require.Equal(t, "openid profile", claims.Scope)
	require.NotEmpty(t, claims.ID)
	require.Equal(t, now.Unix(), claims.IssuedAt.Time().Unix())
	require.Equal(t, now.Add(10*time.Minute).Unix(), claims.Expiry.Time().Unix())
	parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&raw))
	require.Equal(t, p.client.ClientID, raw["aud"], "aud is the client id, as a string")

	// at_hash is over the JWT; the ID token has no typ, the access token
	// has at+jwt, so neither passes for the other.
	id, err := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	var idClaims map[string]any
	require.NoError(t, id.UnsafeClaimsWithoutVerification(&idClaims))
	require.Equal(t, halfHash("RS256", tok.AccessToken), idClaims["at_hash"])
	require.Nil(t, id.Headers[0].ExtraHeaders[jose.HeaderType])
	_, err = p.st.UserInfo(p.ctx, "p", tok.IDToken, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is invalid")

	// The grant is stored under the jti's hash.
	require.Contains(t, p.grantKeys(t)[accessGrant], strings.TrimPrefix(grantKey(accessGrant, claims.ID), grantPrefix+accessGrant+"/"))

	info, err := p.st.UserInfo(p.ctx, "p", tok.AccessToken, true)
	require.NoError(t, err)
	require.Equal(t, p.entityID, info["sub"])
	in := p.introspectAs(t, p.client, tok.AccessToken)
	require.Equal(t, true, in["active"])
	require.Equal(t, "Bearer", in["token_type"])
	require.Equal(t, p.entityID, in["sub"])

	// Revoked: userinfo refuses it, introspection reports it inactive (a
	// resource server that verifies only the signature would still take it
	// until exp: that is the trade of self-contained tokens).
	require.NoError(t, p.st.RevokeGrant(p.ctx, "p", ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, tok.AccessToken, "access_token"))
	_, err = p.st.UserInfo(p.ctx, "p", tok.AccessToken, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is expired")
	require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, p.client, tok.AccessToken))
}

// TestJWTAccessTokenRefusals: expired, tampered, of another provider, of
// another client, of a revoked refresh family.
func TestJWTAccessTokenRefusals(t *testing.T) {
	p := jwtClock(t)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)

	// Tampered: a changed payload with the original signature, and a
	// token signed by a key the mount does not have.
	parts := strings.Split(tok.AccessToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), p.entityID, "someone-else", 1))) + "." + parts[2]
	_, err = resourceServer(t, p, forged)
	require.Error(t, err)
	_, err = p.st.UserInfo(p.ctx, "p", forged, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is invalid")
	require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, p.client, forged))
	own, err := generateJWK("RS256")
	require.NoError(t, err)
	own.KeyID = parsedKeyID(t, tok.AccessToken) // same kid, other key
	selfSigned := signWith(t, own, payload)
	_, err = resourceServer(t, p, selfSigned)
	require.Error(t, err)
	_, err = p.st.UserInfo(p.ctx, "p", selfSigned, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is invalid")
	before := p.storageDump(t)
	require.NoError(t, p.st.RevokeGrant(p.ctx, "p", ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, selfSigned, ""))
	require.Equal(t, before, p.storageDump(t), "revoking a forged token revokes nothing")

	// Another provider's userinfo, another client's introspection.
	_, err = p.st.WriteProvider(p.ctx, "other", ProviderUpdate{Issuer: core.Some(clockIssuer), AllowedClientIDs: core.Some([]string{"*"})})
	require.NoError(t, err)
	_, err = p.st.UserInfo(p.ctx, "other", tok.AccessToken, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token was not issued by the provider")
	app2 := p.addClient(t, "app2", ClientConfidential)
	require.Equal(t, map[string]any{"active": false}, p.introspectAs(t, app2, tok.AccessToken))
	err = p.st.RevokeGrant(p.ctx, "p", ClientAuth{ID: app2.ClientID, Secret: app2.ClientSecret}, tok.AccessToken, "")
	requireOAuth(t, err, http.StatusBadRequest, "unauthorized_client", "the token was not issued to the client")
	require.True(t, p.active(t, tok.AccessToken))

	// A refresh token used twice revokes the family's JWT access tokens.
	next, err := p.refresh(tok.RefreshToken)
	require.NoError(t, err)
	_, err = p.refresh(tok.RefreshToken)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "refresh token was already used; the grant is revoked")
	for _, at := range []string{tok.AccessToken, next.AccessToken} {
		require.False(t, p.active(t, at))
		_, err = p.st.UserInfo(p.ctx, "p", at, true)
		requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is expired")
	}

	// Expired: the resource server and the provider refuse it.
	fresh, err := p.redeem(p.code(t))
	require.NoError(t, err)
	p.clock.Advance(10*time.Minute + time.Second)
	_, err = resourceServer(t, p, fresh.AccessToken)
	require.ErrorIs(t, err, jwt.ErrExpired)
	_, err = p.st.UserInfo(p.ctx, "p", fresh.AccessToken, true)
	requireOAuth(t, err, http.StatusUnauthorized, "invalid_token", "access token is expired")
	require.False(t, p.active(t, fresh.AccessToken))
}

func parsedKeyID(t *testing.T, token string) string {
	t.Helper()
	parsed, err := jose.ParseSigned(token, signatureAlgorithms)
	require.NoError(t, err)
	return parsed.Signatures[0].Header.KeyID
}

func signWith(t *testing.T, k *jose.JSONWebKey, payload []byte) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("at+jwt"))
	require.NoError(t, err)
	jws, err := signer.Sign(payload)
	require.NoError(t, err)
	out, err := jws.CompactSerialize()
	require.NoError(t, err)
	return out
}

// TestJWTAccessTokenClientSettings: the format is opt-in, validated, and a
// JWT access token may not outlive its key's verification.
func TestJWTAccessTokenClientSettings(t *testing.T) {
	p := newProviderClock(t)
	tok, err := p.redeem(p.code(t))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.AccessToken, accessPrefix), "opaque by default")
	raw, err := p.storage.Get(p.ctx, oidcClientPrefix+"app")
	require.NoError(t, err)
	require.NotContains(t, string(raw.Value), "access_token_format", "a client that never opts in is stored as before")

	err = p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some("paseto")})
	require.EqualError(t, err, `invalid access_token_format "paseto": give "opaque" or "jwt"`)
	err = p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some(AccessTokenJWT), AccessTokenTTL: core.Some(25 * time.Hour)})
	require.EqualError(t, err, `a client's access_token_ttl cannot be greater than the verification_ttl of the key it references when access_token_format is "jwt"`)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some(AccessTokenJWT)}))
	err = p.st.WriteKey(p.ctx, DefaultKeyName, KeyUpdate{VerificationTTL: core.Some(5 * time.Minute)})
	require.EqualError(t, err, `unable to update key "default" because it is currently referenced by one or more clients with JWT access tokens and an access_token_ttl greater than 300 seconds`)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some(AccessTokenOpaque)}))
	c, err := p.st.OIDCClient(p.ctx, "app")
	require.NoError(t, err)
	require.Empty(t, c.AccessTokenFormat, "opaque is stored as unset")

	// client_credentials gets a JWT too, without scope when none is asked.
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{AccessTokenFormat: core.Some(AccessTokenJWT), ClientCredentialsEntityID: core.Some(p.entityID)}))
	p.client.AccessTokenFormat = AccessTokenJWT
	cc, err := p.exchange(TokenExchange{GrantType: GrantClientCredentials})
	require.NoError(t, err)
	claims, err := resourceServer(t, p, cc.AccessToken)
	require.NoError(t, err)
	require.Empty(t, claims.Scope)
	require.Zero(t, claims.AuthTime)
	require.True(t, p.active(t, cc.AccessToken))
}
