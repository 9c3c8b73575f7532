package backend

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// loadFixture fills storage with the entries an earlier release wrote
// (testdata/upgrade/<release>.json, made by that release's code).
func loadFixture(t *testing.T, release string) *logical.InmemStorage {
	t.Helper()
	raw, err := os.ReadFile("testdata/upgrade/" + release + ".json")
	require.NoError(t, err)
	var entries map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &entries))
	s := new(logical.InmemStorage)
	for k, v := range entries {
		require.NoError(t, s.Put(context.Background(), &logical.StorageEntry{Key: k, Value: v}))
	}
	return s
}

func TestUpgradeFromV010(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t, loadFixture(t, "v0.1.0"))
	alice, err := st.Entity(ctx, EntitySelector{Name: "alice"})
	require.NoError(t, err)
	require.Equal(t, "Alice", alice.Name)
	require.Equal(t, []string{"p1"}, alice.Policies)
	require.Equal(t, map[string]string{"k": "v"}, alice.Metadata)
	require.Equal(t, uint64(0), alice.ModifyIndex, "0.1.0 did not record modify_index")
	bob, _ := st.Entity(ctx, EntitySelector{Name: "BOB"})
	require.True(t, bob.Disabled)

	// Writes work on upgraded data; check-and-set starts from 0.
	_, _, err = st.UpsertEntity(ctx, EntityUpdate{ID: alice.ID, Policies: Some([]string{"p2"}), CAS: Some(0)})
	require.NoError(t, err)
	again, _ := st.Entity(ctx, EntitySelector{ID: alice.ID})
	require.Equal(t, uint64(1), again.ModifyIndex)
	// The default OIDC key of later releases appears.
	k, err := st.Key(ctx, DefaultKeyName)
	require.NoError(t, err)
	require.NotNil(t, k)
}

func TestUpgradeFromV030(t *testing.T) {
	ctx := context.Background()
	s := loadFixture(t, "v0.3.0")
	st := newTestStore(t, s)
	checkGraph(t, st)

	alice, err := st.Entity(ctx, EntitySelector{AliasName: "ALICE", AliasMountAccessor: "auth_userpass_0a1b2c3d"})
	require.NoError(t, err)
	require.Equal(t, "Alice", alice.Name)
	require.Len(t, alice.Aliases, 1)
	require.Equal(t, map[string]string{"team": "dev"}, alice.Aliases[0].CustomMetadata)
	child, _ := st.Group(ctx, GroupSelector{Name: "child"})
	parent, _ := st.Group(ctx, GroupSelector{Name: "parent"})
	require.Equal(t, []string{child.ID}, alice.DirectGroupIDs)
	require.Equal(t, []string{parent.ID}, alice.InheritedGroupIDs)
	ext, _ := st.Group(ctx, GroupSelector{AliasName: "ldap-ext", AliasMountAccessor: "auth_ldap_0a1b2c3d"})
	require.Equal(t, "ext", ext.Name)

	// The stored OIDC key still signs, with the key id it had.
	issuer, _ := st.OIDCIssuer(ctx)
	require.Equal(t, "https://vault.fixture:8200", issuer)
	var stored NamedKey
	found, err := st.getJSON(ctx, oidcKeyPrefix+"k", &stored)
	require.NoError(t, err)
	require.True(t, found)
	tok, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer + "/v1/ident/oidc", Caller: func() (*EntityView, error) { return alice, nil }})
	require.NoError(t, err)
	require.Equal(t, "fixture-client", tok.ClientID)
	require.Equal(t, stored.SigningKeyID, tokenKid(t, tok.Token))
	msg, err := st.Introspect(ctx, tok.Token, "fixture-client", issuer+"/v1/ident/oidc")
	require.NoError(t, err)
	require.Equal(t, "", msg)
	require.NoError(t, st.RotateKey(ctx, "k", Opt[time.Duration]{}))
	tok2, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer + "/v1/ident/oidc", Caller: func() (*EntityView, error) { return alice, nil }})
	require.NoError(t, err)
	require.NotEqual(t, stored.SigningKeyID, tokenKid(t, tok2.Token), "the carried-over key rotates")

	// A store from before the OIDC provider gets its built-in objects at
	// load, in storage too.
	for _, key := range []string{oidcAssignmentPrefix + AllowAllAssignment, oidcProviderPrefix + DefaultProviderName} {
		entry, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.NotNil(t, entry, key)
	}
	p, err := st.OIDCProvider(ctx, DefaultProviderName)
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, p.AllowedClientIDs)

	// The schema version did not move: 0.3.0 and this release share it.
	var rec schemaRecord
	_, err = st.getJSON(ctx, schemaKey, &rec)
	require.NoError(t, err)
	require.Equal(t, SchemaVersion, rec.Version)
}
