package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

const (
	testAccessor  = "auth_userpass_12345678"
	otherAccessor = "auth_approle_87654321"
)

// storageOf reads every entry of a storage, to prove that a refused import
// wrote nothing.
func storageOf(t *testing.T, s logical.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := s.List(context.Background(), prefix)
		require.NoError(t, err)
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, err := s.Get(context.Background(), prefix+k)
			require.NoError(t, err)
			out[prefix+k] = string(e.Value)
		}
	}
	walk("")
	return out
}

func rec(t *testing.T, kind, id string, v any) dump.Record {
	t.Helper()
	r, err := dump.NewRecord(kind, id, v)
	require.NoError(t, err)
	return r
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func entityRec(t *testing.T, id, name string) dump.Record {
	return rec(t, dump.KindEntity, id, dump.Entity{ID: id, Name: name, CreationTime: t0, LastUpdateTime: t0})
}

func aliasRec(t *testing.T, id, entityID, accessor, name string) dump.Record {
	return rec(t, dump.KindEntityAlias, id, dump.Alias{ID: id, CanonicalID: entityID, MountAccessor: accessor, Name: name, CreationTime: t0, LastUpdateTime: t0})
}

func groupRec(t *testing.T, id, name string, members, parents []string) dump.Record {
	return rec(t, dump.KindGroup, id, dump.Group{ID: id, Name: name, Type: identity.GroupInternal, MemberEntityIDs: members, ParentGroupIDs: parents, CreationTime: t0, LastUpdateTime: t0})
}

// refused asserts an import refused with exactly these problems, and that
// storage is as it was.
func refused(t *testing.T, st *parts, s logical.Storage, req transfer.ImportRequest, want ...transfer.ImportProblem) {
	t.Helper()
	before := storageOf(t, s)
	_, err := st.Import(context.Background(), req)
	var r *transfer.ImportRefusedError
	require.True(t, errors.As(err, &r), "want a refusal, got %v", err)
	require.Equal(t, want, r.Problems)
	require.Equal(t, before, storageOf(t, s), "a refused batch writes nothing")
}

func actions(out []transfer.ImportOutcome) []string {
	var a []string
	for _, o := range out {
		a = append(a, o.Action)
	}
	return a
}

func TestImportRefusesAMissingReference(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	refused(t, st, s, transfer.ImportRequest{Records: []dump.Record{
		entityRec(t, "e1", "alice"),
		aliasRec(t, "a1", "e2", testAccessor, "alice"),
		groupRec(t, "g1", "team", []string{"e1", "e9"}, []string{"g0"}),
	}}, transfer.ImportProblem{
		Index: 1, Kind: dump.KindEntityAlias, ID: "a1", Code: transfer.ProblemMissing,
		Reason: `canonical_id "e2" names no entity`, RefKind: dump.KindEntity, RefID: "e2",
	}, transfer.ImportProblem{
		Index: 2, Kind: dump.KindGroup, ID: "g1", Code: transfer.ProblemMissing,
		Reason: `member_entity_ids: "e9" names no entity`, RefKind: dump.KindEntity, RefID: "e9",
	}, transfer.ImportProblem{
		Index: 2, Kind: dump.KindGroup, ID: "g1", Code: transfer.ProblemMissing,
		Reason: `parent_group_ids: "g0" names no group`, RefKind: dump.KindGroup, RefID: "g0",
	})
	// The message lists every problem with its record.
	_, err := st.Import(context.Background(), transfer.ImportRequest{Records: []dump.Record{aliasRec(t, "a1", "e2", testAccessor, "alice")}})
	require.EqualError(t, err, "import refused, nothing written: 1 problem\nrecord 0 (entity-alias a1): canonical_id \"e2\" names no entity")
}

func TestImportRefusesANameHeldByAnotherID(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	ctx := context.Background()
	held, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "Alice"})
	require.NoError(t, err)
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: testAccessor, CanonicalID: held.ID})
	require.NoError(t, err)
	batch := []dump.Record{entityRec(t, "e1", "alice"), entityRec(t, "e2", "bob"), aliasRec(t, "a2", "e2", testAccessor, "ALICE")}
	want := []transfer.ImportProblem{{
		Index: 0, Kind: dump.KindEntity, ID: "e1", Code: transfer.ProblemTaken,
		Reason: fmt.Sprintf(`entity name "alice" is already used by entity %s`, held.ID),
	}, {
		Index: 2, Kind: dump.KindEntityAlias, ID: "a2", Code: transfer.ProblemTaken,
		Reason: fmt.Sprintf(`alias name "ALICE" on mount accessor %q is already used by alias %s of entity %s`, testAccessor, a.ID, held.ID),
	}}
	refused(t, st, s, transfer.ImportRequest{Records: batch}, want...)
	// overwrite never takes another object's name.
	refused(t, st, s, transfer.ImportRequest{Records: batch, OnConflict: transfer.OnConflictOverwrite}, want...)
	// skip leaves them and imports the rest.
	out, err := st.Import(ctx, transfer.ImportRequest{Records: batch, OnConflict: transfer.OnConflictSkip})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionSkipped, transfer.ActionCreated, transfer.ActionSkipped}, actions(out))
	e, err := st.Entity(ctx, identity.EntitySelector{Name: "alice"})
	require.NoError(t, err)
	require.Equal(t, held.ID, e.ID)
	e, err = st.Entity(ctx, identity.EntitySelector{ID: "e2"})
	require.NoError(t, err)
	require.Equal(t, "bob", e.Name)
	require.Empty(t, e.Aliases)
}

