//go:build integration

package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// provStore is a store with provider "p" (clients app, app2 and the public
// spa) and provider "other" (client o only), and users alice (the victim),
// dora (disabled once she holds tokens) and mallory.
type provStore struct {
	*secStore
	alice, dora, mallory           *secUser
	noEntity                       string
	redirect                       string
	app, app2, spa, o              string // client ids
	appSecret, app2Secret, oSecret string
}

func newProvStore(t *testing.T, name string) *provStore {
	t.Helper()
	s := &provStore{secStore: newSecStore(t, name), redirect: "http://127.0.0.1:8250/callback"}
	s.alice, s.dora, s.mallory = s.user(t, name+"-alice"), s.user(t, name+"-dora"), s.user(t, name+"-mallory")
	s.noEntity = s.entitylessToken(t)
	client := func(name string, body map[string]any) (string, string) {
		body["redirect_uris"], body["assignments"] = s.redirect, "allow_all"
		mustWrite(t, s.path("oidc/client/"+name), body)
		c := do(t, "GET", s.path("oidc/client/"+name), nil).Data
		secret, _ := c["client_secret"].(string)
		return c["client_id"].(string), secret
	}
	s.app, s.appSecret = client("app", map[string]any{"refresh_token_ttl": "1h", "access_token_ttl": "30m"})
	s.app2, s.app2Secret = client("app2", map[string]any{"refresh_token_ttl": "1h"})
	s.spa, _ = client("spa", map[string]any{"client_type": "public", "refresh_token_ttl": "1h"})
	s.o, s.oSecret = client("o", map[string]any{})
	mustWrite(t, s.path("oidc/provider/p"), map[string]any{"issuer": server.Addr, "allowed_client_ids": strings.Join([]string{s.app, s.app2, s.spa}, ",")})
	mustWrite(t, s.path("oidc/provider/other"), map[string]any{"issuer": server.Addr, "allowed_client_ids": s.o})
	return s
}

// authorize is the sign-in page's call of provider p's authorization
// endpoint with a user's Vault token.
func (s *provStore) authorize(t *testing.T, token, clientID string, extra map[string]string) oauthReply {
	t.Helper()
	body := map[string]any{"client_id": clientID, "redirect_uri": s.redirect, "scope": "openid", "response_type": "code", "state": "st"}
	for k, v := range extra {
		body[k] = v
	}
	return oauthDo(t, http.MethodPost, s.path("oidc/provider/p/authorize"), body, vaultToken(token))
}

// grant runs the code flow for a user and client with S256 PKCE and
// returns the access and refresh tokens.
func (s *provStore) grant(t *testing.T, u *secUser, clientID, secret string) (access, refresh string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	r := s.authorize(t, u.token, clientID, map[string]string{"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r.Body["code"].(string)}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {clientID}}
	if secret != "" {
		form.Set("client_secret", secret)
	}
	tok := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), form, nil)
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	refresh, _ = tok.Body["refresh_token"].(string)
	return tok.Body["access_token"].(string), refresh
}

// endpoint posts a form to one of provider p's client-authenticated
// endpoints as the client (client_secret_basic; a public client sends its
// id in the form).
func (s *provStore) endpoint(t *testing.T, provider, name, clientID, secret string, form url.Values) answer {
	t.Helper()
	var headers map[string]string
	if secret != "" {
		headers = basicAuth(clientID, secret)
	} else {
		form.Set("client_id", clientID)
	}
	return oauthCall(t, http.MethodPost, s.path("oidc/provider/"+provider+"/"+name), form, headers)
}

func (s *provStore) introspect(t *testing.T, clientID, secret, token string) answer {
	return s.endpoint(t, "p", "introspect", clientID, secret, url.Values{"token": {token}})
}

func (s *provStore) userinfo(t *testing.T, provider, token string) answer {
	return userinfoCall(t, s.path("oidc/provider/"+provider+"/userinfo"), token)
}

