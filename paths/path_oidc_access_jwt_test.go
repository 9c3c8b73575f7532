package paths_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// TestProviderJWTAccessTokens: access_token_format=jwt through the API: the
// client reads it back (and a client that never opted in reads as before),
// the token verifies with the provider's jwks_uri alone, works at userinfo
// and introspection, and is revoked by RFC 7009; discovery is unchanged.
func TestProviderJWTAccessTokens(t *testing.T) {
	p := newProviderSetup(t)
	b := p.b
	discoveryBefore := raw(t, b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	require.NotContains(t, b.Read("oidc/client/app").Data(), "access_token_format", "a client that never opted in reads as before")
	oauthErrOr400 := b.Write("oidc/client/app", map[string]any{"access_token_format": "paseto"})
	require.Equal(t, http.StatusBadRequest, oauthErrOr400.Status)
	require.Contains(t, oauthErrOr400.ErrorText(), `invalid access_token_format "paseto"`)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"access_token_format": "jwt"}).Status)
	require.Equal(t, "jwt", b.Read("oidc/client/app").Data()["access_token_format"])
	require.Equal(t, discoveryBefore, raw(t, b.Read("oidc/provider/p/.well-known/openid-configuration")).body, "jwks_uri already serves resource servers")

	got := raw(t, p.exchange(p.code(t, nil), nil))
	require.Equal(t, http.StatusOK, got.status, got.body)
	access := got.body["access_token"].(string)
	require.Equal(t, float64(3600), got.body["expires_in"])

	// A resource server with the JWKS alone.
	var set jose.JSONWebKeySet
	rawBody(t, b.Read("oidc/provider/p/.well-known/keys"), &set)
	parsed, err := jwt.ParseSigned(access, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	require.Equal(t, "at+jwt", parsed.Headers[0].ExtraHeaders[jose.HeaderType])
	var claims struct {
		jwt.Claims
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
	}
	require.NoError(t, parsed.Claims(set, &claims))
	require.NoError(t, claims.Validate(jwt.Expected{Issuer: providerIssuer + "/v1/ident/oidc/provider/p", AnyAudience: jwt.Audience{p.clientID}, Time: time.Now()}))
	require.Equal(t, p.entityID, claims.Subject)
	require.Equal(t, p.clientID, claims.ClientID)
	require.Equal(t, "openid profile", claims.Scope)
	require.NotEmpty(t, claims.ID)

	// at_hash of the ID token is over the JWT.
	id, err := jwt.ParseSigned(got.body["id_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	idClaims := map[string]any{}
	require.NoError(t, id.Claims(set, &idClaims))
	require.Equal(t, halfSHA256(access), idClaims["at_hash"])

	info := raw(t, p.bearer("oidc/provider/p/userinfo", access))
	require.Equal(t, http.StatusOK, info.status, info.body)
	require.Equal(t, p.entityID, info.body["sub"])
	in := raw(t, p.endpoint("introspect", map[string]any{"token": access}, []string{p.clientID, p.secret}))
	require.Equal(t, true, in.body["active"], in.body)

	tampered := access[:len(access)-4] + strings.Repeat("A", 4)
	if tampered == access {
		tampered = access[:len(access)-4] + "BBBB"
	}
	oauthErr(t, p.bearer("oidc/provider/p/userinfo", tampered), http.StatusUnauthorized, "invalid_token", "access token is invalid")

	require.Equal(t, http.StatusOK, raw(t, p.endpoint("revoke", map[string]any{"token": access}, []string{p.clientID, p.secret})).status)
	oauthErr(t, p.bearer("oidc/provider/p/userinfo", access), http.StatusUnauthorized, "invalid_token", "access token is expired")
	in = raw(t, p.endpoint("introspect", map[string]any{"token": access}, []string{p.clientID, p.secret}))
	require.Equal(t, map[string]any{"active": false}, in.body)

	// Back to opaque: hvo_at_ again, and the client reads as before.
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"access_token_format": "opaque"}).Status)
	require.NotContains(t, b.Read("oidc/client/app").Data(), "access_token_format")
	again := raw(t, p.exchange(p.code(t, nil), nil))
	require.True(t, strings.HasPrefix(again.body["access_token"].(string), "hvo_at_"))
}

// TestProviderPrivateKeyJWTPath: jwks on a client, read back only when set;
// discovery lists private_key_jwt only then; the token endpoint takes a
// client assertion.
func TestProviderPrivateKeyJWTPath(t *testing.T) {
	p := newProviderSetup(t)
	b := p.b
	before := raw(t, b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	require.NotContains(t, before["token_endpoint_auth_methods_supported"], "private_key_jwt")
	require.NotContains(t, before, "token_endpoint_auth_signing_alg_values_supported")
	require.NotContains(t, b.Read("oidc/client/app").Data(), "jwks")

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	private, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key}})
	require.NoError(t, err)
	r := b.Write("oidc/client/app", map[string]any{"jwks": string(private)})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Contains(t, r.ErrorText(), "is not a public key")
	public, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"jwks": string(public)}).Status)
	require.Len(t, b.Read("oidc/client/app").Data()["jwks"].(map[string]any)["keys"], 1)

	after := raw(t, b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	for _, k := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		require.Contains(t, after[k], "private_key_jwt", k)
	}
	require.Contains(t, after["token_endpoint_auth_signing_alg_values_supported"], "ES256")

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &key}, nil)
	require.NoError(t, err)
	iss := providerIssuer + "/v1/ident/oidc/provider/p"
	assertion, err := jwt.Signed(signer).Claims(map[string]any{
		"iss": p.clientID, "sub": p.clientID, "aud": iss + "/token", "jti": "one", "exp": time.Now().Add(time.Minute).Unix(),
	}).Serialize()
	require.NoError(t, err)
	form := map[string]any{
		"grant_type": "authorization_code", "code": p.code(t, nil), "redirect_uri": redirect,
		"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion,
	}
	got := raw(t, p.token(form, nil))
	require.Equal(t, http.StatusOK, got.status, got.body)
	form["code"] = p.code(t, nil)
	oauthErr(t, p.token(form, nil), http.StatusUnauthorized, "invalid_client", "client assertion was already used (jti)")
}