func TestImportSameIDWithOtherValues(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	ctx := context.Background()
	out, err := st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{entityRec(t, "e1", "alice")}})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionCreated}, actions(out))

	// The same record again: unchanged, and nothing written.
	before := storageOf(t, s)
	out, err = st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{entityRec(t, "e1", "alice")}})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionUnchanged}, actions(out))
	require.Equal(t, before, storageOf(t, s))

	changed := rec(t, dump.KindEntity, "e1", dump.Entity{ID: "e1", Name: "alice", Policies: []string{"dev"}, CreationTime: t0, LastUpdateTime: t0.Add(time.Hour)})
	refused(t, st, s, transfer.ImportRequest{Records: []dump.Record{changed}}, transfer.ImportProblem{
		Index: 0, Kind: dump.KindEntity, ID: "e1", Code: transfer.ProblemConflict,
		Reason: "entity e1 already exists with other values (last_update_time, policies)",
	})
	out, err = st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{changed}, OnConflict: transfer.OnConflictSkip})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionSkipped}, actions(out))
	require.Equal(t, before, storageOf(t, s))
	out, err = st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{changed}, OnConflict: transfer.OnConflictOverwrite})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionOverwritten}, actions(out))
	e, err := st.Entity(ctx, identity.EntitySelector{ID: "e1"})
	require.NoError(t, err)
	require.Equal(t, []string{"dev"}, e.Policies)
}

