package paths_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

const (
	providerIssuer = "https://vault.example.com:8200"
	redirect       = "https://app.example.com/callback"
	verifier       = "a-code-verifier-that-is-long-enough-0123456789abcdef"
)

// rawReply decodes a raw (OAuth) response: status, JSON body, headers.
type rawReply struct {
	status  int
	body    map[string]any
	headers map[string]any
}

func raw(t testing.TB, r testutil.Result) rawReply {
	t.Helper()
	require.NoError(t, r.Err)
	require.NotNil(t, r.Resp, "raw response expected")
	out := rawReply{status: r.Resp.Data[logical.HTTPStatusCode].(int), headers: r.Resp.Data}
	if b, ok := r.Resp.Data[logical.HTTPRawBody].([]byte); ok && len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out.body), string(b))
	}
	return out
}

// oauthErr asserts an OAuth error answer.
func oauthErr(t *testing.T, r testutil.Result, status int, code, desc string) {
	t.Helper()
	got := raw(t, r)
	require.Equal(t, status, got.status, got.body)
	require.Equal(t, code, got.body["error"], got.body)
	require.Equal(t, desc, got.body["error_description"])
}

// providerSetup is a backend with the caller's entity (alice), a scope, a
// provider "p" and a confidential client "app" (refresh tokens on) and a
// public client "spa".
type providerSetup struct {
	b                 *testutil.Backend
	entityID          string
	clientID, secret  string
	publicID          string
	confidentialGroup string
}

func newProviderSetup(t testing.TB) *providerSetup {
	t.Helper()
	b, entityID := oidcBackend(t)
	return providerSetupOn(t, b, entityID)
}

// providerSetupOn is newProviderSetup on a backend prepared as oidcBackend
// prepares one.
func providerSetupOn(t testing.TB, b *testutil.Backend, entityID string) *providerSetup {
	t.Helper()
	ok := func(r testutil.Result) {
		t.Helper()
		require.Less(t, r.Status, 300, r.ErrorText())
	}
	ok(b.Write("oidc/scope/profile", map[string]any{"template": `{"name": {{identity.entity.name}}, "team": {{identity.entity.metadata.team}}}`, "description": "Profile"}))
	ok(b.Write("oidc/scope/groups", map[string]any{"template": `{"groups": {{identity.entity.groups.names}}}`}))
	ok(b.Write("oidc/provider/p", map[string]any{"issuer": providerIssuer, "allowed_client_ids": "*", "scopes_supported": "profile,groups"}))
	ok(b.Write("oidc/client/app", map[string]any{"redirect_uris": redirect + ",http://127.0.0.1:8250/cb", "assignments": "allow_all", "id_token_ttl": "30m", "access_token_ttl": "1h", "refresh_token_ttl": "24h"}))
	ok(b.Write("oidc/client/spa", map[string]any{"redirect_uris": redirect, "assignments": "allow_all", "client_type": "public"}))
	app := b.Read("oidc/client/app").Data()
	spa := b.Read("oidc/client/spa").Data()
	return &providerSetup{b: b, entityID: entityID, clientID: app["client_id"].(string), secret: app["client_secret"].(string), publicID: spa["client_id"].(string)}
}

func (p *providerSetup) authorize(data map[string]any) testutil.Result {
	return p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/authorize", Data: data, EntityID: "vault-entity"})
}

func (p *providerSetup) authzRequest(extra map[string]any) map[string]any {
	d := map[string]any{"client_id": p.clientID, "redirect_uri": redirect, "scope": "openid profile", "response_type": "code", "state": "st", "nonce": "n-1"}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (p *providerSetup) code(t testing.TB, extra map[string]any) string {
	t.Helper()
	r := raw(t, p.authorize(p.authzRequest(extra)))
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "st", r.body["state"])
	require.Regexp(t, `^[A-Za-z0-9]{32}$`, r.body["code"])
	return r.body["code"].(string)
}

// token calls the token endpoint; basic sends the client's credentials as
// HTTP Basic, else they go in the body.
func (p *providerSetup) token(data map[string]any, basic []string) testutil.Result {
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/token", Data: data}
	if basic != nil {
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(basic[0], basic[1])
		req.Headers = map[string][]string{"Authorization": r.Header["Authorization"]}
	}
	return p.b.Handle(req)
}

func (p *providerSetup) exchange(code string, extra map[string]any) testutil.Result {
	d := map[string]any{"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
	for k, v := range extra {
		d[k] = v
	}
	return p.token(d, []string{p.clientID, p.secret})
}

func (p *providerSetup) bearer(path, token string) testutil.Result {
	return p.b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: path, Headers: map[string][]string{"Authorization": {"Bearer " + token}}})
}

func TestProviderDefaults(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, map[string]any{"entity_ids": []string{"*"}, "group_ids": []string{"*"}}, b.Read("oidc/assignment/allow_all").Data())
	p := b.Read("oidc/provider/default").Data()
	require.Equal(t, []string{"*"}, p["allowed_client_ids"])
	require.Equal(t, []string{}, p["scopes_supported"])
	require.Equal(t, []string{"allow_all"}, b.List("oidc/assignment/").Data()["keys"])
	require.Equal(t, []string{"default"}, b.List("oidc/provider/").Data()["keys"])
	require.Equal(t, http.StatusNotFound, b.List("oidc/client/").Status)
	require.Equal(t, http.StatusNotFound, b.List("oidc/scope/").Status)
}

