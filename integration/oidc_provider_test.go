//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The OIDC provider under a real Vault: a relying party made of
// golang.org/x/oauth2 and coreos/go-oidc runs the authorization code flow
// with PKCE, refresh, introspection, revocation and client credentials
// against the plugin; the error answers are checked exactly; and the
// configuration API and the authorization and token endpoints are compared
// with Vault's built-in engine in the same server.

var (
	// base62ID is the format of client ids and authorization codes.
	base62ID     = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	clientSecret = regexp.MustCompile(`^hvo_secret_[A-Za-z0-9]{64}$`)
)

// oauthReply is a raw answer of an OAuth endpoint.
type oauthReply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// oauthDo sends a request to /v1/path: a url.Values body goes as a query
// (GET) or a form (POST), anything else as JSON. headers are set as given.
func oauthDo(t *testing.T, method, path string, body any, headers map[string]string) oauthReply {
	t.Helper()
	target := path
	var rd io.Reader
	h := http.Header{}
	switch b := body.(type) {
	case nil:
	case url.Values:
		if method == http.MethodGet {
			target += "?" + b.Encode()
		} else {
			rd = strings.NewReader(b.Encode())
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
		h.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		h.Set(k, v)
	}
	resp, raw := rawDo(t, method, target, rd, h)
	r := oauthReply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.Body), "%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return r
}

// basicAuth is client_secret_basic, encoded as RFC 6749 section 2.3.1 asks.
func basicAuth(id, secret string) map[string]string {
	creds := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(creds))}
}

func vaultToken(token string) map[string]string { return map[string]string{"X-Vault-Token": token} }

func bearerToken(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// requireOAuthError checks an OAuth error answer: status and the whole
// body.
func requireOAuthError(t *testing.T, r oauthReply, status int, body map[string]any) {
	t.Helper()
	require.Equal(t, status, r.Status, r.Raw)
	require.Equal(t, body, r.Body)
}

func oauthErrBody(code, desc string) map[string]any {
	return map[string]any{"error": code, "error_description": desc}
}

// rpUser is a userpass user known to both engines: Vault made its entity
// in identity/ at login, and the plugin holds an entity whose alias names
// the user on the userpass mount.
type rpUser struct {
	name     string
	token    string
	login    time.Time
	entityID string // the plugin's entity
}

// newRPUser creates the user with a policy that lets it call the
// authorization endpoints of both engines, logs it in and links it to a
// new plugin entity with metadata team=dev.
func newRPUser(t *testing.T, name string) *rpUser {
	t.Helper()
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/provider-authorize", map[string]any{
		"policy": `path "` + mount + `/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
path "identity/oidc/provider/+/authorize" { capabilities = ["read", "update"] }`,
	}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/provider-authorize", nil) })
	forgetVaultEntity(t, name, userpassAccessor)
	r := do(t, "POST", "auth/userpass/users/"+name, map[string]any{"password": "pw", "token_policies": "provider-authorize"})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	t.Cleanup(func() { do(t, "DELETE", "auth/userpass/users/"+name, nil) })
	u := &rpUser{name: name, login: time.Now().Truncate(time.Second)}
	login := asToken(t, "", "POST", "auth/userpass/login/"+name, map[string]any{"password": "pw"})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	u.token = login.Body["auth"].(map[string]any)["client_token"].(string)

	e := do(t, "POST", mount+"/entity", map[string]any{"name": name + "-here", "metadata": "team=dev"})
	require.Equal(t, http.StatusOK, e.Status, e.Errors)
	u.entityID = e.Data["id"].(string)
	t.Cleanup(func() { do(t, "DELETE", mount+"/entity/id/"+u.entityID, nil) })
	a := do(t, "POST", mount+"/entity-alias", map[string]any{"name": name, "mount_accessor": userpassAccessor, "canonical_id": u.entityID})
	require.Equal(t, http.StatusOK, a.Status, a.Errors)
	return u
}

// rpFixture is provider "rp" on the plugin mount with a scope "profile",
// a confidential client with refresh tokens and a public client.
type rpFixture struct {
	user             *rpUser
	issuer           string
	clientID, secret string
	publicID         string
	redirect         string
}

const rpProvider = "rp"

func newRPFixture(t *testing.T) *rpFixture {
	t.Helper()
	f := &rpFixture{user: newRPUser(t, "rp-user"), redirect: "http://127.0.0.1:8250/oidc/callback"}
	p := mount + "/oidc/"
	t.Cleanup(func() {
		for _, path := range []string{"client/rp-app", "client/rp-spa", "client/rp-machine", "provider/" + rpProvider, "scope/profile"} {
			do(t, "DELETE", p+path, nil)
		}
	})
	mustWrite(t, p+"scope/profile", map[string]any{"template": `{"name": {{identity.entity.name}}, "team": {{identity.entity.metadata.team}}}`})
	mustWrite(t, p+"provider/"+rpProvider, map[string]any{"issuer": server.Addr, "allowed_client_ids": "*", "scopes_supported": "profile"})
	mustWrite(t, p+"client/rp-app", map[string]any{
		"redirect_uris": f.redirect, "assignments": "allow_all",
		"id_token_ttl": "10m", "access_token_ttl": "10m", "refresh_token_ttl": "1h",
	})
	mustWrite(t, p+"client/rp-spa", map[string]any{"redirect_uris": f.redirect, "assignments": "allow_all", "client_type": "public"})
	app := do(t, "GET", p+"client/rp-app", nil).Data
	f.clientID, f.secret = app["client_id"].(string), app["client_secret"].(string)
	f.publicID = do(t, "GET", p+"client/rp-spa", nil).Data["client_id"].(string)
	f.issuer = server.Addr + "/v1/" + mount + "/oidc/provider/" + rpProvider
	return f
}

// authorize is the user's step: the sign-in page's call of the
// authorization endpoint with the user's Vault token.
func (f *rpFixture) authorize(t *testing.T, params url.Values) oauthReply {
	t.Helper()
	return oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/authorize", formToJSON(params), vaultToken(f.user.token))
}

