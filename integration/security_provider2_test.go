//go:build integration

package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// issuer is provider p's issuer.
func (s *provStore) issuer(provider string) string {
	return server.Addr + "/v1/" + s.mount + "/oidc/provider/" + provider
}

// codeTokens runs the code flow for a user and client with S256 PKCE and
// returns the token endpoint's whole answer.
func (s *provStore) codeTokens(t *testing.T, u *secUser, clientID, secret string) map[string]any {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	r := s.authorize(t, u.token, clientID, map[string]string{"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256", "nonce": "n"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r.Body["code"].(string)}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}}
	tok := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), form, basicAuth(clientID, secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	return tok.Body
}

// resourceServer is an API that verifies JWT access tokens with the
// provider's JWKS alone (go-oidc's RemoteKeySet): signature, typ at+jwt,
// iss, aud and exp.
type resourceServer struct {
	keys     *oidc.RemoteKeySet
	issuer   string
	audience string
}

func (rs *resourceServer) verify(ctx context.Context, token string) (map[string]any, error) {
	payload, err := rs.keys.VerifySignature(ctx, token)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		return nil, errorf(fmt.Sprintf("typ is %v, not at+jwt", typ))
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	switch {
	case claims["iss"] != rs.issuer:
		return nil, errorf(fmt.Sprint("iss ", claims["iss"]))
	case claims["aud"] != rs.audience:
		return nil, errorf(fmt.Sprint("aud ", claims["aud"]))
	case time.Now().Unix() >= int64(claims["exp"].(float64)):
		return nil, errorf("expired")
	}
	return claims, nil
}

type errorf string

func (e errorf) Error() string { return string(e) }

// TestProviderJWTAccessTokens: a client with access_token_format=jwt gets
// RFC 9068 access tokens that a resource server verifies with the JWKS
// alone and that the provider still tracks: userinfo, introspection,
// revocation. Discovery is unchanged.
func TestProviderJWTAccessTokens(t *testing.T) {
	ctx := context.Background()
	s := newProvStore(t, "jwt-at")
	discovery := func() string {
		return oauthDo(t, http.MethodGet, s.path("oidc/provider/p/.well-known/openid-configuration"), nil, nil).Raw
	}
	before := discovery()
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"access_token_format": "jwt"})
	require.Equal(t, "jwt", do(t, "GET", s.path("oidc/client/app"), nil).Data["access_token_format"])
	require.NotContains(t, do(t, "GET", s.path("oidc/client/app2"), nil).Data, "access_token_format")
	require.Equal(t, before, discovery(), "jwks_uri is all a resource server needs")

	provider, err := oidc.NewProvider(ctx, s.issuer("p"))
	require.NoError(t, err)
	var disc struct {
		JWKS string `json:"jwks_uri"`
	}
	require.NoError(t, provider.Claims(&disc))
	rs := &resourceServer{keys: oidc.NewRemoteKeySet(ctx, disc.JWKS), issuer: s.issuer("p"), audience: s.app}

	tok := s.codeTokens(t, s.alice, s.app, s.appSecret)
	access := tok["access_token"].(string)
	claims, err := rs.verify(ctx, access)
	require.NoError(t, err)
	require.Equal(t, s.alice.entityID, claims["sub"])
	require.Equal(t, s.app, claims["client_id"])
	require.Equal(t, "openid", claims["scope"])
	require.NotEmpty(t, claims["jti"])
	require.InDelta(t, 30*60, claims["exp"].(float64)-claims["iat"].(float64), 1)

	// The ID token's at_hash is over the JWT (go-oidc checks it).
	idToken, err := provider.Verifier(&oidc.Config{ClientID: s.app}).Verify(ctx, tok["id_token"].(string))
	require.NoError(t, err)
	require.NoError(t, idToken.VerifyAccessToken(access))

	// Tampered: the payload names someone else.
	parts := strings.Split(access, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), s.alice.entityID, s.mallory.entityID, 1)))
	_, err = rs.verify(ctx, strings.Join(parts, "."))
	require.Error(t, err)

	info := userinfoDo(t, s.path("oidc/provider/p/userinfo"), access)
	require.Equal(t, http.StatusOK, info.Status, info.Raw)
	require.Equal(t, s.alice.entityID, info.Body["sub"])
	in := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/introspect"), url.Values{"token": {access}}, basicAuth(s.app, s.appSecret))
	require.Equal(t, true, in.Body["active"], in.Raw)
	require.Equal(t, http.StatusOK, s.endpoint(t, "p", "revoke", s.app, s.appSecret, url.Values{"token": {access}}).status)
	require.Equal(t, inactive.String(), s.introspect(t, s.app, s.appSecret, access).String())

	// Expired: the resource server refuses it on its own.
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"access_token_ttl": "1s"})
	short := s.codeTokens(t, s.alice, s.app, s.appSecret)["access_token"].(string)
	// Time passing is the point: the 1s token must expire by the clock.
	time.Sleep(2 * time.Second)
	_, err = rs.verify(ctx, short)
	require.EqualError(t, err, "expired")
	require.Equal(t, answer{http.StatusUnauthorized, "invalid_token: access token is expired"}.String(), s.userinfo(t, "p", short).String())
}

