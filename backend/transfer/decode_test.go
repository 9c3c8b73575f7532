package transfer

import (
	"encoding/json"
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
