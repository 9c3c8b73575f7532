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
// active node steps down, and then while a standby's vault process is
// killed with SIGKILL and started again on its data directory; afterwards
// every acknowledged write is on the active node, the returned node is a
// healthy voter again, an identity token issued before the failover still
// verifies, and the OIDC key rotates once per period, not once per node.
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
	t.Logf("step-down after %d acknowledged creates, new active node %s after %s", atStepDown, newLeader.Addr, elected.Round(time.Millisecond))

	// A standby's process is killed (kill -9) while the writers go on, and
	// comes back on the same configuration and data directory.
	var standby *devvault.Node
	for _, n := range c.Nodes {
		if n != newLeader {
			standby = n
			break
		}
	}
	// healthyVoters counts the nodes autopilot finds healthy and voting
	// (the active node's status is "leader").
	healthyVoters := func() int {
		r, err := devvault.Do(ctx, http.DefaultClient, newLeader.Addr, c.Token, "GET", "sys/storage/raft/autopilot/state", nil)
		if err != nil || r.Status != http.StatusOK {
			return -1
		}
		servers, _ := r.Data["servers"].(map[string]any)
		n := 0
		for _, s := range servers {
			if m := s.(map[string]any); m["healthy"] == true && (m["status"] == "voter" || m["status"] == "leader") {
				n++
			}
		}
		return n
	}
	atKill := acked()
	pid := standby.PID()
	require.NoError(t, c.Kill(standby))
	killed := time.Now()
	// Down long enough for the active node to see it: autopilot marks it
	// unhealthy once it has not been heard from for its last-contact
	// threshold (10 s).
	waitFor(t, 60*time.Second, "autopilot to find the killed standby unhealthy", func() bool { return healthyVoters() == 2 })
	waitFor(t, 60*time.Second, "20 more acknowledged creates with a standby down", func() bool { return acked() >= atKill+20 })
	restarted := time.Now()
	require.NoError(t, c.Restart(ctx, standby))
	require.NotEqual(t, pid, standby.PID(), "a new process")
	// Back in the cluster: every node healthy and voting again, the
	// returned one echoing to the active node as a standby since its
	// restart.
	waitFor(t, 90*time.Second, "the restarted node to be a healthy voter again", func() bool { return healthyVoters() == 3 })
	waitFor(t, 60*time.Second, "the restarted node to echo to the active node", func() bool {
		r, err := devvault.Do(ctx, http.DefaultClient, newLeader.Addr, c.Token, "GET", "sys/ha-status", nil)
		if err != nil || r.Status != http.StatusOK {
			return false
		}
		for _, n := range asSlice(r.Data["nodes"]) {
			m := n.(map[string]any)
			echo, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["last_echo"]))
			if m["api_address"] == standby.Addr && echo.After(restarted) {
				return true
			}
		}
		return false
	})
	health := call(standby, "", "GET", "sys/health", nil)
	require.Equal(t, http.StatusTooManyRequests, health.Status, "the returned node answers as a standby: %v", health.Body)
	returned := time.Since(killed)
	// Writes through the returned node (a standby forwards them) are
	// acknowledged too.
	r := call(standby, c.Token, "POST", "ident/entity", map[string]any{"name": "after-return"})
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	mu.Lock()
	ackedIDs[r.Data["id"].(string)] = true
	mu.Unlock()
	atReturn := acked()
	waitFor(t, 60*time.Second, "20 more acknowledged creates after the standby returned", func() bool { return acked() >= atReturn+20 })
	close(stop)
	wg.Wait()
	t.Logf("standby %s killed (pid %d) after %d acknowledged creates, back as a healthy voter %s after the kill; %d creates acknowledged, %d failed around the failover and the kill",
		standby.Addr, pid, atKill, returned.Round(time.Millisecond), len(ackedIDs), failed)

	list := call(newLeader, c.Token, "LIST", "ident/entity/id", nil)
	require.Equal(t, http.StatusOK, list.Status)
	present := map[string]bool{}
	for _, k := range list.Data["keys"].([]any) {
		present[k.(string)] = true
	}
	require.NotEmpty(t, ackedIDs, "writes were acknowledged during the failover run")
	for id := range ackedIDs {
		require.True(t, present[id], "acknowledged entity %s lost in the failover or the kill", id)
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
