package oidc

import (
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Per-client claim shaping, not in Vault (vault#14986).
//
// A client's group_filter limits the groups its scope templates see: the
// groups of the entity (direct, then inherited) are filtered before the
// template is rendered, so identity.entity.groups.names and
// identity.entity.groups.ids of every scope, in ID tokens (of a code or a
// refresh) and userinfo answers, list only the groups the filter keeps. No
// scope, requested or not, sees more: the filter belongs to the client, not
// to the request. The assignments are checked against every group, as
// before: the filter shapes claims, not who may sign in.

// validateGroupFilter checks a group filter: each pattern is a group name,
// or a prefix followed by a single "*" at its end.
func validateGroupFilter(patterns []string) error {
	for _, p := range patterns {
		switch i := strings.IndexByte(p, '*'); {
		case p == "":
			return core.UserErrorf("group_filter: a pattern must not be empty")
		case i >= 0 && i != len(p)-1:
			return core.UserErrorf("group_filter: %q: \"*\" may only end a pattern", p)
		}
	}
	return nil
}

// groupFilterKeeps reports whether the filter keeps the group name: an empty
// filter keeps every group. Group names are unique regardless of case, so
// the filter ignores case too.
func groupFilterKeeps(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	name = strings.ToLower(name)
	for _, p := range patterns {
		p = strings.ToLower(p)
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// filterGroups returns the groups the filter keeps, in order; the groups
// themselves when the filter is empty.
func filterGroups(patterns []string, groups []*logical.Group) []*logical.Group {
	if len(patterns) == 0 {
		return groups
	}
	out := make([]*logical.Group, 0, len(groups))
	for _, g := range groups {
		if groupFilterKeeps(patterns, g.Name) {
			out = append(out, g)
		}
	}
	return out
}

// Several audiences in identity tokens, not in Vault
// (vault-csi-provider#231).
//
// A role's audiences are extra values of the aud claim of its tokens. With
// none, aud is the role's client id, a string, as in Vault. With any, aud
// is an array: the client id first, then the extras in the order written,
// without repeats (the client id among them is not repeated either). RFC
// 7519 allows both forms; go-oidc, Vault's jwt auth and oidc/introspect
// accept a token whose aud array contains the audience they expect.

// validateAudiences checks a role's extra audiences (no empty one) and
// returns them without repeats, in order.
func validateAudiences(auds []string) ([]string, error) {
	out := make([]string, 0, len(auds))
	for _, a := range auds {
		if a == "" {
			return nil, core.UserErrorf("audiences: an audience must not be empty")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// tokenAudience is the aud claim of a role's tokens: its client id, or the
// client id followed by the extra audiences.
func tokenAudience(r *Role) any {
	if len(r.Audiences) == 0 {
		return r.ClientID
	}
	aud := []string{r.ClientID}
	for _, a := range r.Audiences {
		if !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	return aud
}
