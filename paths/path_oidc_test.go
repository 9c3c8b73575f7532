package paths_test

import (
	"encoding/json"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

const testIssuer = "https://vault.test:8200"

// oidcBackend has an issuer, and an entity "alice" (in group "devs")
// that the system view reports as the caller's.
func oidcBackend(t testing.TB) (*testutil.Backend, string) {
	t.Helper()
	b := newBackend(t)
	require.Equal(t, http.StatusOK, b.Write("oidc/config", map[string]any{"issuer": testIssuer}).Status)
	_, entityID := createAlias(t, b, map[string]any{"name": "alice", "mount_accessor": userpass})
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+entityID, map[string]any{"name": "alice", "metadata": "team=dev"}).Status)
	createGroup(t, b, map[string]any{"name": "devs", "member_entity_ids": entityID})
	b.System.EntityVal = &logical.Entity{ID: "vault-entity", Aliases: []*logical.Alias{{MountAccessor: userpass, Name: "alice"}}}
	return b, entityID
}

// issue gets a token from the role as the caller.
func issue(t *testing.T, b *testutil.Backend, role string) testutil.Result {
	t.Helper()
	return b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/token/" + role, EntityID: "vault-entity"})
}

// rawBody decodes a raw response's JSON body.
func rawBody(t *testing.T, r testutil.Result, into any) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Resp.Data[logical.HTTPStatusCode])
	require.NoError(t, json.Unmarshal(r.Resp.Data[logical.HTTPRawBody].([]byte), into))
}

func jwks(t *testing.T, b *testutil.Backend) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	rawBody(t, b.Read("oidc/.well-known/keys"), &set)
	return set
}

