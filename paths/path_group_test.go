package paths_test

import (
	"net/http"
	"sort"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

func createGroup(t testing.TB, b *testutil.Backend, data map[string]any) string {
	t.Helper()
	r := b.Write("group", data)
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	return r.Data()["id"].(string)
}

func TestGroupCreateAndRead(t *testing.T) {
	b := newBackend(t)
	m := createEntity(t, b, nil)
	r := b.Write("group", map[string]any{"name": "Eng", "policies": "testpolicy1,testPolicy1 , testpolicy2", "member_entity_ids": []string{m, m}, "metadata": "team=eng"})
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	id := r.Data()["id"].(string)
	require.Equal(t, "Eng", r.Data()["name"])

	for _, p := range []string{"group/id/" + id, "group/name/eng", "group/name/ENG"} {
		read := b.Read(p)
		require.Equal(t, http.StatusOK, read.Status, p)
		validSchema(t, b, read)
		d := read.Data()
		require.Equal(t, []string{"testpolicy1", "testpolicy2"}, d["policies"])
		require.Equal(t, []string{m}, d["member_entity_ids"])
		require.Nil(t, d["parent_group_ids"])
		require.Nil(t, d["member_group_ids"])
		require.Equal(t, "internal", d["type"])
		require.Equal(t, uint64(1), d["modify_index"])
		require.Equal(t, map[string]any{}, d["alias"])
		require.Equal(t, map[string]string{"team": "eng"}, d["metadata"])
	}
	g := b.Read("group/id/" + createGroup(t, b, nil)).Data()
	require.Regexp(t, `^group_[0-9a-f]{8}$`, g["name"])
	require.Nil(t, g["policies"], "never set")
	require.Nil(t, g["member_entity_ids"])

	l := b.List("group/id/")
	validSchema(t, b, l)
	require.Len(t, l.Data()["keys"], 2)
	require.Equal(t, map[string]any{"name": "Eng", "num_member_entities": 1.0, "num_parent_groups": 0.0}, l.Wire()["key_info"].(map[string]any)[id])
}

func TestGroupUpsertByNameAndIDAndWriteDispatch(t *testing.T) {
	b := newBackend(t)
	id := createGroup(t, b, map[string]any{"name": "eng"})
	require.Equal(t, http.StatusNoContent, b.Write("group", map[string]any{"name": "ENG", "policies": "p"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("group/name/Eng", map[string]any{"metadata": "a=b"}).Status)
	d := b.Read("group/id/" + id).Data()
	require.Equal(t, "Eng", d["name"], "the name from the path is stored")
	require.Equal(t, uint64(3), d["modify_index"])
	require.Equal(t, http.StatusOK, b.Write("group/name/ops", nil).Status)
	require.Equal(t, http.StatusNoContent, b.Write("group", map[string]any{"id": id, "name": "engineering"}).Status)
	require.Equal(t, id, b.Read("group/name/engineering").Data()["id"])
	require.Equal(t, http.StatusNotFound, b.Read("group/name/eng").Status)
}

func TestGroupErrors(t *testing.T) {
	b := newBackend(t)
	ext := createGroup(t, b, map[string]any{"name": "ext", "type": "external"})
	eng := createGroup(t, b, map[string]any{"name": "eng"})
	child := createGroup(t, b, map[string]any{"name": "child"})
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+eng, map[string]any{"member_group_ids": child}).Status)
	cases := []struct {
		name, path string
		data       map[string]any
		msg        string
	}{
		{"root policy", "group", map[string]any{"policies": "a,ROOT"}, "policies cannot contain root"},
		{"type change", "group/id/" + ext, map[string]any{"type": "internal"}, "group type cannot be changed"},
		{"bad type", "group", map[string]any{"type": "bogus"}, `invalid group type "bogus"`},
		{"name in use", "group/id/" + eng, map[string]any{"name": "EXT"}, "group name is already in use"},
		{"external members", "group/id/" + ext, map[string]any{"member_entity_ids": ""}, "member entities can't be set manually for external groups"},
		{"external added members", "group/id/" + ext, map[string]any{"add_member_entity_ids": "x"}, "member entities can't be set manually for external groups"},
		{"external member groups", "group/id/" + ext, map[string]any{"member_group_ids": ""}, "member groups can't be set for external groups"},
		{"unknown entity", "group", map[string]any{"member_entity_ids": "nope"}, `invalid entity ID "nope"`},
		{"unknown member group", "group", map[string]any{"member_group_ids": "nope"}, `invalid member group ID "nope"`},
		{"self member", "group/id/" + eng, map[string]any{"member_group_ids": eng}, `member group ID "` + eng + `" is same as the ID of the group`},
		{"cycle", "group/id/" + child, map[string]any{"member_group_ids": eng}, `cyclic relationship detected for member group ID "` + eng + `"`},
		{"bad metadata", "group", map[string]any{"metadata": map[string]any{"a b": "c"}}, `invalid group metadata: failed to load metadata pair ("a b", "c"): key contains invalid characters`},
		{"empty id", "group", map[string]any{"id": ""}, "empty group ID"},
		{"empty name", "group", map[string]any{"name": ""}, "empty group name"},
		{"unknown id", "group/id/nope", map[string]any{"name": "x"}, "invalid group ID"},
		{"cas mismatch", "group/id/" + eng, map[string]any{"cas": 1, "policies": "x"}, "check-and-set parameter did not match the current version"},
		{"cas on new group", "group", map[string]any{"name": "fresh", "cas": 3}, "check-and-set parameter did not match the current version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refused(t, b, c.path, c.data, c.msg) })
	}
}

// TestGroupHierarchy is Vault's eng > vault,ops > kube,identity,build,deploy
// tree: member and parent ids, cycle refusal and inherited groups.
func TestGroupHierarchy(t *testing.T) {
	b := newBackend(t)
	ids := map[string]string{}
	for _, n := range []string{"kube", "identity", "build", "deploy"} {
		ids[n] = createGroup(t, b, map[string]any{"name": n})
	}
	ids["vault"] = createGroup(t, b, map[string]any{"name": "vault", "member_group_ids": []string{ids["kube"], ids["identity"]}})
	ids["ops"] = createGroup(t, b, map[string]any{"name": "ops", "member_group_ids": []string{ids["build"], ids["deploy"]}})
	ids["eng"] = createGroup(t, b, map[string]any{"name": "eng", "member_group_ids": []string{ids["vault"], ids["ops"]}})

	sorted := func(xs ...string) []string { sort.Strings(xs); return xs }
	require.Equal(t, sorted(ids["vault"], ids["ops"]), b.Read("group/id/" + ids["eng"]).Data()["member_group_ids"])
	require.Equal(t, []string{ids["eng"]}, b.Read("group/id/" + ids["vault"]).Data()["parent_group_ids"])
	require.Equal(t, []string{ids["vault"]}, b.Read("group/id/" + ids["kube"]).Data()["parent_group_ids"])

	r := b.Write("group/id/"+ids["kube"], map[string]any{"member_group_ids": ids["eng"]})
	require.Equal(t, `cyclic relationship detected for member group ID "`+ids["eng"]+`"`, r.ErrorText())

	e := createEntity(t, b, nil)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+ids["kube"], map[string]any{"member_entity_ids": e}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+ids["build"], map[string]any{"add_member_entity_ids": e}).Status)
	d := b.Read("entity/id/" + e).Data()
	require.Equal(t, sorted(ids["kube"], ids["build"]), d["direct_group_ids"])
	require.Equal(t, sorted(ids["vault"], ids["ops"], ids["eng"]), d["inherited_group_ids"])
	require.Len(t, d["group_ids"], 5)

	// A refused write leaves the earlier member groups of the list alone.
	before := snapshot(b)
	r = b.Write("group/id/"+ids["deploy"], map[string]any{"member_group_ids": []string{ids["identity"], ids["eng"]}})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, before, snapshot(b))

	// [] clears children; other writes leave them alone.
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+ids["ops"], map[string]any{"policies": "p"}).Status)
	require.Len(t, b.Read("group/id/" + ids["ops"]).Data()["member_group_ids"], 2)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+ids["ops"], map[string]any{"member_group_ids": ""}).Status)
	require.Nil(t, b.Read("group/id/" + ids["ops"]).Data()["member_group_ids"])
	require.Equal(t, []string{}, b.Read("group/id/" + ids["build"]).Data()["parent_group_ids"])

	// Deleting a group takes it out of its children's parents.
	require.Equal(t, http.StatusNoContent, b.Delete("group/id/"+ids["vault"]).Status)
	require.Equal(t, []string{}, b.Read("group/id/" + ids["kube"]).Data()["parent_group_ids"])
	require.Equal(t, []string{ids["ops"]}, b.Read("group/id/" + ids["eng"]).Data()["member_group_ids"])

	// Deleting an entity takes it out of its groups.
	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+e).Status)
	require.Equal(t, []string{}, b.Read("group/id/" + ids["kube"]).Data()["member_entity_ids"])
}