func TestImportRefusesBadBatches(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	ctx := context.Background()
	_, err := st.Import(ctx, transfer.ImportRequest{Records: make([]dump.Record, transfer.ImportBatchMax+1)})
	require.EqualError(t, err, "at most 1000 records may be imported at once; got 1001")
	_, err = st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{entityRec(t, "e1", "a")}, OnConflict: "merge"})
	require.EqualError(t, err, `on_conflict must be "fail", "skip" or "overwrite"`)

	edited := entityRec(t, "e1", "a")
	edited.ID = "e2"
	refused(t, st, s, transfer.ImportRequest{Records: []dump.Record{
		entityRec(t, "e1", "alice"),
		entityRec(t, "e1", "alice"),
		entityRec(t, "e3", "ALICE"),
		edited,
		{Kind: "widget", ID: "w", Data: json.RawMessage(`{}`)},
		rec(t, dump.KindEntity, "e4", map[string]any{"id": "e4", "name": "x", "creation_time": t0, "last_update_time": t0, "colour": "red"}),
		rec(t, dump.KindEntity, "e5", dump.Entity{ID: "e5", Name: "root-user", Policies: []string{"Root"}, CreationTime: t0, LastUpdateTime: t0}),
		groupRec(t, "g1", "a", nil, []string{"g2"}),
		groupRec(t, "g2", "b", nil, []string{"g1"}),
	}}, []transfer.ImportProblem{
		{Index: 1, Kind: dump.KindEntity, ID: "e1", Code: transfer.ProblemDuplicate, Reason: "record 0 has the same kind and id"},
		{Index: 2, Kind: dump.KindEntity, ID: "e3", Code: transfer.ProblemDuplicate, Reason: `entity name "ALICE" is also given by record 0 (entity e1)`},
		{Index: 3, Kind: dump.KindEntity, ID: "e2", Code: transfer.ProblemInvalid, Reason: `the record's id "e2" is not its data's "e1"`},
		{Index: 4, Kind: "widget", ID: "w", Code: transfer.ProblemInvalid, Reason: `unknown record kind "widget"`},
		{Index: 5, Kind: dump.KindEntity, ID: "e4", Code: transfer.ProblemInvalid, Reason: `data: json: unknown field "colour"`},
		{Index: 6, Kind: dump.KindEntity, ID: "e5", Code: transfer.ProblemInvalid, Reason: "policies cannot contain root"},
		{Index: 7, Kind: dump.KindGroup, ID: "g1", Code: transfer.ProblemInvalid, Reason: "cyclic relationship detected: group g1 would be its own ancestor"},
		{Index: 8, Kind: dump.KindGroup, ID: "g2", Code: transfer.ProblemInvalid, Reason: "cyclic relationship detected: group g2 would be its own ancestor"},
	}...)

	// A dry run checks and writes nothing.
	before := storageOf(t, s)
	out, err := st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{entityRec(t, "e1", "alice")}, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionCreated}, actions(out))
	require.Equal(t, before, storageOf(t, s))
}

func TestImportChecksLikeTheEngine(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	ctx := context.Background()
	_, err := st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{
		entityRec(t, "e1", "alice"),
		aliasRec(t, "a1", "e1", testAccessor, "alice"),
		rec(t, dump.KindGroup, "x1", dump.Group{ID: "x1", Name: "ext", Type: identity.GroupExternal, CreationTime: t0, LastUpdateTime: t0}),
	}})
	require.NoError(t, err)
	refused(t, st, s, transfer.ImportRequest{Records: []dump.Record{
		aliasRec(t, "a2", "e1", testAccessor, "alice2"),
		aliasRec(t, "a3", "e1", "not-an-accessor", "alice3"),
		groupRec(t, "g1", "child", nil, []string{"x1"}),
		rec(t, dump.KindGroupAlias, "ga1", dump.Alias{ID: "ga1", CanonicalID: "g1", MountAccessor: testAccessor, Name: "devs", CreationTime: t0, LastUpdateTime: t0}),
		rec(t, dump.KindOIDCClient, "app", dump.OIDCClient{Name: "app", ClientID: "abc", ClientSecret: "s", ClientType: oidc.ClientConfidential, Key: "nokey", Assignments: []string{"none"}}),
		rec(t, dump.KindOIDCProvider, "p", dump.OIDCProvider{Name: "p", AllowedClientIDs: []string{"abc", "zzz"}, ScopesSupported: []string{"profile"}}),
	}}, []transfer.ImportProblem{
		{Index: 0, Kind: dump.KindEntityAlias, ID: "a2", Code: transfer.ProblemInvalid, Reason: fmt.Sprintf("entity e1 already has alias a1 on mount accessor %q", testAccessor)},
		{Index: 1, Kind: dump.KindEntityAlias, ID: "a3", Code: transfer.ProblemInvalid, Reason: `invalid mount accessor "not-an-accessor"`},
		{Index: 2, Kind: dump.KindGroup, ID: "g1", Code: transfer.ProblemInvalid, Reason: `parent_group_ids: "x1" is an external group, which can't have member groups`},
		{Index: 3, Kind: dump.KindGroupAlias, ID: "ga1", Code: transfer.ProblemInvalid, Reason: "alias can't be set on an internal group"},
		{Index: 4, Kind: dump.KindOIDCClient, ID: "app", Code: transfer.ProblemMissing, Reason: `key "nokey" does not exist`, RefKind: dump.KindOIDCKey, RefID: "nokey"},
		{Index: 4, Kind: dump.KindOIDCClient, ID: "app", Code: transfer.ProblemMissing, Reason: `assignment "none" does not exist`, RefKind: dump.KindOIDCAssignment, RefID: "none"},
		{Index: 5, Kind: dump.KindOIDCProvider, ID: "p", Code: transfer.ProblemMissing, Reason: `scope "profile" does not exist`, RefKind: dump.KindOIDCScope, RefID: "profile"},
		{Index: 5, Kind: dump.KindOIDCProvider, ID: "p", Code: transfer.ProblemMissing, Reason: `allowed_client_ids: "zzz" is the client_id of no client`, RefKind: dump.KindOIDCClient, RefID: "zzz"},
	}...)
}

