package backend

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const (
	userpassAcc = "auth_userpass_1a2b3c4d"
	localAcc    = "auth_userpass_5e6f7a8b"
	madeUpAcc   = "auth_userpass_12345678" // of Vault's form, but no mount
)

// fakeTable is a identity.MountTable whose mounts and failure the test sets.
type fakeTable struct {
	mu     sync.Mutex
	mounts map[string]identity.Mount
	err    error
}

func newFakeTable() *fakeTable {
	return &fakeTable{mounts: map[string]identity.Mount{
		userpassAcc:           {Accessor: userpassAcc, Path: "auth/userpass/", Type: "userpass"},
		localAcc:              {Accessor: localAcc, Path: "auth/local-up/", Type: "userpass", Local: true},
		"auth_token_0a1b2c3d": {Accessor: "auth_token_0a1b2c3d", Path: "auth/token/", Type: "token"},
	}}
}

func (f *fakeTable) Mount(_ context.Context, accessor string) (identity.Mount, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return identity.Mount{}, false, f.err
	}
	m, ok := f.mounts[accessor]
	return m, ok, nil
}

func (f *fakeTable) HasType(_ context.Context, t string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	for _, m := range f.mounts {
		if m.Type == t {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeTable) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeTable) remove(accessor string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mounts, accessor)
}

func tableStore(t *testing.T, s logical.Storage, table identity.MountTable) *parts {
	t.Helper()
	st := New(Options{Storage: s, Mounts: table})
	require.NoError(t, st.Ready(context.Background()))
	return partsOf(st)
}

// stored is every storage entry, to show that a refused write wrote
// nothing.
func stored(t *testing.T, s logical.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	keys, err := logical.CollectKeysWithPrefix(context.Background(), s, "")
	require.NoError(t, err)
	for _, k := range keys {
		e, err := s.Get(context.Background(), k)
		require.NoError(t, err)
		out[k] = string(e.Value)
	}
	return out
}

func requireUserError(t *testing.T, err error, msg string) {
	t.Helper()
	e, ok := core.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Equal(t, msg, e.Msg)
}

func TestUnknownAccessorRefusedWithTable(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := tableStore(t, s, newFakeTable())
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	ext, _, err := st.UpsertGroup(ctx, identity.GroupUpdate{Name: "ext", Type: core.Some(identity.GroupExternal)})
	require.NoError(t, err)
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: userpassAcc, CanonicalID: e.ID})
	require.NoError(t, err)
	before := stored(t, s)

	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "bob", MountAccessor: madeUpAcc})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_12345678"`)
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{ID: a.ID, MountAccessor: madeUpAcc})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_12345678"`)
	_, _, err = st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "eng", MountAccessor: madeUpAcc, CanonicalID: ext.ID})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_12345678"`)
	_, _, err = st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "eng", MountAccessor: madeUpAcc})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_12345678"`)
	require.Equal(t, before, stored(t, s), "a refused write writes nothing")

	// What the form check refuses, the table refuses too.
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "bob", MountAccessor: "bogus"})
	requireUserError(t, err, `invalid mount accessor "bogus"`)
	require.Equal(t, before, stored(t, s))
}

func TestAliasMountsComeFromTheTable(t *testing.T) {
	ctx := context.Background()
	st := tableStore(t, new(logical.InmemStorage), newFakeTable())
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: userpassAcc})
	require.NoError(t, err)
	l, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: localAcc, CanonicalID: a.CanonicalID})
	require.NoError(t, err)
	require.Equal(t, identity.Mount{Accessor: userpassAcc, Path: "auth/userpass/", Type: "userpass"}, a.Mount())
	require.Equal(t, identity.Mount{Accessor: localAcc, Path: "auth/local-up/", Type: "userpass", Local: true}, l.Mount())

	// Every read path hands out aliases that know their mount.
	v, err := st.Entity(ctx, identity.EntitySelector{ID: a.CanonicalID})
	require.NoError(t, err)
	require.Len(t, v.Aliases, 2)
	require.Equal(t, "auth/userpass/", v.Aliases[0].Mount().Path)
	require.True(t, v.Aliases[1].Mount().Local)
	list, err := st.Aliases(ctx, identity.Page{})
	require.NoError(t, err)
	for _, x := range list {
		require.NotEmpty(t, x.Mount().Path)
	}
	ga, _, err := st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "eng", MountAccessor: userpassAcc})
	require.NoError(t, err)
	g, err := st.Group(ctx, identity.GroupSelector{ID: ga.CanonicalID})
	require.NoError(t, err)
	require.Equal(t, "auth/userpass/", g.Alias.Mount().Path)
	byID, err := st.GroupAliasByID(ctx, ga.ID)
	require.NoError(t, err)
	require.Equal(t, "userpass", byID.MountType())

	// Nothing of it is stored: a restart without a table reads by form.
	restarted := newTestStore(t, st.storage.Storage).Identity()
	again, err := restarted.AliasByID(ctx, l.ID)
	require.NoError(t, err)
	require.Equal(t, identity.Mount{Accessor: localAcc, Type: "userpass"}, again.Mount())
}

