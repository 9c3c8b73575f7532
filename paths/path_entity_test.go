package paths_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/testhelpers/schema"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

func newBackend(t testing.TB) *testutil.Backend {
	t.Helper()
	return testutil.New(t, plugin.Factory)
}

// validSchema checks a response against the operation's declared schema.
func validSchema(t *testing.T, b *testutil.Backend, r testutil.Result) {
	t.Helper()
	s := schema.GetResponseSchema(t, b.B.Route(r.Req.Path), r.Req.Operation)
	schema.ValidateResponse(t, s, r.Resp, true)
}

func createEntity(t *testing.T, b *testutil.Backend, data map[string]any) string {
	t.Helper()
	r := b.Write("entity", data)
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	return r.Data()["id"].(string)
}

func TestEntityCreateReturnsIDNameAndAliases(t *testing.T) {
	b := newBackend(t)
	r := b.Write("entity", map[string]any{"name": "alice", "policies": "p1"})
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	require.Equal(t, "alice", r.Data()["name"])
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, r.Data()["id"])
	require.Contains(t, r.Data(), "aliases")
	require.Nil(t, r.Data()["aliases"])
}

func TestEntityGeneratedName(t *testing.T) {
	b := newBackend(t)
	r := b.Write("entity", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Regexp(t, `^entity_[0-9a-f]{8}$`, r.Data()["name"])
}

func TestEntityRead(t *testing.T) {
	b := newBackend(t)
	before := time.Now().UTC()
	id := createEntity(t, b, map[string]any{
		"name":     "Alice",
		"policies": "b, a,a,, c",
		"metadata": map[string]any{"team": "dev"},
	})
	for _, path := range []string{"entity/id/" + id, "entity/name/Alice", "entity/name/alice", "entity/name/ALICE"} {
		r := b.Read(path)
		require.Equal(t, http.StatusOK, r.Status, path)
		validSchema(t, b, r)
		d := r.Data()
		require.Equal(t, id, d["id"])
		require.Equal(t, "Alice", d["name"])
		require.Equal(t, []string{"a", "b", "c"}, d["policies"])
		require.Equal(t, map[string]string{"team": "dev"}, d["metadata"])
		require.Equal(t, false, d["disabled"])
		require.Equal(t, "root", d["namespace_id"])
		require.Nil(t, d["merged_entity_ids"])
		require.Equal(t, []any{}, d["aliases"])
		for _, k := range []string{"direct_group_ids", "inherited_group_ids", "group_ids"} {
			require.Equal(t, []string{}, d[k], k)
		}
		created, err := time.Parse(time.RFC3339Nano, d["creation_time"].(string))
		require.NoError(t, err)
		require.False(t, created.Before(before.Truncate(time.Microsecond)))
		require.Equal(t, d["creation_time"], d["last_update_time"])
		require.True(t, strings.HasSuffix(d["creation_time"].(string), "Z"))
	}
}

func TestEntityReadDefaults(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, nil)
	d := b.Read("entity/id/" + id).Data()
	require.Equal(t, []string{}, d["policies"])
	require.Nil(t, d["metadata"])
}

func TestEntityMissingIs404(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, http.StatusNotFound, b.Read("entity/id/nope").Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/nope").Status)
	require.Equal(t, http.StatusNotFound, b.List("entity/id/").Status)
	require.Equal(t, http.StatusNotFound, b.List("entity/name/").Status)
}