// TestSecurityJWTAccessTokens: the "may not" rows of JWT access tokens.
func TestSecurityJWTAccessTokens(t *testing.T) {
	s := newProvStore(t, "sec-jwt-at")
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"access_token_format": "jwt"})
	mustWrite(t, s.path("oidc/client/app2"), map[string]any{"access_token_format": "jwt", "access_token_ttl": "1s"})
	tok := s.codeTokens(t, s.alice, s.app, s.appSecret)
	victim, idToken := tok["access_token"].(string), tok["id_token"].(string)
	revoked := s.codeTokens(t, s.alice, s.app, s.appSecret)["access_token"].(string)
	require.Equal(t, http.StatusOK, s.endpoint(t, "p", "revoke", s.app, s.appSecret, url.Values{"token": {revoked}}).status)
	expired := s.codeTokens(t, s.alice, s.app2, s.app2Secret)["access_token"].(string)
	// Time passing is the point: app2's 1s token must expire by the clock.
	time.Sleep(2 * time.Second)
	parts := strings.Split(victim, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), s.alice.entityID, s.mallory.entityID, 1)))
	tampered := strings.Join(parts, ".")

	attacks := []attack{
		{"a JWT access token of another provider may not read its userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "other", victim)
		}, answer{http.StatusUnauthorized, "invalid_token: access token was not issued by the provider"}},
		{"a revoked JWT access token may not read userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "p", revoked)
		}, answer{http.StatusUnauthorized, "invalid_token: access token is expired"}},
		{"a revoked JWT access token is not active", func(t *testing.T) answer {
			return s.introspect(t, s.app, s.appSecret, revoked)
		}, inactive},
		{"an expired JWT access token may not read userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "p", expired)
		}, answer{http.StatusUnauthorized, "invalid_token: access token is expired"}},
		{"a tampered JWT access token may not read userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "p", tampered)
		}, answer{http.StatusUnauthorized, "invalid_token: access token is invalid"}},
		{"a tampered JWT access token is not active", func(t *testing.T) answer {
			return s.introspect(t, s.app, s.appSecret, tampered)
		}, inactive},
		{"an ID token may not pass for an access token", func(t *testing.T) answer {
			return s.userinfo(t, "p", idToken)
		}, answer{http.StatusUnauthorized, "invalid_token: access token is invalid"}},
		{"another client may not introspect the victim's JWT access token", func(t *testing.T) answer {
			return s.introspect(t, s.app2, s.app2Secret, victim)
		}, inactive},
		{"a public client may not introspect the victim's JWT access token", func(t *testing.T) answer {
			return s.introspect(t, s.spa, "", victim)
		}, inactive},
		{"another client may not revoke the victim's JWT access token", func(t *testing.T) answer {
			return s.endpoint(t, "p", "revoke", s.app2, s.app2Secret, url.Values{"token": {victim}})
		}, answer{http.StatusBadRequest, "unauthorized_client: the token was not issued to the client"}},
	}
	refuseAll(t, s.secStore, attacks)

	in := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/introspect"), url.Values{"token": {victim}}, basicAuth(s.app, s.appSecret))
	require.Equal(t, true, in.Body["active"], in.Raw)
	info := userinfoDo(t, s.path("oidc/provider/p/userinfo"), victim)
	require.Equal(t, http.StatusOK, info.Status, info.Raw)
}

