//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

var (
	vaultMinorOnce sync.Once
	vaultMinor     int // 19 for Vault 1.19.x
)

// vaultBefore reports whether the server under test is older than Vault
// 1.<minor>: the suite runs on 1.19, 1.20 and 1.21 (make test-compat), and
// a few answers of Vault itself differ between them.
func vaultBefore(t *testing.T, minor int) bool {
	t.Helper()
	vaultMinorOnce.Do(func() {
		r := do(t, "GET", "sys/seal-status", nil)
		v, _ := r.Body["version"].(string)
		parts := strings.SplitN(v, ".", 3)
		require.Len(t, parts, 3, "sys/seal-status version %q", v)
		m, err := strconv.Atoi(parts[1])
		require.NoError(t, err, "sys/seal-status version %q", v)
		vaultMinor = m
	})
	return vaultMinor < minor
}

// userinfoDo asks a provider's userinfo endpoint with an access token: in
// the Authorization header, or on Vault before 1.21 as the access_token of
// a form-encoded POST (RFC 6750 section 2.2). Vault before 1.21 removes an
// Authorization header with the Bearer scheme from every request before a
// plugin sees it, unless the request's Vault token came in X-Vault-Token.
func userinfoDo(t *testing.T, path, token string) oauthReply {
	t.Helper()
	if vaultBefore(t, 21) {
		return oauthDo(t, http.MethodPost, path, url.Values{"access_token": {token}}, nil)
	}
	return oauthDo(t, http.MethodGet, path, nil, bearerToken(token))
}

// userinfoCall is userinfoDo as an answer.
func userinfoCall(t *testing.T, path, token string) answer {
	t.Helper()
	return oauthAnswer(userinfoDo(t, path, token))
}

// rpUserInfo is what a relying party's OIDC library reads from a provider's
// userinfo endpoint with an access token: go-oidc's UserInfo, which sends
// the token in the Authorization header, or on Vault before 1.21 (see
// userinfoDo) the same request with the token as access_token in a
// form-encoded POST. It returns the claims.
func rpUserInfo(t *testing.T, ctx context.Context, provider *oidc.Provider, tok *oauth2.Token) map[string]any {
	t.Helper()
	claims := map[string]any{}
	if !vaultBefore(t, 21) {
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		require.NoError(t, err)
		require.NoError(t, info.Claims(&claims))
		require.Equal(t, info.Subject, claims["sub"])
		return claims
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, provider.UserInfoEndpoint(), strings.NewReader(url.Values{"access_token": {tok.AccessToken}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&claims))
	return claims
}