func TestProviderObjectErrors(t *testing.T) {
	b, _ := oidcBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/assignment/a", map[string]any{"entity_ids": "e2,e1,e1"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/scope/s", map[string]any{"template": `{"x": 1}`}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/scope/s2", map[string]any{"template": `{"x": 2}`}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/short", map[string]any{"verification_ttl": "1h", "rotation_period": "1h"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/c", map[string]any{"assignments": "a", "key": "default"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/provider/p", map[string]any{"scopes_supported": "s"}).Status)
	before := snapshot(b)
	for _, c := range []struct {
		op   logical.Operation
		path string
		data map[string]any
		msg  string
	}{
		{logical.UpdateOperation, "oidc/assignment/allow_all", map[string]any{"entity_ids": "x"}, `modification of assignment "allow_all" not allowed`},
		{logical.DeleteOperation, "oidc/assignment/allow_all", nil, `deletion of assignment "allow_all" not allowed`},
		{logical.DeleteOperation, "oidc/assignment/a", nil, `unable to delete assignment "a" because it is currently referenced by these clients: c`},
		{logical.UpdateOperation, "oidc/scope/openid", map[string]any{}, `the "openid" scope name is reserved`},
		{logical.UpdateOperation, "oidc/scope/bad", map[string]any{"template": `{"aud": "x"}`}, `top level key "aud" not allowed. Restricted keys: iat, aud, exp, iss, sub, namespace, nonce, auth_time, at_hash, c_hash`},
		{logical.DeleteOperation, "oidc/scope/s", nil, `unable to delete scope "s" because it is currently referenced by these providers: p`},
		{logical.UpdateOperation, "oidc/client/c2", map[string]any{"assignments": "nope"}, `assignment "nope" does not exist`},
		{logical.UpdateOperation, "oidc/client/c", map[string]any{"key": "short"}, "key modification is not allowed"},
		{logical.UpdateOperation, "oidc/client/c2", map[string]any{"key": "nope"}, `key "nope" does not exist`},
		{logical.UpdateOperation, "oidc/client/c2", map[string]any{"key": "short", "id_token_ttl": "2h"}, "a client's id_token_ttl cannot be greater than the verification_ttl of the key it references"},
		{logical.UpdateOperation, "oidc/client/c", map[string]any{"client_type": "public"}, "client_type modification is not allowed"},
		{logical.UpdateOperation, "oidc/client/c2", map[string]any{"client_type": "other"}, `invalid client_type "other"`},
		{logical.UpdateOperation, "oidc/provider/p2", map[string]any{"scopes_supported": "nope"}, `scope "nope" does not exist`},
		{logical.UpdateOperation, "oidc/provider/p2", map[string]any{"issuer": "https://a.com/foo"}, "invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"},
		{logical.UpdateOperation, "oidc/provider/p2", map[string]any{"sign_in_methods": "../sys"}, `invalid sign-in method "../sys": give "token" or the path of a username and password auth method such as userpass or ldap`},
		{logical.DeleteOperation, "oidc/provider/default", nil, `deletion of OIDC provider "default" not allowed`},
		{logical.DeleteOperation, "oidc/key/default", nil, `deletion of key "default" not allowed`},
		{logical.UpdateOperation, "oidc/key/default", map[string]any{"verification_ttl": "1h"}, `unable to update key "default" because it is currently referenced by one or more clients with an id_token_ttl greater than 3600 seconds`},
	} {
		r := b.Do(c.op, c.path, c.data)
		require.Equal(t, http.StatusBadRequest, r.Status, c.path)
		require.Equal(t, c.msg, r.ErrorText(), c.path)
	}
	require.Equal(t, before, snapshot(b), "refused writes change nothing")

	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/c3", map[string]any{"key": "short", "id_token_ttl": "1h"}).Status)
	r := b.Delete("oidc/key/short")
	require.Equal(t, `unable to delete key "short" because it is currently referenced by these clients: c3`, r.ErrorText())

	require.Equal(t, map[string]any{"entity_ids": []string{"e1", "e2"}, "group_ids": []string{}}, b.Read("oidc/assignment/a").Data())
	// Vault lower-cases an assignment's ids, then removes duplicates.
	require.Equal(t, http.StatusNoContent, b.Write("oidc/assignment/mixed", map[string]any{"entity_ids": "E2,e1,E1", "group_ids": []string{"G1", "g1", "G2"}}).Status)
	require.Equal(t, map[string]any{"entity_ids": []string{"e1", "e2"}, "group_ids": []string{"g1", "g2"}}, b.Read("oidc/assignment/mixed").Data())
	warn := b.Write("oidc/provider/p", map[string]any{"scopes_supported": "s,s2"})
	require.Equal(t, http.StatusOK, warn.Status)
	require.Equal(t, []string{`Found scope templates with conflicting top-level keys: conflict "x" in scopes "s2", "s". This may result in an error if the scopes are requested in an OIDC Authentication Request.`}, warn.Resp.Warnings)
}

func TestProviderClientsAndList(t *testing.T) {
	p := newProviderSetup(t)
	b := p.b
	require.Regexp(t, `^[A-Za-z0-9]{32}$`, p.clientID)
	require.Regexp(t, `^hvo_secret_[A-Za-z0-9]{64}$`, p.secret)
	spa := b.Read("oidc/client/spa").Data()
	require.NotContains(t, spa, "client_secret")
	require.Equal(t, "public", spa["client_type"])
	require.Equal(t, int64(86400), spa["id_token_ttl"])
	app := b.Read("oidc/client/app").Data()
	require.Equal(t, []string{"http://127.0.0.1:8250/cb", redirect}, app["redirect_uris"])
	require.Equal(t, "default", app["key"])
	// Updating other fields keeps the id and the secret.
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"access_token_ttl": "2h"}).Status)
	again := b.Read("oidc/client/app").Data()
	require.Equal(t, p.secret, again["client_secret"])
	require.Equal(t, p.clientID, again["client_id"])

	list := b.List("oidc/client/").Data()
	require.Equal(t, []string{"app", "spa"}, list["keys"])
	info := list["key_info"].(map[string]any)["app"].(map[string]any)
	require.NotContains(t, info, "client_secret")
	require.Equal(t, p.clientID, info["client_id"])

	require.Equal(t, http.StatusNoContent, b.Write("oidc/provider/only", map[string]any{"allowed_client_ids": p.publicID}).Status)
	filtered := b.Do(logical.ListOperation, "oidc/provider/", map[string]any{"allowed_client_id": p.publicID}).Data()
	require.Equal(t, []string{"default", "only", "p"}, filtered["keys"])
	filtered = b.Do(logical.ListOperation, "oidc/provider/", map[string]any{"allowed_client_id": p.clientID}).Data()
	require.Equal(t, []string{"default", "p"}, filtered["keys"])
	require.Equal(t, providerIssuer+"/v1/ident/oidc/provider/p", b.Read("oidc/provider/p").Data()["issuer"])
}