func TestGroupAdditiveMembershipAndCAS(t *testing.T) {
	b := newBackend(t)
	e1, e2, e3 := createEntity(t, b, nil), createEntity(t, b, nil), createEntity(t, b, nil)
	id := createGroup(t, b, map[string]any{"name": "g", "member_entity_ids": e1})
	c1, c2 := createGroup(t, b, nil), createGroup(t, b, nil)

	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+id, map[string]any{"add_member_entity_ids": []string{e2, e3}, "remove_member_entity_ids": e1}).Status)
	d := b.Read("group/id/" + id).Data()
	require.ElementsMatch(t, []string{e2, e3}, d["member_entity_ids"])

	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+id, map[string]any{"add_member_group_ids": c1}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+id, map[string]any{"add_member_group_ids": c2}).Status)
	require.Len(t, b.Read("group/id/" + id).Data()["member_group_ids"], 2)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+id, map[string]any{"remove_member_group_ids": c1}).Status)
	require.Equal(t, []string{c2}, b.Read("group/id/" + id).Data()["member_group_ids"])
	require.Equal(t, []string{}, b.Read("group/id/" + c1).Data()["parent_group_ids"])

	idx := b.Read("group/id/" + id).Data()["modify_index"].(uint64)
	require.Equal(t, http.StatusNoContent, b.Write("group/id/"+id, map[string]any{"cas": idx, "policies": "p"}).Status)
	require.Equal(t, http.StatusBadRequest, b.Write("group/id/"+id, map[string]any{"cas": idx, "policies": "q"}).Status, "stale cas")
	require.Equal(t, []string{"p"}, b.Read("group/id/" + id).Data()["policies"])
	require.Equal(t, http.StatusOK, b.Write("group", map[string]any{"name": "new", "cas": 0}).Status, "cas 0 creates")
	require.Equal(t, http.StatusBadRequest, b.Write("group", map[string]any{"name": "new", "cas": 0}).Status, "cas 0 refuses an existing group")
}