// params is an authentication request of the confidential client.
func (f *rpFixture) params(extra map[string]string) url.Values {
	v := url.Values{"client_id": {f.clientID}, "redirect_uri": {f.redirect}, "scope": {"openid profile"}, "response_type": {"code"}, "state": {"st"}, "nonce": {"n-1"}}
	for k, val := range extra {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

func (f *rpFixture) code(t *testing.T, params url.Values) string {
	t.Helper()
	r := f.authorize(t, params)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, params.Get("state"), r.Body["state"])
	code, _ := r.Body["code"].(string)
	require.Regexp(t, base62ID, code)
	return code
}

// token calls the token endpoint with a form body.
func (f *rpFixture) token(t *testing.T, form url.Values, headers map[string]string) oauthReply {
	t.Helper()
	return oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/token", form, headers)
}

func (f *rpFixture) endpoint(t *testing.T, name string, form url.Values) oauthReply {
	t.Helper()
	return oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/"+name, form, basicAuth(f.clientID, f.secret))
}

func (f *rpFixture) config(provider *oidc.Provider, style oauth2.AuthStyle) *oauth2.Config {
	ep := provider.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{
		ClientID: f.clientID, ClientSecret: f.secret, Endpoint: ep, RedirectURL: f.redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile"},
	}
}

// TestProviderRelyingPartyFlow runs the whole authorization code flow with
// PKCE as golang.org/x/oauth2 and coreos/go-oidc do it, for both ways a
// client authenticates, then refresh, introspection and revocation.
func TestProviderRelyingPartyFlow(t *testing.T) {
	f := newRPFixture(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.issuer)
	require.NoError(t, err, "go-oidc discovers the provider and checks its issuer")
	require.Equal(t, f.issuer+"/sign-in", provider.Endpoint().AuthURL)
	require.Equal(t, f.issuer+"/token", provider.Endpoint().TokenURL)
	require.Equal(t, f.issuer+"/userinfo", provider.UserInfoEndpoint())
	var disc struct {
		Introspection string   `json:"introspection_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Methods       []string `json:"code_challenge_methods_supported"`
		Scopes        []string `json:"scopes_supported"`
	}
	require.NoError(t, provider.Claims(&disc))
	require.Equal(t, f.issuer+"/introspect", disc.Introspection)
	require.Equal(t, f.issuer+"/revoke", disc.Revocation)
	require.Contains(t, disc.Methods, "S256")
	require.ElementsMatch(t, []string{"profile", "openid"}, disc.Scopes)

	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
		t.Run(style.name, func(t *testing.T) {
			cfg := f.config(provider, style.style)
			clientAuth := func(form url.Values) (url.Values, map[string]string) {
				if style.style == oauth2.AuthStyleInHeader {
					return form, basicAuth(f.clientID, f.secret)
				}
				return withCreds(form, f.clientID, f.secret), nil
			}
			call := func(name string, form url.Values) oauthReply {
				form, headers := clientAuth(form)
				return oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/"+name, form, headers)
			}

			// The relying party builds the request; the user's sign-in
			// posts it to the authorization endpoint.
			verifier := oauth2.GenerateVerifier()
			state, nonce := "state-"+style.name, "nonce-"+style.name
			authURL, err := url.Parse(cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
			require.NoError(t, err)
			require.Equal(t, f.issuer+"/sign-in", authURL.Scheme+"://"+authURL.Host+authURL.Path)
			params := authURL.Query()
			require.Equal(t, "S256", params.Get("code_challenge_method"))
			code := f.code(t, params)

			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			require.Equal(t, "Bearer", tok.TokenType)
			require.True(t, strings.HasPrefix(tok.AccessToken, "hvo_at_"), tok.AccessToken)
			require.True(t, strings.HasPrefix(tok.RefreshToken, "hvo_rt_"), "refresh_token_ttl is set")
			require.WithinDuration(t, time.Now().Add(10*time.Minute), tok.Expiry, time.Minute)

			// The ID token: signature, issuer, audience, expiry, nonce,
			// at_hash, and the claims of the profile scope.
			verifierFor := provider.Verifier(&oidc.Config{ClientID: f.clientID})
			rawID, _ := tok.Extra("id_token").(string)
			idToken, err := verifierFor.Verify(ctx, rawID)
			require.NoError(t, err)
			require.Equal(t, nonce, idToken.Nonce)
			require.Equal(t, f.user.entityID, idToken.Subject)
			require.Equal(t, []string{f.clientID}, idToken.Audience)
			require.NotEmpty(t, idToken.AccessTokenHash)
			require.NoError(t, idToken.VerifyAccessToken(tok.AccessToken))
			require.Error(t, idToken.VerifyAccessToken(tok.AccessToken+"x"))
			require.WithinDuration(t, time.Now().Add(10*time.Minute), idToken.Expiry, time.Minute)
			var claims map[string]any
			require.NoError(t, idToken.Claims(&claims))
			require.Equal(t, "rp-user-here", claims["name"])
			require.Equal(t, "dev", claims["team"])
			require.Equal(t, "root", claims["namespace"])
			require.NotEmpty(t, claims["c_hash"])

			// Userinfo with the access token as a Bearer token.
			require.Equal(t, map[string]any{"sub": f.user.entityID, "name": "rp-user-here", "team": "dev"}, rpUserInfo(t, ctx, provider, tok))

			// Refresh: the token source refreshes an expired token; the
			// refresh token rotates and a new ID token comes with it.
			expired := *tok
			expired.Expiry = time.Now().Add(-time.Minute)
			next, err := cfg.TokenSource(ctx, &expired).Token()
			require.NoError(t, err)
			require.NotEqual(t, tok.AccessToken, next.AccessToken)
			require.NotEqual(t, tok.RefreshToken, next.RefreshToken, "the refresh token rotates")
			refreshedID, err := verifierFor.Verify(ctx, next.Extra("id_token").(string))
			require.NoError(t, err)
			require.NoError(t, refreshedID.VerifyAccessToken(next.AccessToken))
			require.Equal(t, f.user.entityID, refreshedID.Subject)

			// Introspection (RFC 7662).
			live := call("introspect", url.Values{"token": {next.AccessToken}})
			require.Equal(t, http.StatusOK, live.Status, live.Raw)
			require.Equal(t, "no-store", live.Header.Get("Cache-Control"))
			for k, v := range map[string]any{
				"active": true, "sub": f.user.entityID, "client_id": f.clientID, "aud": f.clientID,
				"scope": "openid profile", "token_type": "Bearer", "iss": f.issuer,
			} {
				require.Equal(t, v, live.Body[k], k)
			}
			require.InDelta(t, float64(time.Now().Add(10*time.Minute).Unix()), live.Body["exp"], 60)
			refreshInfo := call("introspect", url.Values{"token": {next.RefreshToken}, "token_type_hint": {"refresh_token"}})
			require.Equal(t, true, refreshInfo.Body["active"])
			require.Equal(t, "refresh_token", refreshInfo.Body["token_type"])
			used := call("introspect", url.Values{"token": {tok.RefreshToken}})
			require.Equal(t, map[string]any{"active": false}, used.Body, "a rotated refresh token is no longer active")
			require.Equal(t, map[string]any{"active": false}, call("introspect", url.Values{"token": {"hvo_at_unknown"}}).Body)

			// Revocation (RFC 7009) of the access token: it becomes
			// inactive and userinfo refuses it.
			revoked := call("revoke", url.Values{"token": {next.AccessToken}, "token_type_hint": {"access_token"}})
			require.Equal(t, http.StatusOK, revoked.Status, revoked.Raw)
			require.Equal(t, map[string]any{"active": false}, call("introspect", url.Values{"token": {next.AccessToken}}).Body)
			_, err = provider.UserInfo(ctx, oauth2.StaticTokenSource(next))
			require.ErrorContains(t, err, "401")
			refused := userinfoDo(t, mount+"/oidc/provider/"+rpProvider+"/userinfo", next.AccessToken)
			requireOAuthError(t, refused, http.StatusUnauthorized, oauthErrBody("invalid_token", "access token is expired"))
			require.Equal(t, `Bearer error="invalid_token",error_description="access token is expired"`, refused.Header.Get("WWW-Authenticate"))

			// Revoking the refresh token ends the grant: no more refreshes.
			require.Equal(t, http.StatusOK, call("revoke", url.Values{"token": {next.RefreshToken}}).Status)
			expiredNext := *next
			expiredNext.Expiry = time.Now().Add(-time.Minute)
			_, err = cfg.TokenSource(ctx, &expiredNext).Token()
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re)
			require.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
			require.Equal(t, "invalid_grant", re.ErrorCode)
			require.Equal(t, "refresh token is invalid or expired", re.ErrorDescription)
			require.Equal(t, map[string]any{"active": false}, call("introspect", url.Values{"token": {next.RefreshToken}}).Body)
			require.Equal(t, http.StatusOK, call("revoke", url.Values{"token": {"hvo_rt_unknown"}}).Status, "unknown tokens are not an error")
		})
	}

	t.Run("public client", func(t *testing.T) {
		// A public client authenticates with its id alone, and must use
		// PKCE.
		cfg := f.config(provider, oauth2.AuthStyleInParams)
		cfg.ClientID, cfg.ClientSecret = f.publicID, ""
		verifier := oauth2.GenerateVerifier()
		authURL, err := url.Parse(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
		require.NoError(t, err)
		tok, err := cfg.Exchange(ctx, f.code(t, authURL.Query()), oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		require.Empty(t, tok.RefreshToken, "refresh tokens are off for this client")
		_, err = provider.Verifier(&oidc.Config{ClientID: f.publicID}).Verify(ctx, tok.Extra("id_token").(string))
		require.NoError(t, err)
	})
}

// TestProviderClientCredentials gets an access token with
// golang.org/x/oauth2/clientcredentials for a client bound to an entity.
func TestProviderClientCredentials(t *testing.T) {
	f := newRPFixture(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.issuer)
	require.NoError(t, err)
	mustWrite(t, mount+"/oidc/client/rp-machine", map[string]any{"assignments": "allow_all", "access_token_ttl": "5m", "client_credentials_entity_id": f.user.entityID})
	machine := do(t, "GET", mount+"/oidc/client/rp-machine", nil).Data
	require.Equal(t, f.user.entityID, machine["client_credentials_entity_id"])

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{
			ClientID: machine["client_id"].(string), ClientSecret: machine["client_secret"].(string),
			TokenURL: provider.Endpoint().TokenURL, Scopes: []string{"profile", "not-supported"}, AuthStyle: style,
		}
		tok, err := cc.Token(ctx)
		require.NoError(t, err)
		require.Empty(t, tok.RefreshToken)
		require.Nil(t, tok.Extra("id_token"))
		require.Equal(t, "profile", tok.Extra("scope"), "only the provider's scopes are granted")
		require.WithinDuration(t, time.Now().Add(5*time.Minute), tok.Expiry, time.Minute)
		claims := rpUserInfo(t, ctx, provider, tok)
		require.Equal(t, f.user.entityID, claims["sub"])
		require.Equal(t, "rp-user-here", claims["name"])
	}

	// The confidential client without an entity, and a wrong secret.
	cc := clientcredentials.Config{ClientID: f.clientID, ClientSecret: f.secret, TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	_, err = cc.Token(ctx)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
	require.Equal(t, "unauthorized_client", re.ErrorCode)
	require.Equal(t, "the client is not bound to an entity: set its client_credentials_entity_id", re.ErrorDescription)
	cc.ClientSecret = "wrong"
	_, err = cc.Token(ctx)
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
	require.Equal(t, "invalid_client", re.ErrorCode)
}

// TestProviderErrorsOnRealServer checks the error answers of the
// authorization, token, userinfo, introspection and revocation endpoints
// through Vault: status, body and headers.
func TestProviderErrorsOnRealServer(t *testing.T) {
	f := newRPFixture(t)
	s256 := oauth2.S256ChallengeFromVerifier
	verifier := oauth2.GenerateVerifier()
	exchange := func(code string, extra url.Values) oauthReply {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}}
		for k, v := range extra {
			form[k] = v
		}
		return f.token(t, form, basicAuth(f.clientID, f.secret))
	}

	t.Run("authorize", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			params url.Values
			body   map[string]any
		}{
			{"wrong redirect_uri", f.params(map[string]string{"redirect_uri": "https://evil.example.com/cb"}),
				map[string]any{"error": "invalid_redirect_uri", "error_description": "redirect_uri is not allowed for the client", "state": "st"}},
			{"scope without openid", f.params(map[string]string{"scope": "profile"}),
				map[string]any{"error": "invalid_request", "error_description": `scope parameter must contain the "openid" value`, "state": "st"}},
			{"unknown client", f.params(map[string]string{"client_id": "nope"}),
				map[string]any{"error": "invalid_client_id", "error_description": "client with client_id not found", "state": "st"}},
			{"public client without PKCE", f.params(map[string]string{"client_id": f.publicID}),
				map[string]any{"error": "invalid_request", "error_description": "PKCE is required for public clients", "state": "st"}},
			{"public client with plain PKCE", f.params(map[string]string{"client_id": f.publicID, "code_challenge": verifier, "code_challenge_method": "plain"}),
				map[string]any{"error": "invalid_request", "error_description": "public clients must use code_challenge_method S256", "state": "st"}},
			{"public client with PKCE, no method", f.params(map[string]string{"client_id": f.publicID, "code_challenge": verifier}),
				map[string]any{"error": "invalid_request", "error_description": "public clients must use code_challenge_method S256", "state": "st"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				requireOAuthError(t, f.authorize(t, c.params), http.StatusBadRequest, c.body)
			})
		}
	})

	t.Run("reused code", func(t *testing.T) {
		code := f.code(t, f.params(nil))
		first := exchange(code, nil)
		require.Equal(t, http.StatusOK, first.Status, first.Raw)
		require.Equal(t, "no-store", first.Header.Get("Cache-Control"))
		require.Equal(t, "no-cache", first.Header.Get("Pragma"))
		again := exchange(code, nil)
		requireOAuthError(t, again, http.StatusBadRequest, oauthErrBody("invalid_grant", "authorization grant is invalid or expired"))
		require.Equal(t, "no-store", again.Header.Get("Cache-Control"))
		require.Empty(t, again.Header.Get("WWW-Authenticate"))
	})

	t.Run("bad code_verifier", func(t *testing.T) {
		code := f.code(t, f.params(map[string]string{"code_challenge": s256(verifier), "code_challenge_method": "S256"}))
		requireOAuthError(t, exchange(code, url.Values{"code_verifier": {verifier + "x"}}), http.StatusBadRequest,
			oauthErrBody("invalid_grant", "invalid code_verifier for token exchange"))
		// The code is spent by the failed attempt.
		requireOAuthError(t, exchange(code, url.Values{"code_verifier": {verifier}}), http.StatusBadRequest,
			oauthErrBody("invalid_grant", "authorization grant is invalid or expired"))
		code = f.code(t, f.params(map[string]string{"code_challenge": s256(verifier), "code_challenge_method": "S256"}))
		requireOAuthError(t, exchange(code, nil), http.StatusBadRequest, oauthErrBody("invalid_request", "expected code_verifier for token exchange"))
	})

	t.Run("client authentication", func(t *testing.T) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {f.redirect}}
		for _, c := range []struct {
			name    string
			form    url.Values
			headers map[string]string
		}{
			{"unknown client, basic", form, basicAuth("nope", "x")},
			{"wrong secret, basic", form, basicAuth(f.clientID, "wrong")},
			{"wrong secret, post", withCreds(form, f.clientID, "wrong"), nil},
			{"unknown client, post", withCreds(form, "nope", "x"), nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := f.token(t, c.form, c.headers)
				requireOAuthError(t, r, http.StatusUnauthorized, oauthErrBody("invalid_client", "client failed to authenticate"))
				require.Equal(t, "Basic", r.Header.Get("WWW-Authenticate"))
				require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
				for _, endpoint := range []string{"introspect", "revoke"} {
					form := withCreds(url.Values{"token": {"x"}}, c.form.Get("client_id"), c.form.Get("client_secret"))
					r := oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/"+endpoint, form, c.headers)
					requireOAuthError(t, r, http.StatusUnauthorized, oauthErrBody("invalid_client", "client failed to authenticate"))
					require.Equal(t, "Basic", r.Header.Get("WWW-Authenticate"), endpoint)
				}
			})
		}
		requireOAuthError(t, f.token(t, form, nil), http.StatusBadRequest, oauthErrBody("invalid_request", "client_id parameter is required"))
		requireOAuthError(t, f.endpoint(t, "introspect", url.Values{}), http.StatusBadRequest, oauthErrBody("invalid_request", "token parameter is required"))
		requireOAuthError(t, f.token(t, url.Values{"grant_type": {"password"}}, basicAuth(f.clientID, f.secret)), http.StatusBadRequest,
			oauthErrBody("unsupported_grant_type", "unsupported grant_type value"))
	})

	t.Run("refresh token reuse revokes the family", func(t *testing.T) {
		first := exchange(f.code(t, f.params(nil)), nil)
		require.Equal(t, http.StatusOK, first.Status, first.Raw)
		refresh := func(token string) oauthReply {
			return f.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, basicAuth(f.clientID, f.secret))
		}
		second := refresh(first.Body["refresh_token"].(string))
		require.Equal(t, http.StatusOK, second.Status, second.Raw)
		access := second.Body["access_token"].(string)
		require.Equal(t, true, f.endpoint(t, "introspect", url.Values{"token": {access}}).Body["active"])

		requireOAuthError(t, refresh(first.Body["refresh_token"].(string)), http.StatusBadRequest,
			oauthErrBody("invalid_grant", "refresh token was already used; the grant is revoked"))
		// Every token of the family is dead now.
		require.Equal(t, map[string]any{"active": false}, f.endpoint(t, "introspect", url.Values{"token": {access}}).Body)
		requireOAuthError(t, userinfoDo(t, mount+"/oidc/provider/"+rpProvider+"/userinfo", access),
			http.StatusUnauthorized, oauthErrBody("invalid_token", "access token is expired"))
		requireOAuthError(t, refresh(second.Body["refresh_token"].(string)), http.StatusBadRequest,
			oauthErrBody("invalid_grant", "refresh token is invalid or expired"))
	})

	t.Run("introspection of another client's tokens", func(t *testing.T) {
		tokens := exchange(f.code(t, f.params(nil)), nil)
		require.Equal(t, http.StatusOK, tokens.Status, tokens.Raw)
		for _, kind := range []string{"access_token", "refresh_token"} {
			token := tokens.Body[kind].(string)
			// The public client authenticates by its client_id alone.
			asPublic := oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+rpProvider+"/introspect", url.Values{"token": {token}, "client_id": {f.publicID}}, nil)
			require.Equal(t, http.StatusOK, asPublic.Status, asPublic.Raw)
			require.Equal(t, map[string]any{"active": false}, asPublic.Body, kind)
			require.Equal(t, true, f.endpoint(t, "introspect", url.Values{"token": {token}}).Body["active"], "the owner still sees its %s", kind)
		}
	})

	t.Run("userinfo", func(t *testing.T) {
		path := mount + "/oidc/provider/" + rpProvider + "/userinfo"
		r := oauthDo(t, http.MethodGet, path, nil, nil)
		requireOAuthError(t, r, http.StatusUnauthorized, oauthErrBody("invalid_token", "access token must be sent as a Bearer token"))
		require.Equal(t, `Bearer error="invalid_token",error_description="access token must be sent as a Bearer token"`, r.Header.Get("WWW-Authenticate"))
		requireOAuthError(t, userinfoDo(t, path, "hvo_at_nope"), http.StatusUnauthorized,
			oauthErrBody("invalid_token", "access token is expired"))
		// The token as access_token in a form-encoded body is read on every
		// Vault version; with the header too, where Vault passes the header
		// on, it is refused.
		inBody := url.Values{"access_token": {"hvo_at_nope"}}
		requireOAuthError(t, oauthDo(t, http.MethodPost, path, inBody, nil), http.StatusUnauthorized,
			oauthErrBody("invalid_token", "access token is expired"))
		if !vaultBefore(t, 21) {
			requireOAuthError(t, oauthDo(t, http.MethodPost, path, inBody, bearerToken("hvo_at_nope")), http.StatusBadRequest,
				oauthErrBody("invalid_request", "access token must be sent in one way only: the Authorization header or the access_token form parameter"))
		}
		requireOAuthError(t, userinfoDo(t, mount+"/oidc/provider/nope/userinfo", "x"), http.StatusBadRequest,
			oauthErrBody("invalid_request", "provider not found"))
	})
}

// compareOAuthAnswers checks the built-in engine's answer has the expected
// status and the plugin's is the same, or the documented difference.
func compareOAuthAnswers(t *testing.T, status int, differs map[string]oauthReplyBody, answers map[string]oauthReplyBody) {
	t.Helper()
	requireStatus(t, status, answers["identity"])
	if want, ok := differs[mount]; ok {
		require.Equal(t, want, answers[mount])
		t.Logf("documented difference: built-in %v, plugin %v", answers["identity"], answers[mount])
		return
	}
	require.Equal(t, answers["identity"], answers[mount])
}

func withCreds(form url.Values, id, secret string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	if id != "" {
		out.Set("client_id", id)
	}
	if secret != "" {
		out.Set("client_secret", secret)
	}
	return out
}

// discoveryAdditions are the fields the plugin's discovery document adds to
// Vault's: the endpoints it adds and how clients authenticate there.
var discoveryAdditions = []string{
	"introspection_endpoint", "introspection_endpoint_auth_methods_supported",
	"revocation_endpoint", "revocation_endpoint_auth_methods_supported", "response_modes_supported",
}

// normalizeDiscovery accepts the documented differences of the plugin's
// discovery document: its additions, its own sign-in page as the
// authorization endpoint (Vault's is its UI), and the grant types it adds.
func normalizeDiscovery(t *testing.T, label string, b, p map[string]any) {
	t.Helper()
	for _, k := range discoveryAdditions {
		if _, in := b[k]; !in {
			require.Contains(t, p, k, label)
			delete(p, k)
		}
	}
	require.Equal(t, p["issuer"].(string)+"/sign-in", strings.Replace(p["authorization_endpoint"].(string), "/v1/"+mount+"/", "/v1/identity/", 1), label)
	require.Equal(t, strings.Replace(b["issuer"].(string), "/v1/identity/", "/ui/vault/identity/", 1)+"/authorize", b["authorization_endpoint"], label)
	p["authorization_endpoint"] = b["authorization_endpoint"]
	require.Subset(t, p["grant_types_supported"], b["grant_types_supported"], label)
	require.ElementsMatch(t, []any{"authorization_code", "client_credentials", "refresh_token"}, p["grant_types_supported"], label)
	p["grant_types_supported"] = b["grant_types_supported"]
}

// TestProviderAPIMatchesBuiltin plays the same configuration writes, reads,
// lists and deletes of assignments, scopes, clients and providers on
// identity/ and on the plugin, with every validation error of Vault's.
func TestProviderAPIMatchesBuiltin(t *testing.T) {
	t.Cleanup(func() {
		for _, m := range []string{"identity", mount} {
			for _, p := range []string{
				"client/cmp-c", "client/cmp-c3", "client/cmp-pub", "provider/cmp-p", "provider/cmp-p2",
				"scope/cmp-s", "scope/cmp-s2", "scope/cmp-b64", "assignment/cmp-a", "key/cmp-short",
			} {
				do(t, "DELETE", m+"/oidc/"+p, nil)
			}
			do(t, "POST", m+"/oidc/key/default", map[string]any{"rotation_period": "24h", "verification_ttl": "24h"})
		}
	})
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"y": {{identity.entity.id}}}`))
	compareWithBuiltin(t, []step{
		// Built-in objects.
		{method: "LIST", path: "oidc/assignment"},
		{method: "GET", path: "oidc/assignment/allow_all"},
		{method: "LIST", path: "oidc/provider"},
		{method: "GET", path: "oidc/provider/default"},
		{method: "LIST", path: "oidc/scope"},
		{method: "LIST", path: "oidc/client"},
		{method: "GET", path: "oidc/client/nope"},
		{method: "GET", path: "oidc/scope/nope"},
		{method: "POST", path: "oidc/assignment/allow_all", body: map[string]any{"entity_ids": "x"}},
		{method: "DELETE", path: "oidc/assignment/allow_all"},
		{method: "DELETE", path: "oidc/provider/default"},

		// Assignments.
		{method: "POST", path: "oidc/assignment/cmp-a", body: map[string]any{"entity_ids": "e2,e1,e1", "group_ids": []string{"g2", "g1"}}},
		{method: "GET", path: "oidc/assignment/cmp-a"},
		// Vault lower-cases and dedupes both lists (in any case).
		{method: "POST", path: "oidc/assignment/cmp-a", body: map[string]any{"entity_ids": "E1,e1,E2", "group_ids": "G2,g1,G1,g2"}},
		{method: "GET", path: "oidc/assignment/cmp-a"},
		{method: "POST", path: "oidc/assignment/cmp-a", body: map[string]any{"group_ids": ""}},
		{method: "GET", path: "oidc/assignment/cmp-a"},
		{method: "LIST", path: "oidc/assignment"},

		// Scopes.
		{method: "POST", path: "oidc/scope/openid", body: map[string]any{"template": `{"x": 1}`}},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"template": `{"aud": "x"}`}},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"template": `{"x": {{identity.entity.name}`}},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"template": `not json`}},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"template": `{"g": {{identity.groups.names.g.id}}}`}},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"template": `{"x": {{identity.entity.name}}}`, "description": "the x"}},
		{method: "GET", path: "oidc/scope/cmp-s"},
		{method: "POST", path: "oidc/scope/cmp-s", body: map[string]any{"description": "changed"}},
		{method: "GET", path: "oidc/scope/cmp-s"},
		{method: "POST", path: "oidc/scope/cmp-s2", body: map[string]any{"template": `{"x": 2}`}},
		{method: "POST", path: "oidc/scope/cmp-b64", body: map[string]any{"template": b64}},
		{method: "GET", path: "oidc/scope/cmp-b64"},
		{method: "LIST", path: "oidc/scope"},

		// Clients.
		{method: "POST", path: "oidc/key/cmp-short", body: map[string]any{"rotation_period": "1h", "verification_ttl": "1h", "allowed_client_ids": "*"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"assignments": "nope"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": "nope"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": "cmp-short", "id_token_ttl": "2h"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"client_type": "other"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"id_token_ttl": "soon"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": ""}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"client_type": ""}},
		{method: "GET", path: "oidc/client/cmp-c"},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{
			"assignments": "cmp-a", "redirect_uris": "https://b.example.com/cb,https://a.example.com/cb,https://a.example.com/cb",
			"id_token_ttl": "30m", "access_token_ttl": 3600,
		}},
		{method: "GET", path: "oidc/client/cmp-c"},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": "cmp-short"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": "default"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"client_type": "public"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"client_type": "confidential", "access_token_ttl": "2h"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"assignments": "allow_all,nope"}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"key": ""}},
		{method: "POST", path: "oidc/client/cmp-c", body: map[string]any{"id_token_ttl": "25h"}},
		{method: "GET", path: "oidc/client/cmp-c"},
		{method: "POST", path: "oidc/client/cmp-pub", body: map[string]any{"client_type": "public", "redirect_uris": []string{"http://127.0.0.1:8250/cb"}, "assignments": "allow_all"}},
		{method: "GET", path: "oidc/client/cmp-pub"},
		{method: "POST", path: "oidc/client/cmp-c3", body: map[string]any{"key": "cmp-short", "id_token_ttl": "1h"}},
		{method: "GET", path: "oidc/client/cmp-c3"},
		{method: "LIST", path: "oidc/client"},
		{method: "DELETE", path: "oidc/assignment/cmp-a"},
		{method: "DELETE", path: "oidc/key/cmp-short"},
		{method: "POST", path: "oidc/key/cmp-short", body: map[string]any{"verification_ttl": "30m"}},
		{method: "POST", path: "oidc/key/default", body: map[string]any{"verification_ttl": "1h"}},

		// Providers.
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"scopes_supported": "nope"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "https://a.com/foo"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "asldfk"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "ftp://a.com"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "a.com"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "http://a.com/"}},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "http:://a.com"}},
		{method: "GET", path: "oidc/provider/cmp-p"},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"issuer": "https://vault.example.com:8200", "allowed_client_ids": "x,y,x", "scopes_supported": "cmp-s"}},
		{method: "GET", path: "oidc/provider/cmp-p"},
		{method: "POST", path: "oidc/provider/cmp-p", body: map[string]any{"scopes_supported": "cmp-s,cmp-s2"}},
		{method: "GET", path: "oidc/provider/cmp-p"},
		{method: "POST", path: "oidc/provider/cmp-p2", body: map[string]any{}},
		{method: "GET", path: "oidc/provider/cmp-p2"},
		{method: "POST", path: "oidc/provider/cmp-p2", body: map[string]any{"issuer": "http://127.0.0.1:8200"}},
		{method: "GET", path: "oidc/provider/cmp-p2"},
		{method: "POST", path: "oidc/provider/cmp-p2", body: map[string]any{"issuer": ""}},
		{method: "GET", path: "oidc/provider/cmp-p2"},
		{method: "LIST", path: "oidc/provider"},
		{method: "GET", path: "oidc/provider?list=true&allowed_client_id=x"},
		{method: "GET", path: "oidc/provider?list=true&allowed_client_id=z"},
		{method: "DELETE", path: "oidc/scope/cmp-s"},
		{method: "DELETE", path: "oidc/scope/cmp-s2"},
		{method: "GET", path: "oidc/provider/cmp-p/.well-known/openid-configuration"},
		{method: "GET", path: "oidc/provider/nope/.well-known/openid-configuration"},
		{method: "GET", path: "oidc/provider/nope/.well-known/keys"},

		// Deletes, in an order the references allow.
		{method: "DELETE", path: "oidc/provider/cmp-p"},
		{method: "DELETE", path: "oidc/provider/cmp-p2"},
		{method: "DELETE", path: "oidc/scope/cmp-s"},
		{method: "DELETE", path: "oidc/scope/cmp-s2"},
		{method: "DELETE", path: "oidc/scope/cmp-b64"},
		{method: "DELETE", path: "oidc/client/cmp-c"},
		{method: "DELETE", path: "oidc/client/cmp-c3"},
		{method: "DELETE", path: "oidc/client/cmp-pub"},
		{method: "DELETE", path: "oidc/client/cmp-pub"},
		{method: "DELETE", path: "oidc/assignment/cmp-a"},
		{method: "DELETE", path: "oidc/key/cmp-short"},
		{method: "GET", path: "oidc/provider/cmp-p"},
		{method: "GET", path: "oidc/client/cmp-c"},
		{method: "GET", path: "oidc/assignment/cmp-a"},
		{method: "LIST", path: "oidc/client"},
		{method: "LIST", path: "oidc/scope"},
		{method: "LIST", path: "oidc/provider"},
	})
}

