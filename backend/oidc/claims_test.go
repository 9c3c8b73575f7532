package oidc

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

func TestGroupFilterKeeps(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		name     string
		want     bool
	}{
		{nil, "anything", true},
		{[]string{}, "anything", true},
		{[]string{"team-*"}, "team-a", true},
		{[]string{"team-*"}, "Team-A", true},
		{[]string{"team-*"}, "team-", true},
		{[]string{"team-*"}, "team", false},
		{[]string{"team-*"}, "ops", false},
		{[]string{"ops"}, "ops", true},
		{[]string{"ops"}, "OPS", true},
		{[]string{"ops"}, "ops2", false},
		{[]string{"ops", "team-*"}, "team-b", true},
		{[]string{"*"}, "x", true},
	} {
		require.Equal(t, tc.want, groupFilterKeeps(tc.patterns, tc.name), "%q %q", tc.patterns, tc.name)
	}
}

// TestGroupFilterValidation: empty patterns and a "*" anywhere but at the
// end are refused; the filter is stored sorted and deduplicated, kept on
// updates that do not set it, and cleared by an empty list.
func TestGroupFilterValidation(t *testing.T) {
	p := newProviderClock(t)
	write := func(f []string) error {
		return p.st.WriteClient(p.ctx, "app", ClientUpdate{GroupFilter: core.Some(f)})
	}
	for _, bad := range [][]string{{""}, {"team-*", ""}, {"*team"}, {"te*am"}, {"team**"}} {
		err := write(bad)
		require.Error(t, err, "%q", bad)
		e, ok := core.AsError(err)
		require.True(t, ok && e.Status == 400, "%q: %v", bad, err)
	}
	filter := func() []string {
		c, err := p.st.OIDCClient(p.ctx, "app")
		require.NoError(t, err)
		return c.GroupFilter
	}
	require.Empty(t, filter(), "a bad filter changes nothing")
	require.NoError(t, write([]string{"team-*", "ops", "team-*"}))
	require.Equal(t, []string{"ops", "team-*"}, filter())
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{IDTokenTTL: core.Some(time.Minute)}))
	require.Equal(t, []string{"ops", "team-*"}, filter())
	require.NoError(t, write([]string{}))
	require.Empty(t, filter())
}

// groupsFixture is a provider "p" whose scope "groups" lists the entity's
// groups, alice in 300 groups (5 named team-*, one of them inherited), a
// client "app" without a filter and a client "filtered" keeping team-*.
type groupsFixture struct {
	*providerClock
	filtered *Client
	teamIDs  []string
	allNames []string
}

func newGroupsFixture(t *testing.T) *groupsFixture {
	t.Helper()
	p := newProviderClock(t)
	require.NoError(t, p.st.WriteScope(p.ctx, "groups", ScopeUpdate{Template: core.Some(`{"groups": {{identity.entity.groups.names}}, "group_ids": {{identity.entity.groups.ids}}}`)}))
	require.NoError(t, p.st.WriteScope(p.ctx, "everything", ScopeUpdate{Template: core.Some(`{"all_groups": {{identity.entity.groups.names}}, "metadata": {{identity.entity.metadata}}}`)}))
	_, err := p.st.WriteProvider(p.ctx, "p", ProviderUpdate{ScopesSupported: core.Some([]string{"profile", "groups", "everything"})})
	require.NoError(t, err)
	f := &groupsFixture{providerClock: p}
	var parentOf string
	for i := range 300 {
		name := fmt.Sprintf("dept-%03d", i)
		switch {
		case i < 4:
			name = fmt.Sprintf("team-%c", 'a'+i)
		case i == 4:
			name = "Team-Parent" // alice is in it through dept-005
		}
		u := identity.GroupUpdate{Name: name, MemberEntityIDs: core.Some([]string{p.entityID})}
		if i == 4 {
			u.MemberEntityIDs = core.Opt[[]string]{}
		}
		g, _, err := p.st.UpsertGroup(p.ctx, u)
		require.NoError(t, err)
		if i == 4 {
			parentOf = g.ID
		}
		if i == 5 {
			_, _, err = p.st.UpsertGroup(p.ctx, identity.GroupUpdate{ID: parentOf, MemberGroupIDs: core.Some([]string{g.ID})})
			require.NoError(t, err)
		}
		if i < 5 {
			f.teamIDs = append(f.teamIDs, g.ID)
		}
		f.allNames = append(f.allNames, name)
	}
	f.filtered = p.addClient(t, "filtered", ClientConfidential)
	require.NoError(t, p.st.WriteClient(p.ctx, "filtered", ClientUpdate{GroupFilter: core.Some([]string{"team-*"})}))
	return f
}

