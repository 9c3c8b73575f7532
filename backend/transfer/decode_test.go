package transfer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

func TestDecodeAndCheckNames(t *testing.T) {
	type thing struct {
		Name string `json:"name"`
	}
	it := &Item{Rec: dump.Record{Kind: "thing", ID: "a", Data: json.RawMessage(`{"name":"a"}`)}}
	var d thing
	require.NoError(t, Decode(it, &d, func() string { return d.Name }))
	require.Equal(t, "a", d.Name)

	it.Rec.ID = "b"
	require.EqualError(t, Decode(it, &d, func() string { return d.Name }), `the record's id "b" is not its data's "a"`)
	it.Rec.Data = json.RawMessage(`{"name":"a","colour":"red"}`)
	require.EqualError(t, Decode(it, &d, func() string { return d.Name }), `data: json: unknown field "colour"`)

	require.NoError(t, CheckNames("client name", "app", "client_id", "abc"))
	require.EqualError(t, CheckNames("client name", "app", "client_id", "a b"), `invalid client_id "a b"`)
	require.EqualError(t, CheckNames("client name", "", "client_id", "abc"), `invalid client name ""`)
}

// TestPageOfKeys: a page starts after after, leaves out what data refuses
// without counting it against limit, and reports the keys it exported.
func TestPageOfKeys(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e"}
	gone := map[string]bool{"c": true}
	data := func(k string) (any, bool, error) {
		if gone[k] {
			return nil, false, nil
		}
		return map[string]string{"k": k}, true, nil
	}
	recs, used, err := PageOfKeys("thing", keys, "a", 2, data)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "d"}, used)
	require.Len(t, recs, 2)
	require.Equal(t, "d", recs[1].ID)
	_, used, err = PageOfKeys("thing", keys, "d", 2, data)
	require.NoError(t, err)
	require.Equal(t, []string{"e"}, used)
	_, _, err = PageOfKeys("thing", keys, "", 2, func(string) (any, bool, error) { return nil, false, errors.New("storage down") })
	require.EqualError(t, err, "storage down")
}
