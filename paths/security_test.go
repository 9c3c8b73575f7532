package paths_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/fakeproviders"
	"github.com/vault-identity/vault-plugin-secrets-identity/paths"
)

func TestOnlyDiscoveryIsUnauthenticated(t *testing.T) {
	b := newBackend(t)
	require.Equal(t, []string{
		"oidc/.well-known/*", "oidc/+/.well-known/*", "oidc/provider/+/.well-known/*",
		"oidc/provider/+/token", "oidc/provider/+/userinfo", "oidc/provider/+/introspect", "oidc/provider/+/revoke",
		"oidc/provider/+/device", "oidc/provider/+/sign-in", "oidc/provider/+/logout", "oidc/sign-in/*",
		"ui", "ui/*",
	}, b.B.SpecialPaths().Unauthenticated)
	require.Equal(t, paths.Unauthenticated, b.B.SpecialPaths().Unauthenticated)
}

// TestSecretsStayInSealWrappedStorage writes every kind of secret the engine
// keeps and checks that none appears outside the seal-wrapped prefixes, nor
// in any read or list answer.
func TestSecretsStayInSealWrappedStorage(t *testing.T) {
	b, entityID := oidcBackend(t)
	wrapped := b.B.SpecialPaths().SealWrapStorage
	require.ElementsMatch(t, []string{"oidc/key-material/", "mfa/", "oidc/client/", "config/"}, wrapped)

	secrets := []string{"okta-api-token-0123", "duo-secret-key-0123", "duo-ikey-0123", "ping-token-0123", "hvs.vault-token-0123"}
	require.Equal(t, http.StatusOK, b.Write("config", map[string]any{"vault_token": secrets[4]}).Status)
	createMethod(t, b, "okta", map[string]any{"org_name": "o", "api_token": secrets[0]})
	createMethod(t, b, "duo", map[string]any{"secret_key": secrets[1], "integration_key": secrets[2], "api_hostname": "h"})
	ping := fakeproviders.NewFakePingID([]byte("0123456789abcdef0123456789abcdef"), "org", secrets[3])
	defer ping.Close()
	createMethod(t, b, "pingid", map[string]any{"settings_file_base64": ping.SettingsFile()})
	totp := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
	enroll := b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": totp, "entity_id": entityID})
	seed := strings.Split(strings.Split(enroll.Data()["url"].(string), "secret=")[1], "&")[0]
	codes := b.Write("mfa/recovery-codes/admin-generate", map[string]any{"method_id": totp, "entity_id": entityID}).Data()["recovery_codes"].([]string)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"algorithm": "ES256"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k"}).Status)
	secrets = append(secrets, seed, strings.ReplaceAll(codes[0], "-", ""))

	for key, value := range snapshot(b) {
		inWrapped := false
		for _, p := range wrapped {
			inWrapped = inWrapped || strings.HasPrefix(key, p)
		}
		if strings.HasPrefix(key, "oidc/key/") {
			require.NotContains(t, value, `"d":`, "%s holds no private key parameter", key)
		}
		if inWrapped {
			continue
		}
		for _, s := range secrets {
			require.NotContains(t, value, s, "%s holds a secret outside the seal-wrapped prefixes", key)
		}
	}
	// No read or list answers a secret or a private key.
	for _, r := range []*logical.Request{
		{Operation: logical.ListOperation, Path: "mfa/method/"},
		{Operation: logical.ReadOperation, Path: "config"},
		{Operation: logical.ReadOperation, Path: "oidc/key/k"},
		{Operation: logical.ReadOperation, Path: "oidc/.well-known/keys"},
		{Operation: logical.ReadOperation, Path: "entity/id/" + entityID},
	} {
		res := b.Handle(r)
		require.Less(t, res.Status, 300, r.Path)
		encoded, err := json.Marshal(res.Resp.Data)
		require.NoError(t, err)
		text := string(encoded)
		if body, ok := res.Resp.Data[logical.HTTPRawBody].([]byte); ok {
			text += string(body)
		}
		for _, s := range append(secrets, `"d":`) {
			require.NotContains(t, text, s, r.Path)
		}
	}
}

// TestDisabledEntityRefusedOnCallerPaths: a disabled entity gets no identity
// token, no self lookup, no TOTP enrollment, no step-up and no recovery
// codes, and none of those refusals writes anything.
func TestDisabledEntityRefusedOnCallerPaths(t *testing.T) {
	b, entityID := oidcBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"allowed_client_ids": "*"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k"}).Status)
	totp := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
	require.Equal(t, http.StatusOK, issue(t, b, "r").Status, "enabled, the entity gets a token")
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+entityID, map[string]any{"disabled": true}).Status)

	before := snapshot(b)
	for _, r := range []struct {
		op   logical.Operation
		path string
		data map[string]any
	}{
		{logical.ReadOperation, "oidc/token/r", nil},
		{logical.ReadOperation, "lookup/self", nil},
		{logical.UpdateOperation, "mfa/method/totp/generate", map[string]any{"method_id": totp}},
		{logical.UpdateOperation, "mfa/validate", map[string]any{"method_id": totp, "passcode": "123456"}},
		{logical.UpdateOperation, "mfa/recovery-codes/generate", map[string]any{"method_id": totp, "passcode": "123456"}},
	} {
		res := b.Handle(&logical.Request{Operation: r.op, Path: r.path, Data: r.data, EntityID: "vault-entity"})
		require.Equal(t, http.StatusForbidden, res.Status, r.path)
		require.Equal(t, "permission denied: the entity is disabled", res.ErrorText(), r.path)
	}
	require.Equal(t, before, snapshot(b), "a refused caller changes nothing")
}