func TestOIDCTokenEveryAlgorithm(t *testing.T) {
	b, entityID := oidcBackend(t)
	for _, alg := range oidc.SupportedAlgorithms {
		t.Run(alg, func(t *testing.T) {
			key, role := "k-"+alg, "r-"+alg
			require.Equal(t, http.StatusNoContent, b.Write("oidc/key/"+key, map[string]any{"algorithm": alg, "allowed_client_ids": "*"}).Status)
			require.Equal(t, http.StatusNoContent, b.Write("oidc/role/"+role, map[string]any{"key": key, "ttl": "1h",
				"template": `{"name": {{identity.entity.name}}, "team": {{identity.entity.metadata.team}}, "groups": {{identity.entity.groups.names}}}`}).Status)
			r := issue(t, b, role)
			require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
			validSchema(t, b, r)
			clientID := b.Read("oidc/role/" + role).Data()["client_id"].(string)
			require.Equal(t, clientID, r.Data()["client_id"])
			require.Equal(t, int64(3600), r.Data()["ttl"])

			parsed, err := jwt.ParseSigned(r.Data()["token"].(string), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			require.NoError(t, err)
			require.Equal(t, alg, parsed.Headers[0].Algorithm)
			set := jwks(t, b)
			for _, k := range set.Keys {
				require.True(t, k.IsPublic(), "the JWKS carries public keys only")
			}
			pub := set.Key(parsed.Headers[0].KeyID)
			require.Len(t, pub, 1, "the signing key is published")
			var claims jwt.Claims
			var extra map[string]any
			require.NoError(t, parsed.Claims(pub[0], &claims, &extra))
			require.NoError(t, claims.Validate(jwt.Expected{Issuer: testIssuer + "/v1/ident/oidc", AnyAudience: jwt.Audience{clientID}, Subject: entityID, Time: time.Now()}))
			require.InDelta(t, time.Hour.Seconds(), float64(*claims.Expiry-*claims.IssuedAt), 1)
			require.Equal(t, "root", extra["namespace"])
			require.Equal(t, "alice", extra["name"])
			require.Equal(t, "dev", extra["team"])
			require.Equal(t, []any{"devs"}, extra["groups"])

			in := b.Write("oidc/introspect", map[string]any{"token": r.Data()["token"], "client_id": clientID})
			var body map[string]any
			rawBody(t, in, &body)
			require.Equal(t, map[string]any{"active": true}, body)
		})
	}
}

func TestOIDCKeyAndRoleCRUD(t *testing.T) {
	b, _ := oidcBackend(t)
	require.Equal(t, []string{"default"}, b.List("oidc/key/").Data()["keys"])
	require.Equal(t, map[string]any{"rotation_period": int64(86400), "verification_ttl": int64(86400), "algorithm": "RS256", "allowed_client_ids": []string{"*"}},
		b.Read("oidc/key/default").Data())

	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", nil).Status)
	r := b.Read("oidc/key/k")
	validSchema(t, b, r)
	require.Equal(t, map[string]any{"rotation_period": int64(86400), "verification_ttl": int64(86400), "algorithm": "RS256", "allowed_client_ids": []string{}}, r.Data())
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"rotation_period": "1h", "verification_ttl": 7200}).Status)
	require.Equal(t, int64(3600), b.Read("oidc/key/k").Data()["rotation_period"])
	require.Equal(t, "RS256", b.Read("oidc/key/k").Data()["algorithm"], "update keeps what is not given")

	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k", "ttl": "30m"}).Status)
	role := b.Read("oidc/role/r")
	validSchema(t, b, role)
	require.Regexp(t, `^[0-9A-Za-z]{26}$`, role.Data()["client_id"])
	require.Equal(t, int64(1800), role.Data()["ttl"])
	require.Equal(t, "", role.Data()["template"])
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"client_id": "mine"}).Status)
	require.Equal(t, "mine", b.Read("oidc/role/r").Data()["client_id"])
	require.Equal(t, "k", b.Read("oidc/role/r").Data()["key"], "update keeps the key")
	require.Equal(t, []string{"r"}, b.List("oidc/role/").Data()["keys"])

	// A key nobody lists as allowed cannot sign for the role.
	r = issue(t, b, "r")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, `the key "k" does not list the client ID of the role "r" as an allowed client ID`, r.ErrorText())

	// The JWKS has the current and next keys of the keys roles use; the
	// default key gets its material when a role first uses it.
	require.Len(t, jwks(t, b).Keys, 2)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/d", map[string]any{"key": "default"}).Status)
	require.Len(t, jwks(t, b).Keys, 4)
	require.Equal(t, http.StatusOK, issue(t, b, "d").Status)

	require.Equal(t, http.StatusNoContent, b.Delete("oidc/role/r").Status)
	require.Equal(t, http.StatusNotFound, b.Read("oidc/role/r").Status)
	require.Equal(t, http.StatusNoContent, b.Delete("oidc/key/k").Status)
	require.Equal(t, http.StatusNotFound, b.Read("oidc/key/k").Status)
	for _, k := range []string{"oidc/key/k", "oidc/key-material/k"} {
		e, err := b.Storage.Get(t.Context(), k)
		require.NoError(t, err)
		require.Nil(t, e, k)
	}
}