// TestProviderClientCredentialFormats checks the generated client ids and
// secrets of both engines against one format.
func TestProviderClientCredentialFormats(t *testing.T) {
	for _, m := range []string{"identity", mount} {
		t.Cleanup(func() {
			do(t, "DELETE", m+"/oidc/client/fmt-c", nil)
			do(t, "DELETE", m+"/oidc/client/fmt-p", nil)
		})
		mustWrite(t, m+"/oidc/client/fmt-c", map[string]any{})
		mustWrite(t, m+"/oidc/client/fmt-p", map[string]any{"client_type": "public"})
		c := do(t, "GET", m+"/oidc/client/fmt-c", nil).Data
		require.Regexp(t, base62ID, c["client_id"], m)
		require.Regexp(t, clientSecret, c["client_secret"], m)
		p := do(t, "GET", m+"/oidc/client/fmt-p", nil).Data
		require.Regexp(t, base62ID, p["client_id"], m)
		require.NotContains(t, p, "client_secret", m)
		// An update keeps both.
		mustWrite(t, m+"/oidc/client/fmt-c", map[string]any{"redirect_uris": "https://x.example.com/cb"})
		again := do(t, "GET", m+"/oidc/client/fmt-c", nil).Data
		require.Equal(t, c["client_id"], again["client_id"], m)
		require.Equal(t, c["client_secret"], again["client_secret"], m)
	}
}

