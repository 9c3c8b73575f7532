//go:build integration

package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
)

func TestOIDCKeyAndRoleAPIMatchesBuiltin(t *testing.T) {
	t.Cleanup(func() {
		for _, m := range []string{"identity", mount} {
			do(t, "DELETE", m+"/oidc/role/r1", nil)
			do(t, "DELETE", m+"/oidc/key/k1", nil)
		}
	})
	compareWithBuiltin(t, []step{
		{method: "LIST", path: "oidc/key"},
		{method: "GET", path: "oidc/key/default"},
		{method: "POST", path: "oidc/key/k1", body: map[string]any{}},
		{method: "GET", path: "oidc/key/k1"},
		{method: "POST", path: "oidc/key/k1", body: map[string]any{"rotation_period": "2h", "verification_ttl": "3h", "algorithm": "ES256"}},
		{method: "GET", path: "oidc/key/k1"},
		{method: "POST", path: "oidc/key/k2", body: map[string]any{"rotation_period": 59}},
		{method: "POST", path: "oidc/key/k2", body: map[string]any{"rotation_period": "1m", "verification_ttl": "11m"}},
		{method: "POST", path: "oidc/key/k2", body: map[string]any{"algorithm": "HS256"}},
		{method: "GET", path: "oidc/key/k2"},
		{method: "POST", path: "oidc/role/r1", body: map[string]any{"key": "k1", "ttl": "1h", "template": `{"name": {{identity.entity.name}}}`}},
		{method: "GET", path: "oidc/role/r1"},
		{method: "LIST", path: "oidc/role"},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"ttl": "1h"}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "nope"}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "k1", "ttl": "4h"}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "k1", "template": `{"a": {{identity.entity.name}`}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "k1", "template": `{"a": {{identity.groups.names.g.id}}}`}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "k1", "template": `nope`}},
		{method: "POST", path: "oidc/role/x", body: map[string]any{"key": "k1", "template": `{"iss": "x"}`}},
		{method: "POST", path: "oidc/key/k1", body: map[string]any{"verification_ttl": "30m"}},
		{method: "DELETE", path: "oidc/key/k1"},
		{method: "DELETE", path: "oidc/key/default"},
		{method: "GET", path: "oidc/token/r1"},
		{method: "GET", path: "oidc/token/nope"},
		{method: "POST", path: "oidc/key/k1", body: map[string]any{"allowed_client_ids": "*"}},
		{method: "GET", path: "oidc/token/r1"},
		{method: "POST", path: "oidc/key/k1/rotate", body: map[string]any{"verification_ttl": "1h"}},
		{method: "POST", path: "oidc/key/nope/rotate", body: map[string]any{}},
		{method: "POST", path: "oidc/introspect", body: map[string]any{"token": "not-a-token"}},
		// Child issuers (Vault Enterprise's plugin identity tokens): none in Community.
		{method: "GET", path: "oidc/foo/.well-known/openid-configuration"},
		{method: "GET", path: "oidc/foo/.well-known/keys"},
		{method: "GET", path: "oidc/provider/.well-known/keys"},
		{method: "GET", path: "oidc/a/b/.well-known/keys"},
		{method: "POST", path: "oidc/config", body: map[string]any{"issuer": "https://a.com/foo"}},
		{method: "DELETE", path: "oidc/role/r1"},
		{method: "DELETE", path: "oidc/key/k1"},
		{method: "GET", path: "oidc/key/k1"},
	})
}

// TestChildIssuerWithoutTokenMatchesBuiltin: the child issuer paths are
// unauthenticated, as Vault's, and refused with Vault Community's 400.
func TestChildIssuerWithoutTokenMatchesBuiltin(t *testing.T) {
	for _, p := range []string{"oidc/foo/.well-known/openid-configuration", "oidc/foo/.well-known/keys"} {
		var answers []string
		for _, m := range []string{"identity", mount} {
			resp, body := rawDo(t, "GET", m+"/"+p, nil, nil)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s/%s: %s", m, p, body)
			answers = append(answers, string(body))
		}
		require.JSONEq(t, answers[0], answers[1], p)
		require.JSONEq(t, `{"errors":["invalid child issuer \"foo\""]}`, answers[1], p)
	}
}

