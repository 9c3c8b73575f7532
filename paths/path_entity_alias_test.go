package paths_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

const (
	userpass = "auth_userpass_1234abcd"
	approle  = "auth_approle_5678ef90"
)

func createAlias(t testing.TB, b *testutil.Backend, data map[string]any) (aliasID, entityID string) {
	t.Helper()
	r := b.Write("entity-alias", data)
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	return r.Data()["id"].(string), r.Data()["canonical_id"].(string)
}

func TestEntityAliasCreateAndRead(t *testing.T) {
	b := newBackend(t)
	owner := createEntity(t, b, map[string]any{"name": "owner"})
	r := b.Write("entity-alias", map[string]any{"name": "bob", "mount_accessor": userpass, "canonical_id": owner, "custom_metadata": "team=dev"})
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	aliasID := r.Data()["id"].(string)
	require.Equal(t, owner, r.Data()["canonical_id"])

	read := b.Read("entity-alias/id/" + aliasID)
	require.Equal(t, http.StatusOK, read.Status)
	validSchema(t, b, read)
	d := read.Data()
	require.Equal(t, "bob", d["name"])
	require.Equal(t, userpass, d["mount_accessor"])
	require.Equal(t, "userpass", d["mount_type"])
	require.NotContains(t, d, "mount_path")
	require.Equal(t, map[string]string{"team": "dev"}, d["custom_metadata"])
	require.Equal(t, false, d["local"])
	require.Equal(t, "root", d["namespace_id"])

	e := b.Read("entity/id/" + owner).Data()
	require.Len(t, e["aliases"], 1)
	require.Equal(t, aliasID, e["aliases"].([]any)[0].(map[string]any)["id"])

	// The legacy paths read the same alias.
	for _, p := range []string{"alias/id/", "persona/id/"} {
		require.Equal(t, d, b.Read(p+aliasID).Data(), p)
	}
	for _, p := range []string{"entity-alias/id/", "alias/id/", "persona/id/"} {
		l := b.List(p)
		require.Equal(t, []string{aliasID}, l.Data()["keys"], p)
		validSchema(t, b, l)
		require.Equal(t, map[string]any{aliasID: map[string]any{
			"name": "bob", "canonical_id": owner, "mount_accessor": userpass, "mount_type": "userpass",
			"custom_metadata": map[string]any{"team": "dev"}, "metadata": nil, "local": false,
		}}, l.Wire()["key_info"], p)
	}
	info := b.List("entity/id/").Wire()["key_info"].(map[string]any)[owner].(map[string]any)
	require.Equal(t, []any{map[string]any{"id": aliasID, "name": "bob", "mount_accessor": userpass, "mount_type": "userpass"}}, info["aliases"])
}

func TestEntityAliasWithoutCanonicalIDMakesAnEntity(t *testing.T) {
	b := newBackend(t)
	_, entityID := createAlias(t, b, map[string]any{"name": "dave", "mount_accessor": approle})
	e := b.Read("entity/id/" + entityID)
	require.Equal(t, http.StatusOK, e.Status)
	require.Regexp(t, `^entity_[0-9a-f]{8}$`, e.Data()["name"])
	require.Equal(t, map[string]string{}, b.Read("entity-alias/id/" + e.Data()["aliases"].([]any)[0].(map[string]any)["id"].(string)).Data()["custom_metadata"])
}

