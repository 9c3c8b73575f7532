package paths_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

func TestInfo(t *testing.T) {
	b := newBackend(t)
	createEntity(t, b, nil)
	createEntity(t, b, nil)
	r := b.Read("info")
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	require.Equal(t, plugin.Version, r.Data()["plugin_version"])
	require.Equal(t, 1, r.Data()["schema_version"])
	require.Equal(t, 2, r.Data()["entities"])
	require.Equal(t, 0, r.Data()["entity_aliases"])
	require.Equal(t, 0, r.Data()["groups"])
	require.Equal(t, "", r.Data()["last_snapshot"], "no snapshot yet")
	require.Equal(t, false, r.Data()["snapshot_current"])
	require.Equal(t, "objects", r.Data()["load_source"])
	require.GreaterOrEqual(t, r.Data()["load_duration_ms"], int64(0))
	require.Equal(t, "form", r.Data()["mount_accessor_check"])
	require.Equal(t, "", r.Data()["vault_token_error"])
	require.Equal(t, "", r.Data()["vault_token_last_used"])
}
