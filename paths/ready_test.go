package paths

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
)

// TestEveryPathWaitsForTheLoad: no operation or existence check of any path
// but the console's static files reaches a part of the store before the
// store has loaded. A store that cannot load (its storage has a newer
// schema) answers every one of them with the load's error and writes
// nothing.
func TestEveryPathWaitsForTheLoad(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	entry, err := logical.StorageEntryJSON("meta/schema", map[string]int{"version": backend.SchemaVersion + 1})
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, entry))
	store := backend.New(backend.Options{Storage: s})
	ops := 0
	static := map[string]bool{}
	for _, p := range uiPaths(Config{}) {
		static[p.Pattern] = true
	}
	for _, p := range All(Config{Store: store, System: func() logical.SystemView { return logical.TestSystemView() }}) {
		if static[p.Pattern] {
			continue
		}
		d := &framework.FieldData{Raw: map[string]any{}, Schema: p.Fields}
		for op, h := range p.Operations {
			_, err := h.Handler()(ctx, &logical.Request{Operation: op, Path: p.Pattern, Storage: s}, d)
			require.ErrorContains(t, err, "newer than this plugin understands", "%s %s", op, p.Pattern)
			ops++
		}
		if p.ExistenceCheck != nil {
			_, err := p.ExistenceCheck(ctx, &logical.Request{Path: p.Pattern, Storage: s}, d)
			require.ErrorContains(t, err, "newer than this plugin understands", p.Pattern)
		}
	}
	require.Greater(t, ops, 100)
	keys, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"meta/"}, keys, "nothing written")
}
