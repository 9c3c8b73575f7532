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
	require.Equal(t, noToken, r.Data())
	validSchema(t, b, r)

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
	// The write tries the token at once; this test backend has no Vault to
	// ask (no VAULT_API_ADDR), which the answer reports without failing.
	require.Equal(t, "form", r.Data()["mount_accessor_check"])
	require.Contains(t, r.Data()["vault_token_error"], "reading the auth mount table (GET sys/auth): the plugin was registered without VAULT_API_ADDR")
	require.NotContains(t, r.Data()["vault_token_error"], "hvs.secret")
	require.Equal(t, "", r.Data()["vault_token_last_used"])
	validSchema(t, b, r)

	// Writing one setting keeps the other; the settings survive a restart.
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"caller_entities": "create"}).Status)
	again := testutil.NewWithStorage(t, plugin.Factory, b.Storage).Read("config").Data()
	require.Equal(t, "create", again["caller_entities"])
	require.Equal(t, true, again["vault_token_set"])

	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"vault_token": ""}).Status)
	require.Equal(t, noToken, b.Read("config").Data())
}

// noToken is the config of a mount without a token.
var noToken = map[string]any{
	"caller_entities": "create", "allow_key_export": false, "vault_token_set": false, "vault_token_set_at": "",
	"vault_token_last_used": "", "vault_token_error": "", "mount_accessor_check": "form",
}