// engineClients are the clients a comparison made on one engine.
type engineClients struct {
	mount                            string
	clientID, secret, publicID, none string
}

// engineParams turns the parameters of a case into one engine's request:
// {client}, {public} and {none} stand for the engine's client ids, and a
// parameter given as "" is left out.
func engineParams(e *engineClients, params map[string]string) url.Values {
	subst := strings.NewReplacer("{client}", e.clientID, "{public}", e.publicID, "{none}", e.none)
	out := url.Values{}
	for k, v := range params {
		if v != "" {
			out.Set(k, subst.Replace(v))
		}
	}
	return out
}

// TestProviderEndpointsMatchBuiltin sends the same authorization and token
// requests to identity/oidc/provider/... and to the plugin's, as the same
// userpass user, and compares the answers.
func TestProviderEndpointsMatchBuiltin(t *testing.T) {
	u := newRPUser(t, "cmp-authz-user")
	const redirect = "https://app.example.com/cb"
	engines := map[string]*engineClients{}
	for _, m := range []string{"identity", mount} {
		p := m + "/oidc/"
		t.Cleanup(func() {
			for _, path := range []string{"client/cmp-authz", "client/cmp-authz-pub", "client/cmp-authz-none", "provider/cmp-authz-only", "provider/cmp-authz-other", "assignment/cmp-nobody", "scope/cmp-team"} {
				do(t, "DELETE", p+path, nil)
			}
		})
		mustWrite(t, p+"assignment/cmp-nobody", map[string]any{"entity_ids": "nobody"})
		mustWrite(t, p+"scope/cmp-team", map[string]any{"template": `{"team": {{identity.entity.metadata.team}}}`})
		mustWrite(t, p+"provider/default", map[string]any{"scopes_supported": "cmp-team"})
		t.Cleanup(func() { do(t, "POST", p+"provider/default", map[string]any{"scopes_supported": ""}) })
		mustWrite(t, p+"provider/cmp-authz-only", map[string]any{"allowed_client_ids": "someone-else"})
		mustWrite(t, p+"provider/cmp-authz-other", map[string]any{"allowed_client_ids": "*"})
		mustWrite(t, p+"client/cmp-authz", map[string]any{"redirect_uris": redirect + ",http://127.0.0.1:8250/cb", "assignments": "allow_all"})
		mustWrite(t, p+"client/cmp-authz-pub", map[string]any{"redirect_uris": redirect, "assignments": "allow_all", "client_type": "public"})
		mustWrite(t, p+"client/cmp-authz-none", map[string]any{"redirect_uris": redirect, "assignments": "cmp-nobody"})
		c := do(t, "GET", p+"client/cmp-authz", nil).Data
		engines[m] = &engineClients{
			mount: m, clientID: c["client_id"].(string), secret: c["client_secret"].(string),
			publicID: do(t, "GET", p+"client/cmp-authz-pub", nil).Data["client_id"].(string),
			none:     do(t, "GET", p+"client/cmp-authz-none", nil).Data["client_id"].(string),
		}
	}
	// The built-in entity has the same metadata as the plugin's.
	vaultEntity := do(t, "POST", "identity/lookup/entity", map[string]any{"alias_name": u.name, "alias_mount_accessor": userpassAccessor})
	require.Equal(t, http.StatusOK, vaultEntity.Status)
	require.Equal(t, http.StatusNoContent, do(t, "POST", "identity/entity/id/"+vaultEntity.Data["id"].(string), map[string]any{"metadata": "team=dev"}).Status)

	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	base := map[string]string{"client_id": "{client}", "redirect_uri": redirect, "scope": "openid cmp-team", "response_type": "code", "state": "st", "nonce": "n"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	// Wait so that max_age=1 is exceeded by the login's token. u.login is
	// truncated to the second before the login, and the built-in engine
	// compares whole seconds, so only more than two whole seconds past it
	// are sure to exceed one second by its clock. Time passing is the
	// point of this sleep.
	time.Sleep(time.Until(u.login.Add(3100 * time.Millisecond)))

	type authzCase struct {
		name string
		// status is the built-in engine's answer (400 when 0).
		status   int
		method   string
		provider string
		params   map[string]string
		headers  func(u *rpUser) map[string]string
		// differs documents a deliberate difference: the answer of each
		// engine, checked instead of comparing them.
		differs map[string]oauthReplyBody
	}
	asBearer := func(u *rpUser) map[string]string { return bearerToken(u.token) }
	// Public clients must use S256 (RFC 9700 section 2.1.1, OAuth 2.1): the
	// plain method protects nothing from whoever sees the authorization
	// request, and a public client has no secret to fall back on. Vault
	// accepts plain, and no method, which is plain.
	publicNeedsS256 := map[string]oauthReplyBody{
		mount: {http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "public clients must use code_challenge_method S256", "state": "st"}},
	}
	cases := []authzCase{
		{name: "success", status: http.StatusOK, params: with(nil)},
		{name: "success as GET", status: http.StatusOK, method: http.MethodGet, params: with(nil)},
		{name: "no state", status: http.StatusOK, params: with(map[string]string{"state": ""})},
		{name: "unsupported scope dropped", status: http.StatusOK, params: with(map[string]string{"scope": "openid nope cmp-team"})},
		{name: "loopback redirect on any port", status: http.StatusOK, params: with(map[string]string{"redirect_uri": "http://127.0.0.1:9999/cb"})},
		{name: "loopback redirect other path", params: with(map[string]string{"redirect_uri": "http://127.0.0.1:9999/other"})},
		{name: "no client_id", params: with(map[string]string{"client_id": ""})},
		{name: "unknown client", params: with(map[string]string{"client_id": "nope"})},
		{name: "no redirect_uri", params: with(map[string]string{"redirect_uri": ""})},
		{name: "wrong redirect_uri", params: with(map[string]string{"redirect_uri": "https://evil.example.com/cb"})},
		{name: "provider not found", provider: "nope", params: with(nil)},
		{name: "client not allowed by provider", provider: "cmp-authz-only", params: with(nil)},
		{name: "request", params: with(map[string]string{"request": "x"})},
		{name: "request_uri", params: with(map[string]string{"request_uri": "x"})},
		{name: "no openid", params: with(map[string]string{"scope": "cmp-team"})},
		{name: "no scope", params: with(map[string]string{"scope": ""})},
		{name: "no response_type", params: with(map[string]string{"response_type": ""})},
		{name: "token response_type", params: with(map[string]string{"response_type": "id_token"})},
		{name: "not assigned", params: with(map[string]string{"client_id": "{none}"})},
		{name: "public without PKCE", params: with(map[string]string{"client_id": "{public}"})},
		{name: "public with PKCE", status: http.StatusOK, params: with(map[string]string{"client_id": "{public}", "code_challenge": challenge, "code_challenge_method": "S256"})},
		{
			name: "public with plain challenge", status: http.StatusOK,
			params:  with(map[string]string{"client_id": "{public}", "code_challenge": strings.Repeat("a", 43), "code_challenge_method": "plain"}),
			differs: publicNeedsS256,
		},
		{
			// No method is plain, by default.
			name: "public with challenge, no method", status: http.StatusOK,
			params:  with(map[string]string{"client_id": "{public}", "code_challenge": challenge}),
			differs: publicNeedsS256,
		},
		{name: "bad challenge method", params: with(map[string]string{"code_challenge": challenge, "code_challenge_method": "S512"})},
		{name: "short challenge", params: with(map[string]string{"code_challenge": "abc"})},
		{name: "long challenge", params: with(map[string]string{"code_challenge": strings.Repeat("a", 129)})},
		{name: "plain challenge", status: http.StatusOK, params: with(map[string]string{"code_challenge": strings.Repeat("a", 43)})},
		{name: "max_age zero", params: with(map[string]string{"max_age": "0"})},
		{name: "max_age not numeric", params: with(map[string]string{"max_age": "soon"})},
		{name: "max_age met, bearer token", status: http.StatusOK, params: with(map[string]string{"max_age": "3600"}), headers: asBearer},
		{name: "max_age exceeded, bearer token", params: with(map[string]string{"max_age": "1"}), headers: asBearer},
		{
			name: "max_age with X-Vault-Token", status: http.StatusOK, params: with(map[string]string{"max_age": "3600"}),
			differs: map[string]oauthReplyBody{
				// The plugin cannot look the caller's token up unless it
				// comes in the Authorization header.
				mount: {http.StatusBadRequest, map[string]any{"error": "access_denied", "error_description": "token associated with request not found", "state": "st"}},
			},
		},
		{name: "no entity (root token)", params: with(nil), headers: func(*rpUser) map[string]string { return vaultToken(server.Token) }},
	}
	codes := map[string]map[string]string{} // case -> mount -> code
	for _, c := range cases {
		t.Run("authorize/"+c.name, func(t *testing.T) {
			answers := map[string]oauthReplyBody{}
			for _, m := range []string{"identity", mount} {
				params := engineParams(engines[m], c.params)
				provider := c.provider
				if provider == "" {
					provider = "default"
				}
				headers := vaultToken(u.token)
				if c.headers != nil {
					headers = c.headers(u)
					// The sign-in page sends the token in both headers,
					// which keeps the Bearer one on every Vault version.
					if _, ok := headers["Authorization"]; ok && m == mount && vaultBefore(t, 21) {
						maps.Copy(headers, vaultToken(u.token))
					}
				}
				method := c.method
				if method == "" {
					method = http.MethodPost
				}
				var body any = params
				if method == http.MethodPost {
					body = formToJSON(params)
				}
				r := oauthDo(t, method, m+"/oidc/provider/"+provider+"/authorize", body, headers)
				if code, ok := r.Body["code"].(string); ok && r.Status == http.StatusOK {
					require.Regexp(t, base62ID, code, m)
					if codes[c.name] == nil {
						codes[c.name] = map[string]string{}
					}
					codes[c.name][m] = code
					r.Body["code"] = "<code>"
				}
				answers[m] = oauthReplyBody{r.Status, r.Body}
			}
			compareOAuthAnswers(t, c.status, c.differs, answers)
		})
	}

	// The token endpoint, with codes of the cases above and fresh ones.
	fresh := func(m string, extra map[string]string) string {
		params := engineParams(engines[m], with(extra))
		r := oauthDo(t, http.MethodPost, m+"/oidc/provider/default/authorize", formToJSON(params), vaultToken(u.token))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		return r.Body["code"].(string)
	}
	type tokenCase struct {
		name string
		// status is the built-in engine's answer (400 when 0).
		status int
		// form builds the request for one engine; auth says how the
		// client authenticates: "basic", "post", or "" for none.
		form     func(m string) url.Values
		auth     string
		provider string
		differs  map[string]oauthReplyBody
	}
	exchangeForm := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	}
	tokenCases := []tokenCase{
		{name: "success, basic", status: http.StatusOK, auth: "basic", form: func(m string) url.Values { return exchangeForm(codes["success"][m]) }},
		{name: "success, post", status: http.StatusOK, auth: "post", form: func(m string) url.Values { return exchangeForm(codes["success as GET"][m]) }},
		{name: "reused code", auth: "basic", form: func(m string) url.Values { return exchangeForm(codes["success"][m]) }},
		{name: "unknown code", auth: "basic", form: func(string) url.Values { return exchangeForm("nope") }},
		{name: "no code", auth: "basic", form: func(string) url.Values { return exchangeForm("") }},
		{name: "no grant_type", auth: "basic", form: func(string) url.Values { return url.Values{} }},
		{name: "password grant", auth: "basic", form: func(string) url.Values { return url.Values{"grant_type": {"password"}} }},
		{name: "no client_id", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "unknown client", status: http.StatusUnauthorized, auth: "basic-unknown", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "wrong secret", status: http.StatusUnauthorized, auth: "basic-wrong", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "wrong secret, post", status: http.StatusUnauthorized, auth: "post-wrong", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "provider not found", auth: "basic", provider: "nope", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "client not allowed by provider", status: http.StatusUnauthorized, auth: "basic", provider: "cmp-authz-only", form: func(string) url.Values { return exchangeForm("x") }},
		{name: "code of another provider", auth: "basic", provider: "cmp-authz-other", form: func(m string) url.Values {
			return exchangeForm(fresh(m, nil))
		}},
		{name: "no redirect_uri", auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, nil))
			f.Del("redirect_uri")
			return f
		}},
		{name: "other redirect_uri", auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, nil))
			f.Set("redirect_uri", "http://127.0.0.1:8250/cb")
			return f
		}},
		{name: "unexpected code_verifier", auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, nil))
			f.Set("code_verifier", verifier)
			return f
		}},
		{name: "missing code_verifier", auth: "basic", form: func(m string) url.Values {
			return exchangeForm(fresh(m, map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}))
		}},
		{name: "wrong code_verifier", auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}))
			f.Set("code_verifier", verifier+"x")
			return f
		}},
		{name: "S256 code_verifier", status: http.StatusOK, auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}))
			f.Set("code_verifier", verifier)
			return f
		}},
		{name: "plain code_verifier", status: http.StatusOK, auth: "basic", form: func(m string) url.Values {
			f := exchangeForm(codes["plain challenge"][m])
			f.Set("code_verifier", strings.Repeat("a", 43))
			return f
		}},
		{name: "public client with PKCE", status: http.StatusOK, auth: "public", form: func(m string) url.Values {
			f := exchangeForm(codes["public with PKCE"][m])
			f.Set("code_verifier", verifier)
			return f
		}},
		{name: "code of another client", auth: "public", form: func(m string) url.Values {
			f := exchangeForm(fresh(m, nil))
			f.Set("code_verifier", verifier)
			return f
		}},
		{name: "refresh_token grant", auth: "basic", form: func(string) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
		}, differs: map[string]oauthReplyBody{
			// The plugin serves refresh tokens; the client has them off.
			mount: {http.StatusBadRequest, oauthErrBody("unauthorized_client", "the client is not allowed the refresh_token grant")},
		}},
		{name: "client_credentials grant", auth: "basic", form: func(string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}}
		}, differs: map[string]oauthReplyBody{
			mount: {http.StatusBadRequest, oauthErrBody("unauthorized_client", "the client is not bound to an entity: set its client_credentials_entity_id")},
		}},
	}
	accessTokens := map[string]string{}
	for _, c := range tokenCases {
		t.Run("token/"+c.name, func(t *testing.T) {
			answers := map[string]oauthReplyBody{}
			for _, m := range []string{"identity", mount} {
				e := engines[m]
				form := c.form(m)
				var headers map[string]string
				switch c.auth {
				case "basic":
					headers = basicAuth(e.clientID, e.secret)
				case "basic-unknown":
					headers = basicAuth("nope", "x")
				case "basic-wrong":
					headers = basicAuth(e.clientID, "wrong")
				case "post":
					form = withCreds(form, e.clientID, e.secret)
				case "post-wrong":
					form = withCreds(form, e.clientID, "wrong")
				case "public":
					form = withCreds(form, e.publicID, "")
				}
				provider := c.provider
				if provider == "" {
					provider = "default"
				}
				r := oauthDo(t, http.MethodPost, m+"/oidc/provider/"+provider+"/token", form, headers)
				require.Equal(t, "no-store", r.Header.Get("Cache-Control"), "%s: %s", m, r.Raw)
				require.Equal(t, "no-cache", r.Header.Get("Pragma"), m)
				if r.Status == http.StatusUnauthorized {
					require.Equal(t, "Basic", r.Header.Get("WWW-Authenticate"), m)
				}
				if r.Status == http.StatusOK {
					accessTokens[m] = r.Body["access_token"].(string)
					require.NotEmpty(t, r.Body["access_token"], m)
					r.Body["access_token"] = "<access_token>"
					// The ID tokens' claims are compared, not their values.
					claims := idTokenClaims(t, r.Body["id_token"].(string))
					require.Equal(t, map[string]any{
						"iss": server.Addr + "/v1/identity/oidc/provider/default", "sub": "<entity#1>", "aud": "<client-id>",
						"namespace": "root", "nonce": "n", "team": "dev", "iat": "<time>", "exp": "<time>",
						"at_hash": "<hash>", "c_hash": "<hash>", "lifetime": float64(86400),
					}, claims, m)
					r.Body["id_token"] = claims
				}
				answers[m] = oauthReplyBody{r.Status, r.Body}
			}
			compareOAuthAnswers(t, c.status, c.differs, answers)
		})
	}

	// Userinfo with each engine's last access token: the same claims.
	t.Run("userinfo", func(t *testing.T) {
		answers := map[string]oauthReplyBody{}
		for _, m := range []string{"identity", mount} {
			// The built-in engine takes its access token (a Vault token)
			// in the header on every Vault version.
			ask := func(path string) oauthReply {
				if m == "identity" {
					return oauthDo(t, http.MethodGet, path, nil, bearerToken(accessTokens[m]))
				}
				return userinfoDo(t, path, accessTokens[m])
			}
			r := ask(m + "/oidc/provider/default/userinfo")
			answers[m] = oauthReplyBody{r.Status, normalize(r.Body).(map[string]any)}
			other := ask(m + "/oidc/provider/cmp-authz-other/userinfo")
			answers[m+"-other"] = oauthReplyBody{other.Status, other.Body}
		}
		require.Equal(t, http.StatusOK, answers["identity"].Status, answers["identity"])
		require.Equal(t, map[string]any{"sub": "<entity#1>", "team": "dev"}, answers["identity"].Body)
		require.Equal(t, answers["identity"], answers[mount])
		// At another provider: Vault's access token is a Vault token whose
		// policy names one provider's userinfo path, so Vault denies it
		// (403 made 401 for identity/); the plugin says why.
		require.Equal(t, oauthReplyBody{http.StatusUnauthorized, oauthErrBody("invalid_token", "permission denied")}, answers["identity-other"])
		require.Equal(t, oauthReplyBody{http.StatusUnauthorized, oauthErrBody("invalid_token", "access token was not issued by the provider")}, answers[mount+"-other"])
	})
}

