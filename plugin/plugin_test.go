package plugin_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

// Initialize returns before the store is loaded; the first requests wait
// for the load and see everything stored.
func TestRequestsWaitForTheBackgroundLoad(t *testing.T) {
	storage := new(logical.InmemStorage)
	first := testutil.NewWithStorage(t, plugin.Factory, storage)
	const n = 2000
	for i := range n {
		r := first.Write("entity", map[string]any{"name": fmt.Sprintf("user-%d", i)})
		require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	}

	restarted := testutil.NewWithStorage(t, plugin.Factory, storage)
	r := restarted.Read("info")
	require.Equal(t, http.StatusOK, r.Status)
	require.EqualValues(t, n, r.Data()["entities"])
	require.Equal(t, http.StatusOK, restarted.Read(fmt.Sprintf("entity/name/user-%d", n-1)).Status)
}
