//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// TestRaftClusterFailover runs the plugin on a three-node Vault cluster with
// integrated storage: writers keep writing through all nodes while the
// active node steps down; afterwards every acknowledged write is on the new
// active node, an identity token issued before the failover still verifies,
// and the OIDC key rotates once per period, not once per node.
func TestRaftClusterFailover(t *testing.T) {
	ctx := context.Background()
	opts, err := devvault.FromEnv()
	require.NoError(t, err)
	c, err := devvault.StartCluster(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	t.Logf("cluster files in %s", c.Dir())
	if c.Retried != nil {
		t.Logf("the cluster formed on a second attempt; the first failed: %v", c.Retried)
	}

	call := func(n *devvault.Node, token, method, path string, body any) devvault.Reply {
		r, err := devvault.Do(ctx, http.DefaultClient, n.Addr, token, method, path, body)
		require.NoError(t, err, "%s %s", method, path)
		return r
	}
	leader, err := c.WaitLeader(ctx)
	require.NoError(t, err)
	setup := []struct {
		method, path string
		body         any
	}{
		{"POST", "sys/mounts/ident", map[string]any{"type": devvault.PluginName, "config": map[string]any{"plugin_version": opts.PluginVersion, "passthrough_request_headers": []string{"Authorization"}}}},
		{"POST", "sys/auth/userpass", map[string]any{"type": "userpass"}},
		{"PUT", "sys/policies/acl/tokens", map[string]any{"policy": `path "ident/oidc/token/*" { capabilities = ["read"] }`}},
		{"POST", "auth/userpass/users/carol", map[string]any{"password": "pw", "token_policies": "tokens"}},
		{"POST", "ident/oidc/config", map[string]any{"issuer": "https://vault.cluster.test:8200"}},
		{"POST", "ident/oidc/key/k", map[string]any{"algorithm": "ES256", "rotation_period": "1m", "verification_ttl": "10m", "allowed_client_ids": "*"}},
		{"POST", "ident/oidc/role/r", map[string]any{"key": "k", "ttl": "5m"}},
	}
	for _, s := range setup {
		r := call(leader, c.Token, s.method, s.path, s.body)
		require.Less(t, r.Status, 300, "%s %s: %v", s.method, s.path, r.Errors)
	}
	keyCreated := time.Now()
	auths := call(leader, c.Token, "GET", "sys/auth", nil)
	accessor := auths.Data["userpass/"].(map[string]any)["accessor"].(string)
	require.Equal(t, http.StatusOK, call(leader, c.Token, "POST", "ident/entity-alias", map[string]any{"name": "carol", "mount_accessor": accessor}).Status)
	login := call(leader, "", "POST", "auth/userpass/login/carol", map[string]any{"password": "pw"})
	userToken := login.Body["auth"].(map[string]any)["client_token"].(string)
	tok := call(leader, userToken, "GET", "ident/oidc/token/r", nil)
	require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
	before := tok.Data["token"].(string)

	// Writers send to every node (standbys forward to the active one)
	// through a step-down of the active node.
	var mu sync.Mutex
	ackedIDs := map[string]bool{}
	failed := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := c.Nodes[rand.IntN(len(c.Nodes))]
				r, err := devvault.Do(ctx, http.DefaultClient, n.Addr, c.Token, "POST", "ident/entity", map[string]any{"name": fmt.Sprintf("ha-%d-%d", w, i)})
				mu.Lock()
				if err == nil && r.Status == http.StatusOK {
					ackedIDs[r.Data["id"].(string)] = true
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ackedIDs)
	}
	waitFor(t, 60*time.Second, "20 acknowledged creates before the step-down", func() bool { return acked() >= 20 })
	atStepDown := acked()
	require.Equal(t, http.StatusNoContent, call(leader, c.Token, "PUT", "sys/step-down", nil).Status)
	stepped := time.Now()
	var newLeader *devvault.Node
	waitFor(t, 60*time.Second, "a standby to become the active node after the step-down", func() bool {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		newLeader, _ = c.WaitLeader(lctx)
		return newLeader != nil && newLeader != leader
	})
	elected := time.Since(stepped)
	atElection := acked()
	waitFor(t, 60*time.Second, "20 more acknowledged creates after the new active node was elected", func() bool { return acked() >= atElection+20 })
	close(stop)
	wg.Wait()
	t.Logf("step-down after %d acknowledged creates, new active node %s after %s; %d creates acknowledged, %d failed around the failover",
		atStepDown, newLeader.Addr, elected.Round(time.Millisecond), len(ackedIDs), failed)

	list := call(newLeader, c.Token, "LIST", "ident/entity/id", nil)
	require.Equal(t, http.StatusOK, list.Status)
	present := map[string]bool{}
	for _, k := range list.Data["keys"].([]any) {
		present[k.(string)] = true
	}
	require.NotEmpty(t, ackedIDs, "writes were acknowledged during the failover run")
	for id := range ackedIDs {
		require.True(t, present[id], "acknowledged entity %s lost in the failover", id)
	}

	// The token from before the failover verifies on the new active node.
	in := call(newLeader, c.Token, "POST", "ident/oidc/introspect", map[string]any{"token": before})
	require.Equal(t, map[string]any{"active": true}, in.Body)

	// The key rotates once: two published keys (current and next) until
	// the first rotation, then three (the outgoing one kept for
	// verification), never four at once.
	jwks := func() int {
		r, err := devvault.Do(ctx, http.DefaultClient, newLeader.Addr, "", "GET", "ident/oidc/.well-known/keys", nil)
		require.NoError(t, err)
		var set struct{ Keys []json.RawMessage }
		raw, _ := json.Marshal(r.Body)
		require.NoError(t, json.Unmarshal(raw, &set))
		return len(set.Keys)
	}
	require.NoError(t, devvault.Poll(context.Background(), 150*time.Second, 500*time.Millisecond, func() bool { return jwks() >= 3 }), "the key rotated within its period and the periodic interval")
	require.Equal(t, 3, jwks(), "one rotation, not one per node")
	t.Logf("first rotation seen %s after the key was created", time.Since(keyCreated).Round(time.Second))
}
