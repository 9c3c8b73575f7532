package testutil

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// StorageFixture is in-memory storage holding the entries of a JSON file
// (key → stored value), such as those an earlier release wrote.
func StorageFixture(t testing.TB, path string) *logical.InmemStorage {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var entries map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &entries))
	s := new(logical.InmemStorage)
	for k, v := range entries {
		require.NoError(t, s.Put(context.Background(), &logical.StorageEntry{Key: k, Value: v}))
	}
	return s
}