// clientKeyPair is a client's ES256 key and its public JWKS.
func clientKeyPair(t *testing.T) (*jose.JSONWebKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k := &jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.Public()}})
	require.NoError(t, err)
	return k, string(set)
}

// clientAssertion is a private_key_jwt assertion of clientID for aud,
// signed with k.
func clientAssertion(t *testing.T, k *jose.JSONWebKey, clientID, aud, jti string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	out, err := josejwt.Signed(signer).Claims(map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud, "jti": jti,
		"iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
	}).Serialize()
	require.NoError(t, err)
	return out
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// TestProviderPrivateKeyJWT: a confidential client that registered a
// public key authenticates with golang.org/x/oauth2 and a client
// assertion; discovery lists private_key_jwt only from then on.
func TestProviderPrivateKeyJWT(t *testing.T) {
	ctx := context.Background()
	s := newProvStore(t, "pkjwt")
	disc := func() map[string]any {
		return oauthDo(t, http.MethodGet, s.path("oidc/provider/p/.well-known/openid-configuration"), nil, nil).Body
	}
	before := disc()
	require.NotContains(t, before["token_endpoint_auth_methods_supported"], "private_key_jwt")
	require.NotContains(t, before, "token_endpoint_auth_signing_alg_values_supported")

	key, public := clientKeyPair(t)
	bad := do(t, "POST", s.path("oidc/client/app"), map[string]any{"jwks": `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`})
	require.Equal(t, http.StatusBadRequest, bad.Status)
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"jwks": public})
	require.NotNil(t, do(t, "GET", s.path("oidc/client/app"), nil).Data["jwks"])
	require.NotContains(t, do(t, "GET", s.path("oidc/client/app2"), nil).Data, "jwks")
	after := disc()
	require.Contains(t, after["token_endpoint_auth_methods_supported"], "private_key_jwt")
	require.Contains(t, after["introspection_endpoint_auth_methods_supported"], "private_key_jwt")
	require.Contains(t, after["revocation_endpoint_auth_methods_supported"], "private_key_jwt")
	require.Contains(t, after["token_endpoint_auth_signing_alg_values_supported"], "ES256")
	// The other provider has no such client: its document is unchanged.
	require.NotContains(t, oauthDo(t, http.MethodGet, s.path("oidc/provider/other/.well-known/openid-configuration"), nil, nil).Body["token_endpoint_auth_methods_supported"], "private_key_jwt")

	provider, err := oidc.NewProvider(ctx, s.issuer("p"))
	require.NoError(t, err)
	cfg := &oauth2.Config{ClientID: s.app, Endpoint: provider.Endpoint(), RedirectURL: s.redirect, Scopes: []string{oidc.ScopeOpenID}}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifier := oauth2.GenerateVerifier()
	r := s.authorize(t, s.alice.token, s.app, map[string]string{"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	tok, err := cfg.Exchange(ctx, r.Body["code"].(string), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("client_assertion_type", jwtBearer),
		oauth2.SetAuthURLParam("client_assertion", clientAssertion(t, key, s.app, provider.Endpoint().TokenURL, "x1")))
	require.NoError(t, err)
	_, err = provider.Verifier(&oidc.Config{ClientID: s.app}).Verify(ctx, tok.Extra("id_token").(string))
	require.NoError(t, err)

	form := url.Values{"token": {tok.AccessToken}, "client_assertion_type": {jwtBearer}, "client_assertion": {clientAssertion(t, key, s.app, s.issuer("p"), "x2")}}
	in := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/introspect"), form, nil)
	require.Equal(t, true, in.Body["active"], in.Raw)
	form.Set("client_assertion", clientAssertion(t, key, s.app, s.issuer("p")+"/token", "x3"))
	require.Equal(t, http.StatusOK, oauthDo(t, http.MethodPost, s.path("oidc/provider/p/revoke"), form, nil).Status)
	require.Equal(t, inactive.String(), s.introspect(t, s.app, s.appSecret, tok.AccessToken).String(), "the secret still works")
}

