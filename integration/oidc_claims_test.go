//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// groupsStore is a provStore whose provider p supports the scopes "groups"
// (the entity's group names) and "everything" (names and ids again, under
// other claims), with a client "team" keeping only the groups named team-*.
type groupsStore struct {
	*provStore
	team, teamSecret string
}

func newGroupsStore(t *testing.T, name string) *groupsStore {
	t.Helper()
	s := &groupsStore{provStore: newProvStore(t, name)}
	mustWrite(t, s.path("oidc/scope/groups"), map[string]any{"template": `{"groups": {{identity.entity.groups.names}}}`})
	mustWrite(t, s.path("oidc/scope/everything"), map[string]any{"template": `{"all_groups": {{identity.entity.groups.names}}, "all_group_ids": {{identity.entity.groups.ids}}}`})
	mustWrite(t, s.path("oidc/client/team"), map[string]any{
		"redirect_uris": s.redirect, "assignments": "allow_all", "refresh_token_ttl": "1h", "group_filter": "team-*",
	})
	c := do(t, "GET", s.path("oidc/client/team"), nil).Data
	require.Equal(t, []any{"team-*"}, c["group_filter"])
	s.team, s.teamSecret = c["client_id"].(string), c["client_secret"].(string)
	mustWrite(t, s.path("oidc/provider/p"), map[string]any{
		"allowed_client_ids": strings.Join([]string{s.app, s.app2, s.spa, s.team}, ","), "scopes_supported": "groups,everything",
	})
	return s
}

// payloadClaims decodes a JWT's claims without checking its signature.
func payloadClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&claims))
	return claims
}

// group creates a group with the members and returns its id.
func (s *groupsStore) group(t *testing.T, name string, members ...string) string {
	t.Helper()
	return mustWrite(t, s.path("group"), map[string]any{"name": name, "member_entity_ids": members}).Data["id"].(string)
}

