package paths_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

func TestMountConfig(t *testing.T) {
	b := newBackend(t)
	r := b.Read("config")
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"caller_entities": "create", "vault_token_set": false, "vault_token_set_at": ""}, r.Data())

	before := snapshot(b)
	bad := b.Write("config", map[string]any{"caller_entities": "sometimes"})
	require.Equal(t, http.StatusBadRequest, bad.Status)
	require.Equal(t, `caller_entities must be "create" or "match"`, bad.ErrorText())
	require.Equal(t, before, snapshot(b), "a refused write changes nothing")

	r = b.Write("config", map[string]any{"caller_entities": "match", "vault_token": "hvs.secret"})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	require.Equal(t, "match", r.Data()["caller_entities"])
	require.Equal(t, true, r.Data()["vault_token_set"])
	require.NotEmpty(t, r.Data()["vault_token_set_at"])
	require.NotContains(t, r.Data(), "vault_token")

	// Writing one setting keeps the other; the settings survive a restart.
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"caller_entities": "create"}).Status)
	again := testutil.NewWithStorage(t, plugin.Factory, b.Storage).Read("config").Data()
	require.Equal(t, "create", again["caller_entities"])
	require.Equal(t, true, again["vault_token_set"])

	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"vault_token": ""}).Status)
	require.Equal(t, map[string]any{"caller_entities": "create", "vault_token_set": false, "vault_token_set_at": ""}, b.Read("config").Data())
}