func TestLocalMountRules(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := tableStore(t, s, newFakeTable())
	e1, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "one"})
	require.NoError(t, err)
	e2, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "two"})
	require.NoError(t, err)
	l, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "l", MountAccessor: localAcc, CanonicalID: e1.ID})
	require.NoError(t, err)
	before := stored(t, s)

	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{ID: l.ID, CanonicalID: e2.ID})
	requireUserError(t, err, "local aliases can't be moved between entities")
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "l", MountAccessor: localAcc, CanonicalID: e2.ID})
	requireUserError(t, err, "local aliases can't be moved between entities")
	_, _, err = st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "g", MountAccessor: localAcc})
	requireUserError(t, err, `mount accessor "auth_userpass_5e6f7a8b" is a local mount`)
	require.Equal(t, before, stored(t, s))

	// Other changes to a local alias are allowed, as in Vault.
	_, changed, err := st.UpsertAlias(ctx, identity.AliasUpdate{ID: l.ID, CustomMetadata: core.Some(map[string]string{"k": "v"})})
	require.NoError(t, err)
	require.True(t, changed)

	// Moved onto another mount, it is no longer local and may move.
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{ID: l.ID, MountAccessor: userpassAcc})
	require.NoError(t, err)
	moved, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{ID: l.ID, CanonicalID: e2.ID})
	require.NoError(t, err)
	require.Equal(t, e2.ID, moved.CanonicalID)
}

func TestAliasOfAVanishedMountCannotMove(t *testing.T) {
	ctx := context.Background()
	table := newFakeTable()
	st := tableStore(t, new(logical.InmemStorage), table)
	e2, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "two"})
	require.NoError(t, err)
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: userpassAcc})
	require.NoError(t, err)
	table.remove(userpassAcc)
	require.Equal(t, identity.Mount{Accessor: userpassAcc}, a.Mount(), "no type, no path: Vault shows neither")
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{ID: a.ID, CanonicalID: e2.ID})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_1a2b3c4d"`)
}

func TestTableFailureFallsBackToTheFormCheck(t *testing.T) {
	ctx := context.Background()
	table := newFakeTable()
	st := tableStore(t, new(logical.InmemStorage), table)
	l, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "l", MountAccessor: localAcc})
	require.NoError(t, err)
	e2, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "two"})
	require.NoError(t, err)

	table.fail(errors.New("permission denied"))
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "bob", MountAccessor: madeUpAcc})
	require.NoError(t, err, "of Vault's form: accepted, as without a table")
	require.Equal(t, identity.Mount{Accessor: madeUpAcc, Type: "userpass"}, a.Mount())
	require.Equal(t, identity.Mount{Accessor: localAcc, Type: "userpass"}, l.Mount(), "no path, not local: as without a table")
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "bob", MountAccessor: "bogus"})
	requireUserError(t, err, `invalid mount accessor "bogus"`)
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{ID: l.ID, CanonicalID: e2.ID})
	require.NoError(t, err, "the form check cannot tell a local mount")
	_, _, err = st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "g", MountAccessor: localAcc})
	require.NoError(t, err)

	m := totpMethod(t, st)
	require.NoError(t, st.WriteMFAEnforcement(ctx, "e", mfa.MFAEnforcementInput{
		MFAMethodIDs: core.Some([]string{m}), AuthMethodAccessors: core.Some([]string{madeUpAcc}), AuthMethodTypes: core.Some([]string{"ldap"}),
	}))
	err = st.WriteMFAEnforcement(ctx, "e", mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m}), AuthMethodTypes: core.Some([]string{"LDAP!"})})
	requireUserError(t, err, "one of the auth method types provided is invalid")

	// Working again, the table decides again.
	table.fail(nil)
	_, _, err = st.UpsertAlias(ctx, identity.AliasUpdate{Name: "carol", MountAccessor: madeUpAcc})
	requireUserError(t, err, `invalid mount accessor "auth_userpass_12345678"`)
}