func TestEntityUpdateByIDIs204(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "alice", "policies": "p1", "metadata": "a=1"})
	first := b.Read("entity/id/" + id).Data()

	for _, c := range []struct {
		path     string
		disabled bool
	}{{"entity", true}, {"entity/id/" + id, false}, {"entity/id/" + id, true}} {
		r := b.Write(c.path, map[string]any{"id": id, "disabled": c.disabled})
		require.Equal(t, http.StatusNoContent, r.Status, c.path)
		require.Equal(t, c.disabled, b.Read("entity/id/" + id).Data()["disabled"], c.path)
	}
	d := b.Read("entity/id/" + id).Data()
	require.Equal(t, true, d["disabled"])
	require.Equal(t, []string{"p1"}, d["policies"], "policies not given are kept")
	require.Equal(t, map[string]string{"a": "1"}, d["metadata"], "metadata not given is kept")
	require.Equal(t, first["creation_time"], d["creation_time"])
	require.NotEqual(t, first["last_update_time"], d["last_update_time"])

	// Metadata and policies are replaced as a whole; empty clears them.
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+id, map[string]any{"metadata": map[string]any{}, "policies": ""}).Status)
	d = b.Read("entity/id/" + id).Data()
	require.Equal(t, map[string]string{}, d["metadata"])
	require.Equal(t, []string{}, d["policies"])
}

func TestEntityRename(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "alice"})
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+id, map[string]any{"name": "alicia"}).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/alice").Status)
	require.Equal(t, id, b.Read("entity/name/alicia").Data()["id"])
	// The old name is free again.
	other := createEntity(t, b, map[string]any{"name": "alice"})
	require.NotEqual(t, id, other)
}

func TestEntityUpsertByNameAnyCase(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "alice"})

	r := b.Write("entity", map[string]any{"name": "ALICE", "policies": "p2"})
	require.Equal(t, http.StatusNoContent, r.Status)
	d := b.Read("entity/name/alice").Data()
	require.Equal(t, id, d["id"])
	require.Equal(t, "ALICE", d["name"], "the new spelling is stored")
	require.Equal(t, []string{"p2"}, d["policies"])

	// entity/name/:name creates, then updates.
	r = b.Write("entity/name/bob", map[string]any{"metadata": "k=v"})
	require.Equal(t, http.StatusOK, r.Status)
	validSchema(t, b, r)
	require.Equal(t, "bob", r.Data()["name"])
	require.Equal(t, http.StatusNoContent, b.Write("entity/name/Bob", map[string]any{"metadata": "k=w"}).Status)
	require.Equal(t, map[string]string{"k": "w"}, b.Read("entity/name/bob").Data()["metadata"])

	keys := b.List("entity/name/").Data()["keys"].([]string)
	require.Len(t, keys, 2)
}

func TestEntityNameWithSlash(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, http.StatusOK, b.Write("entity/name/team/alice", nil).Status)
	require.Equal(t, "team/alice", b.Read("entity/name/team/alice").Data()["name"])
	require.Equal(t, http.StatusNoContent, b.Delete("entity/name/team/alice").Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/team/alice").Status)
}