// tokens runs the code flow of user u and a confidential client with the
// scope and returns the token endpoint's answer.
func (s *groupsStore) tokens(t *testing.T, u *secUser, clientID, secret, scope string) map[string]any {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	r := s.authorize(t, u.token, clientID, map[string]string{"scope": scope, "code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r.Body["code"].(string)}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}}
	tok := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), form, basicAuth(clientID, secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	return tok.Body
}

// TestProviderGroupFilter (vault#14986): alice is in 300 groups. The
// client keeping team-* gets an ID token go-oidc verifies, small, listing
// only the 3 team groups (one of them inherited), and the same in
// userinfo, whichever scope lists them; a client without a filter gets
// all 300, names and ids, in a token over 16 KB, as before.
func TestProviderGroupFilter(t *testing.T) {
	s := newGroupsStore(t, "groups-filter")
	var team []string
	for i := range 297 {
		s.group(t, fmt.Sprintf("dept-%03d", i), s.alice.entityID)
	}
	team = append(team, "team-a", "team-b")
	s.group(t, "team-a", s.alice.entityID)
	child := s.group(t, "team-b", s.alice.entityID)
	mustWrite(t, s.path("group"), map[string]any{"name": "team-parent", "member_group_ids": child})
	team = append(team, "team-parent")

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, server.Addr+"/v1/"+s.mount+"/oidc/provider/p")
	require.NoError(t, err)
	verify := func(clientID, raw string) map[string]any {
		t.Helper()
		idToken, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
		require.NoError(t, err)
		var claims map[string]any
		require.NoError(t, idToken.Claims(&claims))
		return claims
	}
	names := func(v any) []string {
		t.Helper()
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}

	tok := s.tokens(t, s.alice, s.team, s.teamSecret, "openid groups everything")
	rawID := tok["id_token"].(string)
	claims := verify(s.team, rawID)
	require.ElementsMatch(t, team, names(claims["groups"]))
	require.ElementsMatch(t, team, names(claims["all_groups"]))
	require.Len(t, claims["all_group_ids"], 3)
	require.Less(t, len(rawID), 2048, "the filtered ID token is small")
	info := userinfoDo(t, s.path("oidc/provider/p/userinfo"), tok["access_token"].(string))
	require.Equal(t, http.StatusOK, info.Status, info.Raw)
	require.ElementsMatch(t, team, names(info.Body["groups"]))

	all := s.tokens(t, s.alice, s.app, s.appSecret, "openid groups everything")
	allRaw := all["id_token"].(string)
	require.Len(t, names(verify(s.app, allRaw)["groups"]), 300, "no filter: every group, as before")
	require.Greater(t, len(allRaw), 16*1024, "300 names and ids make a 16 KB token")
	info = userinfoDo(t, s.path("oidc/provider/p/userinfo"), all["access_token"].(string))
	require.Len(t, names(info.Body["groups"]), 300)
}

// TestSecurityProviderGroupFilter: a client that filters groups may not
// learn more than its filter keeps, whatever it asks: another scope
// listing all groups lists only the kept ones, in the ID token, userinfo
// and refreshed ID tokens, and a refresh may not widen the granted scope.
func TestSecurityProviderGroupFilter(t *testing.T) {
	s := newGroupsStore(t, "sec-groups")
	teamA := s.group(t, "team-a", s.alice.entityID)
	s.group(t, "payroll", s.alice.entityID)
	s.group(t, "secret-ops", s.alice.entityID)

	broad := s.tokens(t, s.alice, s.team, s.teamSecret, "openid groups everything")
	narrow := s.tokens(t, s.alice, s.team, s.teamSecret, "openid groups")
	want := map[string]any{"groups": []any{"team-a"}, "all_groups": []any{"team-a"}, "all_group_ids": []any{teamA}}
	claims := payloadClaims(t, broad["id_token"].(string))
	for k, v := range want {
		require.Equal(t, v, claims[k], k)
	}

	attacks := []attack{
		{"a filtering client may not read dropped groups through another scope's userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "p", broad["access_token"].(string))
		}, answer{http.StatusOK, fmt.Sprintf(`{"all_group_ids":[%q],"all_groups":["team-a"],"groups":["team-a"],"sub":%q}`, teamA, s.alice.entityID)}},
		{"a filtering client may not widen its scope at refresh", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.team, s.teamSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrow["refresh_token"].(string)}, "scope": {"openid groups everything"}})
		}, answer{http.StatusBadRequest, "invalid_scope: requested scope exceeds the scope granted"}},
	}
	refuseAll(t, s.secStore, attacks)

	refreshed := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {broad["refresh_token"].(string)}}, basicAuth(s.team, s.teamSecret))
	require.Equal(t, http.StatusOK, refreshed.Status, refreshed.Raw)
	claims = payloadClaims(t, refreshed.Body["id_token"].(string))
	for k, v := range want {
		require.Equal(t, v, claims[k], "refreshed "+k)
	}
}

