package paths_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

const noCallerEntity = "no entity associated with the request's token"

// asCaller sends a request as a token of the Vault entity vaultEntity.
func asCaller(b *testutil.Backend, op logical.Operation, path, vaultEntity string, data map[string]any) testutil.Result {
	return b.Handle(&logical.Request{Operation: op, Path: path, Data: data, EntityID: vaultEntity})
}

func selfAs(b *testutil.Backend, vaultEntity string) testutil.Result {
	return asCaller(b, logical.ReadOperation, "lookup/self", vaultEntity, nil)
}

// vaultEntity is what Vault reports of a Vault entity with a userpass and
// an approle alias.
func vaultEntity(id, name string) *logical.Entity {
	return &logical.Entity{ID: id, Name: name, Aliases: []*logical.Alias{
		{MountAccessor: userpass, Name: "Carol", MountType: "userpass"},
		{MountAccessor: approle, Name: "role-1234", MountType: "approle"},
	}}
}

// TestCallerEntityCreatedOnFirstRequest: with the default caller_entities
// ("create"), an unknown caller gets one entity, named after its Vault
// entity, with its Vault aliases; later requests map to it.
func TestCallerEntityCreatedOnFirstRequest(t *testing.T) {
	b := newBackend(t)
	b.System.EntityVal = vaultEntity("vault-carol", "entity_0a1b2c3d")

	first := selfAs(b, "vault-carol")
	require.Equal(t, http.StatusOK, first.Status, first.ErrorText())
	validSchema(t, b, first)
	d := first.Data()
	require.Equal(t, "entity_0a1b2c3d", d["name"])
	require.Equal(t, "vault-carol", d["vault_entity_id"])
	id := d["id"].(string)

	e := b.Read("entity/id/" + id).Data()
	require.Empty(t, e["policies"])
	require.Empty(t, e["metadata"])
	require.Equal(t, false, e["disabled"])
	aliases := e["aliases"].([]any)
	require.Len(t, aliases, 2)
	got := map[string]string{}
	for _, a := range aliases {
		a := a.(map[string]any)
		got[a["mount_accessor"].(string)] = a["name"].(string)
		require.Empty(t, a["metadata"])
		require.Equal(t, id, a["canonical_id"])
		if a["mount_accessor"] == userpass {
			require.Equal(t, a["id"], d["matched_alias_id"], "the first of the caller's aliases")
		}
	}
	require.Equal(t, map[string]string{userpass: "Carol", approle: "role-1234"}, got)

	before := snapshot(b)
	again := selfAs(b, "vault-carol")
	require.Equal(t, http.StatusOK, again.Status)
	require.Equal(t, id, again.Data()["id"])
	require.Equal(t, before, snapshot(b), "the second request writes nothing")
	require.Len(t, b.List("entity/id").Data()["keys"], 1)
}

// TestCallerEntityNameTaken: when the Vault entity's name is taken here (in
// any case), the entity gets a generated name.
func TestCallerEntityNameTaken(t *testing.T) {
	b := newBackend(t)
	createEntity(t, b, map[string]any{"name": "CAROL"})
	b.System.EntityVal = vaultEntity("vault-carol", "carol")
	r := selfAs(b, "vault-carol")
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	require.Regexp(t, `^entity_[0-9a-f]{8}$`, r.Data()["name"])
	require.Len(t, r.Data()["aliases"], 2)
}

// TestCallerEntityMatchWritesNothing: with caller_entities=match, an
// unmatched caller gets Vault's 400 on every caller path and nothing is
// written.
func TestCallerEntityMatchWritesNothing(t *testing.T) {
	b, _ := oidcBackend(t)
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"caller_entities": "match"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"allowed_client_ids": "*"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k"}).Status)
	totp := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
	b.System.EntityVal = vaultEntity("vault-carol", "carol")

	before := snapshot(b)
	for _, r := range []struct {
		op   logical.Operation
		path string
		data map[string]any
		msg  string
	}{
		{logical.ReadOperation, "lookup/self", nil, noCallerEntity},
		{logical.ReadOperation, "oidc/token/r", nil, noCallerEntity},
		{logical.UpdateOperation, "mfa/method/totp/generate", map[string]any{"method_id": totp}, "missing entityID"},
		{logical.UpdateOperation, "mfa/validate", map[string]any{"method_id": totp, "passcode": "123456"}, noCallerEntity},
		{logical.UpdateOperation, "mfa/recovery-codes/generate", map[string]any{"method_id": totp, "passcode": "123456"}, noCallerEntity},
	} {
		res := asCaller(b, r.op, r.path, "vault-carol", r.data)
		require.Equal(t, http.StatusBadRequest, res.Status, r.path)
		require.Equal(t, r.msg, res.ErrorText(), r.path)
	}
	require.Equal(t, before, snapshot(b), "match mode: caller paths never write")

	// Back to create: the same caller gets its entity.
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"caller_entities": "create"}).Status)
	require.Equal(t, "carol", selfAs(b, "vault-carol").Data()["name"])
}

