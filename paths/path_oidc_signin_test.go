package paths_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

const signInRedirect = "https://app.test/callback?tenant=a"

// signInBackend has a client "app" allowed by every entity, and a provider
// "sso" supporting the "profile" scope; it returns the client's id.
func signInBackend(t *testing.T) (*testutil.Backend, string) {
	t.Helper()
	b := newBackend(t)
	for path, data := range map[string]map[string]any{
		"oidc/scope/profile": {"template": `{"name": {{identity.entity.name}}}`, "description": "Your name in Vault"},
		"oidc/client/app":    {"redirect_uris": signInRedirect, "assignments": "allow_all"},
	} {
		r := b.Write(path, data)
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, path+": "+r.ErrorText())
	}
	clientID := b.Read("oidc/client/app").Data()["client_id"].(string)
	r := b.Write("oidc/provider/sso", map[string]any{"allowed_client_ids": "*", "scopes_supported": "profile", "sign_in_methods": "userpass,ldap/corp,token"})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, r.ErrorText())
	return b, clientID
}

// signInQuery is a valid authorization request of client clientID.
func signInQuery(clientID string) map[string]any {
	return map[string]any{
		"client_id":             clientID,
		"redirect_uri":          signInRedirect,
		"scope":                 "openid profile",
		"response_type":         "code",
		"state":                 "st-123",
		"nonce":                 "n-456",
		"code_challenge":        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		"code_challenge_method": "S256",
	}
}

// signIn requests the sign-in page of provider with query.
func signIn(b *testutil.Backend, provider string, query map[string]any) testutil.Result {
	return b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/provider/" + provider + "/sign-in", Data: query})
}

// rawPage checks a raw HTML answer and returns its body.
func rawPage(t *testing.T, r testutil.Result, status int) string {
	t.Helper()
	require.NoError(t, r.Err)
	require.NotNil(t, r.Resp)
	require.Equal(t, status, r.Resp.Data[logical.HTTPStatusCode], "status")
	require.Equal(t, "text/html; charset=utf-8", r.Resp.Data[logical.HTTPContentType])
	require.Equal(t, "no-store", r.Resp.Data[logical.HTTPCacheControlHeader])
	return string(r.Resp.Data[logical.HTTPRawBody].([]byte))
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	requestJSON = regexp.MustCompile(`(?s)<script type="application/json" id="request">(.*?)</script>`)
	cspMeta     = regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`)
)

// strictPage checks that a page can run under its strict policy: the policy
// is in a meta element, and no script or style is inline.
func strictPage(t *testing.T, body string) {
	t.Helper()
	m := cspMeta.FindStringSubmatch(body)
	require.NotNil(t, m, "CSP meta element")
	csp := strings.ReplaceAll(m[1], "&#39;", "'")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "form-action 'none'", "base-uri 'none'"} {
		require.Contains(t, csp, d)
	}
	require.NotContains(t, csp, "unsafe-inline")
	for _, s := range scriptTag.FindAllStringSubmatch(body, -1) {
		attrs, content := s[1], s[2]
		if strings.Contains(attrs, `type="application/json"`) {
			continue
		}
		require.Contains(t, attrs, "src=", "scripts are files")
		require.Empty(t, strings.TrimSpace(content), "no inline script")
	}
	// The request data is JSON, not markup.
	body = requestJSON.ReplaceAllString(body, "")
	require.NotRegexp(t, `(?i)<style\b`, body, "no style element")
	require.NotRegexp(t, `(?i)\sstyle\s*=`, body, "no style attribute")
	require.NotRegexp(t, `(?i)\son[a-z]+\s*=`, body, "no event handler attribute")
	require.NotRegexp(t, `(?i)javascript:`, body)
}

// pageRequest decodes the JSON the page's script reads.
func pageRequest(t *testing.T, body string) map[string]any {
	t.Helper()
	m := requestJSON.FindStringSubmatch(body)
	require.NotNil(t, m, "request JSON block")
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(m[1]), &out))
	return out
}

func TestSignInPageRendersTheRequest(t *testing.T) {
	b, clientID := signInBackend(t)
	q := signInQuery(clientID)
	r := signIn(b, "sso", q)
	body := rawPage(t, r, http.StatusOK)
	strictPage(t, body)

	// Vault sends these only when the mount allows them, but the page asks.
	require.Contains(t, r.Resp.Headers["Content-Security-Policy"][0], "frame-ancestors 'none'")
	require.Equal(t, []string{"DENY"}, r.Resp.Headers["X-Frame-Options"])
	require.Equal(t, []string{"nosniff"}, r.Resp.Headers["X-Content-Type-Options"])

	req := pageRequest(t, body)
	require.Equal(t, "ident/", req["mount"])
	require.Equal(t, "sso", req["provider"])
	require.Equal(t, "app", req["client"])
	require.Equal(t, signInRedirect, req["redirect_uri"])
	require.Equal(t, "st-123", req["state"])
	require.Equal(t, []any{"userpass", "ldap/corp", "token"}, req["methods"])
	params := map[string]any{}
	for k, v := range q {
		params[k] = v
	}
	require.Equal(t, params, req["params"], "the OAuth parameters as received")

	// The consent list and the method chooser.
	require.Contains(t, body, `<code class="scope">openid</code>`)
	require.Contains(t, body, `<code class="scope">profile</code>`)
	require.Contains(t, body, "Your name in Vault", "the scope's own description")
	require.Contains(t, body, "Sign you in with your Vault identity", "openid's description")
	require.Equal(t, 3, strings.Count(body, `name="method"`))
	for _, id := range []string{`id="username"`, `id="password"`, `id="token"`, `id="allow"`, `id="deny"`, `role="alert"`, `<label for="username">`, `<label for="password">`} {
		require.Contains(t, body, id)
	}
	require.Regexp(t, `<main id="app" class="card" hidden>`, body, "hidden until the script checks it is not framed")
}

func TestSignInPageOffersOnlySupportedScopes(t *testing.T) {
	b, clientID := signInBackend(t)
	q := signInQuery(clientID)
	q["scope"] = "profile email openid"
	body := rawPage(t, signIn(b, "sso", q), http.StatusOK)
	var scopes []string
	for _, m := range regexp.MustCompile(`<code class="scope">([^<]*)</code>`).FindAllStringSubmatch(body, -1) {
		scopes = append(scopes, m[1])
	}
	require.Equal(t, []string{"openid", "profile"}, scopes, "supported scopes, openid first")
	// One method: no chooser.
	require.Equal(t, http.StatusNoContent, b.Write("oidc/provider/sso", map[string]any{"sign_in_methods": "userpass"}).Status)
	body = rawPage(t, signIn(b, "sso", q), http.StatusOK)
	require.NotContains(t, body, `name="method"`)
	require.Equal(t, []any{"userpass"}, pageRequest(t, body)["methods"])
}

func TestSignInPageEscapesTheRequest(t *testing.T) {
	b, clientID := signInBackend(t)
	q := signInQuery(clientID)
	evil := `</script><script>alert(1)</script><!--"'&`
	q["state"] = evil
	q["nonce"] = `</SCRIPT ><img src=x onerror=alert(2)>`
	body := rawPage(t, signIn(b, "sso", q), http.StatusOK)
	strictPage(t, body)
	require.Equal(t, 2, strings.Count(strings.ToLower(body), "</script"), "only the page's own script elements end")
	require.NotContains(t, body, "<img")
	req := pageRequest(t, body)
	require.Equal(t, evil, req["state"])
	require.Equal(t, evil, req["params"].(map[string]any)["state"])
	require.Equal(t, q["nonce"], req["params"].(map[string]any)["nonce"])

	// An error page shows the state in its return link, escaped.
	q["response_type"] = "token"
	body = rawPage(t, signIn(b, "sso", q), http.StatusBadRequest)
	strictPage(t, body)
	require.Equal(t, 1, strings.Count(strings.ToLower(body), "</script"))
	link := returnLink(t, body)
	require.Equal(t, evil, link.Query().Get("state"))
}