// tokens runs the code flow for client c with the scope.
func (f *groupsFixture) tokens(t *testing.T, c *Client, scope string) *TokenResponse {
	t.Helper()
	r := f.authzRequest(c, core.Opt[string]{}, "")
	r.Scope = scope
	code, err := f.st.Authorize(f.ctx, r)
	require.NoError(t, err)
	out, err := f.st.ExchangeToken(f.ctx, TokenExchange{
		Provider: "p", Auth: ClientAuth{ID: c.ClientID, Secret: c.ClientSecret}, GrantType: GrantAuthorizationCode,
		Code: code, RedirectURI: clockRedirect, Issuer: func(s string) string { return s },
	})
	require.NoError(t, err)
	return out
}

func idClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, signatureAlgorithms)
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, parsed.UnsafeClaimsWithoutVerification(&claims))
	return claims
}

func anyStrings(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "a list: %v", v)
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.(string)
	}
	return out
}

// TestGroupFilterClaims (vault#14986): a client keeping team-* gets only
// those of alice's 300 groups, direct or inherited, names and ids, in its ID
// token (small), in userinfo and in refreshed ID tokens; a client without
// a filter sees all of them, as before.
func TestGroupFilterClaims(t *testing.T) {
	f := newGroupsFixture(t)
	wantNames := []string{"team-a", "team-b", "team-c", "team-d", "Team-Parent"}

	check := func(label string, claims map[string]any) {
		t.Helper()
		require.ElementsMatch(t, wantNames, anyStrings(t, claims["groups"]), label)
		require.ElementsMatch(t, f.teamIDs, anyStrings(t, claims["group_ids"]), label)
	}
	tok := f.tokens(t, f.filtered, "openid groups")
	check("ID token", idClaims(t, tok.IDToken))
	require.Less(t, len(tok.IDToken), 2048, "a small ID token")
	info, err := f.st.UserInfo(f.ctx, "p", tok.AccessToken, true)
	require.NoError(t, err)
	check("userinfo", info)
	refreshed, err := f.st.ExchangeToken(f.ctx, TokenExchange{
		Provider: "p", Auth: ClientAuth{ID: f.filtered.ClientID, Secret: f.filtered.ClientSecret}, GrantType: GrantRefreshToken,
		RefreshToken: tok.RefreshToken, Issuer: func(s string) string { return s },
	})
	require.NoError(t, err)
	check("refreshed ID token", idClaims(t, refreshed.IDToken))

	all := f.tokens(t, f.client, "openid groups")
	claims := idClaims(t, all.IDToken)
	require.ElementsMatch(t, f.allNames, anyStrings(t, claims["groups"]), "no filter: every group")
	require.Len(t, anyStrings(t, claims["group_ids"]), 300)
	require.Greater(t, len(all.IDToken), 16*1024, "300 groups make a big token")
	info, err = f.st.UserInfo(f.ctx, "p", all.AccessToken, true)
	require.NoError(t, err)
	require.Len(t, anyStrings(t, info["groups"]), 300)
}

// TestGroupFilterMayNot: a filtering client learns nothing of the groups
// its filter drops, whatever it asks: another scope listing every group
// lists only the kept ones, a refresh may not widen the scope, and a
// filter narrowed after the grant applies to the next userinfo and
// refresh.
func TestGroupFilterMayNot(t *testing.T) {
	f := newGroupsFixture(t)
	wantNames := []string{"team-a", "team-b", "team-c", "team-d", "Team-Parent"}

	all := idClaims(t, f.tokens(t, f.client, "openid everything").IDToken)
	require.Len(t, anyStrings(t, all["all_groups"]), 300)
	tok := f.tokens(t, f.filtered, "openid groups everything")
	claims := idClaims(t, tok.IDToken)
	require.ElementsMatch(t, wantNames, anyStrings(t, claims["all_groups"]))
	require.ElementsMatch(t, wantNames, anyStrings(t, claims["groups"]))
	info, err := f.st.UserInfo(f.ctx, "p", tok.AccessToken, true)
	require.NoError(t, err)
	require.ElementsMatch(t, wantNames, anyStrings(t, info["all_groups"]))

	// A refresh asking for more than was granted is refused.
	narrow := f.tokens(t, f.filtered, "openid profile")
	refresh := func(rt, scope string) (*TokenResponse, error) {
		return f.st.ExchangeToken(f.ctx, TokenExchange{
			Provider: "p", Auth: ClientAuth{ID: f.filtered.ClientID, Secret: f.filtered.ClientSecret}, GrantType: GrantRefreshToken,
			RefreshToken: rt, Scope: scope, Issuer: func(s string) string { return s },
		})
	}
	_, err = refresh(narrow.RefreshToken, "openid profile groups")
	requireOAuth(t, err, 400, "invalid_scope", "requested scope exceeds the scope granted")

	// Narrowing the filter narrows what the grant's next answers carry.
	require.NoError(t, f.st.WriteClient(f.ctx, "filtered", ClientUpdate{GroupFilter: core.Some([]string{"team-a"})}))
	info, err = f.st.UserInfo(f.ctx, "p", tok.AccessToken, true)
	require.NoError(t, err)
	require.Equal(t, []string{"team-a"}, anyStrings(t, info["groups"]))
	out, err := refresh(tok.RefreshToken, "")
	require.NoError(t, err)
	require.Equal(t, []string{"team-a"}, anyStrings(t, idClaims(t, out.IDToken)["groups"]))

	// The filter shapes claims, not assignments: alice, assigned through a
	// dropped group, still signs in.
	require.NoError(t, f.st.WriteAssignment(f.ctx, "depts", AssignmentUpdate{GroupIDs: core.Some([]string{mustGroupID(t, f.st, "dept-100")})}))
	require.NoError(t, f.st.WriteClient(f.ctx, "filtered", ClientUpdate{Assignments: core.Some([]string{"depts"})}))
	claims = idClaims(t, f.tokens(t, f.filtered, "openid groups").IDToken)
	require.Equal(t, []string{"team-a"}, anyStrings(t, claims["groups"]))
	require.False(t, slices.ContainsFunc(anyStrings(t, claims["groups"]), func(s string) bool { return strings.HasPrefix(s, "dept-") }))
}

