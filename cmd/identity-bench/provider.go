package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// benchRedirect is the redirect URI of the benchmark's relying party; no
// browser follows it.
const benchRedirect = "https://rp.bench.invalid/callback"

// providerOps are the OIDC provider's two steps on each mount's default
// provider and key: the user's authorize call, which makes a code, and the
// relying party's exchange of that code at the token endpoint
// (client_secret_post), which signs an RS256 ID token.
func providerOps(ctx context.Context, b *bench, prefix, userToken string) []op {
	type client struct{ id, secret string }
	clients := map[string]client{}
	codes := map[string][]string{}
	return []op{
		{name: "provider authorize", count: b.cfg.tokens, write: true, user: true,
			setup: func(mnt string) error {
				name := prefix + "-rp"
				path := mnt + "/oidc/client/" + name
				r, err := devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, "POST", path, map[string]any{"redirect_uris": benchRedirect, "assignments": "allow_all"})
				if err == nil && r.Status != http.StatusNoContent {
					err = fmt.Errorf("POST %s: %d %v", path, r.Status, r.Errors)
				}
				if err != nil {
					return err
				}
				if r, err = devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, "GET", path, nil); err != nil {
					return err
				}
				id, _ := r.Data["client_id"].(string)
				secret, _ := r.Data["client_secret"].(string)
				clients[mnt] = client{id, secret}
				return nil
			},
			call: func(mnt string, _ int) call {
				return call{method: "POST", path: mnt + "/oidc/provider/default/authorize", token: userToken, body: map[string]any{
					"client_id": clients[mnt].id, "redirect_uri": benchRedirect, "scope": "openid", "response_type": "code", "state": "bench",
				}}
			},
			after: func(mnt string, res result) { codes[mnt] = res.values("code") }},
		{name: "provider token exchange", count: b.cfg.tokens, write: true,
			call: func(mnt string, i int) call {
				return call{method: "POST", path: mnt + "/oidc/provider/default/token", body: map[string]any{
					"grant_type": "authorization_code", "code": codes[mnt][i], "redirect_uri": benchRedirect,
					"client_id": clients[mnt].id, "client_secret": clients[mnt].secret,
				}}
			}},
	}
}