func TestOIDCErrors(t *testing.T) {
	b, _ := oidcBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"verification_ttl": "2h", "allowed_client_ids": "*"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r1", map[string]any{"key": "k", "ttl": "2h"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r2", map[string]any{"key": "k", "ttl": "1h"}).Status)
	restricted := "Restricted keys: iat, aud, exp, iss, sub, namespace, nonce, auth_time, at_hash, c_hash"
	cases := []struct {
		name, path string
		data       map[string]any
		msg        string
	}{
		{"issuer with path", "oidc/config", map[string]any{"issuer": "https://a.com/foo"}, "invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"},
		{"issuer no scheme", "oidc/config", map[string]any{"issuer": "a.com"}, "invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"},
		{"issuer ftp", "oidc/config", map[string]any{"issuer": "ftp://a.com"}, "invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"},
		{"issuer trailing slash", "oidc/config", map[string]any{"issuer": "http://a.com/"}, "invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"},
		{"short rotation", "oidc/key/x", map[string]any{"rotation_period": 59}, "rotation_period must be at least one minute"},
		{"long verification", "oidc/key/x", map[string]any{"rotation_period": "1m", "verification_ttl": "11m"}, "verification_ttl cannot be longer than 10x rotation_period"},
		{"bad algorithm", "oidc/key/x", map[string]any{"algorithm": "HS256"}, `unknown signing algorithm "HS256"`},
		{"shrink below a role ttl", "oidc/key/k", map[string]any{"verification_ttl": "1h"}, `unable to update key "k" because it is currently referenced by one or more roles with a token ttl greater than 3600 seconds`},
		{"role without key", "oidc/role/x", map[string]any{"ttl": "1h"}, "the key parameter is required"},
		{"role with empty key", "oidc/role/r1", map[string]any{"key": ""}, "the key parameter is required"},
		{"role key missing", "oidc/role/x", map[string]any{"key": "nope"}, `cannot find key "nope"`},
		{"role ttl too long", "oidc/role/x", map[string]any{"key": "k", "ttl": "3h"}, "a role's token ttl cannot be longer than the verification_ttl of the key it references"},
		{"template unbalanced", "oidc/role/x", map[string]any{"key": "k", "template": `{"a": {{identity.entity.name}`}, "error parsing template: unbalanced templating characters"},
		{"template groups", "oidc/role/x", map[string]any{"key": "k", "template": `{"a": {{identity.groups.names.devs.id}}}`}, "error parsing template: string contains groups template directives but no groups were provided"},
		{"template unknown directive", "oidc/role/x", map[string]any{"key": "k", "template": `{"a": {{identity.entity.nope}}}`}, "error parsing template: no value could be found for one of the template directives"},
		{"template not json", "oidc/role/x", map[string]any{"key": "k", "template": `not json`}, "error parsing template JSON: invalid character 'o' in literal null (expecting 'u')"},
		{"template reserved", "oidc/role/x", map[string]any{"key": "k", "template": `{"sub": "x"}`}, `top level key "sub" not allowed. ` + restricted},
		{"template reserved in base64", "oidc/role/x", map[string]any{"key": "k", "template": "eyJub25jZSI6ICJ4In0="}, `top level key "nonce" not allowed. ` + restricted},
		{"rotate missing", "oidc/key/nope/rotate", nil, `no named key found at "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refused(t, b, c.path, c.data, c.msg) })
	}
	for path, msg := range map[string]string{
		"oidc/key/default": `deletion of key "default" not allowed`,
		"oidc/key/k":       `unable to delete key "k" because it is currently referenced by these roles: r1, r2`,
	} {
		r := b.Delete(path)
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, msg, r.ErrorText())
	}

	for _, c := range []struct {
		role, entity, msg string
	}{
		{"nope", "vault-entity", `role "nope" not found`},
		{"r1", "", "no entity associated with the request's token"},
	} {
		r := b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/token/" + c.role, EntityID: c.entity})
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, c.msg, r.ErrorText())
	}
	// A caller whose Vault entity has no alias in this store has no entity here.
	b.System.EntityVal = &logical.Entity{ID: "other"}
	r := b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/token/r1", EntityID: "other"})
	require.Equal(t, "no entity associated with the request's token", r.ErrorText())
}

func TestOIDCIssuerAndDiscovery(t *testing.T) {
	b := newBackend(t)
	r := b.Read("oidc/config")
	require.Equal(t, "", r.Data()["issuer"])
	require.NotEmpty(t, r.Resp.Warnings)
	require.Equal(t, http.StatusBadRequest, b.Read("oidc/.well-known/openid-configuration").Status, "no issuer known")

	w := b.Write("oidc/config", map[string]any{"issuer": "https://vault.test:8200"})
	require.Equal(t, http.StatusOK, w.Status)
	require.Len(t, w.Resp.Warnings, 1)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/config", nil).Status, "no issuer field: nothing to do")
	d := b.Read("oidc/.well-known/openid-configuration")
	require.Equal(t, "max-age=3600", d.Resp.Data[logical.HTTPCacheControlHeader])
	require.JSONEq(t, `{"issuer":"https://vault.test:8200/v1/ident/oidc","jwks_uri":"https://vault.test:8200/v1/ident/oidc/.well-known/keys",
		"response_types_supported":["id_token"],"subject_types_supported":["public"],
		"id_token_signing_alg_values_supported":["RS256","RS384","RS512","ES256","ES384","ES512","EdDSA"]}`, string(d.Resp.Data[logical.HTTPRawBody].([]byte)))
	require.Equal(t, http.StatusNoContent, b.Write("oidc/config", map[string]any{"issuer": ""}).Status)
	require.Equal(t, "", b.Read("oidc/config").Data()["issuer"])
}

// TestOIDCChildIssuer: Vault Community has no child issuers; their
// discovery and keys paths answer 400, unauthenticated as in Vault.
func TestOIDCChildIssuer(t *testing.T) {
	b := newBackend(t)
	require.Contains(t, b.B.SpecialPaths().Unauthenticated, "oidc/+/.well-known/*")
	for path, msg := range map[string]string{
		"oidc/foo/.well-known/openid-configuration":  `invalid child issuer "foo"`,
		"oidc/foo/.well-known/openid-configuration/": `invalid child issuer "foo"`,
		"oidc/foo/.well-known/keys":                  `invalid child issuer "foo"`,
		"oidc/provider/.well-known/keys":             `invalid child issuer "provider"`,
	} {
		r := b.Read(path)
		require.Equal(t, http.StatusBadRequest, r.Status, path)
		require.Equal(t, msg, r.ErrorText(), path)
	}
	require.Equal(t, http.StatusNotFound, b.Read("oidc/a/b/.well-known/keys").Status, "a child is one path segment")
	require.Equal(t, http.StatusOK, b.Read("oidc/.well-known/keys").Status, "the base issuer")
}

func TestOIDCIntrospectRefusals(t *testing.T) {
	b, entityID := oidcBackend(t)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/key/k", map[string]any{"allowed_client_ids": "*", "algorithm": "ES256"}).Status)
	require.Equal(t, http.StatusNoContent, b.Write("oidc/role/r", map[string]any{"key": "k"}).Status)
	token := issue(t, b, "r").Data()["token"].(string)
	parts := strings.Split(token, ".")
	flip := map[byte]byte{'A': 'B'}[parts[1][5]]
	if flip == 0 {
		flip = 'A'
	}
	tampered := parts[0] + "." + parts[1][:5] + string(flip) + parts[1][6:] + "." + parts[2]
	// A token signed by a key that is not published.
	other, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	foreign, _ := jwt.Signed(other).Claims(map[string]any{"sub": entityID}).Serialize()

	check := func(token, clientID, want string) {
		t.Helper()
		var body map[string]any
		rawBody(t, b.Write("oidc/introspect", map[string]any{"token": token, "client_id": clientID}), &body)
		if want == "" {
			require.Equal(t, map[string]any{"active": true}, body)
			return
		}
		require.Equal(t, map[string]any{"active": false, "error": want}, body)
	}
	check(token, "", "")
	check("not-a-token", "", "error parsing token: go-jose/go-jose: compact JWS format must have three parts")
	check(tampered, "", "unable to validate the token signature")
	check(foreign, "", "error parsing token: unexpected signature algorithm \"HS256\"; expected [\"RS256\" \"RS384\" \"RS512\" \"ES256\" \"ES384\" \"ES512\" \"EdDSA\"]")
	check(token, "someone-else", "error validating claims: go-jose/go-jose/jwt: validation failed, invalid audience claim (aud)")

	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+entityID, map[string]any{"disabled": true}).Status)
	check(token, "", "entity is disabled")
	require.Equal(t, http.StatusNoContent, b.Delete("entity/id/"+entityID).Status)
	check(token, "", "entity was not found")

	// Another issuer: the token is not ours.
	require.Equal(t, http.StatusOK, b.Write("oidc/config", map[string]any{"issuer": "https://elsewhere:8200"}).Status)
	check(token, "", "error validating claims: go-jose/go-jose/jwt: validation failed, invalid issuer claim (iss)")
}
