package paths_test

import (
	"encoding/json"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

// records is a list of dump records as a JSON request body carries them.
func records(t *testing.T, raw string) []any {
	t.Helper()
	var out []any
	require.NoError(t, json.Unmarshal([]byte(raw), &out))
	return out
}

const twoRecords = `[
 {"kind":"entity-alias","id":"a1","data":{"id":"a1","canonical_id":"e1","mount_accessor":"auth_userpass_12345678","name":"alice",
  "metadata":null,"custom_metadata":{},"creation_time":"2025-03-01T12:00:00Z","last_update_time":"2025-03-01T12:00:00Z"}},
 {"kind":"entity","id":"e1","data":{"id":"e1","name":"alice","metadata":{"team":"dev"},"policies":["dev"],
  "creation_time":"2025-03-01T12:00:00Z","last_update_time":"2025-03-01T12:00:00Z"}}
]`

// loaded is a backend whose store has loaded (and written its built-in
// objects), so that storage changes only with the test's requests.
func loaded(t *testing.T) *testutil.Backend {
	t.Helper()
	b := newBackend(t)
	require.Equal(t, http.StatusOK, b.Read("info").Status)
	return b
}

func TestImportPathRefusals(t *testing.T) {
	b := loaded(t)
	before := snapshot(b)
	r := b.Write("import", map[string]any{"records": records(t, `[{"kind":"entity-alias","id":"a9","data":{"id":"a9","canonical_id":"e9",
		"mount_accessor":"auth_userpass_12345678","name":"x","metadata":null,"custom_metadata":null,
		"creation_time":"2025-03-01T12:00:00Z","last_update_time":"2025-03-01T12:00:00Z"}}]`)})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "import refused, nothing written: 1 problem\nrecord 0 (entity-alias a9): canonical_id \"e9\" names no entity", r.ErrorText())
	require.Equal(t, map[string]any{"problems": []any{map[string]any{
		"index": float64(0), "kind": "entity-alias", "id": "a9", "code": "missing_reference",
		"reason": `canonical_id "e9" names no entity`, "ref_kind": "entity", "ref_id": "e9",
	}}, "actions": []any{"created"}}, r.Wire()["data"])
	require.Equal(t, before, snapshot(b), "a refused batch writes nothing")

	r = b.Write("import", map[string]any{"records": records(t, twoRecords), "on_conflict": "merge"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, `on_conflict must be "fail", "skip" or "overwrite"`, r.ErrorText())
	r = b.Write("import", map[string]any{"records": []any{"entity"}})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, `records: each record is an object {"kind", "id", "data"}: json: cannot unmarshal string into Go value of type dump.Record`, r.ErrorText())
	r = b.Write("import", map[string]any{})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "no records to import", r.ErrorText())
	r = b.Write("import", map[string]any{"records_jsonl": "{\"kind\":\"entity\"}\nnonsense\n"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, `records_jsonl: line 2 is not a record {"kind", "id", "data"}: invalid character 'o' in literal null (expecting 'u')`, r.ErrorText())
	r = b.Write("import", map[string]any{"records_jsonl": "{}", "records": []any{}})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "give records or records_jsonl, not both", r.ErrorText())
	require.Equal(t, before, snapshot(b))
}

func TestImportPath(t *testing.T) {
	b := loaded(t)
	before := snapshot(b)
	r := b.Write("import", map[string]any{"records": records(t, twoRecords), "dry_run": true})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	require.Equal(t, before, snapshot(b), "a dry run writes nothing")
	require.Equal(t, true, r.Data()["dry_run"])

	r = b.Write("import", map[string]any{"records": records(t, twoRecords)})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	validSchema(t, b, r)
	require.Equal(t, map[string]any{
		"actions": []any{"created", "created"},
		"counts":  map[string]any{"created": float64(2), "unchanged": float64(0), "skipped": float64(0), "overwritten": float64(0)},
		"dry_run": false,
	}, r.Wire())
	e := b.Read("entity/id/e1").Data()
	require.Equal(t, "alice", e["name"])
	require.Equal(t, "a1", e["aliases"].([]any)[0].(map[string]any)["id"])

	// The same records as lines: nothing to do.
	var lines []string
	for _, rec := range records(t, twoRecords) {
		raw, err := json.Marshal(rec)
		require.NoError(t, err)
		lines = append(lines, string(raw))
	}
	after := snapshot(b)
	r = b.Write("import", map[string]any{"records_jsonl": strings.Join(lines, "\n")})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	require.Equal(t, map[string]int{"created": 0, "unchanged": 2, "skipped": 0, "overwritten": 0}, r.Data()["counts"])
	require.Equal(t, after, snapshot(b), "importing again changes nothing")
}

func TestExportPaths(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, http.StatusOK, b.Write("import", map[string]any{"records": records(t, twoRecords)}).Status)

	var all []dump.Record
	after := ""
	for pages := 0; ; pages++ {
		r := b.Do("read", "export", map[string]any{"after": after, "limit": 1})
		require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
		validSchema(t, b, r)
		all = append(all, r.Data()["records"].([]dump.Record)...)
		after = r.Data()["next"].(string)
		if after == "" {
			break
		}
		require.Less(t, pages, 20)
	}
	var kinds []string
	for _, rec := range all {
		kinds = append(kinds, rec.Kind+" "+rec.ID)
	}
	require.Equal(t, []string{
		"entity e1", "entity-alias a1", "oidc-config config", "oidc-key default",
		"oidc-assignment allow_all", "oidc-provider default",
	}, kinds)

	r := b.Read("export/keys")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "private key export is disabled for this mount: set allow_key_export=true in its config to allow it", r.ErrorText())
	c := b.Write("config", map[string]any{"allow_key_export": true})
	require.Equal(t, http.StatusOK, c.Status, c.ErrorText())
	require.Equal(t, true, c.Data()["allow_key_export"])
	r = b.Read("export/keys")
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	keys := r.Data()["records"].([]dump.Record)
	require.Len(t, keys, 1)
	var k dump.OIDCKey
	require.NoError(t, json.Unmarshal(keys[0].Data, &k))
	require.Equal(t, oidc.DefaultKeyName, k.Name)
	require.Nil(t, k.Material, "the default key has no keys until a role or client uses it")

	r = b.Do("read", "export", map[string]any{"after": "widget:1"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, `invalid after cursor "widget:1": give the next value of the previous page`, r.ErrorText())
}