func TestProviderDiscoveryAndKeys(t *testing.T) {
	p := newProviderSetup(t)
	d := raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration"))
	require.Equal(t, http.StatusOK, d.status)
	require.Equal(t, "max-age=3600", d.headers[logical.HTTPCacheControlHeader])
	iss := providerIssuer + "/v1/ident/oidc/provider/p"
	for k, v := range map[string]any{
		"issuer": iss, "jwks_uri": iss + "/.well-known/keys", "authorization_endpoint": iss + "/sign-in",
		"token_endpoint": iss + "/token", "userinfo_endpoint": iss + "/userinfo",
		"introspection_endpoint": iss + "/introspect", "revocation_endpoint": iss + "/revoke",
		"request_parameter_supported": false, "request_uri_parameter_supported": false,
	} {
		require.Equal(t, v, d.body[k], k)
	}
	require.ElementsMatch(t, []any{"groups", "profile", "openid"}, d.body["scopes_supported"])
	require.ElementsMatch(t, []any{"authorization_code", "refresh_token", "client_credentials"}, d.body["grant_types_supported"])
	require.ElementsMatch(t, []any{"plain", "S256"}, d.body["code_challenge_methods_supported"])

	keys := raw(t, p.b.Read("oidc/provider/p/.well-known/keys"))
	require.Len(t, keys.body["keys"], 2, "current and next default key")
	require.Equal(t, http.StatusNotFound, raw(t, p.b.Read("oidc/provider/nope/.well-known/keys")).status)
	require.Equal(t, http.StatusNotFound, raw(t, p.b.Read("oidc/provider/nope/.well-known/openid-configuration")).status)
}

func TestProviderAuthorizeErrors(t *testing.T) {
	p := newProviderSetup(t)
	challenge := strings.Repeat("c", 43)
	for _, c := range []struct {
		name       string
		data       map[string]any
		code, desc string
	}{
		{"no client", map[string]any{"client_id": ""}, "invalid_client_id", "client_id parameter is required"},
		{"unknown client", map[string]any{"client_id": "nope"}, "invalid_client_id", "client with client_id not found"},
		{"no redirect", map[string]any{"redirect_uri": ""}, "invalid_request", "redirect_uri parameter is required"},
		{"wrong redirect", map[string]any{"redirect_uri": "https://evil.example.com/cb"}, "invalid_redirect_uri", "redirect_uri is not allowed for the client"},
		{"request", map[string]any{"request": "x"}, "request_not_supported", "request parameter is not supported"},
		{"request_uri", map[string]any{"request_uri": "x"}, "request_uri_not_supported", "request_uri parameter is not supported"},
		{"missing openid", map[string]any{"scope": "profile"}, "invalid_request", `scope parameter must contain the "openid" value`},
		{"no response_type", map[string]any{"response_type": ""}, "invalid_request", "response_type parameter is required"},
		{"token response_type", map[string]any{"response_type": "token"}, "unsupported_response_type", "unsupported response_type value"},
		{"public without PKCE", map[string]any{"client_id": p.publicID}, "invalid_request", "PKCE is required for public clients"},
		{"bad method", map[string]any{"code_challenge": challenge, "code_challenge_method": "S512"}, "invalid_request", "invalid code_challenge_method"},
		{"short challenge", map[string]any{"code_challenge": "abc"}, "invalid_request", "invalid code_challenge"},
		{"max_age zero", map[string]any{"max_age": 0}, "invalid_request", "max_age must be greater than zero"},
		{"max_age without visible token", map[string]any{"max_age": 60}, "access_denied", "token associated with request not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			oauthErr(t, p.authorize(p.authzRequest(c.data)), http.StatusBadRequest, c.code, c.desc)
		})
	}
	oauthErr(t, p.b.Write("oidc/provider/nope/authorize", p.authzRequest(nil)), http.StatusBadRequest, "invalid_request", "provider not found")
	// No entity on the token, then an entity this store does not know.
	oauthErr(t, p.b.Write("oidc/provider/p/authorize", p.authzRequest(nil)), http.StatusBadRequest, "access_denied", "identity entity must be associated with the request")
	p.b.System.EntityVal = &logical.Entity{ID: "someone-else"}
	r := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/authorize", Data: p.authzRequest(nil), EntityID: "someone-else"})
	oauthErr(t, r, http.StatusBadRequest, "access_denied", "identity entity associated with the request not found")
}

