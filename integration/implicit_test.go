//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// Implicit entities: a caller none of whose Vault aliases is an alias of
// the mount gets an entity there on its first request to a path that acts
// for it (caller_entities=create, the default), named after its Vault
// entity and with its Vault entity's aliases.

// implicitCaller is a token from a real login and the alias Vault made for
// it.
type implicitCaller struct {
	token, accessor, aliasName string
}

func implicitUserpass(t *testing.T, policy, user string) implicitCaller {
	t.Helper()
	forgetVaultEntity(t, user, userpassAccessor)
	mustWrite(t, "auth/userpass/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": policy})
	t.Cleanup(func() { do(t, "DELETE", "auth/userpass/users/"+user, nil) })
	login := asToken(t, "", "POST", "auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	return implicitCaller{login.Body["auth"].(map[string]any)["client_token"].(string), userpassAccessor, user}
}

func implicitAppRole(t *testing.T, policy, role string) implicitCaller {
	t.Helper()
	mustWrite(t, "auth/approle/role/"+role, map[string]any{"token_policies": policy})
	t.Cleanup(func() { do(t, "DELETE", "auth/approle/role/"+role, nil) })
	roleID := do(t, "GET", "auth/approle/role/"+role+"/role-id", nil).Data["role_id"].(string)
	forgetVaultEntity(t, roleID, approleAccessor)
	secret := do(t, "POST", "auth/approle/role/"+role+"/secret-id", nil)
	require.Equal(t, http.StatusOK, secret.Status, secret.Errors)
	login := asToken(t, "", "POST", "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secret.Data["secret_id"]})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	return implicitCaller{login.Body["auth"].(map[string]any)["client_token"].(string), approleAccessor, roleID}
}

// implicitJWT mounts Vault's jwt auth method at jwtMount, trusting a key of
// the test's, and logs in with a JWT whose sub is sub.
func implicitJWT(t *testing.T, policy, jwtMount, sub string) implicitCaller {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	require.Equal(t, http.StatusNoContent, do(t, "POST", "sys/auth/"+jwtMount, map[string]any{"type": "jwt"}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/auth/"+jwtMount, nil) })
	mustWrite(t, "auth/"+jwtMount+"/config", map[string]any{"jwt_validation_pubkeys": []string{pub}, "jwt_supported_algs": []string{"ES256"}})
	mustWrite(t, "auth/"+jwtMount+"/role/implicit", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "implicit-test", "token_policies": policy,
	})

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	require.NoError(t, err)
	now := time.Now()
	signed, err := jwt.Signed(signer).Claims(jwt.Claims{
		Subject: sub, Audience: jwt.Audience{"implicit-test"},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).Serialize()
	require.NoError(t, err)
	login := asToken(t, "", "POST", "auth/"+jwtMount+"/login", map[string]any{"role": "implicit", "jwt": signed})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	forgetJWTEntity(t, jwtMount, sub)
	acc := do(t, "GET", "sys/auth", nil).Data[jwtMount+"/"].(map[string]any)["accessor"].(string)
	return implicitCaller{login.Body["auth"].(map[string]any)["client_token"].(string), acc, sub}
}

// aliasSet is an entity's aliases as "accessor/name".
func aliasSet(entity map[string]any) []string {
	var out []string
	for _, a := range entity["aliases"].([]any) {
		a := a.(map[string]any)
		out = append(out, a["mount_accessor"].(string)+"/"+a["name"].(string))
	}
	return out
}

// jwtSubject reads the sub claim of a JWT without verifying it (the
// identity token tests verify the tokens).
func jwtSubject(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct {
		Sub string `json:"sub"`
	}
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims.Sub
}

// TestImplicitEntitiesFromEveryLogin logs in through userpass, approle and
// jwt with no alias set up on a fresh mount, and has each get an identity
// token, an authorization code and a TOTP enrollment; each login's first
// request is to another of these paths, which creates its entity.
func TestImplicitEntitiesFromEveryLogin(t *testing.T) {
	s := newProvStore(t, "implicit")
	policy := s.mount + "-self"
	mustWrite(t, s.path("oidc/key/k"), map[string]any{"allowed_client_ids": "*"})
	mustWrite(t, s.path("oidc/role/r"), map[string]any{"key": "k"})
	totp := mustWrite(t, s.path("mfa/method/totp"), map[string]any{"issuer": "Acme"}).Data["method_id"].(string)

	identityToken := func(t *testing.T, c implicitCaller) string {
		r := asToken(t, c.token, "GET", s.path("oidc/token/r"), nil)
		require.Equal(t, http.StatusOK, r.Status, r.Errors)
		return jwtSubject(t, r.Data["token"].(string))
	}
	authorize := func(t *testing.T, c implicitCaller) {
		r := s.authorize(t, c.token, s.app, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		require.Regexp(t, base62ID, r.Body["code"])
	}
	enroll := func(t *testing.T, c implicitCaller) {
		r := asToken(t, c.token, "POST", s.path("mfa/method/totp/generate"), map[string]any{"method_id": totp})
		require.Equal(t, http.StatusOK, r.Status, r.Errors)
		require.Contains(t, r.Data["url"], "otpauth://totp/", "%v", r.Warnings)
	}

	for _, c := range []struct {
		name  string
		login func(t *testing.T) implicitCaller
		first string
	}{
		{"userpass", func(t *testing.T) implicitCaller { return implicitUserpass(t, policy, "implicit-user") }, "token"},
		{"approle", func(t *testing.T) implicitCaller { return implicitAppRole(t, policy, "implicit-role") }, "authorize"},
		{"jwt", func(t *testing.T) implicitCaller { return implicitJWT(t, policy, "jwt-implicit", "implicit-sub") }, "totp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			caller := c.login(t)
			byAlias := map[string]any{"alias_name": caller.aliasName, "alias_mount_accessor": caller.accessor}
			require.Equal(t, http.StatusNoContent, do(t, "POST", s.path("lookup/entity"), byAlias).Status, "no entity before the first request")

			var sub string
			steps := map[string]func(){
				"token":     func() { sub = identityToken(t, caller) },
				"authorize": func() { authorize(t, caller) },
				"totp":      func() { enroll(t, caller) },
			}
			steps[c.first]()
			for name, step := range steps {
				if name != c.first {
					step()
				}
			}

			here := do(t, "POST", s.path("lookup/entity"), byAlias)
			require.Equal(t, http.StatusOK, here.Status, here.Errors)
			require.Equal(t, sub, here.Data["id"], "the identity token's sub is the new entity")
			vault := do(t, "POST", "identity/lookup/entity", byAlias)
			require.Equal(t, http.StatusOK, vault.Status, vault.Errors)
			require.Equal(t, vault.Data["name"], here.Data["name"], "named after the Vault entity")
			require.ElementsMatch(t, aliasSet(vault.Data), aliasSet(here.Data))
			require.Empty(t, here.Data["policies"])
			require.Empty(t, here.Data["metadata"])

			self := asToken(t, caller.token, "GET", s.path("lookup/self"), nil)
			require.Equal(t, http.StatusOK, self.Status, self.Errors)
			require.Equal(t, sub, self.Data["id"], "one entity for every path")
			require.Equal(t, vault.Data["id"], self.Data["vault_entity_id"])
		})
	}
	// Three users of the store's own and the three callers.
	require.Len(t, do(t, "LIST", s.path("entity/id"), nil).Data["keys"], 6)
}

// TestImplicitEntitiesMatchMode: with caller_entities=match an unmatched
// caller gets Vault's 400 and the mount's storage does not change; back to
// create, the same token gets its entity, named after its Vault entity.
func TestImplicitEntitiesMatchMode(t *testing.T) {
	s := newSecStore(t, "implicit-match")
	mustWrite(t, s.path("config"), map[string]any{"caller_entities": "match"})
	caller := implicitUserpass(t, s.mount+"-self", "implicit-match-user")

	before := s.storage(t)
	r := asToken(t, caller.token, "GET", s.path("lookup/self"), nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, []string{"no entity associated with the request's token"}, r.Errors)
	require.Equal(t, before, s.storage(t), "a caller path never writes with match")

	mustWrite(t, s.path("config"), map[string]any{"caller_entities": "create"})
	r = asToken(t, caller.token, "GET", s.path("lookup/self"), nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	vault := do(t, "POST", "identity/lookup/entity", map[string]any{"alias_name": caller.aliasName, "alias_mount_accessor": userpassAccessor})
	require.Equal(t, vault.Data["name"], r.Data["name"])
	require.Equal(t, r.Data["matched_alias_id"], r.Data["aliases"].([]any)[0].(map[string]any)["id"])

	// A token without a Vault entity still has none here.
	root := do(t, "GET", s.path("lookup/self"), nil)
	require.Equal(t, http.StatusBadRequest, root.Status)
	require.Equal(t, []string{"no entity associated with the request's token"}, root.Errors)
}