func TestEntityAliasUpdates(t *testing.T) {
	b := newBackend(t)
	owner := createEntity(t, b, map[string]any{"name": "owner"})
	other := createEntity(t, b, map[string]any{"name": "other"})
	a1, _ := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass, "canonical_id": owner, "custom_metadata": "k=v"})

	// Same data again: nothing to do.
	require.Equal(t, http.StatusNoContent, b.Write("entity-alias", map[string]any{"name": "bob", "mount_accessor": userpass, "canonical_id": owner, "custom_metadata": "k=v"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("entity-alias/id/"+a1, nil).Status)
	// By id, fields not given are kept.
	r := b.Write("entity-alias/id/"+a1, map[string]any{"name": "Bob"})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"id": a1, "canonical_id": owner}, r.Data())
	require.Equal(t, map[string]string{"k": "v"}, b.Read("entity-alias/id/" + a1).Data()["custom_metadata"])
	// By mount accessor and name (any case), custom metadata not given is cleared.
	require.Equal(t, http.StatusOK, b.Write("entity-alias", map[string]any{"name": "BOB", "mount_accessor": userpass}).Status)
	d := b.Read("entity-alias/id/" + a1).Data()
	require.Equal(t, map[string]string{}, d["custom_metadata"])
	require.Equal(t, "BOB", d["name"])
	// Moving to another entity.
	r = b.Write("entity-alias/id/"+a1, map[string]any{"canonical_id": other})
	require.Equal(t, other, r.Data()["canonical_id"])
	require.Equal(t, []any{}, b.Read("entity/id/" + owner).Data()["aliases"])
	require.Len(t, b.Read("entity/id/" + other).Data()["aliases"], 1)
	require.Nil(t, b.Read("entity-alias/id/" + a1).Data()["merged_from_canonical_ids"], "moves do not record merges")
	// The deprecated entity_id works like canonical_id.
	r = b.Write("entity-alias/id/"+a1, map[string]any{"entity_id": owner})
	require.Equal(t, owner, r.Data()["canonical_id"])
}

func TestEntityAliasErrors(t *testing.T) {
	b := newBackend(t)
	owner := createEntity(t, b, map[string]any{"name": "owner"})
	other := createEntity(t, b, map[string]any{"name": "other"})
	a1, _ := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass, "canonical_id": owner})
	a2, _ := createAlias(t, b, map[string]any{"name": "bob2", "mount_accessor": approle, "canonical_id": owner})
	createAlias(t, b, map[string]any{"name": "carol", "mount_accessor": userpass, "canonical_id": other})

	cases := []struct {
		name, path string
		data       map[string]any
		msg        string
	}{
		{"nothing", "entity-alias", nil, "'id' or 'mount_accessor' and 'name' must be provided"},
		{"no name", "entity-alias", map[string]any{"mount_accessor": userpass}, "'id' or 'mount_accessor' and 'name' must be provided"},
		{"no accessor", "entity-alias", map[string]any{"name": "x"}, "'id' or 'mount_accessor' and 'name' must be provided"},
		{"bad accessor", "entity-alias", map[string]any{"name": "x", "mount_accessor": "userpass_1234abcd"}, `invalid mount accessor "userpass_1234abcd"`},
		{"bad accessor hex", "entity-alias", map[string]any{"name": "x", "mount_accessor": "auth_userpass_XYZ"}, `invalid mount accessor "auth_userpass_XYZ"`},
		{"unknown alias id", "entity-alias", map[string]any{"id": "nope"}, "invalid alias ID provided"},
		{"unknown alias id in path", "entity-alias/id/nope", map[string]any{"name": "x"}, "invalid alias ID provided"},
		{"unknown canonical id", "entity-alias", map[string]any{"name": "x", "mount_accessor": userpass, "canonical_id": "nope"}, "invalid canonical ID"},
		{"second alias on mount", "entity-alias", map[string]any{"name": "x", "mount_accessor": userpass, "canonical_id": owner}, "Alias already exists for requested entity and mount accessor"},
		{"change to a mount the entity has", "entity-alias/id/" + a2, map[string]any{"mount_accessor": userpass}, "Alias cannot be updated as the entity already has an alias for the given 'mount_accessor' "},
		{"rename onto another alias", "entity-alias/id/" + a1, map[string]any{"name": "CAROL"}, "alias with combination of mount accessor and name already exists"},
		{"move to unknown entity", "entity-alias/id/" + a1, map[string]any{"canonical_id": "nope"}, "given 'canonical_id' is not associated with an entity"},
		{"move to entity with that mount", "entity-alias/id/" + a1, map[string]any{"canonical_id": other}, "Alias cannot be updated as the given entity already has an alias for this mount "},
		{"custom metadata empty value", "entity-alias/id/" + a1, map[string]any{"custom_metadata": map[string]any{"k": ""}},
			`custom_metadata validation failed: length of value for key "k" is 0 but must be 0 < len(value) <= 512`},
		{"custom metadata long key", "entity-alias/id/" + a1, map[string]any{"custom_metadata": map[string]any{strings.Repeat("k", 129): "v"}},
			`custom_metadata validation failed: length of key "` + strings.Repeat("k", 129) + `" is 129 but must be 0 < len(key) <= 128`},
		{"custom metadata two problems", "entity-alias/id/" + a1, map[string]any{"custom_metadata": map[string]any{"a": "", "b": "\x01"}},
			`custom_metadata validation failed: length of value for key "a" is 0 but must be 0 < len(value) <= 512; custom_metadata validation failed: value for key "b" contains unprintable characters`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refused(t, b, c.path, c.data, c.msg) })
	}
}

