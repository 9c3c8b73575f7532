package oidc

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func kids(t *testing.T, st *testStore) []string {
	t.Helper()
	keys, _, err := st.JWKS(context.Background())
	require.NoError(t, err)
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	return out
}

func tokenKid(t *testing.T, token string) string {
	t.Helper()
	parsed, err := jose.ParseSigned(token, signatureAlgorithms)
	require.NoError(t, err)
	return parsed.Signatures[0].Header.KeyID
}

// TestOIDCRotationAndExpiry drives rotation from the periodic function with
// an injected clock: the next key becomes current, the outgoing public key
// stays published for verification_ttl and then goes, and tokens it signed
// stop verifying.
func TestOIDCRotationAndExpiry(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: s, Now: clock.Now})
	require.NoError(t, st.Load(ctx))
	require.NoError(t, st.WriteKey(ctx, "k", KeyUpdate{RotationPeriod: core.Some(time.Hour), VerificationTTL: core.Some(2 * time.Hour), Algorithm: core.Some("ES256"), AllowedClientIDs: core.Some([]string{"*"})}))
	require.NoError(t, st.WriteRole(ctx, "r", RoleUpdate{Key: core.Some("k"), TTL: core.Some(2 * time.Hour)}))
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	caller := func() (*identity.EntityView, error) { return st.Entity(ctx, identity.EntitySelector{ID: e.ID}) }
	const issuer = "https://vault.test/v1/ident/oidc"
	issue := func() string {
		tok, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer, Caller: caller})
		require.NoError(t, err)
		return tok.Token
	}
	introspect := func(token string) string {
		msg, err := st.Introspect(ctx, token, "", issuer)
		require.NoError(t, err)
		return msg
	}

	first := issue()
	kidA := tokenKid(t, first)
	initial := kids(t, st)
	require.Len(t, initial, 2, "current and next")
	require.Contains(t, initial, kidA)
	_, maxAge, _ := st.JWKS(ctx)
	require.Equal(t, time.Hour, maxAge, "cache until the next rotation")

	clock.Advance(30 * time.Minute)
	require.NoError(t, st.RunPeriodic(ctx))
	require.Equal(t, initial, kids(t, st), "nothing due yet")

	clock.Advance(31 * time.Minute)
	require.NoError(t, st.RunPeriodic(ctx))
	afterRotation := kids(t, st)
	require.Len(t, afterRotation, 3, "outgoing, current, next")
	second := issue()
	kidB := tokenKid(t, second)
	require.NotEqual(t, kidA, kidB)
	require.Contains(t, initial, kidB, "the published next key became current")
	require.Equal(t, "", introspect(first), "tokens of the outgoing key still verify")

	// Past the outgoing key's verification time it leaves the JWKS.
	clock.Advance(2*time.Hour + time.Minute)
	require.NoError(t, st.RunPeriodic(ctx))
	require.NotContains(t, kids(t, st), kidA)
	require.Equal(t, "unable to validate the token signature", introspect(first))

	// A manual rotation with verification_ttl 0 retires the key at once.
	current := tokenKid(t, issue())
	require.NoError(t, st.RotateKey(ctx, "k", core.Some(time.Duration(0))))
	clock.Advance(time.Second)
	require.NoError(t, st.RunPeriodic(ctx))
	require.NotContains(t, kids(t, st), current)

	// Storage holds the same ring and material: a restart signs with the
	// same current key.
	again := openStore(testOptions{Storage: s, Now: clock.Now})
	require.NoError(t, again.Load(ctx))
	require.Equal(t, kids(t, st), kids(t, again))
	tok, err := again.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer, Caller: func() (*identity.EntityView, error) { return again.Entity(ctx, identity.EntitySelector{ID: e.ID}) }})
	require.NoError(t, err)
	require.Equal(t, tokenKid(t, issue()), tokenKid(t, tok.Token))
	material, err := s.Get(ctx, oidcMaterialPrefix+"k")
	require.NoError(t, err)
	var m keyMaterial
	require.NoError(t, material.DecodeJSON(&m))
	require.Len(t, m.Keys, 2, "only the current and next private keys are kept")
	require.True(t, slices.ContainsFunc(m.Keys, func(k jose.JSONWebKey) bool { return !k.IsPublic() }))
}

func TestOIDCTemplateRendering(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(testOptions{Storage: new(logical.InmemStorage), Now: clock.Now})
	require.NoError(t, st.Load(ctx))
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: "auth_userpass_12345678", CustomMetadata: core.Some(map[string]string{"dept": "eng"})})
	require.NoError(t, err)
	_, _, err = st.UpsertEntity(ctx, identity.EntityUpdate{ID: a.CanonicalID, Metadata: core.Some(map[string]string{"team": "dev"})})
	require.NoError(t, err)
	parent, _, err := st.UpsertGroup(ctx, identity.GroupUpdate{Name: "parent", Metadata: core.Some(map[string]string{"level": "top"})})
	require.NoError(t, err)
	_, _, err = st.UpsertGroup(ctx, identity.GroupUpdate{Name: "child", MemberEntityIDs: core.Some([]string{a.CanonicalID})})
	require.NoError(t, err)
	_, _, err = st.UpsertGroup(ctx, identity.GroupUpdate{ID: parent.ID, MemberGroupIDs: core.Some([]string{mustGroupID(t, st, "child")})})
	require.NoError(t, err)
	v, err := st.Entity(ctx, identity.EntitySelector{ID: a.CanonicalID})
	require.NoError(t, err)

	claims := map[string]any{"sub": "kept"}
	st.mergeTemplate(claims, `{
		"meta": {{identity.entity.metadata}},
		"team": {{identity.entity.metadata.team}},
		"missing": {{identity.entity.metadata.nope}},
		"dept": {{identity.entity.aliases.auth_userpass_12345678.custom_metadata.dept}},
		"groups": {{identity.entity.groups.names}},
		"level": "{{identity.groups.names.parent.metadata.level}}",
		"now": {{time.now}},
		"soon": {{time.now.plus.1h}},
		"sub": "overridden?"
	}`, v, clock.Now())
	require.Equal(t, map[string]any{
		"sub":     "kept",
		"meta":    map[string]any{"team": "dev"},
		"team":    "dev",
		"missing": "",
		"dept":    "eng",
		"groups":  []any{"child", "parent"},
		"level":   "top",
		"now":     float64(clock.Now().Unix()),
		"soon":    float64(clock.Now().Add(time.Hour).Unix()),
	}, claims)
}

func mustGroupID(t *testing.T, st *testStore, name string) string {
	t.Helper()
	g, err := st.Group(context.Background(), identity.GroupSelector{Name: name})
	require.NoError(t, err)
	return g.ID
}