// TestSecurityPrivateKeyJWT: the "may not" rows of private_key_jwt.
func TestSecurityPrivateKeyJWT(t *testing.T) {
	s := newProvStore(t, "sec-pkjwt")
	key, public := clientKeyPair(t)
	key2, public2 := clientKeyPair(t)
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"jwks": public})
	mustWrite(t, s.path("oidc/client/app2"), map[string]any{"jwks": public2})
	_, aliceRefresh := s.grant(t, s.alice, s.app, s.appSecret)
	tokenURL := s.issuer("p") + "/token"
	spent := clientAssertion(t, key, s.app, tokenURL, "spent")
	first := oauthCall(t, http.MethodPost, s.path("oidc/provider/p/introspect"), url.Values{"token": {"x"}, "client_assertion_type": {jwtBearer}, "client_assertion": {spent}}, nil)
	require.Equal(t, inactive.String(), first.String())
	withAssertion := func(a string, form url.Values) url.Values {
		form.Set("client_assertion_type", jwtBearer)
		form.Set("client_assertion", a)
		return form
	}
	token := func(form url.Values) answer {
		return oauthCall(t, http.MethodPost, s.path("oidc/provider/p/token"), form, nil)
	}
	refresh := func() url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRefresh}} }

	attacks := []attack{
		{"a client assertion may not be used twice", func(t *testing.T) answer {
			return token(withAssertion(spent, refresh()))
		}, answer{http.StatusUnauthorized, "invalid_client: client assertion was already used (jti)"}},
		{"an assertion signed by another client's key may not authenticate", func(t *testing.T) answer {
			return token(withAssertion(clientAssertion(t, key2, s.app, tokenURL, "a1"), refresh()))
		}, answer{http.StatusUnauthorized, "invalid_client: client assertion signature does not verify with the client's jwks"}},
		{"another client's assertion may not authenticate as the victim", func(t *testing.T) answer {
			form := withAssertion(clientAssertion(t, key2, s.app2, tokenURL, "a2"), refresh())
			form.Set("client_id", s.app)
			return token(form)
		}, answer{http.StatusUnauthorized, "invalid_client: client_id does not match the client assertion's sub"}},
		{"an assertion for another audience may not authenticate", func(t *testing.T) answer {
			return token(withAssertion(clientAssertion(t, key, s.app, s.issuer("other")+"/token", "a4"), refresh()))
		}, answer{http.StatusUnauthorized, "invalid_client: client assertion aud must be the token endpoint URL or the issuer"}},
		{"a client without a registered key may not use private_key_jwt", func(t *testing.T) answer {
			return token(withAssertion(clientAssertion(t, key, s.spa, tokenURL, "a5"), refresh()))
		}, answer{http.StatusUnauthorized, "invalid_client: the client registered no jwks: private_key_jwt is not available to it"}},
	}
	refuseAll(t, s.secStore, attacks)

	// Another client authenticating with its own key is still refused the
	// victim's grant (its assertion is spent: it authenticated).
	require.Equal(t, answer{http.StatusBadRequest, "invalid_grant: refresh token was not issued to the client"}.String(),
		token(withAssertion(clientAssertion(t, key2, s.app2, tokenURL, "a3"), refresh())).String())
}