func TestProviderAssignments(t *testing.T) {
	p := newProviderSetup(t)
	b := p.b
	require.Equal(t, http.StatusNoContent, b.Write("oidc/assignment/others", map[string]any{"entity_ids": "someone"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/client/app", map[string]any{"assignments": "others"}).Status)
	oauthErr(t, p.authorize(p.authzRequest(nil)), http.StatusBadRequest, "access_denied", "identity entity not authorized by client assignment")
	// Membership through a group, here the entity's direct group "devs".
	devs := b.Read("group/name/devs").Data()["id"].(string)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/assignment/others", map[string]any{"group_ids": devs}).Status)
	p.code(t, nil)
	// A disabled entity is refused.
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+p.entityID, map[string]any{"disabled": true}).Status)
	oauthErr(t, p.authorize(p.authzRequest(nil)), http.StatusBadRequest, "access_denied", "identity entity not authorized by client assignment")
}

func TestProviderCodeFlow(t *testing.T) {
	p := newProviderSetup(t)
	code := p.code(t, nil)
	r := p.exchange(code, nil)
	got := raw(t, r)
	require.Equal(t, http.StatusOK, got.status, got.body)
	require.Equal(t, "no-store", got.headers[logical.HTTPCacheControlHeader])
	require.Equal(t, "no-cache", got.headers[logical.HTTPPragmaHeader])
	require.Equal(t, "Bearer", got.body["token_type"])
	require.Equal(t, float64(3600), got.body["expires_in"])
	access := got.body["access_token"].(string)
	require.NotEmpty(t, got.body["refresh_token"])

	// The ID token verifies with the provider's keys and carries Vault's
	// claims and the scope's.
	var set jose.JSONWebKeySet
	rawBody(t, p.b.Read("oidc/provider/p/.well-known/keys"), &set)
	parsed, err := jwt.ParseSigned(got.body["id_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, parsed.Claims(set.Key(parsed.Headers[0].KeyID)[0].Key, &claims))
	require.Equal(t, providerIssuer+"/v1/ident/oidc/provider/p", claims["iss"])
	require.Equal(t, p.entityID, claims["sub"])
	require.Equal(t, p.clientID, claims["aud"])
	require.Equal(t, "n-1", claims["nonce"])
	require.Equal(t, "alice", claims["name"])
	require.Equal(t, "dev", claims["team"])
	require.Equal(t, halfSHA256(access), claims["at_hash"])
	require.Equal(t, halfSHA256(code), claims["c_hash"])
	require.Equal(t, float64(1800), claims["exp"].(float64)-claims["iat"].(float64))
	require.NotContains(t, claims, "auth_time")

	// Userinfo answers the subject and the scope claims.
	info := raw(t, p.bearer("oidc/provider/p/userinfo", access))
	require.Equal(t, http.StatusOK, info.status)
	require.Equal(t, map[string]any{"sub": p.entityID, "name": "alice", "team": "dev"}, info.body)

	// The code is single use.
	oauthErr(t, p.exchange(code, nil), http.StatusBadRequest, "invalid_grant", "authorization grant is invalid or expired")
}

func halfSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func TestProviderTokenErrors(t *testing.T) {
	p := newProviderSetup(t)
	s256 := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	// Client authentication comes first.
	r := p.token(map[string]any{"grant_type": "authorization_code", "code": "x", "redirect_uri": redirect}, []string{p.clientID, "wrong"})
	oauthErr(t, r, http.StatusUnauthorized, "invalid_client", "client failed to authenticate")
	require.Equal(t, "Basic", r.Resp.Data[logical.HTTPWWWAuthenticateHeader])
	oauthErr(t, p.token(map[string]any{"grant_type": "authorization_code"}, []string{"unknown", "x"}), http.StatusUnauthorized, "invalid_client", "client failed to authenticate")
	oauthErr(t, p.token(map[string]any{"grant_type": "authorization_code"}, nil), http.StatusBadRequest, "invalid_request", "client_id parameter is required")
	// client_secret_post works like Basic.
	post := map[string]any{"client_id": p.clientID, "client_secret": p.secret}
	oauthErr(t, p.token(post, nil), http.StatusBadRequest, "invalid_request", "grant_type parameter is required")
	oauthErr(t, p.token(map[string]any{"client_id": p.clientID, "client_secret": p.secret, "grant_type": "password"}, nil), http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type value")
	oauthErr(t, p.exchange("", nil), http.StatusBadRequest, "invalid_request", "code parameter is required")
	oauthErr(t, p.exchange("nope", nil), http.StatusBadRequest, "invalid_grant", "authorization grant is invalid or expired")

	// Each of these consumes its code.
	oauthErr(t, p.exchange(p.code(t, nil), map[string]any{"redirect_uri": ""}), http.StatusBadRequest, "invalid_request", "redirect_uri parameter is required")
	oauthErr(t, p.exchange(p.code(t, nil), map[string]any{"redirect_uri": "http://127.0.0.1:8250/cb"}), http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the redirect_uri used in the authorization request")
	oauthErr(t, p.exchange(p.code(t, nil), map[string]any{"code_verifier": verifier}), http.StatusBadRequest, "invalid_request", "unexpected code_verifier for token exchange")
	withPKCE := map[string]any{"code_challenge": s256(verifier), "code_challenge_method": "S256"}
	oauthErr(t, p.exchange(p.code(t, withPKCE), nil), http.StatusBadRequest, "invalid_request", "expected code_verifier for token exchange")
	oauthErr(t, p.exchange(p.code(t, withPKCE), map[string]any{"code_verifier": verifier + "x"}), http.StatusBadRequest, "invalid_grant", "invalid code_verifier for token exchange")
	require.Equal(t, http.StatusOK, raw(t, p.exchange(p.code(t, withPKCE), map[string]any{"code_verifier": verifier})).status)
	plain := map[string]any{"code_challenge": verifier}
	require.Equal(t, http.StatusOK, raw(t, p.exchange(p.code(t, plain), map[string]any{"code_verifier": verifier})).status)

	// A code of one client cannot be redeemed by another, nor at another
	// provider.
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/other", map[string]any{"redirect_uris": redirect, "assignments": "allow_all"}).Status)
	other := p.b.Read("oidc/client/other").Data()
	code := p.code(t, nil)
	r = p.token(map[string]any{"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}, []string{other["client_id"].(string), other["client_secret"].(string)})
	oauthErr(t, r, http.StatusBadRequest, "invalid_grant", "authorization code was not issued to the client")
	code = p.code(t, nil)
	r = p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/default/token", Data: map[string]any{
		"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": p.clientID, "client_secret": p.secret,
	}})
	oauthErr(t, r, http.StatusBadRequest, "invalid_grant", "authorization code was not issued by the provider")

	// A public client authenticates with its id only and must use PKCE.
	pub := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/authorize", EntityID: "vault-entity",
		Data: p.authzRequest(map[string]any{"client_id": p.publicID, "code_challenge": s256(verifier), "code_challenge_method": "S256"})})
	pubCode := raw(t, pub).body["code"].(string)
	r = p.token(map[string]any{"grant_type": "authorization_code", "code": pubCode, "redirect_uri": redirect, "client_id": p.publicID, "code_verifier": verifier}, nil)
	got := raw(t, r)
	require.Equal(t, http.StatusOK, got.status, got.body)
	require.NotContains(t, got.body, "refresh_token", "refresh tokens are off for this client")

	// Provider that does not allow the client.
	require.Equal(t, http.StatusOK, p.b.Write("oidc/provider/p", map[string]any{"allowed_client_ids": p.publicID}).Status, "the issuer warning")
	oauthErr(t, p.exchange("x", nil), http.StatusUnauthorized, "invalid_client", "client is not authorized to use the provider")
}

func TestProviderRefreshIntrospectRevoke(t *testing.T) {
	p := newProviderSetup(t)
	first := raw(t, p.exchange(p.code(t, nil), nil)).body
	refresh := func(token string) rawReply {
		return raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": token}, []string{p.clientID, p.secret}))
	}
	second := refresh(first["refresh_token"].(string))
	require.Equal(t, http.StatusOK, second.status, second.body)
	require.NotEqual(t, first["refresh_token"], second.body["refresh_token"], "rotated")
	require.NotEmpty(t, second.body["id_token"])

	introspect := func(token string, auth []string) rawReply {
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/introspect", Data: map[string]any{"token": token}}
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(auth[0], auth[1])
		req.Headers = map[string][]string{"Authorization": r.Header["Authorization"]}
		return raw(t, p.b.Handle(req))
	}
	creds := []string{p.clientID, p.secret}
	live := introspect(second.body["access_token"].(string), creds)
	require.Equal(t, true, live.body["active"])
	require.Equal(t, p.entityID, live.body["sub"])
	require.Equal(t, "openid profile", live.body["scope"])
	require.Equal(t, "Bearer", live.body["token_type"])
	require.Equal(t, map[string]any{"active": false}, introspect("hvo_at_nope", creds).body)
	require.Equal(t, http.StatusUnauthorized, introspect("x", []string{p.clientID, "bad"}).status)

	// Reusing the first refresh token revokes the whole family.
	reuse := refresh(first["refresh_token"].(string))
	require.Equal(t, "invalid_grant", reuse.body["error"])
	require.Equal(t, "refresh token was already used; the grant is revoked", reuse.body["error_description"])
	require.Equal(t, false, introspect(second.body["access_token"].(string), creds).body["active"])
	require.Equal(t, http.StatusUnauthorized, raw(t, p.bearer("oidc/provider/p/userinfo", second.body["access_token"].(string))).status)
	require.Equal(t, "invalid_grant", refresh(second.body["refresh_token"].(string)).body["error"])

	// Revocation: an access token alone, then a refresh token's family.
	fresh := raw(t, p.exchange(p.code(t, nil), nil)).body
	revoke := func(token string) rawReply {
		return raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/revoke",
			Data: map[string]any{"token": token, "client_id": p.clientID, "client_secret": p.secret}}))
	}
	require.Equal(t, http.StatusOK, revoke(fresh["access_token"].(string)).status)
	require.Equal(t, false, introspect(fresh["access_token"].(string), creds).body["active"])
	require.Equal(t, http.StatusOK, refresh(fresh["refresh_token"].(string)).status, "revoking an access token keeps the refresh token")
	third := raw(t, p.exchange(p.code(t, nil), nil)).body
	require.Equal(t, http.StatusOK, revoke(third["refresh_token"].(string)).status)
	require.Equal(t, false, introspect(third["access_token"].(string), creds).body["active"])
	require.Equal(t, "invalid_grant", refresh(third["refresh_token"].(string)).body["error"])
	require.Equal(t, http.StatusOK, revoke("unknown").status)

	// A disabled entity can no longer refresh.
	fourth := raw(t, p.exchange(p.code(t, nil), nil)).body
	require.Equal(t, http.StatusNoContent, p.b.Write("entity/id/"+p.entityID, map[string]any{"disabled": true}).Status)
	denied := refresh(fourth["refresh_token"].(string))
	require.Equal(t, "invalid_grant", denied.body["error"])
	require.Equal(t, "identity entity not authorized by client assignment", denied.body["error_description"])
	forbidden := raw(t, p.bearer("oidc/provider/p/userinfo", fourth["access_token"].(string)))
	require.Equal(t, http.StatusForbidden, forbidden.status)
	require.Equal(t, "access_denied", forbidden.body["error"])
}

