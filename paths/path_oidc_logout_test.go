package paths_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

const logoutReturn = "https://app.example.com/signed-out"

// logoutSetup is providerSetup with client app opted in to logout.
func logoutSetup(t *testing.T) *providerSetup {
	t.Helper()
	p := newProviderSetup(t)
	r := p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": logoutReturn + ",http://127.0.0.1:8250/bye"})
	require.Less(t, r.Status, 300, r.ErrorText())
	return p
}

// signInTokens runs the code flow for client app.
func (p *providerSetup) signInTokens(t *testing.T) map[string]any {
	t.Helper()
	r := raw(t, p.exchange(p.code(t, nil), nil))
	require.Equal(t, http.StatusOK, r.status, r.body)
	return r.body
}

func unverifiedClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	require.NoError(t, err)
	out := map[string]any{}
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&out))
	return out
}

func logoutPage(p *providerSetup, provider string, q map[string]any) (int, string) {
	r := p.b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/provider/" + provider + "/logout", Data: q})
	if r.Resp == nil {
		return 0, r.ErrorText()
	}
	return r.Resp.Data[logical.HTTPStatusCode].(int), string(r.Resp.Data[logical.HTTPRawBody].([]byte))
}

func logoutConfirm(t *testing.T, p *providerSetup, provider string, q map[string]any) rawReply {
	t.Helper()
	d := map[string]any{"confirm": "yes"}
	for k, v := range q {
		d[k] = v
	}
	return raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/" + provider + "/logout", Data: d}))
}

func TestLogoutClientFieldsValidated(t *testing.T) {
	p := newProviderSetup(t)
	for _, tc := range []struct{ field, value, msg string }{
		{"post_logout_redirect_uris", "/relative", `invalid post_logout_redirect_uris value "/relative": it must be an absolute URL with a host`},
		{"post_logout_redirect_uris", "javascript://x/%0aalert(1)", `invalid post_logout_redirect_uris value "javascript://x/%0aalert(1)": scheme "javascript" is not allowed`},
		{"post_logout_redirect_uris", "https://app.example.com/x#frag", `invalid post_logout_redirect_uris value "https://app.example.com/x#frag": it must not have a fragment`},
		{"backchannel_logout_uri", "http://app.example.com/bc", "backchannel_logout_uri must use https unless its host is a loopback address"},
		{"backchannel_logout_uri", "app.example.com/bc", `invalid backchannel_logout_uri "app.example.com/bc": it must be an absolute URL with a host`},
	} {
		r := p.b.Write("oidc/client/app", map[string]any{tc.field: tc.value})
		require.Equal(t, http.StatusBadRequest, r.Status, tc.value)
		require.Equal(t, tc.msg, r.ErrorText(), tc.value)
	}
	// Nothing of it was stored, and the client reads as before.
	c := p.b.Read("oidc/client/app").Data()
	require.NotContains(t, c, "post_logout_redirect_uris")
	require.NotContains(t, c, "backchannel_logout_uri")

	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": logoutReturn, "backchannel_logout_uri": "http://127.0.0.1:9/bc"}).Status, 300)
	c = p.b.Read("oidc/client/app").Data()
	require.Equal(t, []string{logoutReturn}, c["post_logout_redirect_uris"])
	require.Equal(t, "http://127.0.0.1:9/bc", c["backchannel_logout_uri"])
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": "", "backchannel_logout_uri": ""}).Status, 300)
	c = p.b.Read("oidc/client/app").Data()
	require.NotContains(t, c, "post_logout_redirect_uris")
	require.NotContains(t, c, "backchannel_logout_uri")
}

func TestLogoutDiscoveryOptIn(t *testing.T) {
	p := newProviderSetup(t)
	d := raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	for _, k := range []string{"end_session_endpoint", "backchannel_logout_supported", "backchannel_logout_session_supported"} {
		require.NotContains(t, d, k)
	}
	// Without a client using it, the page is not served, and ID tokens
	// carry no sid.
	status, body := logoutPage(p, "p", nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "the provider does not serve logout")
	require.NotContains(t, unverifiedClaims(t, p.signInTokens(t)["id_token"].(string)), "sid")

	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": logoutReturn}).Status, 300)
	d = raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	require.Equal(t, providerIssuer+"/v1/ident/oidc/provider/p/logout", d["end_session_endpoint"])
	require.NotContains(t, d, "backchannel_logout_supported")

	require.Less(t, p.b.Write("oidc/client/spa", map[string]any{"backchannel_logout_uri": "https://spa.example.com/bc"}).Status, 300)
	d = raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration")).body
	require.Equal(t, true, d["backchannel_logout_supported"])
	require.Equal(t, true, d["backchannel_logout_session_supported"])
}

