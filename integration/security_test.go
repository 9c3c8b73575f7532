//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The attack suite: for every path family, the actors that may not act try,
// each try is refused with the exact status and message, and the mount's
// storage, read through Vault's sys/raw, is the same afterwards. The families
// are in security_*_test.go; this file holds what they share.

// secStore is a plugin mount of its own for one family of attacks, so that
// its storage holds only what the family wrote.
type secStore struct {
	mount string
	uuid  string
}

// selfPolicy is what every user of the attack suite may do: the paths that
// act for the caller, and nothing else.
const selfPolicy = `
path "%[1]s/lookup/self" { capabilities = ["read"] }
path "%[1]s/oidc/token/*" { capabilities = ["read"] }
path "%[1]s/mfa/method/totp/generate" { capabilities = ["update"] }
path "%[1]s/mfa/validate" { capabilities = ["update"] }
path "%[1]s/mfa/recovery-codes/generate" { capabilities = ["update"] }
path "%[1]s/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
`

func newSecStore(t *testing.T, name string) *secStore {
	t.Helper()
	require.NoError(t, server.Enable(context.Background(), name))
	t.Cleanup(func() { do(t, "DELETE", "sys/mounts/"+name, nil) })
	m := do(t, "GET", "sys/mounts/"+name, nil)
	require.Equal(t, http.StatusOK, m.Status, m.Errors)
	s := &secStore{mount: name, uuid: m.Data["uuid"].(string)}
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/"+name+"-self", map[string]any{
		"policy": fmt.Sprintf(selfPolicy, name),
	}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/"+name+"-self", nil) })
	return s
}

// storage reads every entry of the mount's storage as Vault holds it.
func (s *secStore) storage(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		r := do(t, "LIST", "sys/raw/logical/"+s.uuid+"/"+prefix, nil)
		if r.Status == http.StatusNotFound {
			return
		}
		require.Equal(t, http.StatusOK, r.Status, "sys/raw must be enabled: %v", r.Errors)
		for _, k := range r.Data["keys"].([]any) {
			key := prefix + k.(string)
			if strings.HasSuffix(key, "/") {
				walk(key)
				continue
			}
			v := do(t, "GET", "sys/raw/logical/"+s.uuid+"/"+key, nil)
			require.Equal(t, http.StatusOK, v.Status, "%s: %v", key, v.Errors)
			out[key] = v.Data["value"].(string)
		}
	}
	walk("")
	return out
}

// path is the mount's path p.
func (s *secStore) path(p string) string { return s.mount + "/" + p }

// secUser is a userpass user whose token carries the self policy, and the
// entity of the store its login maps to.
type secUser struct {
	name     string
	token    string
	entityID string
}

// user creates a userpass user, an entity of the store with an alias for it,
// and logs it in.
func (s *secStore) user(t *testing.T, name string) *secUser {
	t.Helper()
	forgetVaultEntity(t, name, userpassAccessor)
	r := do(t, "POST", "auth/userpass/users/"+name, map[string]any{"password": "pw-" + name, "token_policies": s.mount + "-self"})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	t.Cleanup(func() { do(t, "DELETE", "auth/userpass/users/"+name, nil) })
	e := mustWrite(t, s.path("entity"), map[string]any{"name": name})
	u := &secUser{name: name, entityID: e.Data["id"].(string)}
	mustWrite(t, s.path("entity-alias"), map[string]any{"name": name, "mount_accessor": userpassAccessor, "canonical_id": u.entityID})
	login := asToken(t, "", "POST", "auth/userpass/login/"+name, map[string]any{"password": "pw-" + name})
	require.Equal(t, http.StatusOK, login.Status, login.Errors)
	u.token = login.Body["auth"].(map[string]any)["client_token"].(string)
	return u
}

// entitylessToken is a token with the self policy and no entity: made by
// root, as a batch job's token would be.
func (s *secStore) entitylessToken(t *testing.T) string {
	t.Helper()
	r := do(t, "POST", "auth/token/create", map[string]any{"policies": []string{s.mount + "-self"}, "no_parent": true, "ttl": "1h"})
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	return r.Body["auth"].(map[string]any)["client_token"].(string)
}

// answer is a refusal as a client sees it: the status and its text, Vault's
// errors joined by "; " (Vault's ACL wraps its refusal of some operations
// as a one-error list, which is unwrapped) or an OAuth error as "code:
// description".
type answer struct {
	status int
	text   string
}

func (a answer) String() string { return fmt.Sprintf("%d %q", a.status, a.text) }

// vaultCall sends a Vault API request with token ("" for none).
func vaultCall(t *testing.T, token, method, path string, body any) answer {
	t.Helper()
	r := asToken(t, token, method, path, body)
	errs := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		errs[i] = unwrapMultierror(e)
	}
	return answer{r.Status, strings.Join(errs, "; ")}
}

// oauthCall sends a request to an OAuth endpoint (a form, headers as
// given) and reads its OAuth error, or its raw body when it has none.
func oauthCall(t *testing.T, method, path string, form url.Values, headers map[string]string) answer {
	t.Helper()
	return oauthAnswer(oauthDo(t, method, path, form, headers))
}

// oauthAnswer is an OAuth reply as an answer.
func oauthAnswer(r oauthReply) answer {
	if code, ok := r.Body["error"].(string); ok {
		desc, _ := r.Body["error_description"].(string)
		return answer{r.Status, code + ": " + desc}
	}
	return answer{r.Status, strings.TrimSpace(r.Raw)}
}

// attack is one "may not" row: who tries what, and the refusal they must
// get.
type attack struct {
	name string
	try  func(t *testing.T) answer
	want answer
}

// refuseAll runs each attack against store and requires its refusal and
// that the store's storage is unchanged afterwards.
func refuseAll(t *testing.T, store *secStore, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			before := store.storage(t)
			got := a.try(t)
			require.Equal(t, a.want.String(), got.String())
			requireSameStorage(t, before, store.storage(t))
		})
	}
}

// requireSameStorage fails with the keys that differ.
func requireSameStorage(t *testing.T, before, after map[string]string) {
	t.Helper()
	var changed []string
	for k, v := range after {
		if before[k] != v {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k+" (deleted)")
		}
	}
	sort.Strings(changed)
	require.Empty(t, changed, "a refused request changed storage")
}

// permissionDenied is Vault's ACL refusal.
var permissionDenied = answer{http.StatusForbidden, "permission denied"}
