//go:build integration

// Package integration runs the plugin under a real Vault dev server, launched
// over go-plugin RPC exactly as an operator would run it, and compares its
// answers with Vault's built-in identity/ engine in the same server.
package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// Mounts of the plugin in the shared server.
const (
	mount  = "ident"
	mount2 = "ident2"
)

var (
	server        *devvault.Server
	pluginVersion string
	// Accessors of real auth mounts in the shared server.
	userpassAccessor, approleAccessor string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	opts, err := devvault.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration suite cannot run:", err)
		return 1
	}
	pluginVersion = opts.PluginVersion
	ctx := context.Background()
	server, err = devvault.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Vault:", err)
		return 1
	}
	defer server.Stop()
	for _, p := range []string{mount, mount2} {
		if err := server.Enable(ctx, p); err != nil {
			fmt.Fprintf(os.Stderr, "enabling the plugin at %s: %v\n", p, err)
			return 1
		}
	}
	for _, auth := range []struct {
		kind string
		dst  *string
	}{{"userpass", &userpassAccessor}, {"approle", &approleAccessor}} {
		if err := server.Client.Sys().EnableAuthWithOptionsWithContext(ctx, auth.kind, &api.EnableAuthOptions{Type: auth.kind}); err != nil {
			fmt.Fprintf(os.Stderr, "enabling %s: %v\n", auth.kind, err)
			return 1
		}
		mounts, err := server.Client.Sys().ListAuthWithContext(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listing auth mounts:", err)
			return 1
		}
		*auth.dst = mounts[auth.kind+"/"].Accessor
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "Vault log:", server.LogPath(), "(set KEEP_VAULT_DIR=1 to keep it)")
	}
	return code
}

// do sends one request to the shared server and fails the test on a
// transport error.
func do(t testing.TB, method, path string, body any) devvault.Reply {
	t.Helper()
	r, err := server.Do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// mustWrite posts body to path and requires it to succeed (200 or 204).
func mustWrite(t *testing.T, path string, body map[string]any) devvault.Reply {
	t.Helper()
	r := do(t, "POST", path, body)
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, "%s: %v", path, r.Errors)
	return r
}

// rawDo sends a request to /v1/path (which may carry a query) with headers
// as given, and returns the answer with its whole body, which need not be
// JSON.
func rawDo(t *testing.T, method, path string, body io.Reader, headers http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, server.Addr+"/v1/"+path, body)
	require.NoError(t, err)
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}