func TestGroupAliases(t *testing.T) {
	b := newBackend(t)
	ext := createGroup(t, b, map[string]any{"name": "ext", "type": "external"})
	internal := createGroup(t, b, map[string]any{"name": "int"})

	r := b.Write("group-alias", map[string]any{"name": "ldap-eng", "mount_accessor": userpass, "canonical_id": ext})
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	ga := r.Data()["id"].(string)
	require.Equal(t, ext, r.Data()["canonical_id"])
	read := b.Read("group-alias/id/" + ga)
	validSchema(t, b, read)
	require.Equal(t, "ldap-eng", read.Data()["name"])
	g := b.Read("group/id/" + ext).Data()
	require.Equal(t, ga, g["alias"].(map[string]any)["id"])
	require.Equal(t, uint64(2), g["modify_index"])

	lookup := b.Do(logical.UpdateOperation, "lookup/group", map[string]any{"alias_name": "LDAP-ENG", "alias_mount_accessor": userpass})
	require.Equal(t, ext, lookup.Data()["id"])

	// No-op, rename, and a second alias on the same group replaces the first.
	require.Equal(t, http.StatusNoContent, b.Write("group-alias/id/"+ga, map[string]any{"name": "ldap-eng", "mount_accessor": userpass}).Status)
	require.Equal(t, http.StatusOK, b.Write("group-alias/id/"+ga, map[string]any{"name": "ldap-eng-2", "mount_accessor": userpass}).Status)
	ga2 := b.Write("group-alias", map[string]any{"name": "other", "mount_accessor": approle, "canonical_id": ext}).Data()["id"].(string)
	require.Equal(t, http.StatusNotFound, b.Read("group-alias/id/"+ga).Status)
	require.Equal(t, ga2, b.Read("group/id/" + ext).Data()["alias"].(map[string]any)["id"])

	// Without canonical_id a new external group is made.
	r = b.Write("group-alias", map[string]any{"name": "auto", "mount_accessor": userpass})
	auto := r.Data()["canonical_id"].(string)
	ag := b.Read("group/id/" + auto).Data()
	require.Equal(t, "external", ag["type"])
	require.Regexp(t, `^group_[0-9a-f]{8}$`, ag["name"])

	cases := []struct {
		name, path string
		data       map[string]any
		msg        string
	}{
		{"internal group", "group-alias", map[string]any{"name": "x", "mount_accessor": userpass, "canonical_id": internal}, "alias can't be set on an internal group"},
		{"unknown group", "group-alias", map[string]any{"name": "x", "mount_accessor": userpass, "canonical_id": "nope"}, "invalid group ID given in 'canonical_id'"},
		{"no name", "group-alias", map[string]any{"mount_accessor": userpass}, "missing alias name"},
		{"no accessor", "group-alias", map[string]any{"name": "x"}, "missing mount_accessor"},
		{"bad accessor", "group-alias", map[string]any{"name": "x", "mount_accessor": "nope"}, `invalid mount accessor "nope"`},
		{"taken", "group-alias", map[string]any{"name": "OTHER", "mount_accessor": approle}, "combination of mount and group alias name is already in use"},
		{"unknown id", "group-alias/id/nope", map[string]any{"name": "x", "mount_accessor": userpass}, "invalid group alias ID"},
		{"empty id", "group-alias", map[string]any{"id": "", "name": "x", "mount_accessor": userpass}, "empty group alias ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refused(t, b, c.path, c.data, c.msg) })
	}

	require.Len(t, b.List("group-alias/id/").Data()["keys"], 2)
	require.Equal(t, http.StatusNoContent, b.Delete("group-alias/id/"+ga2).Status)
	require.Equal(t, map[string]any{}, b.Read("group/id/" + ext).Data()["alias"])
	require.Equal(t, http.StatusNoContent, b.Delete("group/id/"+auto).Status)
	require.Equal(t, http.StatusNotFound, b.List("group-alias/id/").Status)
}
