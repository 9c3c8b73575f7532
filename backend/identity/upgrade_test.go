package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

// The identity objects written by releases 0.1.0 and 0.3.0 (fixtures made
// by their code) load and work; backend and oidc test the rest of them.

func TestUpgradeFromV010(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t, testutil.StorageFixture(t, "../testdata/upgrade/v0.1.0.json"))
	alice, err := st.Entity(ctx, EntitySelector{Name: "alice"})
	require.NoError(t, err)
	require.Equal(t, "Alice", alice.Name)
	require.Equal(t, []string{"p1"}, alice.Policies)
	require.Equal(t, map[string]string{"k": "v"}, alice.Metadata)
	require.Equal(t, uint64(0), alice.ModifyIndex, "0.1.0 did not record modify_index")
	bob, _ := st.Entity(ctx, EntitySelector{Name: "BOB"})
	require.True(t, bob.Disabled)

	// Writes work on upgraded data; check-and-set starts from 0.
	_, _, err = st.UpsertEntity(ctx, EntityUpdate{ID: alice.ID, Policies: core.Some([]string{"p2"}), CAS: core.Some(0)})
	require.NoError(t, err)
	again, _ := st.Entity(ctx, EntitySelector{ID: alice.ID})
	require.Equal(t, uint64(1), again.ModifyIndex)
}

func TestUpgradeFromV030(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t, testutil.StorageFixture(t, "../testdata/upgrade/v0.3.0.json"))
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
}