// TestIdentityTokenAudiences (vault-csi-provider#231): a role with extra
// audiences signs aud as an array (its client id first); one without signs
// the client id string, as Vault. Vault's jwt auth (bound_audiences) and
// coreos/go-oidc (Config.ClientID) accept both forms, for the client id and
// for each extra audience, and refuse an audience the token lacks; so does
// oidc/introspect.
func TestIdentityTokenAudiences(t *testing.T) {
	ctx := context.Background()
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/ident-aud", map[string]any{
		"policy": `path "` + mount + `/oidc/token/*" { capabilities = ["read"] }`,
	}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/ident-aud", nil) })
	r := do(t, "POST", "auth/userpass/users/aud-user", map[string]any{"password": "pw", "token_policies": "ident-aud"})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	t.Cleanup(func() { do(t, "DELETE", "auth/userpass/users/aud-user", nil) })
	forgetVaultEntity(t, "aud-user", userpassAccessor)
	entityID := mustWrite(t, mount+"/entity", map[string]any{"name": "aud-user-here"}).Data["id"].(string)
	t.Cleanup(func() { do(t, "DELETE", mount+"/entity/id/"+entityID, nil) })
	mustWrite(t, mount+"/entity-alias", map[string]any{"name": "aud-user", "mount_accessor": userpassAccessor, "canonical_id": entityID})

	mustWrite(t, mount+"/oidc/key/aud", map[string]any{"allowed_client_ids": "*"})
	mustWrite(t, mount+"/oidc/role/aud-single", map[string]any{"key": "aud", "ttl": "10m"})
	mustWrite(t, mount+"/oidc/role/aud-multi", map[string]any{"key": "aud", "ttl": "10m", "client_id": "vault-csi-aud-test", "audiences": "https://kubernetes.default.svc,api,api"})
	t.Cleanup(func() {
		do(t, "DELETE", mount+"/oidc/role/aud-single", nil)
		do(t, "DELETE", mount+"/oidc/role/aud-multi", nil)
		do(t, "DELETE", mount+"/oidc/key/aud", nil)
	})
	require.NotContains(t, do(t, "GET", mount+"/oidc/role/aud-single", nil).Data, "audiences")
	require.Equal(t, []any{"https://kubernetes.default.svc", "api"}, do(t, "GET", mount+"/oidc/role/aud-multi", nil).Data["audiences"])
	bad := do(t, "POST", mount+"/oidc/role/aud-multi", map[string]any{"audiences": "api,"})
	require.Equal(t, http.StatusBadRequest, bad.Status)

	login := asToken(t, "", "POST", "auth/userpass/login/aud-user", map[string]any{"password": "pw"})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	userToken := login.Body["auth"].(map[string]any)["client_token"].(string)
	token := func(role string) (string, string) {
		t.Helper()
		tok := asToken(t, userToken, "GET", mount+"/oidc/token/"+role, nil)
		require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
		return tok.Data["token"].(string), tok.Data["client_id"].(string)
	}
	single, singleID := token("aud-single")
	multi, multiID := token("aud-multi")
	require.Equal(t, "vault-csi-aud-test", multiID)
	require.Equal(t, singleID, payloadClaims(t, single)["aud"], "no audiences: a string")
	require.Equal(t, []any{multiID, "https://kubernetes.default.svc", "api"}, payloadClaims(t, multi)["aud"])

	issuer := server.Addr + "/v1/" + mount + "/oidc"
	provider, err := oidc.NewProvider(ctx, issuer)
	require.NoError(t, err)
	goOIDC := func(clientID, raw string) error {
		_, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
		return err
	}
	require.NoError(t, goOIDC(singleID, single))
	for _, aud := range []string{multiID, "https://kubernetes.default.svc", "api"} {
		require.NoError(t, goOIDC(aud, multi), aud)
	}
	require.Error(t, goOIDC("other", multi))
	require.Error(t, goOIDC("api", single))

	jwtMount := "jwt-aud"
	require.Equal(t, http.StatusNoContent, do(t, "POST", "sys/auth/"+jwtMount, map[string]any{"type": "jwt"}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/auth/"+jwtMount, nil) })
	cfg := do(t, "POST", "auth/"+jwtMount+"/config", map[string]any{"oidc_discovery_url": issuer, "bound_issuer": issuer})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, cfg.Status, cfg.Errors)
	for role, aud := range map[string]string{"single": singleID, "extra": "api", "client": multiID} {
		require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/"+jwtMount+"/role/"+role, map[string]any{
			"role_type": "jwt", "bound_audiences": aud, "user_claim": "sub",
		}).Status)
	}
	jwtLogin := func(role, raw string) int {
		t.Helper()
		r := asToken(t, "", "POST", "auth/"+jwtMount+"/login", map[string]any{"role": role, "jwt": raw})
		if r.Status == http.StatusOK {
			require.NotEmpty(t, r.Body["auth"].(map[string]any)["client_token"])
		}
		return r.Status
	}
	require.Equal(t, http.StatusOK, jwtLogin("single", single), "the string form")
	forgetJWTEntity(t, jwtMount, entityID)
	require.Equal(t, http.StatusOK, jwtLogin("extra", multi), "an extra audience of the array")
	require.Equal(t, http.StatusOK, jwtLogin("client", multi), "the client id in the array")
	require.Equal(t, http.StatusBadRequest, jwtLogin("extra", single), "an audience the token lacks")

	introspect := func(raw, clientID string) any {
		t.Helper()
		r := do(t, "POST", mount+"/oidc/introspect", map[string]any{"token": raw, "client_id": clientID})
		return r.Body["active"]
	}
	require.Equal(t, true, introspect(multi, "api"))
	require.Equal(t, true, introspect(multi, multiID))
	require.Equal(t, true, introspect(single, singleID))
	require.Equal(t, false, introspect(multi, "other"))
}