func TestLogoutEndsTheSignIn(t *testing.T) {
	p := logoutSetup(t)
	creds := []string{p.clientID, p.secret}
	first := p.signInTokens(t)
	other := p.signInTokens(t)
	claims := unverifiedClaims(t, first["id_token"].(string))
	require.Regexp(t, `^[0-9a-f-]{36}$`, claims["sid"])
	require.NotEqual(t, claims["sid"], unverifiedClaims(t, other["id_token"].(string))["sid"], "one session per sign-in")

	// A refresh keeps the session.
	refreshed := raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, creds))
	require.Equal(t, http.StatusOK, refreshed.status, refreshed.body)
	require.Equal(t, claims["sid"], unverifiedClaims(t, refreshed.body["id_token"].(string))["sid"])

	q := map[string]any{"id_token_hint": first["id_token"], "post_logout_redirect_uri": logoutReturn, "state": "bye-1"}
	status, body := logoutPage(p, "p", q)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `Sign out of <span id="client-name">app</span>?`)
	require.Contains(t, body, `id="logout-yes"`)
	strictPage(t, body)

	// The page only asked: nothing is revoked yet.
	require.Equal(t, http.StatusOK, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": refreshed.body["refresh_token"]}, creds)).status)

	done := logoutConfirm(t, p, "p", q)
	require.Equal(t, http.StatusOK, done.status, done.body)
	require.Equal(t, logoutReturn+"?state=bye-1", done.body["redirect_uri"])
	require.Equal(t, true, done.body["session_ended"])

	introspect := func(token string) any {
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/introspect", Data: map[string]any{"token": token, "client_id": p.clientID, "client_secret": p.secret}}
		return raw(t, p.b.Handle(req)).body["active"]
	}
	require.Equal(t, false, introspect(first["access_token"].(string)))
	require.Equal(t, false, introspect(refreshed.body["access_token"].(string)))
	oauthErr(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, creds), http.StatusBadRequest, "invalid_grant", "refresh token is invalid or expired")
	// The other sign-in lives on.
	require.Equal(t, true, introspect(other["access_token"].(string)))
	require.Equal(t, http.StatusOK, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": other["refresh_token"]}, creds)).status)

	// Without a redirect the page says so itself.
	again := logoutConfirm(t, p, "p", map[string]any{"id_token_hint": first["id_token"]})
	require.Equal(t, http.StatusOK, again.status)
	require.NotContains(t, again.body, "redirect_uri")
}

func TestLogoutWithoutRefreshTokensAndWithoutSid(t *testing.T) {
	p := logoutSetup(t)
	// A client without refresh tokens still gets a session per sign-in.
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"refresh_token_ttl": "0"}).Status, 300)
	tok := p.signInTokens(t)
	require.NotContains(t, tok, "refresh_token")
	require.NotEmpty(t, unverifiedClaims(t, tok["id_token"].(string))["sid"])
	done := logoutConfirm(t, p, "p", map[string]any{"id_token_hint": tok["id_token"], "post_logout_redirect_uri": logoutReturn})
	require.Equal(t, true, done.body["session_ended"])
	require.Equal(t, http.StatusUnauthorized, raw(t, p.bearer("oidc/provider/p/userinfo", tok["access_token"].(string))).status)

	// A hint without sid (issued before the client opted in) ends nothing
	// but still returns.
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": "", "refresh_token_ttl": "1h"}).Status, 300)
	old := p.signInTokens(t)
	require.NotContains(t, unverifiedClaims(t, old["id_token"].(string)), "sid")
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"post_logout_redirect_uris": logoutReturn}).Status, 300)
	done = logoutConfirm(t, p, "p", map[string]any{"id_token_hint": old["id_token"], "post_logout_redirect_uri": logoutReturn, "state": "s"})
	require.Equal(t, http.StatusOK, done.status)
	require.Equal(t, false, done.body["session_ended"])
	require.Equal(t, logoutReturn+"?state=s", done.body["redirect_uri"])
	require.Equal(t, http.StatusOK, raw(t, p.bearer("oidc/provider/p/userinfo", old["access_token"].(string))).status)

	// client_id alone may return too, ending nothing.
	done = logoutConfirm(t, p, "p", map[string]any{"client_id": p.clientID, "post_logout_redirect_uri": logoutReturn})
	require.Equal(t, logoutReturn, done.body["redirect_uri"])
	require.Equal(t, false, done.body["session_ended"])
}

// forge signs claims with a key of its own.
func forge(t *testing.T, claims map[string]any) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, nil)
	require.NoError(t, err)
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return out
}

