//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPluginRegisteredAndRunningVersion(t *testing.T) {
	r := do(t, "GET", "sys/plugins/catalog/secret/vault-plugin-secrets-identity?version="+pluginVersion, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	require.Equal(t, pluginVersion, r.Data["version"])
	require.NotEmpty(t, r.Data["sha256"])

	m := do(t, "GET", "sys/mounts/"+mount, nil)
	require.Equal(t, http.StatusOK, m.Status, m.Errors)
	require.Equal(t, pluginVersion, m.Data["running_plugin_version"])
	require.Equal(t, "vault-plugin-secrets-identity", m.Data["type"])
	cfg := m.Data["config"].(map[string]any)
	require.Equal(t, []any{"Authorization"}, cfg["passthrough_request_headers"])
}

func TestPathHelp(t *testing.T) {
	h, err := server.Client.Help(mount + "/entity")
	require.NoError(t, err)
	require.Contains(t, h.Help, "Create a new entity, or update an existing one.")
	require.Contains(t, h.Help, "policies")
	require.NotEmpty(t, h.OpenAPI)
}

func TestEntityAPIMatchesBuiltin(t *testing.T) {
	meta64 := map[string]any{}
	for i := range 65 {
		meta64[fmt.Sprintf("k%02d", i)] = "v"
	}
	steps := []step{
		{method: "POST", path: "entity", body: map[string]any{"name": "alice", "policies": "b, a,a", "metadata": map[string]any{"team": "dev"}}, capture: "alice"},
		{method: "GET", path: "entity/name/ALICE"},
		{method: "GET", path: "entity/id/{alice}"},
		{method: "POST", path: "entity/id/{alice}", body: map[string]any{"disabled": true}},
		{method: "POST", path: "entity", body: map[string]any{"id": "{alice}", "metadata": "x=1"}},
		{method: "POST", path: "entity", body: map[string]any{"name": "Alice", "policies": []string{"c"}}},
		{method: "GET", path: "entity/name/alice"},
		{method: "POST", path: "entity", body: map[string]any{"name": "bob"}, capture: "bob"},
		{method: "POST", path: "entity/id/{alice}", body: map[string]any{"name": "BOB"}},
		{method: "POST", path: "entity", body: map[string]any{"id": "nope"}},
		{method: "POST", path: "entity/id/nope", body: map[string]any{"name": "x"}},
		{method: "POST", path: "entity", body: map[string]any{"name": "r", "policies": "a,root"}, changedIn: 21, want: rootRefused},
		{method: "POST", path: "entity/id/{bob}", body: map[string]any{"policies": "ROOT"}, changedIn: 21, want: rootRefused},
		{method: "GET", path: "entity/id/{bob}"},
		{method: "POST", path: "entity", body: map[string]any{"name": "m1", "metadata": map[string]any{"a b": "v"}}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "m2", "metadata": map[string]any{"vault-x": "v"}}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "m3", "metadata": map[string]any{"": "v"}}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "m4", "metadata": map[string]any{"k": strings.Repeat("v", 513)}}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "m5", "metadata": meta64}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "m6", "metadata": []string{"novalue"}}},
		{method: "POST", path: "entity", body: map[string]any{"name": "m7", "policies": 5}, capture: "m7"},
		{method: "GET", path: "entity/name/m1"},
		{method: "POST", path: "entity", body: map[string]any{"name": "u", "unknown_field": "x"}, capture: "u"},
		{method: "GET", path: "entity/id/nope"},
		{method: "GET", path: "entity/name/nope"},
		{method: "LIST", path: "entity/id"},
		{method: "LIST", path: "entity/name"},
		{method: "POST", path: "entity/name/team/carol", body: map[string]any{"metadata": "k=v"}},
		{method: "POST", path: "entity/name/TEAM/carol", body: map[string]any{"metadata": map[string]any{}}},
		{method: "GET", path: "entity/name/team/carol"},
		{method: "DELETE", path: "entity/name/team/CAROL"},
		{method: "DELETE", path: "entity/name/team/carol"},
		{method: "GET", path: "entity/name/team/carol"},
		{method: "POST", path: "entity/batch-delete", body: map[string]any{"entity_ids": []string{"{bob}", "nope"}}},
		{method: "POST", path: "entity/batch-delete", body: map[string]any{}},
		{method: "POST", path: "entity/batch-delete", body: map[string]any{"entity_ids": ""}},
		{method: "GET", path: "entity/id/{bob}"},
		{method: "DELETE", path: "entity/id/{alice}"},
		{method: "DELETE", path: "entity/id/{alice}"},
		{method: "DELETE", path: "entity/id/{u}"},
		{method: "LIST", path: "entity/id"},
		{method: "POST", path: "entity", body: nil, capture: "gen"},
		{method: "GET", path: "entity/id/{gen}"},
		{method: "DELETE", path: "entity/id/{gen}"},
	}
	compareWithBuiltin(t, steps)
}