func TestEntityErrors(t *testing.T) {
	b := newBackend(t)
	aliceID := createEntity(t, b, map[string]any{"name": "alice"})
	createEntity(t, b, map[string]any{"name": "bob"})

	long := strings.Repeat("k", 129)
	many := map[string]any{}
	for i := range 65 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	cases := []struct {
		name   string
		path   string
		data   map[string]any
		status int
		msg    string
	}{
		{"unknown id", "entity", map[string]any{"id": "nope", "name": "x"}, 400, "entity not found from id"},
		{"unknown id in path", "entity/id/nope", map[string]any{"name": "x"}, 400, "entity not found from id"},
		{"name in use", "entity/id/" + aliceID, map[string]any{"name": "BOB"}, 400, "entity name is already in use"},
		{"root policy", "entity", map[string]any{"name": "carol", "policies": "a,root"}, 400, "policies cannot contain root"},
		{"root policy on update", "entity/id/" + aliceID, map[string]any{"policies": []string{"root"}}, 400, "policies cannot contain root"},
		{"root policy in any case", "entity/id/" + aliceID, map[string]any{"policies": "Root"}, 400, "policies cannot contain root"},
		{"metadata bad key", "entity", map[string]any{"metadata": map[string]any{"a b": "v"}}, 400,
			`invalid entity metadata: failed to load metadata pair ("a b", "v"): key contains invalid characters`},
		{"metadata blank key", "entity", map[string]any{"metadata": map[string]any{"": "v"}}, 400,
			`invalid entity metadata: failed to load metadata pair ("", "v"): key cannot be blank`},
		{"metadata long key", "entity", map[string]any{"metadata": map[string]any{long: "v"}}, 400,
			fmt.Sprintf(`invalid entity metadata: failed to load metadata pair (%q, "v"): key is too long (limit: 128 characters)`, long)},
		{"metadata reserved", "entity", map[string]any{"metadata": map[string]any{"vault-x": "v"}}, 400,
			`invalid entity metadata: failed to load metadata pair ("vault-x", "v"): key prefix "vault-" is reserved for internal use`},
		{"metadata long value", "entity", map[string]any{"metadata": map[string]any{"k": strings.Repeat("v", 513)}}, 400,
			fmt.Sprintf(`invalid entity metadata: failed to load metadata pair ("k", %q): value is too long (limit: 512 characters)`, strings.Repeat("v", 513))},
		{"metadata too many", "entity", map[string]any{"metadata": many}, 400,
			"invalid entity metadata: metadata cannot contain more than 64 key/value pairs"},
		{"metadata not pairs", "entity", map[string]any{"metadata": []string{"novalue"}}, 400,
			`Field validation failed: error converting input for field "metadata": invalid key pair "novalue"`},
		{"batch delete without ids", "entity/batch-delete", nil, 400, "missing entity ids to delete"},
		{"batch delete empty ids", "entity/batch-delete", map[string]any{"entity_ids": ""}, 400, "missing entity ids to delete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := b.List("entity/id/").Data()["keys"]
			aliceBefore := b.Read("entity/id/" + aliceID).Data()
			r := b.Write(c.path, c.data)
			require.Equal(t, c.status, r.Status)
			require.Equal(t, c.msg, r.ErrorText())
			require.Equal(t, before, b.List("entity/id/").Data()["keys"], "nothing created or deleted")
			require.Equal(t, aliceBefore, b.Read("entity/id/"+aliceID).Data(), "nothing changed")
		})
	}
}

func TestEntityDelete(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "alice"})
	createEntity(t, b, map[string]any{"name": "bob"})

	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+id).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/id/"+id).Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/alice").Status)
	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+id).Status, "deleting again succeeds")

	require.Equal(t, http.StatusNoContent, b.Delete("entity/name/BOB").Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/bob").Status)
	require.Equal(t, http.StatusNoContent, b.Delete("entity/name/bob").Status)
	require.Equal(t, http.StatusNotFound, b.List("entity/id/").Status)
	keys, err := b.Storage.List(t.Context(), "entity/")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestEntityBatchDelete(t *testing.T) {
	b := newBackend(t)
	var ids []string
	for range 20 {
		ids = append(ids, createEntity(t, b, nil))
	}
	keep := createEntity(t, b, map[string]any{"name": "keep"})
	r := b.Write("entity/batch-delete", map[string]any{"entity_ids": append(append([]string{}, ids...), "unknown", ids[0])})
	require.Equal(t, http.StatusNoContent, r.Status)
	for _, id := range ids {
		require.Equal(t, http.StatusNotFound, b.Read("entity/id/"+id).Status)
	}
	require.Equal(t, []string{keep}, b.List("entity/id/").Data()["keys"])

	// Comma-separated ids work as well.
	a, c := createEntity(t, b, nil), createEntity(t, b, nil)
	require.Equal(t, http.StatusNoContent, b.Write("entity/batch-delete", map[string]any{"entity_ids": a + "," + c}).Status)
	require.Equal(t, []string{keep}, b.List("entity/id/").Data()["keys"])
}

func TestEntityList(t *testing.T) {
	b := newBackend(t)
	names := map[string]string{}
	for i := range 10 {
		name := fmt.Sprintf("user-%d", 9-i)
		names[createEntity(t, b, map[string]any{"name": name})] = name
	}
	byID := b.List("entity/id/")
	require.Equal(t, http.StatusOK, byID.Status)
	validSchema(t, b, byID)
	ids := byID.Data()["keys"].([]string)
	require.True(t, sort.StringsAreSorted(ids), "ascending id order")
	require.Len(t, ids, 10)
	info := byID.Wire()["key_info"].(map[string]any)
	for _, id := range ids {
		require.Equal(t, map[string]any{"name": names[id]}, info[id])
	}

	byName := b.List("entity/name/")
	require.Equal(t, http.StatusOK, byName.Status)
	keys := byName.Data()["keys"].([]string)
	for i, id := range ids {
		require.Equal(t, names[id], keys[i], "names listed in id order")
	}
	// Vault builds key_info by id for both lists, then keeps only entries whose
	// key is listed, so the name list carries none.
	require.NotContains(t, byName.Data(), "key_info")
}

func TestEntitiesSurviveRestart(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "Alice", "metadata": "a=1", "policies": "p"})
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+id, map[string]any{"name": "Alicia"}).Status)
	deleted := createEntity(t, b, nil)
	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+deleted).Status)
	want := b.Read("entity/id/" + id).Data()

	restarted := testutil.NewWithStorage(t, plugin.Factory, b.Storage)
	require.Equal(t, want, restarted.Read("entity/id/"+id).Data())
	require.Equal(t, id, restarted.Read("entity/name/alicia").Data()["id"])
	require.Equal(t, http.StatusNotFound, restarted.Read("entity/name/alice").Status)
	require.Equal(t, []string{id}, restarted.List("entity/id/").Data()["keys"])
}