// TestRoleAudiences (vault-csi-provider#231): a role without audiences
// signs aud as its client id string, as Vault; with audiences, aud is an
// array, the client id first, then the extras without repeats. Empty
// audiences are refused; oidc/introspect takes the token for the client id
// and for each extra audience, and for no other.
func TestRoleAudiences(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(testOptions{Storage: new(logical.InmemStorage), Now: clock.Now})
	require.NoError(t, st.Load(ctx))
	require.NoError(t, st.WriteKey(ctx, "k", KeyUpdate{AllowedClientIDs: core.Some([]string{"*"})}))
	require.NoError(t, st.WriteRole(ctx, "r", RoleUpdate{Key: core.Some("k"), ClientID: core.Some("vault-csi")}))
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	const issuer = "https://vault.test/v1/ident/oidc"
	issue := func() string {
		tok, err := st.IssueToken(ctx, TokenRequest{Role: "r", Issuer: issuer, Caller: func() (*identity.EntityView, error) { return st.Entity(ctx, identity.EntitySelector{ID: e.ID}) }})
		require.NoError(t, err)
		return tok.Token
	}
	introspect := func(token, clientID string) string {
		msg, err := st.Introspect(ctx, token, clientID, issuer)
		require.NoError(t, err)
		return msg
	}
	audiences := func() []string {
		r, err := st.OIDCRole(ctx, "r")
		require.NoError(t, err)
		return r.Audiences
	}

	plain := issue()
	require.Equal(t, "vault-csi", idClaims(t, plain)["aud"], "no audiences: a string, as in Vault")
	require.Empty(t, introspect(plain, "vault-csi"))

	for _, bad := range [][]string{{""}, {"api", ""}} {
		err := st.WriteRole(ctx, "r", RoleUpdate{Audiences: core.Some(bad)})
		e, ok := core.AsError(err)
		require.True(t, ok && e.Status == 400, "%q: %v", bad, err)
	}
	require.Empty(t, audiences(), "a refused write changes nothing")

	require.NoError(t, st.WriteRole(ctx, "r", RoleUpdate{Audiences: core.Some([]string{"https://kubernetes.default.svc", "api", "vault-csi", "api"})}))
	require.Equal(t, []string{"https://kubernetes.default.svc", "api", "vault-csi"}, audiences(), "stored in order, without repeats")
	multi := issue()
	require.Equal(t, []any{"vault-csi", "https://kubernetes.default.svc", "api"}, idClaims(t, multi)["aud"])
	for _, aud := range []string{"vault-csi", "https://kubernetes.default.svc", "api", ""} {
		require.Empty(t, introspect(multi, aud), aud)
	}
	require.Contains(t, introspect(multi, "other"), "error validating claims")
	require.Contains(t, introspect(plain, "api"), "error validating claims")

	// Kept on updates that do not set them; cleared by an empty list.
	require.NoError(t, st.WriteRole(ctx, "r", RoleUpdate{TTL: core.Some(time.Hour)}))
	require.Len(t, audiences(), 3)
	require.NoError(t, st.WriteRole(ctx, "r", RoleUpdate{Audiences: core.Some([]string{})}))
	require.Empty(t, audiences())
	require.Equal(t, "vault-csi", idClaims(t, issue())["aud"])
}
