package paths_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

const (
	fakeUserpass = "auth_userpass_1a2b3c4d"
	fakeLocal    = "auth_userpass_5e6f7a8b"
	fakeMadeUp   = "auth_userpass_12345678"
)

// vaultBackend is a backend whose plugin reaches a fake Vault with two
// userpass mounts, one local, and a token "tok" that reads them.
func vaultBackend(t *testing.T) (*testutil.Backend, *testutil.FakeVault) {
	t.Helper()
	vault := testutil.NewFakeVault(t)
	vault.SetMount("userpass/", testutil.FakeMount{Type: "userpass", Accessor: fakeUserpass})
	vault.SetMount("local-up/", testutil.FakeMount{Type: "userpass", Accessor: fakeLocal, Local: true})
	vault.SetToken("tok", testutil.FakeToken{ReadsAuth: true, TTL: time.Hour, Period: time.Hour, Renewable: true})
	t.Setenv("VAULT_API_ADDR", vault.URL)
	return newBackend(t), vault
}

func TestMountAccessorsCheckedAgainstVault(t *testing.T) {
	b, vault := vaultBackend(t)
	// Without a token, nothing changes: the form check, no mount_path.
	bob, _ := createAlias(t, b, map[string]any{"name": "bob", "mount_accessor": fakeMadeUp})
	require.NotContains(t, b.Read("entity-alias/id/"+bob).Data(), "mount_path")

	c := b.Write("config", map[string]any{"vault_token": "tok"})
	require.Equal(t, http.StatusOK, c.Status, c.ErrorText())
	require.Equal(t, "vault", c.Data()["mount_accessor_check"])
	require.Equal(t, "", c.Data()["vault_token_error"])
	require.NotEmpty(t, c.Data()["vault_token_last_used"])
	require.NotContains(t, c.Data(), "vault_token")
	validSchema(t, b, c)

	refused := b.Write("entity-alias", map[string]any{"name": "carol", "mount_accessor": fakeMadeUp})
	require.Equal(t, http.StatusBadRequest, refused.Status)
	require.Equal(t, `invalid mount accessor "auth_userpass_12345678"`, refused.ErrorText())
	// bob's mount is unknown to Vault: no type, no path, as Vault reads it.
	r := b.Read("entity-alias/id/" + bob).Data()
	require.NotContains(t, r, "mount_type")
	require.NotContains(t, r, "mount_path")

	alice, owner := createAlias(t, b, map[string]any{"name": "alice", "mount_accessor": fakeUserpass})
	local := b.Write("entity-alias", map[string]any{"name": "alice", "mount_accessor": fakeLocal, "canonical_id": owner})
	require.Equal(t, http.StatusOK, local.Status, local.ErrorText())
	localID := local.Data()["id"].(string)

	r = b.Read("entity-alias/id/" + alice).Data()
	require.Equal(t, "auth/userpass/", r["mount_path"])
	require.Equal(t, "userpass", r["mount_type"])
	require.Equal(t, false, r["local"])
	read := b.Read("entity-alias/id/" + localID)
	validSchema(t, b, read)
	require.Equal(t, "auth/local-up/", read.Data()["mount_path"])
	require.Equal(t, true, read.Data()["local"])

	e := b.Read("entity/id/" + owner).Data()
	for _, a := range e["aliases"].([]any) {
		a := a.(map[string]any)
		require.Equal(t, a["id"] == localID, a["local"], a)
		require.Contains(t, []string{"auth/userpass/", "auth/local-up/"}, a["mount_path"])
	}
	info := b.List("entity/id").Wire()["key_info"].(map[string]any)[owner].(map[string]any)
	for _, a := range info["aliases"].([]any) {
		require.Contains(t, a.(map[string]any), "mount_path")
	}
	aliases := b.List("entity-alias/id").Wire()["key_info"].(map[string]any)
	require.Equal(t, true, aliases[localID].(map[string]any)["local"])
	require.Equal(t, "auth/local-up/", aliases[localID].(map[string]any)["mount_path"])
	require.NotContains(t, aliases[bob].(map[string]any), "mount_path")

	other := createEntity(t, b, nil)
	moved := b.Write("entity-alias/id/"+localID, map[string]any{"canonical_id": other})
	require.Equal(t, http.StatusBadRequest, moved.Status)
	require.Equal(t, "local aliases can't be moved between entities", moved.ErrorText())

	ga := b.Write("group-alias", map[string]any{"name": "eng", "mount_accessor": fakeLocal})
	require.Equal(t, http.StatusBadRequest, ga.Status)
	require.Equal(t, `mount accessor "auth_userpass_5e6f7a8b" is a local mount`, ga.ErrorText())
	ga = b.Write("group-alias", map[string]any{"name": "eng", "mount_accessor": fakeUserpass})
	require.Equal(t, http.StatusOK, ga.Status, ga.ErrorText())
	gaRead := b.Read("group-alias/id/" + ga.Data()["id"].(string))
	validSchema(t, b, gaRead)
	require.Equal(t, "auth/userpass/", gaRead.Data()["mount_path"])
	require.Equal(t, false, gaRead.Data()["local"])
	g := b.Read("group/id/" + ga.Data()["canonical_id"].(string)).Data()
	require.Equal(t, "auth/userpass/", g["alias"].(map[string]any)["mount_path"])
	groups := b.List("group/id").Wire()["key_info"].(map[string]any)
	require.Equal(t, "auth/userpass/", groups[ga.Data()["canonical_id"].(string)].(map[string]any)["alias"].(map[string]any)["mount_path"])

	m := b.Write("mfa/method/totp", map[string]any{"issuer": "Acme"}).Data()["method_id"]
	enf := b.Write("mfa/login-enforcement/e", map[string]any{"mfa_method_ids": []any{m}, "auth_method_types": []string{"ldap"}})
	require.Equal(t, "one of the auth method types provided is invalid", enf.ErrorText())
	enf = b.Write("mfa/login-enforcement/e", map[string]any{"mfa_method_ids": []any{m}, "auth_method_accessors": []string{fakeMadeUp}})
	require.Equal(t, "one of the auth method accessors provided is invalid", enf.ErrorText())
	enf = b.Write("mfa/login-enforcement/e", map[string]any{"mfa_method_ids": []any{m}, "auth_method_types": []string{"token"}, "auth_method_accessors": []string{fakeLocal}})
	require.Equal(t, http.StatusNoContent, enf.Status, enf.ErrorText())

	// Revoked, the token fails: the form check again, and config says why.
	vault.Revoke("tok")
	c = b.Write("config", map[string]any{"vault_token": "tok"})
	require.Equal(t, http.StatusOK, c.Status, "a failing token fails no request")
	require.Equal(t, "form", c.Data()["mount_accessor_check"])
	require.Equal(t, "reading the auth mount table (GET sys/auth): Vault answered 403: permission denied; invalid token", c.Data()["vault_token_error"])
	require.NotEmpty(t, c.Data()["vault_token_last_used"])
	createAlias(t, b, map[string]any{"name": "carol", "mount_accessor": fakeMadeUp})
	require.NotContains(t, b.Read("entity-alias/id/"+localID).Data(), "mount_path")
	i := b.Read("info")
	validSchema(t, b, i)
	require.Equal(t, c.Data()["vault_token_error"], i.Data()["vault_token_error"])
	require.Equal(t, "form", i.Data()["mount_accessor_check"])

	// A new token: as Vault again.
	vault.SetToken("tok2", testutil.FakeToken{ReadsAuth: true, TTL: time.Hour})
	c = b.Write("config", map[string]any{"vault_token": "tok2"})
	require.Equal(t, "vault", c.Data()["mount_accessor_check"])
	require.Equal(t, "", c.Data()["vault_token_error"])
	require.Equal(t, "auth/local-up/", b.Read("entity-alias/id/" + localID).Data()["mount_path"])
}