func TestProviderClientCredentials(t *testing.T) {
	p := newProviderSetup(t)
	cc := map[string]any{"grant_type": "client_credentials", "scope": "profile"}
	oauthErr(t, p.token(cc, []string{p.clientID, p.secret}), http.StatusBadRequest, "unauthorized_client", "the client is not bound to an entity: set its client_credentials_entity_id")
	r := p.b.Write("oidc/client/spa", map[string]any{"client_credentials_entity_id": p.entityID})
	require.Equal(t, "client_credentials_entity_id is only allowed for confidential clients", r.ErrorText())
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/app", map[string]any{"client_credentials_entity_id": p.entityID}).Status)
	got := raw(t, p.token(cc, []string{p.clientID, p.secret}))
	require.Equal(t, http.StatusOK, got.status, got.body)
	require.Equal(t, "profile", got.body["scope"])
	require.NotContains(t, got.body, "refresh_token")
	require.NotContains(t, got.body, "id_token")
	info := raw(t, p.bearer("oidc/provider/p/userinfo", got.body["access_token"].(string)))
	require.Equal(t, map[string]any{"sub": p.entityID, "name": "alice", "team": "dev"}, info.body)
	oauthErr(t, p.token(map[string]any{"grant_type": "client_credentials", "client_id": p.publicID}, nil), http.StatusBadRequest, "unauthorized_client", "the client_credentials grant is for confidential clients only")
}

func TestProviderUserInfoErrors(t *testing.T) {
	p := newProviderSetup(t)
	r := p.b.Read("oidc/provider/p/userinfo")
	oauthErr(t, r, http.StatusUnauthorized, "invalid_token", "access token must be sent as a Bearer token")
	require.Equal(t, `Bearer error="invalid_token",error_description="access token must be sent as a Bearer token"`, r.Resp.Data[logical.HTTPWWWAuthenticateHeader])
	oauthErr(t, p.bearer("oidc/provider/p/userinfo", "hvo_at_x"), http.StatusUnauthorized, "invalid_token", "access token is expired")
	oauthErr(t, p.bearer("oidc/provider/nope/userinfo", "x"), http.StatusBadRequest, "invalid_request", "provider not found")
	access := raw(t, p.exchange(p.code(t, nil), nil)).body["access_token"].(string)
	oauthErr(t, p.bearer("oidc/provider/default/userinfo", access), http.StatusUnauthorized, "invalid_token", "access token was not issued by the provider")
	require.Equal(t, http.StatusNoContent, p.b.Delete("oidc/client/app").Status)
	oauthErr(t, p.bearer("oidc/provider/p/userinfo", access), http.StatusForbidden, "access_denied", "client not found")
}