func TestKeyExportNeedsTheMountsConsent(t *testing.T) {
	st := partsOf(newTestStore(t, new(logical.InmemStorage)))
	ctx := context.Background()
	_, err := st.Store.ExportKeys(ctx)
	require.Equal(t, ErrKeyExportDisabled, err)
	_, err = st.WriteMountConfig(ctx, MountConfigInput{AllowKeyExport: core.Some(true)})
	require.NoError(t, err)
	recs, err := st.Store.ExportKeys(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, oidc.DefaultKeyName, recs[0].ID)
}

// exportAll reads every page of an export.
func exportAll(t *testing.T, st *parts, limit int, grants bool) []dump.Record {
	t.Helper()
	var out []dump.Record
	after := ""
	for {
		page, err := st.Export(context.Background(), transfer.ExportRequest{After: after, Limit: limit, IncludeGrants: grants})
		require.NoError(t, err)
		out = append(out, page.Records...)
		if page.Next == "" {
			return out
		}
		require.LessOrEqual(t, len(page.Records), limit)
		after = page.Next
	}
}

// importAll imports records in batches of n and returns the actions.
func importAll(t *testing.T, st *parts, recs []dump.Record, n int, onConflict string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < len(recs); i += n {
		out, err := st.Import(context.Background(), transfer.ImportRequest{Records: recs[i:min(i+n, len(recs))], OnConflict: onConflict})
		require.NoError(t, err)
		for _, o := range out {
			counts[o.Action]++
		}
	}
	return counts
}

// ssoIssuer is the issuer of richStore's provider.
const ssoIssuer = "https://vault.example.com:8200/v1/ident/oidc/provider/sso"