// returnLink is the error page's link back to the application.
func returnLink(t *testing.T, body string) *url.URL {
	t.Helper()
	m := regexp.MustCompile(`<a id="return" class="button primary" href="([^"]*)">`).FindStringSubmatch(body)
	require.NotNil(t, m, "return link")
	u, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	return u
}

func TestSignInErrorPages(t *testing.T) {
	b, clientID := signInBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/provider/closed", map[string]any{"allowed_client_ids": "someone-else"}).Status)
	for _, tc := range []struct {
		name, provider string
		change         map[string]any
		status         int
		code           string
		redirect       bool
	}{
		{"no client_id", "sso", map[string]any{"client_id": ""}, http.StatusBadRequest, "invalid_client_id", false},
		{"unknown client", "sso", map[string]any{"client_id": "nope"}, http.StatusBadRequest, "invalid_client_id", false},
		{"unregistered redirect", "sso", map[string]any{"redirect_uri": "https://evil.test/cb"}, http.StatusBadRequest, "invalid_redirect_uri", false},
		{"unknown provider", "nope", nil, http.StatusBadRequest, "invalid_request", false},
		{"client not allowed", "closed", nil, http.StatusBadRequest, "unauthorized_client", true},
		{"implicit flow", "sso", map[string]any{"response_type": "token"}, http.StatusBadRequest, "unsupported_response_type", true},
		{"no openid scope", "sso", map[string]any{"scope": "profile"}, http.StatusBadRequest, "invalid_request", true},
		// Without the state, as Vault answers.
		{"request object", "sso", map[string]any{"request": "eyJ..."}, http.StatusBadRequest, "request_not_supported", true},
		{"bad max_age", "sso", map[string]any{"max_age": "soon"}, http.StatusBadRequest, "invalid_request", true},
		{"zero max_age", "sso", map[string]any{"max_age": "0"}, http.StatusBadRequest, "invalid_request", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := signInQuery(clientID)
			for k, v := range tc.change {
				q[k] = v
			}
			body := rawPage(t, signIn(b, tc.provider, q), tc.status)
			strictPage(t, body)
			require.Contains(t, body, `<code id="error-code">`+tc.code+`</code>`)
			require.Contains(t, body, `id="error-description"`)
			require.NotContains(t, body, `id="request"`, "no sign-in on an error page")
			if !tc.redirect {
				require.NotContains(t, body, `id="return"`, "the client must not be sent there")
				return
			}
			link := returnLink(t, body)
			require.Equal(t, "https", link.Scheme)
			require.Equal(t, "app.test", link.Host)
			require.Equal(t, "/callback", link.Path)
			require.Equal(t, "a", link.Query().Get("tenant"), "the redirect URI's own query is kept")
			require.Equal(t, tc.code, link.Query().Get("error"))
			require.NotEmpty(t, link.Query().Get("error_description"))
			if tc.code != "request_not_supported" {
				require.Equal(t, "st-123", link.Query().Get("state"))
			}
		})
	}
}