var inactive = answer{http.StatusOK, `{"active":false}`}

// TestSecurityProviderEndpoints: the authorization, token, userinfo,
// introspection and revocation endpoints refuse every actor that may not
// act, and change nothing when they do.
func TestSecurityProviderEndpoints(t *testing.T) {
	s := newProvStore(t, "sec-oidc")
	aliceAccess, aliceRefresh := s.grant(t, s.alice, s.app, s.appSecret)
	doraAccess, doraRefresh := s.grant(t, s.dora, s.app, s.appSecret)
	spaAccess, _ := s.grant(t, s.alice, s.spa, "")
	mustWrite(t, s.path("entity/id/"+s.dora.entityID), map[string]any{"disabled": true})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())

	denied := func(desc string) answer { return answer{http.StatusBadRequest, "access_denied: " + desc} }
	attacks := []attack{
		// Authorization endpoint.
		{"anonymous may not authorize", func(t *testing.T) answer {
			return oauthCall(t, http.MethodGet, s.path("oidc/provider/p/authorize")+"?client_id="+s.app, nil, nil)
		}, permissionDeniedRaw},
		{"no entity may not authorize", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.noEntity, s.app, nil))
		}, denied("identity entity must be associated with the request")},
		{"a disabled entity may not authorize", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.dora.token, s.app, nil))
		}, denied("identity entity not authorized by client assignment")},
		{"a public client may not omit PKCE", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.alice.token, s.spa, nil))
		}, answer{http.StatusBadRequest, "invalid_request: PKCE is required for public clients"}},
		{"a public client may not use the plain PKCE method", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.alice.token, s.spa, map[string]string{"code_challenge": challenge, "code_challenge_method": "plain"}))
		}, answer{http.StatusBadRequest, "invalid_request: public clients must use code_challenge_method S256"}},
		{"a public client may not default to the plain PKCE method", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.alice.token, s.spa, map[string]string{"code_challenge": challenge}))
		}, answer{http.StatusBadRequest, "invalid_request: public clients must use code_challenge_method S256"}},
		{"a client of another provider may not authorize", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.alice.token, s.o, nil))
		}, answer{http.StatusBadRequest, "unauthorized_client: client is not authorized to use the provider"}},
		{"an unregistered redirect may not be used", func(t *testing.T) answer {
			return replyAnswer(s.authorize(t, s.alice.token, s.app, map[string]string{"redirect_uri": "https://evil.example/cb"}))
		}, answer{http.StatusBadRequest, "invalid_redirect_uri: redirect_uri is not allowed for the client"}},

		// Token endpoint.
		{"a confidential client may not authenticate without its secret", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.app, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRefresh}})
		}, answer{http.StatusUnauthorized, "invalid_client: client failed to authenticate"}},
		{"a wrong secret may not authenticate", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.app, "wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRefresh}})
		}, answer{http.StatusUnauthorized, "invalid_client: client failed to authenticate"}},
		{"a client of another provider may not use the token endpoint", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.o, s.oSecret, url.Values{"grant_type": {"client_credentials"}})
		}, answer{http.StatusUnauthorized, "invalid_client: client is not authorized to use the provider"}},
		{"another client may not refresh the victim's grant", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.app2, s.app2Secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRefresh}})
		}, answer{http.StatusBadRequest, "invalid_grant: refresh token was not issued to the client"}},
		{"a disabled entity's grant may not be refreshed", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.app, s.appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {doraRefresh}})
		}, answer{http.StatusBadRequest, "invalid_grant: identity entity not authorized by client assignment"}},
		{"a made-up refresh token may not be used", func(t *testing.T) answer {
			return s.endpoint(t, "p", "token", s.app, s.appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"hvo_rt_" + strings.Repeat("A", 48)}})
		}, answer{http.StatusBadRequest, "invalid_grant: refresh token is invalid or expired"}},

		// Userinfo.
		{"no access token may not read userinfo", func(t *testing.T) answer {
			return oauthCall(t, http.MethodGet, s.path("oidc/provider/p/userinfo"), nil, nil)
		}, answer{http.StatusUnauthorized, "invalid_token: access token must be sent as a Bearer token"}},
		{"a token of another provider may not read its userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "other", aliceAccess)
		}, answer{http.StatusUnauthorized, "invalid_token: access token was not issued by the provider"}},
		{"a disabled entity's token may not read userinfo", func(t *testing.T) answer {
			return s.userinfo(t, "p", doraAccess)
		}, answer{http.StatusForbidden, "access_denied: identity entity not authorized by client assignment"}},

		// Introspection: a client learns only about its own live tokens.
		{"a public client may not introspect a confidential client's token", func(t *testing.T) answer {
			return s.introspect(t, s.spa, "", aliceAccess)
		}, inactive},
		{"another confidential client may not introspect the victim's token", func(t *testing.T) answer {
			return s.introspect(t, s.app2, s.app2Secret, aliceAccess)
		}, inactive},
		{"another client may not introspect the victim's refresh token", func(t *testing.T) answer {
			return s.introspect(t, s.app2, s.app2Secret, aliceRefresh)
		}, inactive},
		{"a confidential client may not introspect a public client's token", func(t *testing.T) answer {
			return s.introspect(t, s.app, s.appSecret, spaAccess)
		}, inactive},
		{"a disabled entity's token is not active", func(t *testing.T) answer {
			return s.introspect(t, s.app, s.appSecret, doraAccess)
		}, inactive},
		{"a client of another provider may not introspect", func(t *testing.T) answer {
			return s.endpoint(t, "p", "introspect", s.o, s.oSecret, url.Values{"token": {aliceAccess}})
		}, answer{http.StatusUnauthorized, "invalid_client: client is not authorized to use the provider"}},

		// Revocation.
		{"another client may not revoke the victim's token", func(t *testing.T) answer {
			return s.endpoint(t, "p", "revoke", s.app2, s.app2Secret, url.Values{"token": {aliceAccess}})
		}, answer{http.StatusBadRequest, "unauthorized_client: the token was not issued to the client"}},
		{"another client may not revoke the victim's refresh token", func(t *testing.T) answer {
			return s.endpoint(t, "p", "revoke", s.app2, s.app2Secret, url.Values{"token": {aliceRefresh}})
		}, answer{http.StatusBadRequest, "unauthorized_client: the token was not issued to the client"}},
	}
	refuseAll(t, s.secStore, attacks)

	// Every later answer is what it was: the victim's tokens still work for
	// their own client.
	in := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/introspect"), url.Values{"token": {aliceAccess}}, basicAuth(s.app, s.appSecret))
	require.Equal(t, http.StatusOK, in.Status, in.Raw)
	require.Equal(t, true, in.Body["active"])
	require.Equal(t, s.alice.entityID, in.Body["sub"])
	info := userinfoDo(t, s.path("oidc/provider/p/userinfo"), aliceAccess)
	require.Equal(t, http.StatusOK, info.Status, info.Raw)
	require.Equal(t, s.alice.entityID, info.Body["sub"])
}

