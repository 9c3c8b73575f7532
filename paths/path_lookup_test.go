package paths_test

import (
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestLookupSelectors(t *testing.T) {
	b := newBackend(t)
	aliasID, entityID := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass})
	groupID := createGroup(t, b, map[string]any{"name": "ext", "type": "external"})
	gaID := b.Write("group-alias", map[string]any{"name": "ldap", "mount_accessor": userpass, "canonical_id": groupID}).Data()["id"].(string)

	for kind, want := range map[string]struct {
		id   string
		sels []map[string]any
	}{
		"entity": {entityID, []map[string]any{{"id": entityID}, {"alias_id": aliasID}, {"alias_name": "BOB", "alias_mount_accessor": userpass}}},
		"group":  {groupID, []map[string]any{{"id": groupID}, {"name": "EXT"}, {"alias_id": gaID}, {"alias_name": "LDAP", "alias_mount_accessor": userpass}}},
	} {
		for _, sel := range want.sels {
			r := b.Do(logical.UpdateOperation, "lookup/"+kind, sel)
			require.Equal(t, http.StatusOK, r.Status, "%s %v", kind, sel)
			validSchema(t, b, r)
			require.Equal(t, want.id, r.Data()["id"])
		}
		r := b.Do(logical.UpdateOperation, "lookup/"+kind, map[string]any{"name": "nope"})
		require.Equal(t, http.StatusNoContent, r.Status, "no match is 204")

		for sel, msg := range map[string]string{
			`{}`:                    "query parameter not supplied",
			`{"id":"a","name":"b"}`: "query parameter conflict; please supply distinct set of query parameters",
			`{"alias_name":"a","alias_mount_accessor":"b","id":"c"}`: "query parameter conflict; please supply distinct set of query parameters",
			`{"alias_name":"a"}`:                           "both 'alias_name' and 'alias_mount_accessor' needs to be set",
			`{"alias_mount_accessor":"a"}`:                 "both 'alias_name' and 'alias_mount_accessor' needs to be set",
			`{"alias_name":"","alias_mount_accessor":"b"}`: "query parameter conflict; please supply distinct set of query parameters",
		} {
			r := b.Do(logical.UpdateOperation, "lookup/"+kind, decode(t, sel))
			require.Equal(t, http.StatusBadRequest, r.Status, sel)
			require.Equal(t, msg, r.ErrorText(), sel)
		}
	}
}

func TestLookupSelf(t *testing.T) {
	b := newBackend(t)
	aliasID, entityID := createAlias(t, b, map[string]any{"name": "Alice", "mount_accessor": userpass})
	sys := b.System

	self := func(vaultEntity string) (int, map[string]any, string) {
		r := b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "lookup/self", EntityID: vaultEntity})
		var data map[string]any
		if r.Resp != nil {
			data = r.Resp.Data
		}
		return r.Status, data, r.ErrorText()
	}

	status, _, msg := self("")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "no entity associated with the request's token", msg)

	sys.EntityVal = &logical.Entity{ID: "vault-entity", Aliases: []*logical.Alias{
		{MountAccessor: approle, Name: "alice"},
		{MountAccessor: userpass, Name: "alice"},
	}}
	status, data, _ := self("vault-entity")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, entityID, data["id"])
	require.Equal(t, aliasID, data["matched_alias_id"])
	require.Equal(t, "vault-entity", data["vault_entity_id"])

	// An unmatched caller: with caller_entities=match, Vault's 400 (with
	// the default, "create", it gets an entity: see path_caller_test.go).
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"caller_entities": "match"}).Status)
	sys.EntityVal = &logical.Entity{ID: "other", Aliases: []*logical.Alias{{MountAccessor: approle, Name: "alice"}}}
	status, _, msg = self("other")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "no entity associated with the request's token", msg)
}
