package backend

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

// The parts under their own names, for embedding.
type (
	idStore     = identity.Store
	mfaService  = mfa.Service
	oidcService = oidc.Service
)

// parts is a loaded store with every part's methods at hand, for tests of
// what crosses parts.
type parts struct {
	*Store
	*idStore
	*mfaService
	*oidcService
}

func newTestStore(t testing.TB, s logical.Storage) *Store {
	t.Helper()
	st := New(Options{Storage: s})
	require.NoError(t, st.Ready(context.Background()))
	return st
}

func partsOf(st *Store) *parts { return &parts{st, st.Identity(), st.MFA(), st.OIDC()} }

func schemaOf(t *testing.T, s logical.Storage) (schemaRecord, bool) {
	t.Helper()
	var rec schemaRecord
	found, err := New(Options{Storage: s}).storage.GetJSON(context.Background(), schemaKey, &rec)
	require.NoError(t, err)
	return rec, found
}

func TestSchemaVersionRecorded(t *testing.T) {
	s := new(logical.InmemStorage)
	newTestStore(t, s)
	e, err := s.Get(context.Background(), schemaKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"version":1}`, string(e.Value))
}

func TestNewerSchemaRefusesToLoad(t *testing.T) {
	s := new(logical.InmemStorage)
	entry, _ := logical.StorageEntryJSON(schemaKey, schemaRecord{Version: SchemaVersion + 1})
	require.NoError(t, s.Put(context.Background(), entry))
	err := New(Options{Storage: s}).Ready(context.Background())
	require.ErrorContains(t, err, "newer than this plugin understands")
}

func TestSchemaUpgradesRunInOrder(t *testing.T) {
	s := new(logical.InmemStorage)
	entry, _ := logical.StorageEntryJSON(schemaKey, schemaRecord{Version: 0})
	require.NoError(t, s.Put(context.Background(), entry))
	ran := false
	upgrades[0] = func(context.Context, *Store) error { ran = true; return nil }
	defer delete(upgrades, 0)
	newTestStore(t, s)
	require.True(t, ran)
	rec, found := schemaOf(t, s)
	require.True(t, found)
	require.Equal(t, SchemaVersion, rec.Version)
}

// TestEarlierReleasesKeepTheSchema: stores written by releases 0.1.0 (no
// schema record) and 0.3.0 load with this release's version recorded;
// identity and oidc check their objects in them.
func TestEarlierReleasesKeepTheSchema(t *testing.T) {
	for _, release := range []string{"v0.1.0", "v0.3.0"} {
		s := testutil.StorageFixture(t, "testdata/upgrade/"+release+".json")
		st := newTestStore(t, s)
		rec, found := schemaOf(t, s)
		require.True(t, found, release)
		require.Equal(t, SchemaVersion, rec.Version, release)
		n, err := st.Identity().EntityCount(context.Background())
		require.NoError(t, err)
		require.NotZero(t, n, release)
	}
}

// TestReadyLoadsEveryPartOnce: a store that never saw Initialize loads on
// its first Ready, every part of it, and only once.
func TestReadyLoadsEveryPartOnce(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	first := partsOf(newTestStore(t, s))
	e, _, err := first.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	require.NoError(t, first.SetOIDCIssuer(ctx, "https://vault.example:8200"))

	lazy := New(Options{Storage: s})
	require.NoError(t, lazy.Ready(ctx))
	got, err := lazy.Identity().Entity(ctx, identity.EntitySelector{Name: "ALICE"})
	require.NoError(t, err)
	require.Equal(t, e.ID, got.ID)
	issuer, err := lazy.OIDC().OIDCIssuer(ctx)
	require.NoError(t, err)
	require.Equal(t, "https://vault.example:8200", issuer)

	// Loaded once: a later entity is seen through invalidation, not a
	// second load.
	e2, _, err := first.UpsertEntity(ctx, identity.EntityUpdate{Name: "bob"})
	require.NoError(t, err)
	require.NoError(t, lazy.Ready(ctx))
	got, err = lazy.Identity().Entity(ctx, identity.EntitySelector{ID: e2.ID})
	require.NoError(t, err)
	require.Nil(t, got)
}

// TestInvalidateReachesEveryPart: keys written on another node reach the
// part that owns them.
func TestInvalidateReachesEveryPart(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	writer, reader := partsOf(newTestStore(t, s)), newTestStore(t, s)

	e, _, err := writer.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	reader.Invalidate(ctx, "entity/"+e.ID)
	got, err := reader.Identity().Entity(ctx, identity.EntitySelector{Name: "alice"})
	require.NoError(t, err)
	require.NotNil(t, got)

	require.NoError(t, writer.SetOIDCIssuer(ctx, "https://vault.example:8200"))
	reader.Invalidate(ctx, "oidc/config")
	issuer, err := reader.OIDC().OIDCIssuer(ctx)
	require.NoError(t, err)
	require.Equal(t, "https://vault.example:8200", issuer)

	m, _, err := writer.WriteMFAMethod(ctx, "", mfa.MFAMethodInput{Type: mfa.MFATOTP, Issuer: "Acme", Period: 30 * time.Second, KeySize: 20, Algorithm: "SHA1", Digits: 6, Skew: 1})
	require.NoError(t, err)
	reader.Invalidate(ctx, "mfa/method/"+m.ID)
	got2, err := reader.MFA().MFAMethodByID(ctx, m.ID)
	require.NoError(t, err)
	require.NotNil(t, got2)

	_, err = writer.WriteMountConfig(ctx, MountConfigInput{CallerEntities: core.Some(identity.CallerEntitiesMatch)})
	require.NoError(t, err)
	reader.Invalidate(ctx, configKey)
	c, err := reader.MountConfig(ctx)
	require.NoError(t, err)
	require.Equal(t, identity.CallerEntitiesMatch, c.CallerEntities)

	reader.Invalidate(ctx, "unrelated/key")
}