func TestEnforcementSelectorsCheckedAgainstTheTable(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := tableStore(t, s, newFakeTable())
	m := totpMethod(t, st)
	before := stored(t, s)
	for _, c := range []struct {
		in  mfa.MFAEnforcementInput
		msg string
	}{
		{mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m}), AuthMethodAccessors: core.Some([]string{madeUpAcc})}, "one of the auth method accessors provided is invalid"},
		{mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m}), AuthMethodAccessors: core.Some([]string{userpassAcc, "auth_userpass_1a2b3c4dzz"})}, "one of the auth method accessors provided is invalid"},
		{mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m}), AuthMethodTypes: core.Some([]string{"ldap"})}, "one of the auth method types provided is invalid"},
		{mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{m}), AuthMethodTypes: core.Some([]string{"USERPASS"})}, "one of the auth method types provided is invalid"},
		// Vault checks the method ids first.
		{mfa.MFAEnforcementInput{MFAMethodIDs: core.Some([]string{"nope"}), AuthMethodTypes: core.Some([]string{"ldap"})}, "one of the provided method ids doesn't exist"},
	} {
		requireUserError(t, st.WriteMFAEnforcement(ctx, "e", c.in), c.msg)
	}
	require.Equal(t, before, stored(t, s))
	require.NoError(t, st.WriteMFAEnforcement(ctx, "e", mfa.MFAEnforcementInput{
		MFAMethodIDs: core.Some([]string{m}), AuthMethodAccessors: core.Some([]string{localAcc}), AuthMethodTypes: core.Some([]string{"token", "userpass"}),
	}))
}

func TestMergeClashReportsMountPaths(t *testing.T) {
	ctx := context.Background()
	st := tableStore(t, new(logical.InmemStorage), newFakeTable())
	to, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "a", MountAccessor: userpassAcc})
	require.NoError(t, err)
	from, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "b", MountAccessor: userpassAcc})
	require.NoError(t, err)
	err = st.MergeEntities(ctx, identity.MergeRequest{To: to.CanonicalID, From: []string{from.CanonicalID}})
	var clash *identity.MergeConflictError
	require.ErrorAs(t, err, &clash)
	require.Len(t, clash.Clashes, 2)
	for _, c := range clash.Clashes {
		require.Equal(t, "userpass", c.Mount)
		require.Equal(t, "auth/userpass/", c.MountPath)
	}
}

// slowTable answers only when released, while blocking, like a read of
// Vault that takes its time.
type slowTable struct {
	*fakeTable
	gate chan chan struct{}
}

func (b slowTable) Mount(ctx context.Context, accessor string) (identity.Mount, bool, error) {
	select {
	case release := <-b.gate:
		<-release
	default:
	}
	return b.fakeTable.Mount(ctx, accessor)
}

func TestSlowTableHoldsNoStoreLock(t *testing.T) {
	ctx := context.Background()
	table := slowTable{fakeTable: newFakeTable(), gate: make(chan chan struct{}, 1)}
	st := tableStore(t, new(logical.InmemStorage), table)
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "owner"})
	require.NoError(t, err)
	a, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "alice", MountAccessor: userpassAcc, CanonicalID: e.ID})
	require.NoError(t, err)
	ga, _, err := st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{Name: "eng", MountAccessor: userpassAcc})
	require.NoError(t, err)

	for name, write := range map[string]func() error{
		"alias create": func() error {
			_, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{Name: "bob", MountAccessor: userpassAcc})
			return err
		},
		"alias update": func() error {
			_, _, err := st.UpsertAlias(ctx, identity.AliasUpdate{ID: a.ID, Name: "alice2"})
			return err
		},
		"group alias update": func() error {
			_, _, err := st.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{ID: ga.ID, Name: "eng2", MountAccessor: userpassAcc})
			return err
		},
	} {
		release := make(chan struct{})
		table.gate <- release
		done := make(chan error, 1)
		go func() { done <- write() }()
		// While the write waits for Vault, writes to the same objects go on.
		for range 5 {
			_, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Metadata: core.Some(map[string]string{"k": name})})
			require.NoError(t, err, name)
			_, _, err = st.UpsertGroup(ctx, identity.GroupUpdate{ID: ga.CanonicalID, Policies: core.Some([]string{"p"})})
			require.NoError(t, err, name)
		}
		select {
		case err := <-done:
			t.Fatalf("%s did not wait for the table: %v", name, err)
		default:
		}
		close(release)
		require.NoError(t, <-done, name)
	}
}

// totpMethod is a TOTP method for enforcements to name.
func totpMethod(t *testing.T, st *parts) string {
	t.Helper()
	m, _, err := st.WriteMFAMethod(context.Background(), "", mfa.MFAMethodInput{
		Type: mfa.MFATOTP, Issuer: "Acme", Period: 30 * time.Second, KeySize: 20, Algorithm: "SHA1", Digits: 6, Skew: 1, MaxValidationAttempts: 5,
	})
	require.NoError(t, err)
	return m.ID
}
