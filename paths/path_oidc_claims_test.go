package paths_test

import (
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// unsafeClaims decodes a JWT's claims without checking its signature.
func unsafeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&claims))
	return claims
}

// TestClientGroupFilterField: group_filter is validated (400), stored
// sorted and deduplicated, read back (absent when unset, so a client that
// does not use it reads as in Vault), listed in key_info and cleared by an
// empty value.
func TestClientGroupFilterField(t *testing.T) {
	p := newProviderSetup(t)
	b := p.b
	require.NotContains(t, b.Read("oidc/client/app").Data(), "group_filter", "unset: read as before")
	for _, bad := range []any{"team-*,", []string{""}, "*team", "te*am-*"} {
		r := b.Write("oidc/client/app", map[string]any{"group_filter": bad})
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", bad, r.ErrorText())
		require.Contains(t, r.ErrorText(), "group_filter")
	}
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"group_filter": "team-*,ops,team-*"}).Status)
	require.Equal(t, []string{"ops", "team-*"}, b.Read("oidc/client/app").Data()["group_filter"])
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"id_token_ttl": "10m"}).Status)
	require.Equal(t, []string{"ops", "team-*"}, b.Read("oidc/client/app").Data()["group_filter"], "kept when not written")
	info := b.List("oidc/client").Data()["key_info"].(map[string]any)["app"].(map[string]any)
	require.Equal(t, []string{"ops", "team-*"}, info["group_filter"])
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"group_filter": ""}).Status)
	require.NotContains(t, b.Read("oidc/client/app").Data(), "group_filter")
}

// TestClientGroupFilterTokens: through the HTTP handlers, a filtering
// client's ID token and userinfo list only the kept groups; the others
// see all (alice is in devs).
func TestClientGroupFilterTokens(t *testing.T) {
	p := newProviderSetup(t)
	createGroup(t, p.b, map[string]any{"name": "team-x", "member_entity_ids": p.entityID})
	groups := func() (idToken, userinfo []any) {
		t.Helper()
		code := p.code(t, map[string]any{"scope": "openid groups"})
		tok := raw(t, p.exchange(code, nil))
		require.Equal(t, http.StatusOK, tok.status, tok.body)
		claims := unsafeClaims(t, tok.body["id_token"].(string))
		info := raw(t, p.bearer("oidc/provider/p/userinfo", tok.body["access_token"].(string)))
		require.Equal(t, http.StatusOK, info.status, info.body)
		return claims["groups"].([]any), info.body["groups"].([]any)
	}
	id, info := groups()
	require.ElementsMatch(t, []any{"devs", "team-x"}, id)
	require.ElementsMatch(t, []any{"devs", "team-x"}, info)
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/app", map[string]any{"group_filter": "team-*"}).Status)
	id, info = groups()
	require.Equal(t, []any{"team-x"}, id)
	require.Equal(t, []any{"team-x"}, info)
}

// TestRoleAudiencesField: audiences are validated (400 for an empty one),
// read only when set, and make aud an array: the client id, then the
// extras; oidc/introspect with client_id takes the token for each of them.
func TestRoleAudiencesField(t *testing.T) {
	b, _ := oidcBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"allowed_client_ids": "*"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k", "client_id": "vault-csi"}).Status)
	require.NotContains(t, b.Read("oidc/role/r").Data(), "audiences", "unset: read as in Vault")
	aud := func() any {
		t.Helper()
		r := issue(t, b, "r")
		require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
		return unsafeClaims(t, r.Data()["token"].(string))["aud"]
	}
	require.Equal(t, "vault-csi", aud())

	for _, bad := range []any{"api,", []string{""}, []string{"api", ""}} {
		r := b.Write("oidc/role/r", map[string]any{"audiences": bad})
		require.Equal(t, http.StatusBadRequest, r.Status, "%v", bad)
		require.Equal(t, "audiences: an audience must not be empty", r.ErrorText())
	}
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"audiences": "api,https://kubernetes.default.svc,api"}).Status)
	require.Equal(t, []string{"api", "https://kubernetes.default.svc"}, b.Read("oidc/role/r").Data()["audiences"])
	require.Equal(t, []any{"vault-csi", "api", "https://kubernetes.default.svc"}, aud())
	r := issue(t, b, "r")
	token := r.Data()["token"].(string)
	require.Equal(t, "vault-csi", r.Data()["client_id"], "the answer's client_id is the role's")
	introspect := func(clientID string) map[string]any {
		t.Helper()
		var out map[string]any
		rawBody(t, b.Write("oidc/introspect", map[string]any{"token": token, "client_id": clientID}), &out)
		return out
	}
	for _, clientID := range []string{"vault-csi", "api", "https://kubernetes.default.svc"} {
		require.Equal(t, map[string]any{"active": true}, introspect(clientID), clientID)
	}
	require.Equal(t, false, introspect("other")["active"])

	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"audiences": ""}).Status)
	require.NotContains(t, b.Read("oidc/role/r").Data(), "audiences")
	require.Equal(t, "vault-csi", aud())
}