// oauthReplyBody is what the endpoint comparisons compare.
type oauthReplyBody struct {
	Status int
	Body   map[string]any
}

// idTokenClaims decodes an ID token's claims (unverified: the relying
// party test verifies them) and normalizes what differs by nature between
// two engines: times (kept as the token's lifetime), hashes, the audience
// and the plugin's issuer path.
func idTokenClaims(t *testing.T, token string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, json.Unmarshal(payload, &claims))
	claims["lifetime"] = claims["exp"].(float64) - claims["iat"].(float64)
	for _, k := range []string{"exp", "iat", "auth_time"} {
		if _, ok := claims[k]; ok {
			claims[k] = "<time>"
		}
	}
	for _, k := range []string{"at_hash", "c_hash"} {
		if h, ok := claims[k].(string); ok {
			require.Len(t, h, 22, "half of a SHA-256, base64url")
			claims[k] = "<hash>"
		}
	}
	require.Regexp(t, base62ID, claims["aud"])
	claims["aud"] = "<client-id>"
	claims["iss"] = strings.Replace(claims["iss"].(string), "/v1/"+mount+"/", "/v1/identity/", 1)
	return normalize(claims)
}

// requireStatus checks the built-in engine's status: want, or 400 when 0.
func requireStatus(t *testing.T, want int, got oauthReplyBody) {
	t.Helper()
	if want == 0 {
		want = http.StatusBadRequest
	}
	require.Equal(t, want, got.Status, got.Body)
}

func formToJSON(v url.Values) map[string]any {
	out := map[string]any{}
	for k := range v {
		out[k] = v.Get(k)
	}
	return out
}
