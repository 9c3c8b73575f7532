//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/paths"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

// samplePath turns a path pattern into a request path: each named group
// becomes a sample value, an optional unnamed group (such as the child
// issuer of the discovery paths) is left out, regex decoration goes.
func samplePath(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '(' {
			depth := 0
			j := i
			for ; j < len(pattern); j++ {
				if pattern[j] == '(' {
					depth++
				} else if pattern[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if !strings.HasPrefix(pattern[i:], "(?P<") {
				if j+1 < len(pattern) && pattern[j+1] == '?' {
					i = j + 1
					continue
				}
				b.WriteByte(pattern[i])
				continue
			}
			end := strings.Index(pattern[i:], ">")
			name := pattern[i+4 : i+end]
			switch name {
			case "method_id":
				b.WriteString("00000000-0000-0000-0000-000000000000")
			case "asset":
				b.WriteString("app.js")
			default:
				b.WriteString("sample")
			}
			i = j
			continue
		}
		switch pattern[i] {
		case '$', '?', '^':
		case '\\': // an escaped character stands for itself
			i++
			b.WriteByte(pattern[i])
		default:
			b.WriteByte(pattern[i])
		}
	}
	return strings.TrimSuffix(b.String(), "/")
}

// unauthenticated reports whether Vault serves path without a token: it
// matches one of the backend's unauthenticated patterns, where "+" stands
// for one path segment and a trailing "*" for any rest.
func unauthenticated(path string) bool {
	for _, u := range paths.Unauthenticated {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSuffix(u, "*")), `\+`, "[^/]+")
		if !strings.HasSuffix(u, "*") {
			re += "$"
		}
		if regexp.MustCompile(re).MatchString(path) {
			return true
		}
	}
	return false
}

// rawAs sends a request whose answer may not be JSON (the sign-in page and
// its assets): status and body.
func rawAs(t *testing.T, token, method, path string) (int, []byte) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("X-Vault-Token", token)
	}
	resp, body := rawDo(t, method, path, strings.NewReader("{}"), h)
	return resp.StatusCode, body
}

// oauthEndpoints are the public provider endpoints that authenticate their
// callers themselves: without credentials they answer an OAuth error.
var oauthEndpoints = regexp.MustCompile(`^oidc/provider/[^/]+/(token|userinfo|introspect|revoke)$`)

// TestACLEveryPathNeedsACapability sends every operation of every path with a
// token holding only the default policy, and with no token: all are denied
// but the paths Vault leaves unauthenticated (discovery and keys, the
// provider's OAuth endpoints, which answer OAuth errors, the device
// authorization endpoint, and the sign-in and logout pages with their
// assets).
func TestACLEveryPathNeedsACapability(t *testing.T) {
	tok := do(t, "POST", "auth/token/create", map[string]any{"policies": "default", "ttl": "10m"})
	require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
	token := tok.Body["auth"].(map[string]any)["client_token"].(string)

	unauth := map[string]bool{}
	b := plugin.New(&logical.BackendConfig{})
	methods := map[logical.Operation]string{
		logical.ReadOperation: "GET", logical.UpdateOperation: "POST", logical.CreateOperation: "POST",
		logical.DeleteOperation: "DELETE", logical.ListOperation: "LIST",
	}
	checked := 0
	for _, p := range b.Paths {
		path := samplePath(p.Pattern)
		public := unauthenticated(path)
		for op := range p.Operations {
			method := methods[op]
			for _, as := range []string{token, ""} {
				if public {
					status, body := rawAs(t, as, method, mount+"/"+path)
					require.NotEqual(t, http.StatusForbidden, status, "%s %s is public", method, path)
					require.Less(t, status, 500, "%s %s: %s", method, path, body)
					if oauthEndpoints.MatchString(path) {
						var answer map[string]any
						require.NoError(t, json.Unmarshal(body, &answer), "%s %s: %s", method, path, body)
						require.Equal(t, "invalid_request", answer["error"], "%s %s: an OAuth error: %s", method, path, body)
						require.Equal(t, "provider not found", answer["error_description"], "%s %s", method, path)
					}
					unauth[path] = true
					continue
				}
				r := asToken(t, as, method, mount+"/"+path, map[string]any{})
				require.Equal(t, http.StatusForbidden, r.Status, "%s %s with token %v: %v", method, path, as != "", r.Errors)
				checked++
			}
		}
	}
	var public []string
	for path := range unauth {
		public = append(public, path)
	}
	require.ElementsMatch(t, []string{
		"oidc/.well-known/openid-configuration", "oidc/.well-known/keys",
		"oidc/provider/sample/.well-known/openid-configuration", "oidc/provider/sample/.well-known/keys",
		"oidc/provider/sample/token", "oidc/provider/sample/userinfo",
		"oidc/provider/sample/introspect", "oidc/provider/sample/revoke",
		"oidc/provider/sample/sign-in", "oidc/sign-in/app.js",
		"oidc/provider/sample/device", "oidc/provider/sample/logout", "oidc/sign-in/logout.js",
		"ui", "ui/app.js",
	}, public, "discovery and keys, the provider's OAuth endpoints, the device authorization endpoint, the sign-in and logout pages, and the admin console")
	require.Greater(t, checked, 100)
	t.Logf("%d denied requests over %d paths; public: %v", checked, len(b.Paths), unauth)
}
