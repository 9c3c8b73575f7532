package paths_test

import (
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMerge(t *testing.T) {
	b := newBackend(t)
	to := createEntity(t, b, map[string]any{"name": "to", "policies": "a"})
	from := createEntity(t, b, map[string]any{"name": "from", "policies": "b"})
	ma, _ := createAlias(t, b, map[string]any{"name": "a", "mount_accessor": userpass, "canonical_id": to})
	mb, _ := createAlias(t, b, map[string]any{"name": "b", "mount_accessor": userpass, "canonical_id": from})
	mc, _ := createAlias(t, b, map[string]any{"name": "c", "mount_accessor": approle, "canonical_id": from})
	g := createGroup(t, b, map[string]any{"name": "g", "member_entity_ids": from})

	// Aliases on the same mount: refused with the clashes listed.
	before := snapshot(b)
	r := b.Write("entity/merge", map[string]any{"to_entity_id": to, "from_entity_ids": from})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "2 errors occurred:\n\t* toEntity and at least one fromEntity have aliases with the same mount accessor, repeat the merge request specifying exactly one fromEntity, clashes: \n\t* mountAccessor: "+
		userpass+", toEntity ID: "+to+", fromEntity ID: "+from+", conflicting toEntity alias ID: "+ma+", conflicting fromEntity alias ID: "+mb+"\n\n", r.ErrorText())
	require.Equal(t, []identity.AliasClash{
		{Alias: "a", Entity: "to", EntityID: to, Mount: "userpass"},
		{Alias: "b", Entity: "from", EntityID: from, Mount: "userpass"},
	}, r.Data()["data"])
	require.Equal(t, before, snapshot(b))

	// Keeping the from alias deletes the target's.
	require.Equal(t, http.StatusNoContent, b.Write("entity/merge", map[string]any{"to_entity_id": to, "from_entity_ids": []string{from, from}, "conflicting_alias_ids_to_keep": mb}).Status)
	d := b.Read("entity/id/" + to).Data()
	require.Equal(t, []string{from}, d["merged_entity_ids"])
	require.Equal(t, []string{"a"}, d["policies"], "policies are not merged")
	require.Len(t, d["aliases"], 2)
	require.Equal(t, []string{g}, d["direct_group_ids"])
	require.Equal(t, http.StatusNotFound, b.Read("entity/id/"+from).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity-alias/id/"+ma).Status)
	moved := b.Read("entity-alias/id/" + mc).Data()
	require.Equal(t, to, moved["canonical_id"])
	require.Equal(t, []string{from}, moved["merged_from_canonical_ids"])
	gd := b.Read("group/id/" + g).Data()
	require.Equal(t, []string{to}, gd["member_entity_ids"])
	require.Equal(t, uint64(3), gd["modify_index"])

	// The merged entity and the dropped alias are gone from storage.
	keys := snapshot(b)
	require.NotContains(t, keys, "entity/"+from)
	require.NotContains(t, keys, "alias/"+ma)
}

func TestMergeErrors(t *testing.T) {
	b := newBackend(t)
	to := createEntity(t, b, nil)
	f1, f2 := createEntity(t, b, nil), createEntity(t, b, nil)
	_, _ = createAlias(t, b, map[string]any{"name": "t", "mount_accessor": userpass, "canonical_id": to})
	a1, _ := createAlias(t, b, map[string]any{"name": "x", "mount_accessor": approle, "canonical_id": f1})
	_, _ = createAlias(t, b, map[string]any{"name": "y", "mount_accessor": approle, "canonical_id": f2})
	_, _ = createAlias(t, b, map[string]any{"name": "z", "mount_accessor": userpass, "canonical_id": f2})
	cases := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"no target", map[string]any{"from_entity_ids": f1}, "missing entity id to merge to"},
		{"no sources", map[string]any{"to_entity_id": to}, "missing entity ids to merge from"},
		{"empty sources", map[string]any{"to_entity_id": to, "from_entity_ids": ""}, "missing entity ids to merge from"},
		{"unknown target", map[string]any{"to_entity_id": "nope", "from_entity_ids": f1}, "entity id to merge to is invalid"},
		{"unknown source", map[string]any{"to_entity_id": to, "from_entity_ids": "nope"}, "entity id to merge from is invalid"},
		{"target in sources", map[string]any{"to_entity_id": to, "from_entity_ids": to}, "to_entity_id should not be present in from_entity_ids"},
		{"many keeps", map[string]any{"to_entity_id": to, "from_entity_ids": []string{f1, f2}, "conflicting_alias_ids_to_keep": "a,b"},
			"aliases conflicts cannot be resolved with multiple from entity ids - merge one entity at a time"},
		{"mount in two sources", map[string]any{"to_entity_id": to, "from_entity_ids": []string{f1, f2}},
			"mount accessor " + approle + " found in multiple fromEntities, merge should be done with one fromEntity at a time"},
		{"keep names neither", map[string]any{"to_entity_id": to, "from_entity_ids": f2, "conflicting_alias_ids_to_keep": a1},
			"conflicting mount accessors in following alias IDs and neither were present in conflicting_alias_ids_to_keep: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(b)
			r := b.Write("entity/merge", c.data)
			require.Equal(t, http.StatusBadRequest, r.Status)
			require.Contains(t, r.ErrorText(), c.msg)
			require.Equal(t, before, snapshot(b))
		})
	}
}
