//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// asToken sends a request with another token than root.
func asToken(t *testing.T, token, method, path string, body any) devvault.Reply {
	t.Helper()
	r, err := devvault.Do(context.Background(), http.DefaultClient, server.Addr, token, method, path, body)
	require.NoError(t, err)
	return r
}

func writeSelfPolicy(t *testing.T) {
	t.Helper()
	r := do(t, "PUT", "sys/policies/acl/ident-self", map[string]any{
		"policy": fmt.Sprintf(`path "%s/lookup/self" { capabilities = ["read"] }`, mount),
	})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
}

// forgetVaultEntity deletes, when the test ends, the entity Vault created in
// identity/ at a login, so the comparison tests see only their own objects.
func forgetVaultEntity(t *testing.T, aliasName, accessor string) {
	t.Cleanup(func() {
		r := do(t, "POST", "identity/lookup/entity", map[string]any{"alias_name": aliasName, "alias_mount_accessor": accessor})
		if r.Status == http.StatusOK {
			do(t, "DELETE", "identity/entity/id/"+r.Data["id"].(string), nil)
		}
	})
}

func userpassLogin(t *testing.T, user string) string {
	t.Helper()
	forgetVaultEntity(t, user, userpassAccessor)
	r := do(t, "POST", "auth/userpass/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": "ident-self"})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	login := asToken(t, "", "POST", "auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	return login.Body["auth"].(map[string]any)["client_token"].(string)
}

func TestCallerEntityThroughUserpassLogin(t *testing.T) {
	writeSelfPolicy(t)
	token := userpassLogin(t, "caller-alice")
	// This test links the user by hand: with caller_entities=match the
	// store makes no entity for it (with create, the default, its first
	// request would: see implicit_test.go).
	mustWrite(t, mount+"/config", map[string]any{"caller_entities": "match"})
	t.Cleanup(func() { mustWrite(t, mount+"/config", map[string]any{"caller_entities": "create"}) })

	// Before the store knows the user, the token maps to nothing.
	r := asToken(t, token, "GET", mount+"/lookup/self", nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, []string{"no entity associated with the request's token"}, r.Errors)

	e := do(t, "POST", mount+"/entity", map[string]any{"name": "alice-here"})
	entityID := e.Data["id"].(string)
	defer do(t, "DELETE", mount+"/entity/id/"+entityID, nil)
	a := do(t, "POST", mount+"/entity-alias", map[string]any{"name": "Caller-Alice", "mount_accessor": userpassAccessor, "canonical_id": entityID})
	require.Equal(t, http.StatusOK, a.Status, a.Errors)

	r = asToken(t, token, "GET", mount+"/lookup/self", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	require.Equal(t, entityID, r.Data["id"])
	require.Equal(t, "alice-here", r.Data["name"])
	require.Equal(t, a.Data["id"], r.Data["matched_alias_id"])

	// The Vault entity behind the token is the one Vault made at login.
	vaultEntity := do(t, "POST", "identity/lookup/entity", map[string]any{"alias_name": "caller-alice", "alias_mount_accessor": userpassAccessor})
	require.Equal(t, http.StatusOK, vaultEntity.Status)
	require.Equal(t, vaultEntity.Data["id"], r.Data["vault_entity_id"])

	// The other mount holds no alias for the user.
	require.Equal(t, http.StatusForbidden, asToken(t, token, "GET", mount2+"/lookup/self", nil).Status, "the policy covers only "+mount)
	root := do(t, "GET", mount2+"/lookup/self", nil)
	require.Equal(t, http.StatusBadRequest, root.Status, "the root token has no entity")
	require.Equal(t, []string{"no entity associated with the request's token"}, root.Errors)
}

func TestCallerEntityThroughAppRoleLogin(t *testing.T) {
	writeSelfPolicy(t)
	require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/approle/role/caller", map[string]any{"token_policies": "ident-self"}).Status)
	roleID := do(t, "GET", "auth/approle/role/caller/role-id", nil).Data["role_id"].(string)
	forgetVaultEntity(t, roleID, approleAccessor)
	secret := do(t, "POST", "auth/approle/role/caller/secret-id", nil)
	require.Equal(t, http.StatusOK, secret.Status)
	login := asToken(t, "", "POST", "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secret.Data["secret_id"]})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	token := login.Body["auth"].(map[string]any)["client_token"].(string)

	// AppRole logins name their alias after the role id.
	a := do(t, "POST", mount+"/entity-alias", map[string]any{"name": roleID, "mount_accessor": approleAccessor})
	require.Equal(t, http.StatusOK, a.Status, a.Errors)
	defer do(t, "DELETE", mount+"/entity/id/"+a.Data["canonical_id"].(string), nil)

	r := asToken(t, token, "GET", mount+"/lookup/self", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	require.Equal(t, a.Data["canonical_id"], r.Data["id"])
	require.Equal(t, a.Data["id"], r.Data["matched_alias_id"])
}