// TestSecurityProviderCredentialsUsedOnce: a code redeemed by another
// client is spent for everyone (as in Vault), a code works once, and a
// refresh token used twice revokes its whole family.
func TestSecurityProviderCredentialsUsedOnce(t *testing.T) {
	s := newProvStore(t, "sec-once")
	verifier := oauth2.GenerateVerifier()
	code := func() string {
		r := s.authorize(t, s.alice.token, s.app, map[string]string{"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		return r.Body["code"].(string)
	}
	redeem := func(c, clientID, secret string) answer {
		return s.endpoint(t, "p", "token", clientID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}})
	}

	stolen := code()
	require.Equal(t, answer{http.StatusBadRequest, "invalid_grant: authorization code was not issued to the client"}.String(), redeem(stolen, s.app2, s.app2Secret).String())
	require.Equal(t, answer{http.StatusBadRequest, "invalid_grant: authorization grant is invalid or expired"}.String(), redeem(stolen, s.app, s.appSecret).String())

	c := code()
	require.Equal(t, http.StatusOK, redeem(c, s.app, s.appSecret).status)
	before := s.storage(t)
	require.Equal(t, answer{http.StatusBadRequest, "invalid_grant: authorization grant is invalid or expired"}.String(), redeem(c, s.app, s.appSecret).String())
	requireSameStorage(t, before, s.storage(t))

	access, first := s.grant(t, s.alice, s.app, s.appSecret)
	refresh := func(rt string) oauthReply {
		return oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basicAuth(s.app, s.appSecret))
	}
	next := refresh(first)
	require.Equal(t, http.StatusOK, next.Status, next.Raw)
	reused := refresh(first)
	requireOAuthError(t, reused, http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token was already used; the grant is revoked"))
	requireOAuthError(t, refresh(next.Body["refresh_token"].(string)), http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token is invalid or expired"))
	for _, tok := range []string{access, next.Body["access_token"].(string), next.Body["refresh_token"].(string)} {
		require.Equal(t, inactive.String(), s.introspect(t, s.app, s.appSecret, tok).String())
	}
}

// TestSecurityRevokedFamilyOutlivesTTLChanges: lowering a client's TTLs
// after its tokens were issued does not shorten the revocation of their
// family, even once the plugin has restarted and swept expired grants.
func TestSecurityRevokedFamilyOutlivesTTLChanges(t *testing.T) {
	s := newProvStore(t, "sec-family")
	_, first := s.grant(t, s.alice, s.app, s.appSecret)
	next := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}}, basicAuth(s.app, s.appSecret))
	require.Equal(t, http.StatusOK, next.Status, next.Raw)
	rt := next.Body["refresh_token"].(string)
	// The TTLs go down after issue; then the family is revoked through its
	// first refresh token, which leaves the newest one stored, refused only
	// by the family's revocation.
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"refresh_token_ttl": "1s", "access_token_ttl": "1s", "id_token_ttl": "1s"})
	require.Equal(t, http.StatusOK, s.endpoint(t, "p", "revoke", s.app, s.appSecret, url.Values{"token": {first}}).status)

	// A restart clears the sweep's clock, so its first periodic run sweeps.
	// A token that expires at once tells when that sweep has run.
	mustWrite(t, s.path("oidc/client/app2"), map[string]any{"client_credentials_entity_id": s.mallory.entityID, "access_token_ttl": "1s"})
	r := do(t, "PUT", "sys/plugins/reload/backend", map[string]any{"mounts": []string{s.mount}})
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	tok := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"grant_type": {"client_credentials"}}, basicAuth(s.app2, s.app2Secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	accessGrants := func() int {
		n := 0
		for k := range s.storage(t) {
			if strings.HasPrefix(k, "oidc/grant/access/") {
				n++
			}
		}
		return n
	}
	swept := accessGrants() - 1
	waitFor(t, 3*time.Minute, "the periodic sweep to delete the expired access grant", func() bool { return accessGrants() <= swept })
	again := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basicAuth(s.app, s.appSecret))
	requireOAuthError(t, again, http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token is invalid or expired"))
}

// replyAnswer reads an authorization endpoint's answer like oauthCall.
func replyAnswer(r oauthReply) answer {
	if code, ok := r.Body["error"].(string); ok {
		desc, _ := r.Body["error_description"].(string)
		return answer{r.Status, code + ": " + desc}
	}
	return answer{r.Status, strings.TrimSpace(r.Raw)}
}

// permissionDeniedRaw is Vault's ACL refusal as a raw body.
var permissionDeniedRaw = answer{http.StatusForbidden, `{"errors":["permission denied"]}`}