// refused sends a write that must be refused with msg (400) and leave
// storage byte for byte as it was.
func refused(t *testing.T, b *testutil.Backend, path string, data map[string]any, msg string) {
	t.Helper()
	before := snapshot(b)
	r := b.Write(path, data)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, msg, r.ErrorText())
	require.Equal(t, before, snapshot(b), "a refused write changes nothing")
}

// snapshot is every storage entry: what must not change after a refused write.
func snapshot(b *testutil.Backend) map[string]string {
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := b.Storage.List(context.Background(), prefix)
		require.NoError(b.T, err)
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, err := b.Storage.Get(context.Background(), prefix+k)
			require.NoError(b.T, err)
			out[prefix+k] = string(e.Value)
		}
	}
	walk("")
	return out
}

func TestEntityAliasDeleteAndCascade(t *testing.T) {
	b := newBackend(t)
	a1, owner := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass})
	a2, _ := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": approle, "canonical_id": owner})

	require.Equal(t, http.StatusNoContent, b.Delete("entity-alias/id/"+a1).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity-alias/id/"+a1).Status)
	require.Equal(t, http.StatusNoContent, b.Delete("entity-alias/id/"+a1).Status)
	require.Len(t, b.Read("entity/id/" + owner).Data()["aliases"], 1)
	// The name is free again on that mount.
	createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass})

	// Deleting the entity deletes its aliases.
	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+owner).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity-alias/id/"+a2).Status)
	keys, _ := b.Storage.List(t.Context(), "alias/")
	require.Len(t, keys, 1, "only the other bob's alias is stored")
}

func TestPersonaWritesAnEntity(t *testing.T) {
	b := newBackend(t)
	r := b.Write("persona", map[string]any{"name": "legacy", "metadata": "k=v", "mount_accessor": userpass})
	require.Equal(t, http.StatusOK, r.Status)
	id := r.Data()["id"].(string)
	require.Equal(t, map[string]string{"k": "v"}, b.Read("entity/id/" + id).Data()["metadata"])
	require.Equal(t, http.StatusNotFound, b.List("entity-alias/id/").Status, "no alias was made")
	require.Equal(t, http.StatusNoContent, b.Write("persona/id/"+id, map[string]any{"name": "legacy2"}).Status)
	require.Equal(t, "legacy2", b.Read("entity/id/" + id).Data()["name"])
	aliasID, _ := createAlias(t, b, map[string]any{"name": "x", "mount_accessor": userpass})
	r = b.Write("persona/id/"+aliasID, map[string]any{"name": "y"})
	require.Equal(t, "entity not found from id", r.ErrorText())
}

func TestAliasesSurviveRestart(t *testing.T) {
	b := newBackend(t)
	a1, owner := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": userpass, "custom_metadata": "k=v"})
	want := b.Read("entity/id/" + owner).Data()
	restarted := testutil.NewWithStorage(t, plugin.Factory, b.Storage)
	require.Equal(t, want, restarted.Read("entity/id/"+owner).Data())
	r := restarted.Do(logical.UpdateOperation, "lookup/entity", map[string]any{"alias_name": "BOB", "alias_mount_accessor": userpass})
	require.Equal(t, owner, r.Data()["id"])
	require.Equal(t, a1, restarted.Read("entity-alias/id/" + a1).Data()["id"])
}