// TestIdentityTokenVerifiedByIndependentVerifiers gets a token for a real
// userpass user and has it checked by Vault's own jwt auth method (through
// the plugin's discovery document) and by coreos/go-oidc.
func TestIdentityTokenVerifiedByIndependentVerifiers(t *testing.T) {
	ctx := context.Background()
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/ident-token", map[string]any{
		"policy": `path "` + mount + `/oidc/token/*" { capabilities = ["read"] }`,
	}).Status)
	r := do(t, "POST", "auth/userpass/users/token-user", map[string]any{"password": "pw", "token_policies": "ident-token"})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	forgetVaultEntity(t, "token-user", userpassAccessor)

	e := do(t, "POST", mount+"/entity", map[string]any{"name": "token-user-here", "metadata": "team=dev"})
	entityID := e.Data["id"].(string)
	t.Cleanup(func() { do(t, "DELETE", mount+"/entity/id/"+entityID, nil) })
	require.Equal(t, http.StatusOK, do(t, "POST", mount+"/entity-alias", map[string]any{"name": "token-user", "mount_accessor": userpassAccessor, "canonical_id": entityID}).Status)

	for _, alg := range []string{"RS256", "ES384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			key, role := "verify-"+strings.ToLower(alg), "verify-"+strings.ToLower(alg)
			require.Equal(t, http.StatusNoContent, do(t, "POST", mount+"/oidc/key/"+key, map[string]any{"algorithm": alg, "allowed_client_ids": "*"}).Status)
			require.Equal(t, http.StatusNoContent, do(t, "POST", mount+"/oidc/role/"+role, map[string]any{"key": key, "ttl": "10m", "template": `{"team": {{identity.entity.metadata.team}}}`}).Status)
			t.Cleanup(func() {
				do(t, "DELETE", mount+"/oidc/role/"+role, nil)
				do(t, "DELETE", mount+"/oidc/key/"+key, nil)
			})

			login := asToken(t, "", "POST", "auth/userpass/login/token-user", map[string]any{"password": "pw"})
			require.Equal(t, http.StatusOK, login.Status, login.Errors)
			userToken := login.Body["auth"].(map[string]any)["client_token"].(string)
			tok := asToken(t, userToken, "GET", mount+"/oidc/token/"+role, nil)
			require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
			idToken, clientID := tok.Data["token"].(string), tok.Data["client_id"].(string)
			issuer := server.Addr + "/v1/" + mount + "/oidc"

			// Vault's jwt auth method, configured from the discovery URL.
			jwtMount := "jwt-" + strings.ToLower(alg)
			require.Equal(t, http.StatusNoContent, do(t, "POST", "sys/auth/"+jwtMount, map[string]any{"type": "jwt"}).Status)
			t.Cleanup(func() { do(t, "DELETE", "sys/auth/"+jwtMount, nil) })
			cfg := do(t, "POST", "auth/"+jwtMount+"/config", map[string]any{"oidc_discovery_url": issuer, "bound_issuer": issuer})
			require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, cfg.Status, cfg.Errors)
			require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/"+jwtMount+"/role/plugin", map[string]any{
				"role_type": "jwt", "bound_audiences": clientID, "user_claim": "sub", "bound_claims": map[string]any{"team": "dev"},
			}).Status)
			jwtLogin := asToken(t, "", "POST", "auth/"+jwtMount+"/login", map[string]any{"role": "plugin", "jwt": idToken})
			require.Equal(t, http.StatusOK, jwtLogin.Status, jwtLogin.Errors)
			meta := jwtLogin.Body["auth"].(map[string]any)
			require.NotEmpty(t, meta["client_token"])
			forgetJWTEntity(t, jwtMount, entityID)

			parts := strings.Split(idToken, ".")
			bad := asToken(t, "", "POST", "auth/"+jwtMount+"/login", map[string]any{"role": "plugin", "jwt": parts[0] + "." + parts[1] + "." + reverse(parts[2])})
			require.Equal(t, http.StatusBadRequest, bad.Status, "a forged signature is refused")

			// coreos/go-oidc, from the same discovery document.
			provider, err := oidc.NewProvider(ctx, issuer)
			require.NoError(t, err)
			verified, err := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, idToken)
			require.NoError(t, err)
			require.Equal(t, entityID, verified.Subject)
			var claims struct {
				Team      string `json:"team"`
				Namespace string `json:"namespace"`
			}
			require.NoError(t, verified.Claims(&claims))
			require.Equal(t, "dev", claims.Team)
			require.Equal(t, "root", claims.Namespace)
		})
	}
}

// forgetJWTEntity deletes, when the test ends, the Vault entity a jwt login
// created (its alias name is the token's sub).
func forgetJWTEntity(t *testing.T, jwtMount, sub string) {
	auths := do(t, "GET", "sys/auth", nil)
	acc := auths.Data[jwtMount+"/"].(map[string]any)["accessor"].(string)
	forgetVaultEntity(t, sub, acc)
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
