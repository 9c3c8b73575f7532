//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// Logout "may not" rows: the end_session_endpoint (RP-Initiated Logout)
// never redirects, and ends nothing, for a request it cannot trust.

const (
	appLogout  = "http://127.0.0.1:8250/signed-out"
	app2Logout = "http://127.0.0.1:8250/app2-signed-out"
)

// signInAt runs the code flow at provider for a user and client and
// returns the token endpoint's answer.
func (s *provStore) signInAt(t *testing.T, provider string, u *secUser, clientID, secret string) map[string]any {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	body := map[string]any{
		"client_id": clientID, "redirect_uri": s.redirect, "scope": "openid", "response_type": "code", "state": "st",
		"code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256",
	}
	r := oauthDo(t, http.MethodPost, s.path("oidc/provider/"+provider+"/authorize"), body, vaultToken(u.token))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r.Body["code"].(string)}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}}
	tok := oauthDo(t, http.MethodPost, s.path("oidc/provider/"+provider+"/token"), form, basicAuth(clientID, secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	return tok.Body
}

// logoutAttempt opens the logout page with q, which must be an error page
// with no way to the redirect, then confirms q as the page's script would;
// it returns the confirmation's answer.
func (s *provStore) logoutAttempt(t *testing.T, provider string, q url.Values) answer {
	t.Helper()
	resp, page := rawDo(t, http.MethodGet, s.path("oidc/provider/"+provider+"/logout")+"?"+q.Encode(), nil, http.Header{})
	require.GreaterOrEqual(t, resp.StatusCode, 400, string(page))
	require.Contains(t, string(page), `id="error-view"`)
	require.NotContains(t, string(page), `logout-yes`)
	if r := q.Get("post_logout_redirect_uri"); r != "" {
		require.NotContains(t, string(page), r)
	}
	form := url.Values{"confirm": {"yes"}}
	for k, v := range q {
		form[k] = v
	}
	a := oauthCall(t, http.MethodPost, s.path("oidc/provider/"+provider+"/logout"), form, nil)
	require.NotContains(t, a.text, "redirect_uri\":")
	return a
}

// forgeHint signs the claims of a real ID token with a key of the
// attacker's.
func forgeHint(t *testing.T, idToken string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&claims))
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", parsed.Headers[0].KeyID))
	require.NoError(t, err)
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return out
}

// TestSecurityLogout: nobody may use the end_session_endpoint to send a
// browser to an address the client did not register, or to end a sign-in
// with a hint the provider did not issue to that client.
func TestSecurityLogout(t *testing.T) {
	s := newProvStore(t, "sec-logout")
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"post_logout_redirect_uris": appLogout})
	mustWrite(t, s.path("oidc/client/app2"), map[string]any{"post_logout_redirect_uris": app2Logout})
	// Provider p2 serves app too, with its own issuer (same key).
	mustWrite(t, s.path("oidc/provider/p2"), map[string]any{"issuer": server.Addr, "allowed_client_ids": s.app})

	alice := s.signInAt(t, "p", s.alice, s.app, s.appSecret)
	hint := alice["id_token"].(string)
	mallory2 := s.signInAt(t, "p", s.mallory, s.app2, s.app2Secret)
	p2 := s.signInAt(t, "p2", s.alice, s.app, s.appSecret)

	bad := func(desc string) answer { return answer{http.StatusBadRequest, "invalid_request: " + desc} }
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	refuseAll(t, s.secStore, []attack{
		{"a post_logout_redirect_uri the client did not register gets no redirect", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", hint, "post_logout_redirect_uri", "https://evil.example/", "state", "x"))
		}, bad("post_logout_redirect_uri is not registered for the client")},
		{"a sign-in redirect_uri is no post-logout one", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", hint, "post_logout_redirect_uri", s.redirect))
		}, bad("post_logout_redirect_uri is not registered for the client")},
		{"a redirect with neither hint nor client_id", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("post_logout_redirect_uri", appLogout))
		}, bad("post_logout_redirect_uri requires id_token_hint or client_id")},
		{"a hint signed by another key", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", forgeHint(t, hint), "post_logout_redirect_uri", appLogout))
		}, bad("id_token_hint signature does not verify with the provider's keys")},
		{"a hint issued by another provider", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", p2["id_token"].(string), "post_logout_redirect_uri", appLogout))
		}, bad("id_token_hint was not issued by the provider")},
		{"a hint for another client with that client's redirect", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", mallory2["id_token"].(string), "post_logout_redirect_uri", appLogout))
		}, bad("post_logout_redirect_uri is not registered for the client")},
		{"a hint for another client named as the victim client", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", mallory2["id_token"].(string), "client_id", s.app, "post_logout_redirect_uri", appLogout))
		}, bad("client_id does not match the id_token_hint's audience")},
		{"an access token is no hint", func(t *testing.T) answer {
			return s.logoutAttempt(t, "p", q("id_token_hint", alice["access_token"].(string)))
		}, bad("id_token_hint is not an ID token of the provider")},
		{"a provider with no logout client serves no logout", func(t *testing.T) answer {
			return s.logoutAttempt(t, "other", q("client_id", s.o))
		}, answer{http.StatusNotFound, "invalid_request: the provider does not serve logout"}},
	})
	// Alice's sign-in survived every row.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice["refresh_token"].(string)}}
	r := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/token"), form, basicAuth(s.app, s.appSecret))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.False(t, strings.Contains(r.Raw, "error"))
}