func TestEntityStorageFailureIs500AndChangesNothing(t *testing.T) {
	b := newBackend(t)
	id := createEntity(t, b, map[string]any{"name": "alice"})
	b.Storage.Underlying().FailPut(true)
	r := b.Write("entity", map[string]any{"name": "bob"})
	require.Equal(t, http.StatusInternalServerError, r.Status)
	r = b.Write("entity/id/"+id, map[string]any{"name": "alicia"})
	require.Equal(t, http.StatusInternalServerError, r.Status)
	b.Storage.Underlying().FailPut(false)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/bob").Status)
	require.Equal(t, http.StatusNotFound, b.Read("entity/name/alicia").Status)
	require.Equal(t, id, b.Read("entity/name/alice").Data()["id"])

	b.Storage.Underlying().FailDelete(true)
	require.Equal(t, http.StatusInternalServerError, b.Delete("entity/id/"+id).Status)
	b.Storage.Underlying().FailDelete(false)
	require.Equal(t, http.StatusOK, b.Read("entity/id/"+id).Status)
}

func TestEntityPathHelp(t *testing.T) {
	b := newBackend(t)
	r := b.Do(logical.HelpOperation, "entity", nil)
	require.NoError(t, r.Err)
	help := r.Data()["help"].(string)
	require.Contains(t, help, "Create a new entity, or update an existing one.")
	require.Contains(t, help, "metadata")
	require.Contains(t, help, "Policies to be tied to the entity.")
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestEntityCheckAndSet(t *testing.T) {
	b := newBackend(t)
	r := b.Write("entity", map[string]any{"name": "alice", "cas": 0})
	require.Equal(t, http.StatusOK, r.Status, "cas 0 creates")
	id := r.Data()["id"].(string)
	require.Equal(t, uint64(1), b.Read("entity/id/" + id).Data()["modify_index"])

	r = b.Write("entity/name/alice", map[string]any{"cas": 0, "policies": "p"})
	require.Equal(t, http.StatusBadRequest, r.Status, "cas 0 refuses an existing entity")
	require.Equal(t, "check-and-set parameter did not match the current version", r.ErrorText())

	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+id, map[string]any{"cas": 1, "policies": "p"}).Status)
	require.Equal(t, http.StatusBadRequest, b.Write("entity/id/"+id, map[string]any{"cas": 1, "policies": "q"}).Status, "stale")
	d := b.Read("entity/id/" + id).Data()
	require.Equal(t, []string{"p"}, d["policies"])
	require.Equal(t, uint64(2), d["modify_index"])
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+id, map[string]any{"policies": "q"}).Status, "without cas the write is unconditional")
	d = b.Read("entity/id/" + id).Data()
	require.Equal(t, []string{"q"}, d["policies"])
	require.Equal(t, uint64(3), d["modify_index"])
}