// richStore is a store with every kind of object, and the refresh token of
// a sign-in of its first entity to its "app" client (a code flow).
func richStore(t *testing.T) (*parts, string) {
	t.Helper()
	ctx := context.Background()
	st := partsOf(newTestStore(t, new(logical.InmemStorage)))
	var ids []string
	for i := range 5 {
		e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: fmt.Sprintf("user%d", i), Policies: core.Some([]string{"p"}), Metadata: core.Some(map[string]string{"n": fmt.Sprint(i)})})
		require.NoError(t, err)
		ids = append(ids, e.ID)
		_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: e.Name, MountAccessor: testAccessor, CanonicalID: e.ID, CustomMetadata: core.Some(map[string]string{"k": "v"})})
		require.NoError(t, err)
		_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "role-" + e.Name, MountAccessor: otherAccessor, CanonicalID: e.ID})
		require.NoError(t, err)
	}
	leaf, _, err := st.UpsertGroup(ctx, identity.GroupUpdate{Name: "leaf", MemberEntityIDs: core.Some(ids[:2])})
	require.NoError(t, err)
	mid, _, err := st.UpsertGroup(ctx, identity.GroupUpdate{Name: "mid", MemberGroupIDs: core.Some([]string{leaf.ID})})
	require.NoError(t, err)
	_, _, err = st.UpsertGroup(ctx, identity.GroupUpdate{Name: "top", MemberGroupIDs: core.Some([]string{mid.ID}), Policies: core.Some([]string{"top"})})
	require.NoError(t, err)
	ext, _, err := st.UpsertGroup(ctx, identity.GroupUpdate{Name: "ext", Type: core.Some(identity.GroupExternal)})
	require.NoError(t, err)
	_, _, err = st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "devs", MountAccessor: testAccessor, CanonicalID: ext.ID})
	require.NoError(t, err)

	m, _, err := st.WriteMFAMethod(ctx, "", mfa.MFAMethodInput{Type: mfa.MFATOTP, MethodName: core.Some("totp"), Issuer: "vault", Period: 30 * time.Second, KeySize: 20, Algorithm: "SHA1", Digits: 6, Skew: 1})
	require.NoError(t, err)
	_, err = st.GenerateTOTP(ctx, m.ID, ids[0])
	require.NoError(t, err)
	_, err = st.GenerateRecoveryCodes(ctx, m.ID, ids[0])
	require.NoError(t, err)
	require.NoError(t, st.WriteMFAEnforcement(ctx, "leaf-needs-totp", mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m.ID}), IdentityGroupIDs: core.Some([]string{leaf.ID})}))
	_, _, err = st.WriteMFAMethod(ctx, "", mfa.MFAMethodInput{Type: mfa.MFADuo, MethodName: core.Some("duo"), SecretKey: "sk", IntegrationKey: "ik", APIHostname: "api-1.duosecurity.com"})
	require.NoError(t, err)

	require.NoError(t, st.SetOIDCIssuer(ctx, "https://vault.example.com:8200"))
	require.NoError(t, st.WriteKey(ctx, "web", oidc.KeyUpdate{Algorithm: core.Some("ES256"), AllowedClientIDs: core.Some([]string{"*"})}))
	require.NoError(t, st.WriteScope(ctx, "groups", oidc.ScopeUpdate{Template: core.Some(`{"groups": {{identity.entity.groups.names}}}`)}))
	require.NoError(t, st.WriteAssignment(ctx, "leaf", oidc.AssignmentUpdate{GroupIDs: core.Some([]string{leaf.ID})}))
	require.NoError(t, st.WriteClient(ctx, "app", oidc.ClientUpdate{Key: core.Some("web"), Assignments: core.Some([]string{"leaf"}), RedirectURIs: core.Some([]string{"https://app/cb"}), RefreshTokenTTL: core.Some(time.Hour)}))
	require.NoError(t, st.WriteClient(ctx, "spa", oidc.ClientUpdate{ClientType: core.Some(oidc.ClientPublic), Assignments: core.Some([]string{oidc.AllowAllAssignment})}))
	app, err := st.OIDCClient(ctx, "app")
	require.NoError(t, err)
	_, err = st.WriteProvider(ctx, "sso", oidc.ProviderUpdate{ScopesSupported: core.Some([]string{"groups"}), AllowedClientIDs: core.Some([]string{app.ClientID})})
	require.NoError(t, err)
	require.NoError(t, st.WriteRole(ctx, "tokens", oidc.RoleUpdate{Key: core.Some("web"), TTL: core.Some(time.Hour), Audiences: core.Some([]string{"api"})}))
	// A refresh token family: a sign-in of the first entity.
	alice, err := st.Entity(ctx, identity.EntitySelector{ID: ids[0]})
	require.NoError(t, err)
	code, err := st.Authorize(ctx, oidc.AuthorizeRequest{
		Provider: "sso", ClientID: app.ClientID, RedirectURI: "https://app/cb", Scope: "openid", ResponseType: "code", State: "s",
		HasEntity: true, Caller: func() (*identity.EntityView, error) { return alice, nil },
	})
	require.NoError(t, err)
	tok, err := st.ExchangeToken(ctx, oidc.TokenExchange{
		Provider: "sso", GrantType: oidc.GrantAuthorizationCode, Code: code, RedirectURI: "https://app/cb",
		Auth:   oidc.ClientAuth{ID: app.ClientID, Secret: app.ClientSecret},
		Issuer: func(string) string { return ssoIssuer },
	})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	return st, tok.RefreshToken
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, refreshToken := richStore(t)
	_, err := src.WriteMountConfig(ctx, MountConfigInput{AllowKeyExport: core.Some(true)})
	require.NoError(t, err)
	recs := exportAll(t, src, 7, true)
	keys, err := src.Store.ExportKeys(ctx)
	require.NoError(t, err)
	// The kinds come in dependency order, groups after their parents.
	var kinds, groups []string
	for _, r := range recs {
		if len(kinds) == 0 || kinds[len(kinds)-1] != r.Kind {
			kinds = append(kinds, r.Kind)
		}
		if r.Kind == dump.KindGroup {
			var g dump.Group
			require.NoError(t, json.Unmarshal(r.Data, &g))
			groups = append(groups, g.Name)
		}
	}
	require.Equal(t, dump.Kinds, kinds)
	require.Len(t, groups, 4)
	require.Equal(t, []string{"mid", "leaf"}, groups[2:], "parents first")
	require.ElementsMatch(t, []string{"ext", "top"}, groups[:2])

	// Keys with their material replace the configuration-only records.
	withKeys := make([]dump.Record, 0, len(recs))
	for _, r := range recs {
		if r.Kind == dump.KindOIDCKey {
			for _, k := range keys {
				if k.ID == r.ID {
					r = k
				}
			}
		}
		withKeys = append(withKeys, r)
	}

	dstStorage := new(logical.InmemStorage)
	dst := partsOf(newTestStore(t, dstStorage))
	counts := importAll(t, dst, withKeys, 5, "")
	// allow_all, the default provider are there already; the unused
	// default key takes the record's material.
	require.Equal(t, map[string]int{transfer.ActionCreated: len(withKeys) - 2, transfer.ActionUnchanged: 2}, counts)
	require.Equal(t, recs, exportAll(t, dst, 1000, true))
	_, err = dst.WriteMountConfig(ctx, MountConfigInput{AllowKeyExport: core.Some(true)})
	require.NoError(t, err)
	dstKeys, err := dst.Store.ExportKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, keys, dstKeys)

	// Again: nothing changes.
	before := storageOf(t, dstStorage)
	require.Equal(t, map[string]int{transfer.ActionUnchanged: len(withKeys)}, importAll(t, dst, withKeys, 1000, ""))
	require.Equal(t, before, storageOf(t, dstStorage))

	// The restored store works: the client's secret, the TOTP seed, the
	// refresh token.
	srcApp, _ := src.OIDCClient(ctx, "app")
	dstApp, _ := dst.OIDCClient(ctx, "app")
	require.Equal(t, srcApp, dstApp)
	srcJWKS, _, err := src.JWKS(ctx)
	require.NoError(t, err)
	dstJWKS, _, err := dst.JWKS(ctx)
	require.NoError(t, err)
	srcJSON, err := json.Marshal(srcJWKS)
	require.NoError(t, err)
	dstJSON, err := json.Marshal(dstJWKS)
	require.NoError(t, err)
	require.JSONEq(t, string(srcJSON), string(dstJSON))
	tok, err := dst.ExchangeToken(ctx, oidc.TokenExchange{
		Provider: "sso", GrantType: oidc.GrantRefreshToken, RefreshToken: refreshToken,
		Auth:   oidc.ClientAuth{ID: srcApp.ClientID, Secret: srcApp.ClientSecret},
		Issuer: func(string) string { return ssoIssuer },
	})
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)

	// A store restored on top of itself after a change: the change is a
	// conflict, which overwrite settles.
	e := exportAll(t, dst, 1, false)[0]
	_, _, err = dst.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Policies: core.Some([]string{"changed"})})
	require.NoError(t, err)
	_, err = dst.Import(ctx, transfer.ImportRequest{Records: []dump.Record{e}})
	require.ErrorContains(t, err, "already exists with other values (last_update_time, modify_index, policies)")
	out, err := dst.Import(ctx, transfer.ImportRequest{Records: []dump.Record{e}, OnConflict: transfer.OnConflictOverwrite})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionOverwritten}, actions(out))
	require.Equal(t, e, exportAll(t, dst, 1, false)[0])
}