func TestLogoutRefusals(t *testing.T) {
	p := logoutSetup(t)
	require.Less(t, p.b.Write("oidc/client/spa", map[string]any{"post_logout_redirect_uris": "https://spa.example.com/bye"}).Status, 300)
	// Provider q shares client app and its key but has its own issuer.
	require.Less(t, p.b.Write("oidc/provider/q", map[string]any{"issuer": "https://other.example.com", "allowed_client_ids": p.clientID}).Status, 300)
	tok := p.signInTokens(t)
	hint := tok["id_token"].(string)
	claims := unverifiedClaims(t, hint)
	creds := []string{p.clientID, p.secret}

	// A hint the provider issued to spa.
	spaVerifier := verifier
	spaCode := raw(t, p.authorize(p.authzRequest(map[string]any{"client_id": p.publicID, "code_challenge": logoutS256(spaVerifier), "code_challenge_method": "S256"}))).body["code"].(string)
	spaTok := raw(t, p.token(map[string]any{"grant_type": "authorization_code", "code": spaCode, "redirect_uri": redirect, "client_id": p.publicID, "code_verifier": spaVerifier}, nil))
	require.Equal(t, http.StatusOK, spaTok.status, spaTok.body)
	spaHint := spaTok.body["id_token"].(string)

	expired := map[string]any{}
	for k, v := range claims {
		expired[k] = v
	}
	expired["exp"] = time.Now().Add(-time.Hour).Unix()

	for _, tc := range []struct {
		name     string
		provider string
		q        map[string]any
		status   int
		desc     string
	}{
		{"unregistered post_logout_redirect_uri", "p", map[string]any{"id_token_hint": hint, "post_logout_redirect_uri": "https://evil.example.com/"}, 400, "post_logout_redirect_uri is not registered for the client"},
		{"redirect_uri prefix is no match", "p", map[string]any{"id_token_hint": hint, "post_logout_redirect_uri": logoutReturn + "/more"}, 400, "post_logout_redirect_uri is not registered for the client"},
		{"a sign-in redirect_uri is no post-logout one", "p", map[string]any{"id_token_hint": hint, "post_logout_redirect_uri": redirect}, 400, "post_logout_redirect_uri is not registered for the client"},
		{"redirect without hint or client_id", "p", map[string]any{"post_logout_redirect_uri": logoutReturn}, 400, "post_logout_redirect_uri requires id_token_hint or client_id"},
		{"hint signed by another key", "p", map[string]any{"id_token_hint": forge(t, claims), "post_logout_redirect_uri": logoutReturn}, 400, "id_token_hint signature does not verify with the provider's keys"},
		{"expired hint signed by another key", "p", map[string]any{"id_token_hint": forge(t, expired)}, 400, "id_token_hint signature does not verify with the provider's keys"},
		{"hint issued by another provider", "q", map[string]any{"id_token_hint": hint}, 400, "id_token_hint was not issued by the provider"},
		{"hint of a client the provider does not allow", "q", map[string]any{"id_token_hint": spaHint}, 400, "id_token_hint was not issued to a client of the provider"},
		{"hint of another client with that client's redirect", "p", map[string]any{"id_token_hint": spaHint, "post_logout_redirect_uri": logoutReturn}, 400, "post_logout_redirect_uri is not registered for the client"},
		{"hint of another client named as this one", "p", map[string]any{"id_token_hint": spaHint, "client_id": p.clientID, "post_logout_redirect_uri": logoutReturn}, 400, "client_id does not match the id_token_hint's audience"},
		{"not a JWT", "p", map[string]any{"id_token_hint": "hvo_at_nope"}, 400, "id_token_hint is not an ID token of the provider"},
		{"an access token is no hint", "p", map[string]any{"id_token_hint": tok["access_token"]}, 400, "id_token_hint is not an ID token of the provider"},
		{"unknown client_id", "p", map[string]any{"client_id": "nope", "post_logout_redirect_uri": logoutReturn}, 400, "client_id is not a client of the provider"},
		{"unknown provider", "nope", map[string]any{"id_token_hint": hint}, 404, "the provider does not serve logout: no client of it registered post_logout_redirect_uris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := logoutPage(p, tc.provider, tc.q)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, `id="error-view"`)
			require.NotContains(t, body, "logout-yes")
			require.NotContains(t, body, "evil.example.com")
			d := map[string]any{"confirm": "yes"}
			for k, v := range tc.q {
				d[k] = v
			}
			r := raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/" + tc.provider + "/logout", Data: d}))
			require.Equal(t, tc.status, r.status, r.body)
			require.NotContains(t, r.body, "redirect_uri")
			if tc.provider == "p" {
				require.Equal(t, tc.desc, r.body["error_description"])
			}
		})
	}
	// After every refusal the sign-in still works.
	require.Equal(t, http.StatusOK, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}, creds)).status)
	require.Equal(t, http.StatusOK, raw(t, p.bearer("oidc/provider/p/userinfo", spaTok.body["access_token"].(string))).status)
}