func TestIDListsPage(t *testing.T) {
	b := newBackend(t)
	for range 7 {
		createEntity(t, b, nil)
	}
	all := b.List("entity/id/").Data()["keys"].([]string)
	var got []string
	after := ""
	for {
		r := b.Do(logical.ListOperation, "entity/id/", map[string]any{"after": after, "limit": 3})
		if r.Status == http.StatusNotFound {
			break
		}
		keys := r.Data()["keys"].([]string)
		require.LessOrEqual(t, len(keys), 3)
		require.Len(t, r.Data()["key_info"], len(keys))
		got = append(got, keys...)
		after = keys[len(keys)-1]
	}
	require.Equal(t, all, got)
	r := b.Do(logical.ListOperation, "entity/id/", map[string]any{"after": all[5]})
	require.Equal(t, all[6:], r.Data()["keys"])
	for _, path := range []string{"entity/id/", "entity-alias/id/", "group/id/"} {
		r = b.Do(logical.ListOperation, path, map[string]any{"limit": -1})
		require.Equal(t, http.StatusBadRequest, r.Status, path)
		require.Equal(t, "limit must not be negative", r.ErrorText(), path)
	}
}

// TestNameListsPageByPrefix: entity/name and group/name list in name order,
// by prefix in any letter case and by page, when asked; without those fields
// they answer as Vault does (every name, in id order).
func TestNameListsPageByPrefix(t *testing.T) {
	b := newBackend(t)
	names := []string{"alice", "Alan", "bob", "albert", "ALex", "carol"}
	for _, n := range names {
		require.Equal(t, http.StatusOK, b.Write("entity", map[string]any{"name": n}).Status)
		require.Equal(t, http.StatusOK, b.Write("group", map[string]any{"name": n}).Status)
	}
	for _, path := range []string{"entity/name/", "group/name/"} {
		plain := b.List(path).Data()["keys"].([]string)
		require.ElementsMatch(t, names, plain, path)

		list := func(fields map[string]any) []string {
			r := b.Do(logical.ListOperation, path, fields)
			if r.Status == http.StatusNotFound {
				return nil
			}
			require.Equal(t, http.StatusOK, r.Status, "%s %v: %s", path, fields, r.ErrorText())
			return r.Data()["keys"].([]string)
		}
		require.Equal(t, []string{"Alan", "albert", "ALex", "alice"}, list(map[string]any{"prefix": "AL"}), path)
		require.Equal(t, []string{"ALex", "alice"}, list(map[string]any{"prefix": "al", "after": "ALBERT"}), path)
		require.Equal(t, []string{"Alan", "albert"}, list(map[string]any{"prefix": "al", "limit": 2}), path)
		require.Equal(t, []string{"bob", "carol"}, list(map[string]any{"after": "alice"}), path)
		require.Nil(t, list(map[string]any{"prefix": "al", "after": "b"}), path)
		require.Nil(t, list(map[string]any{"prefix": "zz"}), path)

		var paged []string
		after := ""
		for {
			keys := list(map[string]any{"after": after, "limit": 4})
			if keys == nil {
				break
			}
			paged = append(paged, keys...)
			after = keys[len(keys)-1]
		}
		require.Equal(t, []string{"Alan", "albert", "ALex", "alice", "bob", "carol"}, paged, path)

		r := b.Do(logical.ListOperation, path, map[string]any{"limit": -1})
		require.Equal(t, http.StatusBadRequest, r.Status, path)
		require.Equal(t, "limit must not be negative", r.ErrorText(), path)
	}
}