func TestImportInAnyOrderWithinABatch(t *testing.T) {
	st := partsOf(newTestStore(t, new(logical.InmemStorage)))
	ctx := context.Background()
	out, err := st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{
		groupRec(t, "g2", "child", []string{"e1"}, []string{"g1"}),
		aliasRec(t, "a1", "e1", testAccessor, "alice"),
		groupRec(t, "g1", "parent", nil, nil),
		entityRec(t, "e1", "alice"),
	}})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionCreated, transfer.ActionCreated, transfer.ActionCreated, transfer.ActionCreated}, actions(out))
	v, err := st.Entity(ctx, identity.EntitySelector{AliasName: "alice", AliasMountAccessor: testAccessor})
	require.NoError(t, err)
	require.Equal(t, "e1", v.ID)
	require.Equal(t, []string{"g2"}, v.DirectGroupIDs)
	require.Equal(t, []string{"g1"}, v.InheritedGroupIDs)
}

func TestExportCursor(t *testing.T) {
	st := partsOf(newTestStore(t, new(logical.InmemStorage)))
	_, err := st.Export(context.Background(), transfer.ExportRequest{After: "nothing"})
	require.EqualError(t, err, `invalid after cursor "nothing": give the next value of the previous page`)
	_, err = st.Export(context.Background(), transfer.ExportRequest{Limit: -1})
	require.EqualError(t, err, "limit must not be negative")
}

