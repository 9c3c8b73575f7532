//go:build integration

package integration

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecurityIdentityPaths: the identity objects, the self lookup and
// identity tokens refuse anonymous callers, tokens without an entity,
// other entities and disabled entities.
func TestSecurityIdentityPaths(t *testing.T) {
	s := newSecStore(t, "sec-ident")
	alice := s.user(t, "sec-alice")
	mallory := s.user(t, "sec-mallory")
	dora := s.user(t, "sec-dora")
	noEntity := s.entitylessToken(t)
	mustWrite(t, s.path("oidc/config"), map[string]any{"issuer": server.Addr})
	mustWrite(t, s.path("oidc/key/k"), map[string]any{"allowed_client_ids": "*"})
	mustWrite(t, s.path("oidc/role/r"), map[string]any{"key": "k"})
	group := mustWrite(t, s.path("group"), map[string]any{"name": "admins", "policies": "admin", "member_entity_ids": alice.entityID})
	aliceAlias := do(t, "GET", s.path("entity/id/"+alice.entityID), nil).Data["aliases"].([]any)[0].(map[string]any)["id"].(string)

	// Dora signs an identity token while enabled; then she is disabled.
	early := asToken(t, dora.token, "GET", s.path("oidc/token/r"), nil)
	require.Equal(t, http.StatusOK, early.Status, early.Errors)
	mustWrite(t, s.path("entity/id/"+dora.entityID), map[string]any{"disabled": true})

	var attacks []attack
	// Writes of the store need an administrator's policy: the self policy
	// of an entity, of a token without one, or no token at all get none.
	for _, actor := range []struct{ name, token string }{{"anonymous", ""}, {"no entity", noEntity}, {"another entity", mallory.token}} {
		for _, w := range []struct {
			name, method, path string
			body               map[string]any
		}{
			{"create an entity", "POST", "entity", map[string]any{"name": "intruder", "policies": "admin"}},
			{"rename the victim", "POST", "entity/id/" + alice.entityID, map[string]any{"name": "owned"}},
			{"delete the victim", "DELETE", "entity/id/" + alice.entityID, nil},
			{"move the victim's alias", "POST", "entity-alias/id/" + aliceAlias, map[string]any{"canonical_id": mallory.entityID}},
			{"merge the victim", "POST", "entity/merge", map[string]any{"to_entity_id": mallory.entityID, "from_entity_ids": alice.entityID}},
			{"join a group", "POST", "group/id/" + group.Data["id"].(string), map[string]any{"member_entity_ids": mallory.entityID}},
			{"read the victim", "GET", "entity/id/" + alice.entityID, nil},
			{"look up the victim", "POST", "lookup/entity", map[string]any{"id": alice.entityID}},
			{"replace a signing key", "POST", "oidc/key/k", map[string]any{"allowed_client_ids": "*", "algorithm": "ES256"}},
			{"point the issuer elsewhere", "POST", "oidc/config", map[string]any{"issuer": "https://evil.example"}},
		} {
			attacks = append(attacks, attack{
				name: actor.name + " may not " + w.name,
				try:  func(t *testing.T) answer { return vaultCall(t, actor.token, w.method, s.path(w.path), w.body) },
				want: permissionDenied,
			})
		}
	}
	noEntityAnswer := answer{http.StatusBadRequest, "no entity associated with the request's token"}
	disabled := answer{http.StatusForbidden, "permission denied: the entity is disabled"}
	for _, p := range []struct{ name, path string }{{"look itself up", "lookup/self"}, {"get an identity token", "oidc/token/r"}} {
		attacks = append(attacks,
			attack{"anonymous may not " + p.name, func(t *testing.T) answer { return vaultCall(t, "", "GET", s.path(p.path), nil) }, permissionDenied},
			attack{"no entity may not " + p.name, func(t *testing.T) answer { return vaultCall(t, noEntity, "GET", s.path(p.path), nil) }, noEntityAnswer},
			attack{"a disabled entity may not " + p.name, func(t *testing.T) answer { return vaultCall(t, dora.token, "GET", s.path(p.path), nil) }, disabled},
		)
	}
	refuseAll(t, s, attacks)

	// Another entity's own answers are its own: its self lookup and its
	// token name it, never the victim.
	self := asToken(t, mallory.token, "GET", s.path("lookup/self"), nil)
	require.Equal(t, http.StatusOK, self.Status, self.Errors)
	require.Equal(t, mallory.entityID, self.Data["id"])
	tok := asToken(t, mallory.token, "GET", s.path("oidc/token/r"), nil)
	require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
	in := mustWrite(t, s.path("oidc/introspect"), map[string]any{"token": tok.Data["token"]})
	require.Equal(t, map[string]any{"active": true}, in.Body)

	// The token the disabled entity signed before is no longer active.
	in = mustWrite(t, s.path("oidc/introspect"), map[string]any{"token": early.Data["token"]})
	require.Equal(t, map[string]any{"active": false, "error": "entity is disabled"}, in.Body)

	// Nothing the attacks tried took effect.
	v := do(t, "GET", s.path("entity/id/"+alice.entityID), nil)
	require.Equal(t, "sec-alice", v.Data["name"])
	require.Equal(t, []any{group.Data["id"]}, v.Data["group_ids"])
	require.Equal(t, http.StatusNoContent, do(t, "POST", s.path("lookup/entity"), map[string]any{"name": "intruder"}).Status)
}