// TestProviderUserInfoFormBody covers the access token in a form-encoded
// POST body (RFC 6750 section 2.2), the way left on Vault before 1.21,
// which removes a Bearer Authorization header before a plugin sees it: it
// answers as the header does; both ways at once are refused; the query
// string (section 2.3, which leaks tokens into logs) is not a way.
func TestProviderUserInfoFormBody(t *testing.T) {
	p := newProviderSetup(t)
	access := raw(t, p.exchange(p.code(t, nil), nil)).body["access_token"].(string)
	path := "oidc/provider/p/userinfo"
	byHeader := raw(t, p.bearer(path, access))
	require.Equal(t, http.StatusOK, byHeader.status, byHeader.body)
	byBody := raw(t, p.b.Write(path, map[string]any{"access_token": access}))
	require.Equal(t, byHeader, byBody)

	both := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: path, Data: map[string]any{"access_token": access},
		Headers: map[string][]string{"Authorization": {"Bearer " + access}}})
	oauthErr(t, both, http.StatusBadRequest, "invalid_request", "access token must be sent in one way only: the Authorization header or the access_token form parameter")
	inQuery := p.b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: path, Data: map[string]any{"access_token": access}})
	oauthErr(t, inQuery, http.StatusUnauthorized, "invalid_token", "access token must be sent as a Bearer token")
	oauthErr(t, p.b.Write(path, map[string]any{"access_token": "hvo_at_x"}), http.StatusUnauthorized, "invalid_token", "access token is expired")
	oauthErr(t, p.b.Write("oidc/provider/default/userinfo", map[string]any{"access_token": access}), http.StatusUnauthorized, "invalid_token", "access token was not issued by the provider")

	// A disabled entity's token is refused the same way by either route.
	require.Equal(t, http.StatusNoContent, p.b.Write("entity/id/"+p.entityID, map[string]any{"disabled": true}).Status)
	refused := raw(t, p.b.Write(path, map[string]any{"access_token": access}))
	require.NotEqual(t, http.StatusOK, refused.status, refused.body)
	require.Equal(t, raw(t, p.bearer(path, access)), refused)
}