func TestSignInAssets(t *testing.T) {
	b, clientID := signInBackend(t)
	body := rawPage(t, signIn(b, "sso", signInQuery(clientID)), http.StatusOK)
	for _, tc := range []struct{ name, contentType string }{
		{"app.js", "text/javascript; charset=utf-8"},
		{"style.css", "text/css; charset=utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile("signin/" + tc.name)
			require.NoError(t, err)
			m := regexp.MustCompile(`"\.\./\.\./sign-in/` + regexp.QuoteMeta(tc.name) + `\?v=([0-9a-f]+)"`).FindStringSubmatch(body)
			require.NotNil(t, m, "the page links the asset relative to itself, versioned")

			r := b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/sign-in/" + tc.name, Data: map[string]any{"v": m[1]}})
			require.NoError(t, r.Err)
			require.Equal(t, http.StatusOK, r.Resp.Data[logical.HTTPStatusCode])
			require.Equal(t, tc.contentType, r.Resp.Data[logical.HTTPContentType])
			require.Equal(t, want, r.Resp.Data[logical.HTTPRawBody])
			require.Equal(t, "public, max-age=31536000, immutable", r.Resp.Data[logical.HTTPCacheControlHeader])
			require.Equal(t, []string{"nosniff"}, r.Resp.Headers["X-Content-Type-Options"])

			r = b.Read("oidc/sign-in/" + tc.name)
			require.Equal(t, "no-cache", r.Resp.Data[logical.HTTPCacheControlHeader], "an unversioned link is revalidated")
		})
	}
	require.Equal(t, http.StatusNotFound, b.Read("oidc/sign-in/other.js").Status)
}

// TestSignInPagePublicClientsMustUseS256: the page's check refuses a
// public client's request with code_challenge_method plain, or none, as
// the authorization endpoint does, with a way back that tells the client;
// with S256 the page is served.
func TestSignInPagePublicClientsMustUseS256(t *testing.T) {
	b, _ := signInBackend(t)
	r := b.Write("oidc/client/spa", map[string]any{"redirect_uris": signInRedirect, "assignments": "allow_all", "client_type": "public"})
	require.Equal(t, http.StatusNoContent, r.Status, r.ErrorText())
	publicID := b.Read("oidc/client/spa").Data()["client_id"].(string)
	for _, tc := range []struct {
		name   string
		change map[string]any
	}{
		{"plain", map[string]any{"code_challenge_method": "plain", "code_challenge": "a-code-verifier-that-is-long-enough-0123456789abcdef"}},
		{"no method", map[string]any{"code_challenge_method": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := signInQuery(publicID)
			for k, v := range tc.change {
				if v == nil {
					delete(q, k)
				} else {
					q[k] = v
				}
			}
			body := rawPage(t, signIn(b, "sso", q), http.StatusBadRequest)
			strictPage(t, body)
			require.Contains(t, body, `<code id="error-code">invalid_request</code>`)
			require.Contains(t, body, "public clients must use code_challenge_method S256")
			require.NotContains(t, body, `id="request"`, "no sign-in on an error page")
			link := returnLink(t, body)
			require.Equal(t, "invalid_request", link.Query().Get("error"))
			require.Equal(t, "public clients must use code_challenge_method S256", link.Query().Get("error_description"))
			require.Equal(t, "st-123", link.Query().Get("state"))
		})
	}
	body := rawPage(t, signIn(b, "sso", signInQuery(publicID)), http.StatusOK)
	require.Equal(t, publicID, pageRequest(t, body)["params"].(map[string]any)["client_id"])
}
