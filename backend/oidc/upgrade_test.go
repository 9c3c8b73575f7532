package oidc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

// The OIDC configuration written by releases 0.1.0 and 0.3.0 (fixtures made
// by their code) loads and works.

func TestUpgradeFromV010(t *testing.T) {
	ctx := context.Background()
	st := openStore(testOptions{Storage: testutil.StorageFixture(t, "../testdata/upgrade/v0.1.0.json")})
	require.NoError(t, st.Load(ctx))
	// The default OIDC key of later releases appears.
	k, err := st.Key(ctx, DefaultKeyName)
	require.NoError(t, err)
	require.NotNil(t, k)
}

func TestUpgradeFromV030(t *testing.T) {
	ctx := context.Background()
	s := testutil.StorageFixture(t, "../testdata/upgrade/v0.3.0.json")
	st := openStore(testOptions{Storage: s})
	require.NoError(t, st.Load(ctx))
	alice, err := st.Entity(ctx, identity.EntitySelector{Name: "alice"})
	require.NoError(t, err)
	require.NotNil(t, alice)

	// The stored OIDC key still signs, with the key id it had.
	issuer, _ := st.OIDCIssuer(ctx)
	require.Equal(t, "https://vault.fixture:8200", issuer)
	var stored NamedKey
	found, err := st.storage.GetJSON(ctx, oidcKeyPrefix+"k", &stored)
	require.NoError(t, err)
	require.True(t, found)
	caller := func() (*identity.EntityView, error) { return alice, nil }
	tok, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer + "/v1/ident/oidc", Caller: caller})
	require.NoError(t, err)
	require.Equal(t, "fixture-client", tok.ClientID)
	require.Equal(t, stored.SigningKeyID, tokenKid(t, tok.Token))
	msg, err := st.Introspect(ctx, tok.Token, "fixture-client", issuer+"/v1/ident/oidc")
	require.NoError(t, err)
	require.Equal(t, "", msg)
	require.NoError(t, st.RotateKey(ctx, "k", core.Opt[time.Duration]{}))
	tok2, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer + "/v1/ident/oidc", Caller: caller})
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
}