// TestCallerEntityNotCreated: tokens without a Vault entity, Vault
// entities without aliases, and Vault entities none of whose aliases has an
// accessor the store accepts get the 400 and write nothing.
func TestCallerEntityNotCreated(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, http.StatusOK, b.Read("config").Status, "loaded")
	before := snapshot(b)
	r := selfAs(b, "")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, noCallerEntity, r.ErrorText())

	b.System.EntityVal = &logical.Entity{ID: "no-aliases", Name: "lonely"}
	r = selfAs(b, "no-aliases")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, noCallerEntity, r.ErrorText())

	b.System.EntityVal = &logical.Entity{ID: "bad-accessor", Name: "odd", Aliases: []*logical.Alias{{MountAccessor: "not-an-accessor", Name: "odd"}}}
	r = selfAs(b, "bad-accessor")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, noCallerEntity, r.ErrorText())
	require.Equal(t, before, snapshot(b))

	// With one good accessor, only that alias is made.
	b.System.EntityVal = &logical.Entity{ID: "mixed", Name: "mixed", Aliases: []*logical.Alias{
		{MountAccessor: "not-an-accessor", Name: "m"}, {MountAccessor: userpass, Name: "m"},
	}}
	r = selfAs(b, "mixed")
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	aliases := r.Data()["aliases"].([]any)
	require.Len(t, aliases, 1)
	require.Equal(t, userpass, aliases[0].(map[string]any)["mount_accessor"])
}

// TestCallerEntitySplitAliases: when the caller's Vault aliases are aliases
// of two entities here, the first of its aliases (in Vault's order) that
// matches decides, and nothing is created.
func TestCallerEntitySplitAliases(t *testing.T) {
	b := newBackend(t)
	_, byUserpass := createAlias(t, b, map[string]any{"name": "carol", "mount_accessor": userpass})
	_, byAppRole := createAlias(t, b, map[string]any{"name": "role-1234", "mount_accessor": approle})
	b.System.EntityVal = vaultEntity("userpass-first", "carol")
	require.Equal(t, byUserpass, selfAs(b, "userpass-first").Data()["id"])
	e := vaultEntity("approle-first", "carol")
	e.Aliases[0], e.Aliases[1] = e.Aliases[1], e.Aliases[0]
	b.System.EntityVal = e
	require.Equal(t, byAppRole, selfAs(b, "approle-first").Data()["id"])
	require.Len(t, b.List("entity/id").Data()["keys"], 2)
}

// TestCallerEntityRace: eight first requests of one new caller at once make
// one entity with one alias per Vault alias, and all name it.
func TestCallerEntityRace(t *testing.T) {
	b := newBackend(t)
	b.System.EntityVal = vaultEntity("vault-carol", "carol")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := selfAs(b, "vault-carol")
			if r.Status == http.StatusOK {
				ids[i] = r.Resp.Data["id"].(string)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	require.NotEmpty(t, ids[0])
	require.Equal(t, []string{ids[0]}, b.List("entity/id").Data()["keys"])
	require.Len(t, b.List("entity-alias/id").Data()["keys"], 2)
}

// TestCallerEntityOnEveryCallerPath: each path that acts for the caller
// creates the caller's entity on its first request.
func TestCallerEntityOnEveryCallerPath(t *testing.T) {
	for _, r := range []struct {
		op     logical.Operation
		path   string
		data   func(p *providerSetup, totp string) map[string]any
		status int
	}{
		{logical.ReadOperation, "lookup/self", nil, http.StatusOK},
		{logical.ReadOperation, "oidc/token/r", nil, http.StatusOK},
		{logical.UpdateOperation, "mfa/method/totp/generate", func(_ *providerSetup, totp string) map[string]any {
			return map[string]any{"method_id": totp}
		}, http.StatusOK},
		// Not enrolled yet: refused, but the caller has its entity.
		{logical.UpdateOperation, "mfa/validate", func(_ *providerSetup, totp string) map[string]any {
			return map[string]any{"method_id": totp, "passcode": "123456"}
		}, http.StatusBadRequest},
		{logical.UpdateOperation, "mfa/recovery-codes/generate", func(_ *providerSetup, totp string) map[string]any {
			return map[string]any{"method_id": totp, "passcode": "123456"}
		}, http.StatusBadRequest},
		{logical.UpdateOperation, "oidc/provider/p/authorize", func(p *providerSetup, _ string) map[string]any {
			return p.authzRequest(nil)
		}, http.StatusOK},
	} {
		t.Run(r.path, func(t *testing.T) {
			p := newProviderSetup(t)
			b := p.b
			require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"allowed_client_ids": "*"}).Status)
			require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k"}).Status)
			totp := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
			b.System.EntityVal = vaultEntity("vault-carol", "carol")
			var data map[string]any
			if r.data != nil {
				data = r.data(p, totp)
			}
			res := asCaller(b, r.op, r.path, "vault-carol", data)
			require.Equal(t, r.status, res.Status, res.ErrorText())
			e := b.Do(logical.UpdateOperation, "lookup/entity", map[string]any{"alias_name": "carol", "alias_mount_accessor": userpass})
			require.Equal(t, http.StatusOK, e.Status)
			require.Equal(t, "carol", e.Data()["name"])
		})
	}
}
