//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// madeUpAccessor has the form of a userpass accessor but names no mount.
const madeUpAccessor = "auth_userpass_0badcafe"

// mountsPolicy is the README's minimal policy for the mount's token.
const mountsPolicy = `path "sys/auth" { capabilities = ["read"] }`

// mountsToken makes a periodic orphan token with the README's policy, as
// the README says to, and revokes it when the test ends.
func mountsToken(t *testing.T) string {
	t.Helper()
	r := do(t, "POST", "auth/token/create-orphan", map[string]any{"policies": []string{"ident-mounts"}, "period": "24h"})
	require.Equal(t, http.StatusOK, r.Status, "%v", r.Errors)
	tok := r.Body["auth"].(map[string]any)["client_token"].(string)
	t.Cleanup(func() { do(t, "POST", "auth/token/revoke", map[string]any{"token": tok}) })
	return tok
}

// authAccessor returns the accessor of the auth mount at path ("localup/").
func authAccessor(t *testing.T, path string) string {
	t.Helper()
	r := do(t, "GET", "sys/auth", nil)
	require.Equal(t, http.StatusOK, r.Status, "%v", r.Errors)
	return r.Data[path].(map[string]any)["accessor"].(string)
}

// TestMountAccessorsWithVaultTokenMatchBuiltin gives a fresh plugin mount a
// token that reads Vault's auth mount table, and compares it with
// identity/ where the form check alone could not agree: accessors of
// Vault's form that name no mount, mount paths, a local auth mount and
// login enforcement selectors. Then the token is revoked (the mount falls
// back to the form check and says why) and replaced (as Vault again).
func TestMountAccessorsWithVaultTokenMatchBuiltin(t *testing.T) {
	ctx := context.Background()
	const mnt = "ident-mounts"
	require.NoError(t, server.Enable(ctx, mnt))
	t.Cleanup(func() { do(t, "DELETE", "sys/mounts/"+mnt, nil) })
	require.Equal(t, http.StatusNoContent, do(t, "POST", "sys/auth/localup", map[string]any{"type": "userpass", "local": true}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/auth/localup", nil) })
	localAccessor := authAccessor(t, "localup/")
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/ident-mounts", map[string]any{"policy": mountsPolicy}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/ident-mounts", nil) })
	t.Cleanup(func() {
		for _, m := range []string{"identity", mnt} {
			do(t, "DELETE", m+"/mfa/login-enforcement/mounts-enf", nil)
			list := do(t, "LIST", m+"/mfa/method/totp", nil)
			keys, _ := list.Data["keys"].([]any)
			for _, k := range keys {
				do(t, "DELETE", fmt.Sprintf("%s/mfa/method/totp/%s", m, k), nil)
			}
		}
	})

	// Without a token: the form check, as documented.
	cfg := do(t, "GET", mnt+"/config", nil)
	require.Equal(t, "form", cfg.Data["mount_accessor_check"])
	r := do(t, "POST", mnt+"/entity-alias", map[string]any{"name": "before-token", "mount_accessor": madeUpAccessor})
	require.Equal(t, http.StatusOK, r.Status, "%v", r.Errors)
	require.Equal(t, http.StatusNoContent, do(t, "DELETE", mnt+"/entity/id/"+r.Data["canonical_id"].(string), nil).Status)

	token := mountsToken(t)
	cfg = mustWrite(t, mnt+"/config", map[string]any{"vault_token": token})
	require.Equal(t, "vault", cfg.Data["mount_accessor_check"], "%v", cfg.Data)
	require.Equal(t, "", cfg.Data["vault_token_error"])
	require.NotEmpty(t, cfg.Data["vault_token_last_used"])
	require.NotContains(t, cfg.Data, "vault_token")

	compareWith(t, comparison{mount: mnt, vars: map[string]string{"local": localAccessor, "madeup": madeUpAccessor}, mountPaths: true}, []step{
		{method: "POST", path: "entity", body: map[string]any{"name": "mounts-one"}, capture: "one"},
		{method: "POST", path: "entity", body: map[string]any{"name": "mounts-two"}, capture: "two"},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-alice", "mount_accessor": "{userpass}", "canonical_id": "{one}"}, capture: "a1"},
		{method: "GET", path: "entity-alias/id/{a1}"},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-local", "mount_accessor": "{local}", "canonical_id": "{one}"}, capture: "l1"},
		{method: "GET", path: "entity-alias/id/{l1}"},
		{method: "GET", path: "entity/id/{one}"},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-bogus", "mount_accessor": "{madeup}"}},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-bogus", "mount_accessor": "{madeup}", "canonical_id": "{two}"}},
		{method: "POST", path: "entity-alias/id/{a1}", body: map[string]any{"mount_accessor": "{madeup}"}},
		{method: "POST", path: "entity-alias/id/{l1}", body: map[string]any{"canonical_id": "{two}"}},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-local", "mount_accessor": "{local}", "canonical_id": "{two}"}},
		{method: "POST", path: "entity-alias/id/{l1}", body: map[string]any{"custom_metadata": map[string]any{"k": "v"}}},
		{method: "GET", path: "entity-alias/id/{l1}"},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-local-2", "mount_accessor": "{local}"}, capture: "l2", captureCanonical: "l2-entity"},
		{method: "GET", path: "entity/id/{l2-entity}"},
		{method: "POST", path: "lookup/entity", body: map[string]any{"alias_id": "{l1}"}},
		{method: "POST", path: "entity-alias", body: map[string]any{"name": "m-bob", "mount_accessor": "{userpass}", "canonical_id": "{two}"}, capture: "a2"},
		{method: "POST", path: "entity/merge", body: map[string]any{"to_entity_id": "{one}", "from_entity_ids": "{two}"}},
		{method: "POST", path: "group", body: map[string]any{"name": "mounts-ext", "type": "external"}, capture: "ext"},
		{method: "POST", path: "group-alias", body: map[string]any{"name": "m-ga", "mount_accessor": "{local}", "canonical_id": "{ext}"}},
		{method: "POST", path: "group-alias", body: map[string]any{"name": "m-ga", "mount_accessor": "{madeup}", "canonical_id": "{ext}"}},
		{method: "POST", path: "group-alias", body: map[string]any{"name": "m-ga", "mount_accessor": "{local}"}},
		{method: "POST", path: "group-alias", body: map[string]any{"name": "m-ga", "mount_accessor": "{userpass}", "canonical_id": "{ext}"}, capture: "ga"},
		{method: "POST", path: "group-alias/id/{ga}", body: map[string]any{"name": "m-ga", "mount_accessor": "{local}"}},
		{method: "GET", path: "group-alias/id/{ga}"},
		{method: "GET", path: "group/id/{ext}"},
		{method: "LIST", path: "group/id"},
		{method: "LIST", path: "group-alias/id"},
		{method: "LIST", path: "entity-alias/id"},
		{method: "LIST", path: "entity/id"},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "Acme", "method_name": "mounts-totp"}, capture: "totp"},
		{method: "POST", path: "mfa/login-enforcement/mounts-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_types": []string{"ldap"}}},
		{method: "POST", path: "mfa/login-enforcement/mounts-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_types": []string{"Bogus!"}}},
		{method: "POST", path: "mfa/login-enforcement/mounts-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_accessors": []string{"{madeup}"}}},
		{method: "POST", path: "mfa/login-enforcement/mounts-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_accessors": []string{"{local}"}, "auth_method_types": []string{"userpass", "token"}}},
		{method: "GET", path: "mfa/login-enforcement/mounts-enf"},
		{method: "DELETE", path: "mfa/login-enforcement/mounts-enf"},
		{method: "DELETE", path: "mfa/method/totp/{totp}"},
		{method: "DELETE", path: "group/id/{ext}"},
		{method: "DELETE", path: "entity-alias/id/{l1}"},
		{method: "DELETE", path: "entity/id/{one}"},
		{method: "DELETE", path: "entity/id/{two}"},
		{method: "DELETE", path: "entity/id/{l2-entity}"},
	})

	// Where Vault itself is laxer, the plugin keeps to auth mounts named
	// exactly (documented in the README): Vault takes any mount's accessor,
	// and any string that starts with one.
	for _, acc := range []string{userpassAccessor + "zz", secretsAccessor(t)} {
		b := do(t, "POST", "identity/entity-alias", map[string]any{"name": "lax", "mount_accessor": acc})
		require.Equal(t, http.StatusOK, b.Status, "%v", b.Errors)
		do(t, "DELETE", "identity/entity/id/"+b.Data["canonical_id"].(string), nil)
		p := do(t, "POST", mnt+"/entity-alias", map[string]any{"name": "lax", "mount_accessor": acc})
		require.Equal(t, http.StatusBadRequest, p.Status)
		require.Equal(t, []string{fmt.Sprintf("invalid mount accessor %q", acc)}, p.Errors)
	}

	// Revoked, the token fails: the mount checks by form again (an unknown
	// accessor makes it read the table, at most once a second) and config
	// and info say why.
	localAlias := mustWrite(t, mnt+"/entity-alias", map[string]any{"name": "m-local-3", "mount_accessor": localAccessor}).Data
	localEntity := localAlias["canonical_id"].(string)
	t.Cleanup(func() { do(t, "DELETE", mnt+"/entity/id/"+localEntity, nil) })
	require.Equal(t, "auth/localup/", do(t, "GET", mnt+"/entity-alias/id/"+localAlias["id"].(string), nil).Data["mount_path"])
	require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/token/revoke", map[string]any{"token": token}).Status)
	var fallbackEntity string
	require.Eventually(t, func() bool {
		r := do(t, "POST", mnt+"/entity-alias", map[string]any{"name": "after-revoke", "mount_accessor": madeUpAccessor})
		fallbackEntity, _ = r.Data["canonical_id"].(string)
		return r.Status == http.StatusOK
	}, 10*time.Second, 200*time.Millisecond, "a made-up accessor of Vault's form is accepted once the token fails")
	t.Cleanup(func() { do(t, "DELETE", mnt+"/entity/id/"+fallbackEntity, nil) })
	for _, path := range []string{mnt + "/config", mnt + "/info"} {
		st := do(t, "GET", path, nil).Data
		require.Equal(t, "form", st["mount_accessor_check"], path)
		require.Equal(t, "reading the auth mount table (GET sys/auth): Vault answered 403: permission denied; invalid token", st["vault_token_error"], path)
		require.NotEmpty(t, st["vault_token_last_used"], path)
	}
	require.Equal(t, true, do(t, "GET", mnt+"/config", nil).Data["vault_token_set"])
	read := do(t, "GET", mnt+"/entity-alias/id/"+localAlias["id"].(string), nil).Data
	require.NotContains(t, read, "mount_path", "without a table, as without a token")
	require.Equal(t, false, read["local"])
	require.Equal(t, "userpass", read["mount_type"])
	r = do(t, "POST", mnt+"/group-alias", map[string]any{"name": "fallback-ga", "mount_accessor": "bogus"})
	require.Equal(t, []string{`invalid mount accessor "bogus"`}, r.Errors, "the form check still refuses what it always did")

	// A new token: as Vault again, at once.
	cfg = mustWrite(t, mnt+"/config", map[string]any{"vault_token": mountsToken(t)})
	require.Equal(t, "vault", cfg.Data["mount_accessor_check"])
	require.Equal(t, "", cfg.Data["vault_token_error"])
	r = do(t, "POST", mnt+"/entity-alias", map[string]any{"name": "after-new-token", "mount_accessor": madeUpAccessor})
	require.Equal(t, []string{fmt.Sprintf("invalid mount accessor %q", madeUpAccessor)}, r.Errors)
	read = do(t, "GET", mnt+"/entity-alias/id/"+localAlias["id"].(string), nil).Data
	require.Equal(t, "auth/localup/", read["mount_path"])
	require.Equal(t, true, read["local"])
}

// secretsAccessor is the accessor of a secrets mount of the server.
func secretsAccessor(t *testing.T) string {
	t.Helper()
	r := do(t, "GET", "sys/mounts", nil)
	require.Equal(t, http.StatusOK, r.Status, "%v", r.Errors)
	return r.Data["cubbyhole/"].(map[string]any)["accessor"].(string)
}