// TestProviderGrantsStoredHashed checks that no code or token value is
// stored: grants are keyed by their SHA-256, and a refresh token family's
// span by the family's id.
func TestProviderGrantsStoredHashed(t *testing.T) {
	p := newProviderSetup(t)
	code := p.code(t, nil)
	body := raw(t, p.exchange(p.code(t, nil), nil)).body
	hex64 := regexp.MustCompile(`^oidc/grant/(code|access|refresh)/[0-9a-f]{64}$`)
	span := regexp.MustCompile(`^oidc/grant/span/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	n, spans := 0, 0
	for key, value := range snapshot(p.b) {
		for _, secret := range []string{code, body["access_token"].(string), body["refresh_token"].(string), p.secret} {
			if !strings.HasPrefix(key, "oidc/client/") {
				require.NotContains(t, value, secret, key)
				require.NotContains(t, key, secret)
			}
		}
		switch {
		case strings.HasPrefix(key, "oidc/grant/span/"):
			require.Regexp(t, span, key)
			spans++
		case strings.HasPrefix(key, "oidc/grant/"):
			require.Regexp(t, hex64, key)
			n++
		}
	}
	require.Equal(t, 3, n, "one code, one access token, one refresh token")
	require.Equal(t, 1, spans, "the refresh token's family")
}

// TestProviderCodeSingleUseUnderRace redeems one code from many goroutines
// at once: exactly one exchange gets tokens.
func TestProviderCodeSingleUseUnderRace(t *testing.T) {
	p := newProviderSetup(t)
	for range 5 {
		code := p.code(t, nil)
		var wg sync.WaitGroup
		var won atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := p.exchange(code, nil)
				if r.Resp.Data[logical.HTTPStatusCode] == http.StatusOK {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int32(1), won.Load())
	}
}

// TestProviderRefreshUnderRace presents one refresh token from many
// goroutines at once: one gets tokens, and the others, reuses, revoke the
// family, so even the winner's new refresh token is refused afterwards.
func TestProviderRefreshUnderRace(t *testing.T) {
	p := newProviderSetup(t)
	first := raw(t, p.exchange(p.code(t, nil), nil)).body
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, []string{p.clientID, p.secret})
			if r.Resp.Data[logical.HTTPStatusCode] == http.StatusOK {
				var body map[string]any
				require.NoError(t, json.Unmarshal(r.Resp.Data[logical.HTTPRawBody].([]byte), &body))
				mu.Lock()
				won = append(won, body["refresh_token"].(string))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, won, 1)
	again := raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": won[0]}, []string{p.clientID, p.secret}))
	require.Equal(t, "invalid_grant", again.body["error"], "the family is revoked")
}

// TestProviderRevocationReachesOtherNodesAndRestarts revokes a refresh token
// family on one node: a node sharing the storage learns it from the
// invalidation of the revocation's key, and a restarted plugin from
// storage. Tokens of the family are refused on both.
func TestProviderRevocationReachesOtherNodesAndRestarts(t *testing.T) {
	p := newProviderSetup(t)
	tokens := raw(t, p.exchange(p.code(t, nil), nil)).body
	other := testutil.NewWithStorage(t, plugin.Factory, p.b.Storage)
	access := tokens["access_token"].(string)
	require.Equal(t, http.StatusOK, raw(t, (&providerSetup{b: other}).bearer("oidc/provider/p/userinfo", access)).status)

	revoke := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/revoke",
		Data: map[string]any{"token": tokens["refresh_token"], "client_id": p.clientID, "client_secret": p.secret}})
	require.Equal(t, http.StatusOK, raw(t, revoke).status)
	families, err := p.b.Storage.List(context.Background(), "oidc/grant/family/")
	require.NoError(t, err)
	require.Len(t, families, 1)
	other.B.InvalidateKey(context.Background(), "oidc/grant/family/"+families[0])

	restarted := testutil.NewWithStorage(t, plugin.Factory, p.b.Storage)
	for name, b := range map[string]*testutil.Backend{"this node": p.b, "other node": other, "restarted": restarted} {
		r := raw(t, (&providerSetup{b: b}).bearer("oidc/provider/p/userinfo", access))
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		require.Equal(t, "access token is expired", r.body["error_description"], name)
	}
}

// TestProviderRefreshScopeAndForeignRevoke narrows the scopes at a refresh,
// refuses widening them, and refuses revoking another client's token.
func TestProviderRefreshScopeAndForeignRevoke(t *testing.T) {
	p := newProviderSetup(t)
	tokens := raw(t, p.exchange(p.code(t, nil), nil)).body
	refresh := func(token, scope string) rawReply {
		return raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": token, "scope": scope}, []string{p.clientID, p.secret}))
	}
	wider := refresh(tokens["refresh_token"].(string), "openid profile groups")
	require.Equal(t, "invalid_scope", wider.body["error"])
	require.Equal(t, "requested scope exceeds the scope granted", wider.body["error_description"])
	narrow := refresh(tokens["refresh_token"].(string), "openid")
	require.Equal(t, http.StatusOK, narrow.status, narrow.body)
	info := raw(t, p.bearer("oidc/provider/p/userinfo", narrow.body["access_token"].(string)))
	require.Equal(t, map[string]any{"sub": p.entityID}, info.body, "no profile claims any more")

	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/other", map[string]any{"redirect_uris": redirect, "assignments": "allow_all"}).Status)
	other := p.b.Read("oidc/client/other").Data()
	r := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/revoke", Data: map[string]any{
		"token": narrow.body["access_token"], "client_id": other["client_id"], "client_secret": other["client_secret"],
	}})
	oauthErr(t, r, http.StatusBadRequest, "unauthorized_client", "the token was not issued to the client")
	require.Equal(t, http.StatusOK, raw(t, p.bearer("oidc/provider/p/userinfo", narrow.body["access_token"].(string))).status, "still valid")
}

// TestProviderWithoutIssuer: with no issuer configured and no Vault address
// given to the plugin, the token endpoint signs nothing and says how to set
// one.
func TestProviderWithoutIssuer(t *testing.T) {
	p := newProviderSetup(t)
	r := p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/default/authorize", Data: p.authzRequest(nil), EntityID: "vault-entity"})
	code := raw(t, r).body["code"].(string)
	r = p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/default/token", Data: map[string]any{
		"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": p.clientID, "client_secret": p.secret,
	}})
	got := raw(t, r)
	require.Equal(t, http.StatusInternalServerError, got.status)
	require.Equal(t, "server_error", got.body["error"])
	require.Contains(t, got.body["error_description"], "no issuer is configured")
}

// TestProviderRefreshAfterUnassignment: an entity taken out of the client's
// assignments can no longer refresh.
func TestProviderRefreshAfterUnassignment(t *testing.T) {
	p := newProviderSetup(t)
	tokens := raw(t, p.exchange(p.code(t, nil), nil)).body
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/assignment/nobody", map[string]any{"entity_ids": "someone-else"}).Status)
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/app", map[string]any{"assignments": "nobody"}).Status)
	r := raw(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, []string{p.clientID, p.secret}))
	require.Equal(t, "invalid_grant", r.body["error"])
	require.Equal(t, "identity entity not authorized by client assignment", r.body["error_description"])
}

// endpoint calls one of the provider's client-authenticated endpoints
// (introspect, revoke); basic sends credentials as HTTP Basic.
func (p *providerSetup) endpoint(name string, data map[string]any, basic []string) testutil.Result {
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/" + name, Data: data}
	if basic != nil {
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(basic[0], basic[1])
		req.Headers = map[string][]string{"Authorization": r.Header["Authorization"]}
	}
	return p.b.Handle(req)
}

// TestProviderIntrospectionOfOtherClientsTokens: a client may introspect
// only the tokens issued to it (RFC 7662 section 4). A public client,
// authenticated by its client_id alone, and another confidential client
// get exactly {"active": false} for the access and refresh tokens of "app",
// whatever the hint, and learn neither subject, client nor scope.
func TestProviderIntrospectionOfOtherClientsTokens(t *testing.T) {
	p := newProviderSetup(t)
	tokens := raw(t, p.exchange(p.code(t, nil), nil)).body
	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/other", map[string]any{"redirect_uris": redirect, "assignments": "allow_all"}).Status)
	other := p.b.Read("oidc/client/other").Data()
	before := snapshot(p.b)
	for _, who := range []struct {
		name  string
		creds map[string]any
		basic []string
	}{
		{"public client by client_id", map[string]any{"client_id": p.publicID}, nil},
		{"other confidential client, basic", nil, []string{other["client_id"].(string), other["client_secret"].(string)}},
		{"other confidential client, post", map[string]any{"client_id": other["client_id"], "client_secret": other["client_secret"]}, nil},
	} {
		for _, kind := range []string{"access_token", "refresh_token"} {
			for _, hint := range []string{"", "access_token", "refresh_token"} {
				t.Run(who.name+"/"+kind+"/hint "+hint, func(t *testing.T) {
					data := map[string]any{"token": tokens[kind]}
					if hint != "" {
						data["token_type_hint"] = hint
					}
					for k, v := range who.creds {
						data[k] = v
					}
					got := raw(t, p.endpoint("introspect", data, who.basic))
					require.Equal(t, http.StatusOK, got.status, got.body)
					require.Equal(t, map[string]any{"active": false}, got.body)
					require.Equal(t, "no-store", got.headers[logical.HTTPCacheControlHeader])
				})
			}
		}
	}
	require.Equal(t, before, snapshot(p.b), "introspection changes nothing")
	own := raw(t, p.endpoint("introspect", map[string]any{"token": tokens["access_token"]}, []string{p.clientID, p.secret})).body
	require.Equal(t, true, own["active"], "the owner still sees its token")
	require.Equal(t, p.entityID, own["sub"])
}

// TestProviderDisabledEntityTokens: once the entity is disabled its
// tokens are inactive at introspection, userinfo refuses its access token
// (403 access_denied) and the token endpoint its refresh token
// (invalid_grant), in Vault's words; the refusals change nothing.
func TestProviderDisabledEntityTokens(t *testing.T) {
	p := newProviderSetup(t)
	tokens := raw(t, p.exchange(p.code(t, nil), nil)).body
	require.Equal(t, http.StatusNoContent, p.b.Write("entity/id/"+p.entityID, map[string]any{"disabled": true}).Status)
	before := snapshot(p.b)
	creds := []string{p.clientID, p.secret}
	for _, kind := range []string{"access_token", "refresh_token"} {
		got := raw(t, p.endpoint("introspect", map[string]any{"token": tokens[kind]}, creds))
		require.Equal(t, http.StatusOK, got.status)
		require.Equal(t, map[string]any{"active": false}, got.body, kind)
	}
	oauthErr(t, p.bearer("oidc/provider/p/userinfo", tokens["access_token"].(string)), http.StatusForbidden, "access_denied", "identity entity not authorized by client assignment")
	oauthErr(t, p.token(map[string]any{"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, creds), http.StatusBadRequest,
		"invalid_grant", "identity entity not authorized by client assignment")
	require.Equal(t, before, snapshot(p.b), "the refusals change nothing")
}

// TestProviderPublicClientsMustUseS256: a public client's authentication
// request with code_challenge_method plain, or without a method (plain by
// default), is refused; no code is stored. S256 works, and the field says
// so.
func TestProviderPublicClientsMustUseS256(t *testing.T) {
	p := newProviderSetup(t)
	before := snapshot(p.b)
	for _, c := range []struct {
		name  string
		extra map[string]any
	}{
		{"plain", map[string]any{"client_id": p.publicID, "code_challenge": verifier, "code_challenge_method": "plain"}},
		{"no method", map[string]any{"client_id": p.publicID, "code_challenge": verifier}},
		{"no method, as GET", map[string]any{"client_id": p.publicID, "code_challenge": verifier}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var op logical.Operation = logical.UpdateOperation
			if strings.HasSuffix(c.name, "GET") {
				op = logical.ReadOperation
			}
			got := raw(t, p.b.Handle(&logical.Request{Operation: op, Path: "oidc/provider/p/authorize", Data: p.authzRequest(c.extra), EntityID: "vault-entity"}))
			require.Equal(t, http.StatusBadRequest, got.status)
			require.Equal(t, map[string]any{"error": "invalid_request", "error_description": "public clients must use code_challenge_method S256", "state": "st"}, got.body)
		})
	}
	require.Equal(t, before, snapshot(p.b), "no code is stored")
	sum := sha256.Sum256([]byte(verifier))
	p.code(t, map[string]any{"client_id": p.publicID, "code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]), "code_challenge_method": "S256"})

	field := p.b.B.Route("oidc/provider/p/authorize").Fields["code_challenge_method"]
	require.Contains(t, field.Description, "Public clients must use 'S256'")
}

// syncBuffer is a log sink safe for the plugin's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProviderAuthorizeBearerToken: the plugin looks the caller's Vault
// token (Authorization: Bearer) up only for max_age, and never logs,
// stores or answers it, whether the lookup succeeds or fails.
func TestProviderAuthorizeBearerToken(t *testing.T) {
	const secret = "hvs.the-callers-vault-token-0123456789"
	created := time.Now().Add(-time.Minute).Unix()
	var mu sync.Mutex
	var lookups []string
	var refuse atomic.Bool
	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/auth/token/lookup-self" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		lookups = append(lookups, r.Header.Get("X-Vault-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":["permission denied"]}`)
			return
		}
		fmt.Fprintf(w, `{"data":{"entity_id":"vault-entity","creation_time":%d}}`, created)
	}))
	t.Cleanup(vault.Close)
	t.Setenv(plugin.APIAddrEnv, vault.URL)

	logs := &syncBuffer{}
	conf := logical.TestBackendConfig()
	storage := new(logical.InmemStorage)
	conf.StorageView = storage
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	lb, err := plugin.Factory(context.Background(), conf)
	require.NoError(t, err)
	fb := lb.(*framework.Backend)
	require.NoError(t, fb.Initialize(context.Background(), &logical.InitializationRequest{Storage: storage}))
	b := &testutil.Backend{T: t, B: fb, Storage: storage, System: conf.System.(*logical.StaticSystemView)}
	require.Equal(t, http.StatusOK, b.Write("oidc/config", map[string]any{"issuer": testIssuer}).Status)
	_, entityID := createAlias(t, b, map[string]any{"name": "alice", "mount_accessor": userpass})
	b.System.EntityVal = &logical.Entity{ID: "vault-entity", Aliases: []*logical.Alias{{MountAccessor: userpass, Name: "alice"}}}
	p := providerSetupOn(t, b, entityID)

	var answers []string
	authorize := func(extra map[string]any) rawReply {
		r := b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/authorize", Data: p.authzRequest(extra),
			EntityID: "vault-entity", Headers: map[string][]string{"Authorization": {"Bearer " + secret}}})
		answers = append(answers, string(r.Resp.Data[logical.HTTPRawBody].([]byte)))
		return raw(t, r)
	}

	// Without max_age the token is not used.
	require.Equal(t, http.StatusOK, authorize(nil).status)
	require.Empty(t, lookups, "no lookup without max_age")

	// With max_age it is looked up, as the caller's own token.
	ok := authorize(map[string]any{"max_age": 3600})
	require.Equal(t, http.StatusOK, ok.status, ok.body)
	require.Equal(t, []string{secret}, lookups)
	tokens := raw(t, p.exchange(ok.body["code"].(string), nil)).body
	parsed, err := jwt.ParseSigned(tokens["id_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&claims))
	require.Equal(t, float64(created), claims["auth_time"])

	// A refused lookup is an access_denied that does not name the token.
	refuse.Store(true)
	denied := authorize(map[string]any{"max_age": 3600})
	require.Equal(t, http.StatusBadRequest, denied.status)
	require.Equal(t, map[string]any{"error": "access_denied", "error_description": "token associated with request not found", "state": "st"}, denied.body)
	require.Len(t, lookups, 2)

	require.Contains(t, logs.String(), "looking up the caller's token for max_age", "the failure is logged")
	require.NotContains(t, logs.String(), secret, "the token is not logged")
	for _, a := range answers {
		require.NotContains(t, a, secret, "the token is not answered")
	}
	for k, v := range snapshot(b) {
		require.NotContains(t, k, secret)
		require.NotContains(t, v, secret, "the token is not stored: %s", k)
	}
}