// rootRefused is Vault 1.21's answer to an entity or group with the root
// policy, which Vault 1.19 and 1.20 accept.
var rootRefused = outcome{Status: http.StatusBadRequest, Errors: []string{"policies cannot contain root"}}

func TestTwoMountsAreIndependent(t *testing.T) {
	a := do(t, "POST", mount+"/entity", map[string]any{"name": "shared", "policies": "one"})
	b := do(t, "POST", mount2+"/entity", map[string]any{"name": "shared", "policies": "two"})
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, http.StatusOK, b.Status, "the same name is free in the other mount")
	idA, idB := a.Data["id"].(string), b.Data["id"].(string)
	require.NotEqual(t, idA, idB)

	require.Equal(t, http.StatusNotFound, do(t, "GET", mount2+"/entity/id/"+idA, nil).Status)
	require.Equal(t, []any{"one"}, do(t, "GET", mount+"/entity/name/shared", nil).Data["policies"])
	require.Equal(t, []any{"two"}, do(t, "GET", mount2+"/entity/name/shared", nil).Data["policies"])

	require.Equal(t, http.StatusNoContent, do(t, "DELETE", mount+"/entity/name/shared", nil).Status)
	require.Equal(t, http.StatusNotFound, do(t, "GET", mount+"/entity/name/shared", nil).Status)
	require.Equal(t, idB, do(t, "GET", mount2+"/entity/name/shared", nil).Data["id"])
	do(t, "DELETE", mount2+"/entity/id/"+idB, nil)
}

func TestEntitiesSurvivePluginReload(t *testing.T) {
	created := do(t, "POST", mount+"/entity", map[string]any{"name": "durable", "metadata": "k=v"})
	require.Equal(t, http.StatusOK, created.Status)
	id := created.Data["id"].(string)
	defer do(t, "DELETE", mount+"/entity/id/"+id, nil)
	before := do(t, "GET", mount+"/entity/id/"+id, nil)

	r := do(t, "PUT", "sys/plugins/reload/backend", map[string]any{"mounts": []string{mount}})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, r.Errors)

	after := do(t, "GET", mount+"/entity/name/DURABLE", nil)
	require.Equal(t, http.StatusOK, after.Status, after.Errors)
	require.Equal(t, before.Data, after.Data)
}

func TestConcurrentCreatesKeepNamesUnique(t *testing.T) {
	const workers, perWorker, names = 8, 40, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := map[string]string{} // id -> name
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				name := fmt.Sprintf("race-%d", (w*perWorker+i)%names)
				r, err := server.Do(t.Context(), "POST", mount2+"/entity", map[string]any{"name": name, "metadata": map[string]any{"w": fmt.Sprint(w)}})
				if err != nil || (r.Status != http.StatusOK && r.Status != http.StatusNoContent) {
					t.Errorf("create %s: %v %d %v", name, err, r.Status, r.Errors)
					return
				}
				if r.Status == http.StatusOK {
					mu.Lock()
					created[r.Data["id"].(string)] = name
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, created, names, "exactly one create per name; the rest were updates")
	list := do(t, "LIST", mount2+"/entity/id", nil)
	keys := list.Data["keys"].([]any)
	require.Len(t, keys, names)
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.(string))
		require.Contains(t, created, k)
	}
	require.Equal(t, http.StatusNoContent, do(t, "POST", mount2+"/entity/batch-delete", map[string]any{"entity_ids": ids}).Status)
	require.Equal(t, http.StatusNotFound, do(t, "LIST", mount2+"/entity/id", nil).Status)
}

func TestListPagesThroughVault(t *testing.T) {
	var ids []string
	for i := range 5 {
		r := do(t, "POST", mount2+"/entity", map[string]any{"name": fmt.Sprintf("page-%d", i)})
		ids = append(ids, r.Data["id"].(string))
	}
	t.Cleanup(func() { do(t, "POST", mount2+"/entity/batch-delete", map[string]any{"entity_ids": ids}) })
	sort.Strings(ids)
	first := do(t, "GET", mount2+"/entity/id?list=true&limit=2", nil)
	require.Equal(t, http.StatusOK, first.Status, first.Errors)
	require.Equal(t, []any{ids[0], ids[1]}, first.Data["keys"])
	rest := do(t, "GET", mount2+"/entity/id?list=true&after="+ids[1], nil)
	require.Equal(t, []any{ids[2], ids[3], ids[4]}, rest.Data["keys"])
}
