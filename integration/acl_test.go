//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/paths"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

// samplePath turns a path pattern into a request path: each named group
// becomes a sample value, regex decoration goes.
func samplePath(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if strings.HasPrefix(pattern[i:], "(?P<") {
			end := strings.Index(pattern[i:], ">")
			name := pattern[i+4 : i+end]
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
			if name == "method_id" {
				b.WriteString("00000000-0000-0000-0000-000000000000")
			} else {
				b.WriteString("sample")
			}
			i = j
			continue
		}
		switch pattern[i] {
		case '$', '?', '^':
		default:
			b.WriteByte(pattern[i])
		}
	}
	return strings.TrimSuffix(b.String(), "/")
}

// TestEveryPathNeedsACapability sends every operation of every path with a
// token holding only the default policy, and with no token: all are denied
// but the paths Vault leaves unauthenticated (discovery and keys).
func TestEveryPathNeedsACapability(t *testing.T) {
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
		public := false
		for _, u := range paths.Unauthenticated {
			public = public || strings.HasPrefix(path, strings.TrimSuffix(u, "*"))
		}
		for op := range p.Operations {
			method := methods[op]
			for _, as := range []string{token, ""} {
				r := asToken(t, as, method, mount+"/"+path, map[string]any{})
				if public {
					require.NotEqual(t, http.StatusForbidden, r.Status, "%s %s is public", method, path)
					unauth[path] = true
					continue
				}
				require.Equal(t, http.StatusForbidden, r.Status, "%s %s with token %q: %v", method, path, as != "", r.Errors)
				checked++
			}
		}
	}
	require.Len(t, unauth, 2, "discovery and keys")
	require.Greater(t, checked, 100)
	t.Logf("%d denied requests over %d paths; public: %v", checked, len(b.Paths), unauth)
}