func TestImportMFAChecks(t *testing.T) {
	s := new(logical.InmemStorage)
	st := partsOf(newTestStore(t, s))
	ctx := context.Background()
	seed := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	totpRec := rec(t, dump.KindMFAMethod, "m1", dump.MFAMethod{ID: "m1", Name: "totp", Type: mfa.MFATOTP, TOTP: &dump.TOTP{Issuer: "vault", Period: 30, Algorithm: "SHA1", Digits: 6, Skew: 1, KeySize: 20}})
	// A Duo method whose credentials the source could not give imports
	// without them.
	duoRec := rec(t, dump.KindMFAMethod, "m2", dump.MFAMethod{ID: "m2", Name: "duo", Type: mfa.MFADuo, Duo: &dump.Duo{APIHostname: "api-1.duosecurity.com"}})
	refused(t, st, s, transfer.ImportRequest{Records: []dump.Record{
		entityRec(t, "e1", "alice"),
		totpRec, duoRec,
		rec(t, dump.KindMFAMethod, "m3", dump.MFAMethod{ID: "m3", Name: "totp", Type: mfa.MFATOTP, TOTP: &dump.TOTP{Issuer: "vault", Period: 30, Algorithm: "MD5", Digits: 6, KeySize: 20}}),
		rec(t, dump.KindMFAEnforcement, "f1", dump.MFAEnforcement{ID: "f1", Name: "all", MFAMethodIDs: []string{"m1", "m9"}, AuthMethodAccessors: []string{"nope"}, IdentityEntityIDs: []string{"e1", "e9"}}),
		rec(t, dump.KindMFASecret, "m2/e1", dump.MFASecret{MethodID: "m2", EntityID: "e1", Key: seed}),
		rec(t, dump.KindMFASecret, "m9/e1", dump.MFASecret{MethodID: "m9", EntityID: "e1", Key: seed}),
	}}, []transfer.ImportProblem{
		{Index: 3, Kind: dump.KindMFAMethod, ID: "m3", Code: transfer.ProblemInvalid, Reason: "unrecognized algorithm"},
		{Index: 4, Kind: dump.KindMFAEnforcement, ID: "f1", Code: transfer.ProblemMissing, Reason: `mfa_method_ids: "m9" names no MFA method`, RefKind: dump.KindMFAMethod, RefID: "m9"},
		{Index: 4, Kind: dump.KindMFAEnforcement, ID: "f1", Code: transfer.ProblemInvalid, Reason: `auth_method_accessors: invalid mount accessor "nope"`},
		{Index: 4, Kind: dump.KindMFAEnforcement, ID: "f1", Code: transfer.ProblemMissing, Reason: `identity_entity_ids: "e9" names no entity`, RefKind: dump.KindEntity, RefID: "e9"},
		{Index: 5, Kind: dump.KindMFASecret, ID: "m2/e1", Code: transfer.ProblemInvalid, Reason: "only a TOTP method's secret holds a seed or recovery codes"},
		{Index: 6, Kind: dump.KindMFASecret, ID: "m9/e1", Code: transfer.ProblemMissing, Reason: `method_id "m9" names no MFA method`, RefKind: dump.KindMFAMethod, RefID: "m9"},
	}...)

	out, err := st.Import(ctx, transfer.ImportRequest{Records: []dump.Record{
		entityRec(t, "e1", "alice"), totpRec, duoRec,
		rec(t, dump.KindMFASecret, "m1/e1", dump.MFASecret{MethodID: "m1", EntityID: "e1", Key: seed, LastStep: 7, Failures: 2}),
	}})
	require.NoError(t, err)
	require.Equal(t, []string{transfer.ActionCreated, transfer.ActionCreated, transfer.ActionCreated, transfer.ActionCreated}, actions(out))
	m, err := st.MFAMethodByID(ctx, "m2")
	require.NoError(t, err)
	require.Equal(t, &mfa.DuoSettings{APIHostname: "api-1.duosecurity.com"}, m.Duo)
	var sec []dump.Record
	for _, r := range exportAll(t, st, 0, false) {
		if r.Kind == dump.KindMFASecret {
			sec = append(sec, r)
		}
	}
	require.Equal(t, []dump.Record{rec(t, dump.KindMFASecret, "m1/e1", dump.MFASecret{MethodID: "m1", EntityID: "e1", Key: seed, LastStep: 7, Failures: 2})}, sec)
	// The imported lockout state holds: two refusals already counted.
	wrong := wrongCode(t, seed)
	for range 3 {
		require.EqualError(t, st.ValidateMFA(ctx, mfa.MFAValidation{MethodID: "m1", EntityID: "e1", Passcode: wrong}), "failed to validate TOTP passcode")
	}
	err = st.ValidateMFA(ctx, mfa.MFAValidation{MethodID: "m1", EntityID: "e1", Passcode: wrong})
	require.EqualError(t, err, "maximum TOTP validation attempts 6 exceeded the allowed attempts 5; an administrator must reset the lockout")
}

// wrongCode is a six-digit code that the seed gives for no time step near
// now.
func wrongCode(t *testing.T, seed string) string {
	t.Helper()
	valid := map[string]bool{}
	for d := -2; d <= 2; d++ {
		c, err := totp.GenerateCodeCustom(seed, time.Now().Add(time.Duration(d)*30*time.Second), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		require.NoError(t, err)
		valid[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !valid[c] {
			return c
		}
	}
}