func TestLogoutAcceptsAnExpiredHint(t *testing.T) {
	p := logoutSetup(t)
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"id_token_ttl": "1s"}).Status, 300)
	tok := p.signInTokens(t)
	time.Sleep(2100 * time.Millisecond)
	done := logoutConfirm(t, p, "p", map[string]any{"id_token_hint": tok["id_token"], "post_logout_redirect_uri": logoutReturn})
	require.Equal(t, http.StatusOK, done.status, done.body)
	require.Equal(t, true, done.body["session_ended"])
}

func TestLogoutPageEscapesAndScript(t *testing.T) {
	p := logoutSetup(t)
	tok := p.signInTokens(t)
	status, body := logoutPage(p, "p", map[string]any{"id_token_hint": tok["id_token"], "state": `"</script><script>alert(1)</script>`})
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, "<script>alert(1)")
	m := strings.Index(body, `id="logout-request">`)
	require.Positive(t, m)
	js := body[m+len(`id="logout-request">`):]
	js = js[:strings.Index(js, "</script>")]
	var data struct {
		Params map[string]string `json:"params"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &data))
	require.Equal(t, `"</script><script>alert(1)</script>`, data.Params["state"])

	r := p.b.Read("oidc/sign-in/logout.js")
	require.Equal(t, http.StatusOK, r.Resp.Data[logical.HTTPStatusCode])
	require.Contains(t, string(r.Resp.Data[logical.HTTPRawBody].([]byte)), "logout-yes")
}

func logoutS256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestBackchannelLogout: ending a sign-in posts a logout token to the
// client's backchannel_logout_uri, verifiable with the provider's keys; a
// refresh-token reuse and RFC 7009 revocation end sign-ins too.
func TestBackchannelLogout(t *testing.T) {
	got := make(chan string, 8)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		got <- r.PostForm.Get("logout_token")
	}))
	defer rp.Close()
	p := logoutSetup(t)
	require.Less(t, p.b.Write("oidc/client/app", map[string]any{"backchannel_logout_uri": rp.URL + "/bc"}).Status, 300)
	keys := raw(t, p.b.Read("oidc/provider/p/.well-known/keys")).body
	rawKeys, err := json.Marshal(keys)
	require.NoError(t, err)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(rawKeys, &set))

	check := func(idToken string) {
		t.Helper()
		var tok string
		select {
		case tok = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no logout token")
		}
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		require.NoError(t, err)
		require.Equal(t, "logout+jwt", parsed.Headers[0].ExtraHeaders[jose.HeaderType])
		k := set.Key(parsed.Headers[0].KeyID)
		require.Len(t, k, 1)
		claims := map[string]any{}
		require.NoError(t, parsed.Claims(k[0].Key, &claims))
		id := unverifiedClaims(t, idToken)
		require.Equal(t, id["iss"], claims["iss"])
		require.Equal(t, p.clientID, claims["aud"])
		require.Equal(t, id["sub"], claims["sub"])
		require.Equal(t, id["sid"], claims["sid"])
		require.NotEmpty(t, claims["jti"])
		require.NotContains(t, claims, "nonce")
		require.Equal(t, map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}, claims["events"])
	}

	// RP-initiated logout.
	tok := p.signInTokens(t)
	require.Equal(t, true, logoutConfirm(t, p, "p", map[string]any{"id_token_hint": tok["id_token"]}).body["session_ended"])
	check(tok["id_token"].(string))

	// Refresh token reuse.
	creds := []string{p.clientID, p.secret}
	tok = p.signInTokens(t)
	require.Equal(t, http.StatusOK, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}, creds)).status)
	require.Equal(t, http.StatusBadRequest, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}, creds)).status)
	check(tok["id_token"].(string))

	// RFC 7009 revocation of the refresh token.
	tok = p.signInTokens(t)
	r := p.endpoint("revoke", map[string]any{"token": tok["refresh_token"]}, creds)
	require.Equal(t, http.StatusOK, raw(t, r).status)
	check(tok["id_token"].(string))

	// Disabling the entity ends its sign-ins; so does deleting it.
	tok = p.signInTokens(t)
	require.Equal(t, http.StatusNoContent, p.b.Write("entity/id/"+p.entityID, map[string]any{"disabled": true}).Status)
	check(tok["id_token"].(string))
	require.Equal(t, http.StatusNoContent, p.b.Write("entity/id/"+p.entityID, map[string]any{"disabled": false}).Status)
	require.Equal(t, http.StatusBadRequest, raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}, creds)).status,
		"the ended sign-in stays ended once the entity is enabled again")
	tok = p.signInTokens(t)
	require.Equal(t, http.StatusNoContent, p.b.Delete("entity/id/"+p.entityID).Status)
	check(tok["id_token"].(string))

	select {
	case extra := <-got:
		t.Fatalf("unexpected logout token %s", extra)
	case <-time.After(300 * time.Millisecond):
	}
}
