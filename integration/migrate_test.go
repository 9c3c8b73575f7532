//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// identity-migrate against a real server: moving a built-in store into a
// plugin mount with its ids, then backing that mount up and restoring it,
// interrupted and resumed; and everything it and the plugin's import and
// export paths must refuse.

// migrateBin is the tool make build puts beside the plugin.
func migrateBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(os.Getenv("PLUGIN_BIN")), "identity-migrate")
	_, err := os.Stat(bin)
	require.NoError(t, err, "identity-migrate is built by make build, beside the plugin")
	return bin
}

// toolEnv is the environment of the tool: this server and token, and none
// of the caller's VAULT_* variables.
func toolEnv(token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return append(env, "VAULT_ADDR="+server.Addr, "VAULT_TOKEN="+token)
}

// toolRun is how a run of the tool ended.
type toolRun struct {
	code           int
	stdout, stderr string
}

func runTool(t *testing.T, token string, args ...string) toolRun {
	t.Helper()
	cmd := exec.Command(migrateBin(t), args...)
	cmd.Env = toolEnv(token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return toolRun{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// mustTool runs the tool and requires success.
func mustTool(t *testing.T, args ...string) toolRun {
	t.Helper()
	r := runTool(t, server.Token, args...)
	require.Equal(t, 0, r.code, "identity-migrate %s:\n%s\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// toolAnswer is a refused run as an answer: its exit status and output.
func toolAnswer(r toolRun) answer {
	return answer{r.code, strings.TrimSpace(r.stdout + r.stderr)}
}

// writeDump writes records as a dump file.
func writeDump(t *testing.T, path string, recs ...dump.Record) {
	t.Helper()
	var buf bytes.Buffer
	w, err := dump.NewWriter(&buf, dump.Header{Source: dump.SourcePlugin, Mount: "elsewhere"})
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
}

func newRec(t *testing.T, kind, id string, v any) dump.Record {
	t.Helper()
	r, err := dump.NewRecord(kind, id, v)
	require.NoError(t, err)
	return r
}

// TestMigrateRefusals: who may not import or export, a mount that does not
// allow key export, and records or dumps the import must refuse, each
// with its exact answer and no change to the mount's storage.
func TestMigrateRefusals(t *testing.T) {
	s := newSecStore(t, "migr-refuse")
	taken := mustWrite(t, s.path("entity"), map[string]any{"name": "taken"}).Data["id"].(string)
	// An administrator of entities who may read the export, not write
	// an import nor read the keys.
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/migr-refuse-reader", map[string]any{"policy": `
path "migr-refuse/entity*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "migr-refuse/export" { capabilities = ["read"] }
`}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/migr-refuse-reader", nil) })
	token := func(policy string) string {
		r := do(t, "POST", "auth/token/create", map[string]any{"policies": []string{policy}, "ttl": "10m"})
		require.Equal(t, http.StatusOK, r.Status, r.Errors)
		return r.Body["auth"].(map[string]any)["client_token"].(string)
	}
	reader, other := token("migr-refuse-reader"), token("default")

	now := time.Now().UTC().Truncate(time.Second)
	newcomer := newRec(t, dump.KindEntity, "0d7a2b7e-0000-4000-8000-000000000001", dump.Entity{ID: "0d7a2b7e-0000-4000-8000-000000000001", Name: "newcomer", CreationTime: now, LastUpdateTime: now})
	clash := newRec(t, dump.KindEntity, "0d7a2b7e-0000-4000-8000-000000000002", dump.Entity{ID: "0d7a2b7e-0000-4000-8000-000000000002", Name: "taken", CreationTime: now, LastUpdateTime: now})
	orphan := newRec(t, dump.KindEntityAlias, "0d7a2b7e-0000-4000-8000-000000000003", dump.Alias{
		ID: "0d7a2b7e-0000-4000-8000-000000000003", CanonicalID: "0d7a2b7e-0000-4000-8000-000000000009",
		MountAccessor: userpassAccessor, Name: "nobody", CreationTime: now, LastUpdateTime: now,
	})
	body := func(recs ...dump.Record) map[string]any { return map[string]any{"records": recs} }

	dir := t.TempDir()
	good, clashing, dangling := filepath.Join(dir, "good.jsonl"), filepath.Join(dir, "clash.jsonl"), filepath.Join(dir, "dangling.jsonl")
	writeDump(t, good, newcomer)
	writeDump(t, clashing, newcomer, clash)
	writeDump(t, dangling, newcomer, orphan)
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(raw), "\n")
	truncated, edited := filepath.Join(dir, "truncated.jsonl"), filepath.Join(dir, "edited.jsonl")
	require.NoError(t, os.WriteFile(truncated, []byte(strings.Join(lines[:2], "")), 0o600))
	editedLine := strings.Replace(lines[1], `"newcomer"`, `"intruder"`, 1)
	require.NoError(t, os.WriteFile(edited, []byte(lines[0]+editedLine+strings.Join(lines[2:], "")), 0o600))
	sum := sha256.Sum256([]byte(lines[0] + editedLine))
	var trailer struct {
		Trailer dump.Trailer `json:"trailer"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &trailer))

	importArgs := func(file string) []string {
		return []string{"import", "--from-file", file, "--to", s.mount, "--progress", "none"}
	}
	refuseAll(t, s, []attack{
		{"a token without the import capability imports", func(t *testing.T) answer {
			return vaultCall(t, reader, "POST", s.path("import"), body(newcomer))
		}, permissionDenied},
		{"a default token exports", func(t *testing.T) answer {
			return vaultCall(t, other, "GET", s.path("export"), nil)
		}, permissionDenied},
		{"a token that may export reads the keys", func(t *testing.T) answer {
			return vaultCall(t, reader, "GET", s.path("export/keys"), nil)
		}, permissionDenied},
		{"the keys of a mount that does not allow key export", func(t *testing.T) answer {
			return vaultCall(t, server.Token, "GET", s.path("export/keys"), nil)
		}, answer{http.StatusBadRequest, "private key export is disabled for this mount: set allow_key_export=true in its config to allow it"}},
		{"a record that refers to a missing object", func(t *testing.T) answer {
			return vaultCall(t, server.Token, "POST", s.path("import"), body(newcomer, orphan))
		}, answer{http.StatusBadRequest, `import refused, nothing written: 1 problem
record 1 (entity-alias 0d7a2b7e-0000-4000-8000-000000000003): canonical_id "0d7a2b7e-0000-4000-8000-000000000009" names no entity`}},
		{"a name another id holds", func(t *testing.T) answer {
			return vaultCall(t, server.Token, "POST", s.path("import"), map[string]any{"records": []dump.Record{newcomer, clash}, "on_conflict": "overwrite"})
		}, answer{http.StatusBadRequest, fmt.Sprintf(`import refused, nothing written: 1 problem
record 1 (entity 0d7a2b7e-0000-4000-8000-000000000002): entity name "taken" is already used by entity %s`, taken)}},
		{"the tool with a token without the import capability", func(t *testing.T) answer {
			return toolAnswer(runTool(t, reader, importArgs(good)...))
		}, answer{1, "identity-migrate: PUT migr-refuse/import: Vault answered 403: permission denied"}},
		{"the tool exports keys the mount does not allow", func(t *testing.T) answer {
			return toolAnswer(runTool(t, server.Token, "export", "--from", s.mount, "--include-keys", "-o", filepath.Join(dir, "keys.jsonl"), "--progress", "none"))
		}, answer{1, "identity-migrate: GET migr-refuse/export/keys: Vault answered 400: private key export is disabled for this mount: set allow_key_export=true in its config to allow it"}},
		{"the tool imports a name another id holds", func(t *testing.T) answer {
			return toolAnswer(runTool(t, server.Token, importArgs(clashing)...))
		}, answer{1, fmt.Sprintf(`identity-migrate: nothing was written: 1 record cannot be imported into migr-refuse as it is:
  %s line 3: entity 0d7a2b7e-0000-4000-8000-000000000002: entity name "taken" is already used by entity %s (taken)
Resolve them in the target or the source, or run again with --on-conflict=skip to leave the target's objects as they are (--on-conflict=overwrite replaces objects with the same id, never an object that holds a name or alias under another id).`, clashing, taken)}},
		{"the tool imports a record that refers to a missing object", func(t *testing.T) answer {
			return toolAnswer(runTool(t, server.Token, importArgs(dangling)...))
		}, answer{1, fmt.Sprintf(`identity-migrate: nothing was written: 1 record cannot be imported into migr-refuse as it is:
  %s line 3: entity-alias 0d7a2b7e-0000-4000-8000-000000000003: canonical_id "0d7a2b7e-0000-4000-8000-000000000009" names no entity (missing_reference)
Resolve them in the target or the source, or run again with --on-conflict=skip to leave the target's objects as they are (--on-conflict=overwrite replaces objects with the same id, never an object that holds a name or alias under another id).`, dangling)}},
		{"the tool imports a truncated dump", func(t *testing.T) answer {
			return toolAnswer(runTool(t, server.Token, importArgs(truncated)...))
		}, answer{1, fmt.Sprintf("identity-migrate: %s: line 3: the dump ends without its trailer after line 2: it is truncated; nothing was written", truncated)}},
		{"the tool imports an edited dump", func(t *testing.T) answer {
			return toolAnswer(runTool(t, server.Token, importArgs(edited)...))
		}, answer{1, fmt.Sprintf("identity-migrate: %s: line 3: the SHA-256 of the lines before the trailer is %s, not the trailer's %s: the dump was changed after it was written; nothing was written", edited, hex.EncodeToString(sum[:]), trailer.Trailer.SHA256)}},
	})

	// What the refusals spared works: the reader exports, the good dump
	// imports.
	r := vaultCall(t, reader, "GET", s.path("export"), nil)
	require.Equal(t, http.StatusOK, r.status, r.text)
	out := mustTool(t, importArgs(good)...)
	require.Contains(t, out.stdout, "copied:    1 (created 1, overwritten 0)")
}

// builtinFixture is what TestMigrateFromBuiltin makes in identity/.
type builtinFixture struct {
	entities                  []string // 2,000 entity ids; 0 is alice's, 1 bob's
	app1, app2                engineClient
	totpID                    string
	aliceToken, bobToken      string
	aliceSub, bobSub          string
	aliceClaims, bobClaims    map[string]any
	redirect, scope, provider string
}

type engineClient struct{ name, id, secret string }

const (
	migrMount    = "migr"
	migrEntities = 2000
)

// call is server.Do for goroutines: errors instead of failing the test.
func call(method, path string, body any, want ...int) (map[string]any, error) {
	r, err := server.Do(context.Background(), method, path, body)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(want, r.Status) {
		return nil, fmt.Errorf("%s %s: %d %v", method, path, r.Status, r.Errors)
	}
	return r.Data, nil
}

// newBuiltinFixture fills identity/: 2,000 entities with an alias on
// userpass and one on approle (two of them real userpass users), nested
// groups and an external group with its alias, an OIDC provider with two
// confidential clients, a role, a TOTP method and a login enforcement;
// and runs the authorization code flow of both users on the built-in
// provider.
func newBuiltinFixture(t *testing.T) *builtinFixture {
	t.Helper()
	f := &builtinFixture{redirect: "http://127.0.0.1:8251/callback", scope: "openid groups profile", provider: "migr"}
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/migr-login", map[string]any{"policy": `
path "identity/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
path "migr/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
`}).Status)
	t.Cleanup(func() { do(t, "DELETE", "sys/policies/acl/migr-login", nil) })
	for _, u := range []string{"migr-alice", "migr-bob"} {
		require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/userpass/users/"+u, map[string]any{"password": "pw", "token_policies": "migr-login"}).Status)
		t.Cleanup(func() { do(t, "DELETE", "auth/userpass/users/"+u, nil) })
	}

	f.entities = make([]string, migrEntities)
	t.Cleanup(func() {
		do(t, "POST", "identity/entity/batch-delete", map[string]any{"entity_ids": f.entities})
	})
	var g errgroup.Group
	g.SetLimit(8)
	for i := range migrEntities {
		g.Go(func() error {
			name, login := fmt.Sprintf("migr-%04d", i), fmt.Sprintf("migr-u%04d", i)
			switch i {
			case 0:
				name, login = "migr-alice", "migr-alice"
			case 1:
				name, login = "migr-bob", "migr-bob"
			}
			e, err := call("POST", "identity/entity", map[string]any{"name": name, "policies": []string{"p" + strconv.Itoa(i%7)}, "metadata": map[string]string{"n": strconv.Itoa(i)}}, http.StatusOK)
			if err != nil {
				return err
			}
			id := e["id"].(string)
			f.entities[i] = id
			if _, err := call("POST", "identity/entity-alias", map[string]any{"name": login, "mount_accessor": userpassAccessor, "canonical_id": id, "custom_metadata": map[string]string{"seat": strconv.Itoa(i)}}, http.StatusOK); err != nil {
				return err
			}
			_, err = call("POST", "identity/entity-alias", map[string]any{"name": fmt.Sprintf("migr-role-%04d", i), "mount_accessor": approleAccessor, "canonical_id": id}, http.StatusOK)
			return err
		})
	}
	require.NoError(t, g.Wait())

	group := func(body map[string]any) string {
		id := mustWrite(t, "identity/group", body).Data["id"].(string)
		t.Cleanup(func() { do(t, "DELETE", "identity/group/id/"+id, nil) })
		return id
	}
	leaf := group(map[string]any{"name": "migr-leaf", "member_entity_ids": f.entities[:100], "policies": []string{"leaf"}})
	mid := group(map[string]any{"name": "migr-mid", "member_group_ids": []string{leaf}})
	top := group(map[string]any{"name": "migr-top", "member_group_ids": []string{mid}, "metadata": map[string]string{"level": "top"}})
	group(map[string]any{"name": "migr-others", "member_entity_ids": f.entities[1:50]})
	// Login MFA applies at Vault's logins: not to the two users.
	mfaGroup := group(map[string]any{"name": "migr-mfa", "member_entity_ids": f.entities[200:300]})
	ext := group(map[string]any{"name": "migr-ext", "type": "external"})
	ga := mustWrite(t, "identity/group-alias", map[string]any{"name": "migr-devs", "mount_accessor": userpassAccessor, "canonical_id": ext}).Data["id"].(string)
	t.Cleanup(func() { do(t, "DELETE", "identity/group-alias/id/"+ga, nil) })

	p := "identity/oidc/"
	t.Cleanup(func() {
		for _, path := range []string{"provider/migr", "role/migr-role", "client/migr-app1", "client/migr-app2", "assignment/migr-assign", "scope/groups", "scope/profile", "key/migr-key"} {
			do(t, "DELETE", p+path, nil)
		}
	})
	mustWrite(t, p+"key/migr-key", map[string]any{"algorithm": "ES256", "allowed_client_ids": "*", "rotation_period": "12h", "verification_ttl": "12h"})
	mustWrite(t, p+"scope/groups", map[string]any{"template": `{"groups": {{identity.entity.groups.names}}}`, "description": "groups"})
	mustWrite(t, p+"scope/profile", map[string]any{"template": `{"name": {{identity.entity.name}}}`})
	mustWrite(t, p+"assignment/migr-assign", map[string]any{"group_ids": top, "entity_ids": f.entities[1]})
	f.app1.name, f.app2.name = "migr-app1", "migr-app2"
	for _, c := range []*engineClient{&f.app1, &f.app2} {
		mustWrite(t, p+"client/"+c.name, map[string]any{"key": "migr-key", "assignments": "migr-assign", "redirect_uris": f.redirect, "id_token_ttl": "30m", "access_token_ttl": "30m"})
		r := do(t, "GET", p+"client/"+c.name, nil).Data
		c.id, c.secret = r["client_id"].(string), r["client_secret"].(string)
	}
	mustWrite(t, p+"provider/migr", map[string]any{"allowed_client_ids": []string{f.app1.id, f.app2.id}, "scopes_supported": "groups,profile"})
	mustWrite(t, p+"role/migr-role", map[string]any{"key": "migr-key", "ttl": "1h", "template": `{"team": {{identity.entity.metadata.n}}}`})

	f.totpID = mustWrite(t, "identity/mfa/method/totp", map[string]any{"method_name": "migr-totp", "issuer": "Vault", "period": 30}).Data["method_id"].(string)
	mustWrite(t, "identity/mfa/login-enforcement/migr-enf", map[string]any{"mfa_method_ids": f.totpID, "identity_group_ids": mfaGroup})
	t.Cleanup(func() {
		do(t, "DELETE", "identity/mfa/login-enforcement/migr-enf", nil)
		do(t, "DELETE", "identity/mfa/method/totp/"+f.totpID, nil)
	})

	login := func(user string) string {
		r := asToken(t, "", "POST", "auth/userpass/login/"+user, map[string]any{"password": "pw"})
		require.Equal(t, http.StatusOK, r.Status, r.Errors)
		return r.Body["auth"].(map[string]any)["client_token"].(string)
	}
	f.aliceToken, f.bobToken = login("migr-alice"), login("migr-bob")
	var raw string
	raw, f.aliceClaims = f.codeFlow(t, "identity", f.aliceToken, f.app1)
	require.NotEmpty(t, raw)
	_, f.bobClaims = f.codeFlow(t, "identity", f.bobToken, f.app2)
	f.aliceSub, f.bobSub = f.aliceClaims["sub"].(string), f.bobClaims["sub"].(string)
	require.Equal(t, f.entities[0], f.aliceSub, "the user's login maps to the entity of its alias")
	require.Equal(t, f.entities[1], f.bobSub)
	return f
}

// codeFlow runs the authorization code flow of a user with a client on
// the provider of a mount, and returns the ID token and its claims.
func (f *builtinFixture) codeFlow(t *testing.T, mnt, token string, c engineClient) (string, map[string]any) {
	t.Helper()
	base := mnt + "/oidc/provider/" + f.provider
	r := oauthDo(t, http.MethodPost, base+"/authorize", map[string]any{
		"client_id": c.id, "redirect_uri": f.redirect, "scope": f.scope, "response_type": "code", "state": "st", "nonce": "n1",
	}, vaultToken(token))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	code := r.Body["code"].(string)
	tok := oauthDo(t, http.MethodPost, base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
	}, basicAuth(c.id, c.secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	idToken := tok.Body["id_token"].(string)
	return idToken, jwtClaims(t, idToken)
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	claims := map[string]any{}
	require.NoError(t, json.Unmarshal(payload, &claims))
	return claims
}

// sortedGroups is a groups claim as a sorted list.
func sortedGroups(claims map[string]any) []string {
	var out []string
	for _, g := range claims["groups"].([]any) {
		out = append(out, g.(string))
	}
	slices.Sort(out)
	return out
}

// dumpRecords reads the records of a dump file (checked).
func dumpRecords(t *testing.T, path string) []dump.Record {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	d, err := dump.Read(fh)
	require.NoError(t, err)
	return d.Records
}

// wipe disables and enables a plugin mount: an empty store.
func wipe(t *testing.T, mnt string) {
	t.Helper()
	require.Equal(t, http.StatusNoContent, do(t, "DELETE", "sys/mounts/"+mnt, nil).Status)
	require.NoError(t, server.Enable(context.Background(), mnt))
	require.Equal(t, float64(0), mustEntities(t, mnt))
}

// mustEntities is how many entities a plugin mount holds.
func mustEntities(t *testing.T, mnt string) float64 {
	t.Helper()
	r := do(t, "GET", mnt+"/info", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	return r.Data["entities"].(float64)
}

// TestMigrateFromBuiltin moves a built-in store of 2,000 entities into a
// plugin mount with identity-migrate: the same logins then get ID tokens
// with the same sub and group claims from the plugin, the clients sign in
// with their old secrets. Then the mount is exported, wiped and restored
// from the file, all of it equal; and a restore killed part way is run
// again to the same end.
func TestMigrateFromBuiltin(t *testing.T) {
	ctx := context.Background()
	f := newBuiltinFixture(t)
	require.NoError(t, server.Enable(ctx, migrMount))
	t.Cleanup(func() { do(t, "DELETE", "sys/mounts/"+migrMount, nil) })
	dir := t.TempDir()

	// The import, checked against both sides at the end (--verify).
	rep := filepath.Join(dir, "report.json")
	out := mustTool(t, "import", "--from", "identity", "--to", migrMount, "--verify", "--report", rep, "--progress", "none")
	var report struct {
		Actions map[string]map[string]int `json:"actions"`
		Verify  struct {
			Identical int      `json:"identical"`
			Missing   []string `json:"missing"`
			Different []string `json:"different"`
			Extra     []string `json:"extra"`
		} `json:"verify"`
		NewKeys  []string                          `json:"new_keys"`
		Reenroll map[string][]string               `json:"totp_reenroll"`
		Issuers  []struct{ What, Old, New string } `json:"issuers_that_change"`
	}
	raw, err := os.ReadFile(rep)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &report))
	require.Empty(t, report.Verify.Missing, out.stdout)
	require.Empty(t, report.Verify.Different, out.stdout)
	require.Empty(t, report.Verify.Extra, out.stdout)
	require.GreaterOrEqual(t, report.Actions["entity"]["created"], migrEntities)
	require.GreaterOrEqual(t, report.Actions["entity-alias"]["created"], 2*migrEntities)
	require.Contains(t, report.NewKeys, "migr-key")
	require.ElementsMatch(t, f.entities[200:300], report.Reenroll["migr-totp"], "the enforcement's group members must enroll again")
	require.Contains(t, out.stdout, "keys that are new:")
	require.Contains(t, out.stdout, fmt.Sprintf("provider migr: %s/v1/identity/oidc/provider/migr -> %s/v1/migr/oidc/provider/migr", server.Addr, server.Addr))

	// Every entity with its id, name, policies, metadata and aliases.
	for _, i := range []int{0, 1, 2, 999, migrEntities - 1} {
		b := do(t, "GET", "identity/entity/id/"+f.entities[i], nil).Data
		p := do(t, "GET", migrMount+"/entity/id/"+f.entities[i], nil).Data
		for _, k := range []string{"id", "name", "policies", "metadata", "creation_time", "last_update_time", "direct_group_ids", "inherited_group_ids"} {
			require.Equal(t, normalizeSet(b[k]), normalizeSet(p[k]), "entity %d: %s", i, k)
		}
		require.Equal(t, aliasSummary(b["aliases"]), aliasSummary(p["aliases"]), "entity %d aliases", i)
	}
	require.GreaterOrEqual(t, mustEntities(t, migrMount), float64(migrEntities))

	// The same logins get ID tokens from the plugin with the same sub and
	// groups; the clients authenticate with their old secrets.
	aliceToken, aliceClaims := f.codeFlow(t, migrMount, f.aliceToken, f.app1)
	require.Equal(t, f.aliceSub, aliceClaims["sub"])
	require.Equal(t, sortedGroups(f.aliceClaims), sortedGroups(aliceClaims))
	require.Equal(t, []string{"migr-leaf", "migr-mid", "migr-top"}, sortedGroups(aliceClaims))
	require.Equal(t, f.aliceClaims["name"], aliceClaims["name"])
	_, bobClaims := f.codeFlow(t, migrMount, f.bobToken, f.app2)
	require.Equal(t, f.bobSub, bobClaims["sub"])
	require.Equal(t, sortedGroups(f.bobClaims), sortedGroups(bobClaims))
	wrong := oauthDo(t, http.MethodPost, migrMount+"/oidc/provider/migr/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {"nothing"}, "redirect_uri": {f.redirect},
	}, basicAuth(f.app1.id, f.app2.secret))
	requireOAuthError(t, wrong, http.StatusUnauthorized, oauthErrBody("invalid_client", "client failed to authenticate"))
	issuer := server.Addr + "/v1/" + migrMount + "/oidc/provider/migr"
	provider, err := oidc.NewProvider(ctx, issuer)
	require.NoError(t, err)
	_, err = provider.Verifier(&oidc.Config{ClientID: f.app1.id}).Verify(ctx, aliceToken)
	require.NoError(t, err, "the plugin's new keys sign the ID token, published in the provider's JWKS")

	// Running the import again changes nothing.
	again := mustTool(t, "import", "--from", "identity", "--to", migrMount, "--progress", "none")
	require.Contains(t, again.stdout, "copied:    0 (created 0, overwritten 0)")

	// What only the plugin holds: a TOTP enrollment with a used code, and
	// a refresh token.
	enroll := mustWrite(t, migrMount+"/mfa/method/totp/admin-generate", map[string]any{"method_id": f.totpID, "entity_id": f.aliceSub})
	otpauth := enroll.Data["url"].(string)
	usedAt := time.Now()
	mustWrite(t, migrMount+"/mfa/admin-validate", map[string]any{"method_id": f.totpID, "entity_id": f.aliceSub, "passcode": oathtool(t, otpauth, usedAt)})
	mustWrite(t, migrMount+"/oidc/client/migr-app1", map[string]any{"refresh_token_ttl": "1h"})
	tok := f.tokens(t, f.aliceToken)
	refreshToken := tok["refresh_token"].(string)
	oldIDToken := tok["id_token"].(string)
	mustWrite(t, migrMount+"/config", map[string]any{"allow_key_export": true})

	// Export, wipe, import from the file: the same store.
	store := filepath.Join(dir, "store.jsonl")
	mustTool(t, "export", "--from", migrMount, "--include-grants", "--include-keys", "-o", store, "--progress", "none")
	before := dumpRecords(t, store)
	wipe(t, migrMount)
	restored := mustTool(t, "import", "--from-file", store, "--to", migrMount, "--verify", "--progress", "none")
	require.Contains(t, restored.stdout, fmt.Sprintf("verify: %d records identical in %s, 0 missing, 0 different, 0 objects in %s that the source lacks", len(before), migrMount, migrMount))
	mustWrite(t, migrMount+"/config", map[string]any{"allow_key_export": true})
	store2 := filepath.Join(dir, "store2.jsonl")
	mustTool(t, "export", "--from", migrMount, "--include-grants", "--include-keys", "-o", store2, "--progress", "none")
	require.Equal(t, before, dumpRecords(t, store2), "the restored mount exports the same records")

	// ... and works as before: the old ID token verifies, the refresh
	// token refreshes, the TOTP seed and its replay state are back.
	_, err = provider.Verifier(&oidc.Config{ClientID: f.app1.id}).Verify(ctx, oldIDToken)
	require.NoError(t, err, "the keys came back with the dump")
	refreshed := oauthDo(t, http.MethodPost, migrMount+"/oidc/provider/migr/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
	}, basicAuth(f.app1.id, f.app1.secret))
	require.Equal(t, http.StatusOK, refreshed.Status, refreshed.Raw)
	replay := vaultCall(t, server.Token, "POST", migrMount+"/mfa/admin-validate", map[string]any{"method_id": f.totpID, "entity_id": f.aliceSub, "passcode": oathtool(t, otpauth, usedAt)})
	require.Equal(t, answer{http.StatusForbidden, "failed to validate TOTP passcode"}.String(), replay.String(), "the used time step is remembered")
	mustWrite(t, migrMount+"/mfa/admin-validate", map[string]any{"method_id": f.totpID, "entity_id": f.aliceSub, "passcode": oathtool(t, otpauth, usedAt.Add(30*time.Second))})

	// A restore killed after a few batches, then run again: nothing
	// missing, nothing twice.
	wipe(t, migrMount)
	cmd := exec.Command(migrateBin(t), "import", "--from-file", store, "--to", migrMount, "--batch-size", "100", "--max-rate", "1500", "--progress", "lines")
	cmd.Env = toolEnv(server.Token)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	batch := regexp.MustCompile(`^writing: batch (\d+)/`)
	lines := bufio.NewScanner(stderr)
	killed := false
	for lines.Scan() {
		if m := batch.FindStringSubmatch(lines.Text()); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 3 {
				require.NoError(t, cmd.Process.Kill())
				killed = true
				break
			}
		}
	}
	require.True(t, killed, "the import reported writing batches")
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit) && !exit.Exited(), "the import was killed, not finished: %v", err)
	part := mustEntities(t, migrMount)
	require.GreaterOrEqual(t, part, float64(300))
	require.Less(t, part, float64(migrEntities))
	resumed := mustTool(t, "import", "--from-file", store, "--to", migrMount, "--report", rep, "--progress", "none")
	raw, err = os.ReadFile(rep)
	require.NoError(t, err)
	report.Actions = nil
	require.NoError(t, json.Unmarshal(raw, &report))
	unchanged := 0
	for _, a := range report.Actions {
		unchanged += a["unchanged"]
	}
	require.GreaterOrEqual(t, unchanged, 300, resumed.stdout)
	store3 := filepath.Join(dir, "store3.jsonl")
	mustWrite(t, migrMount+"/config", map[string]any{"allow_key_export": true})
	mustTool(t, "export", "--from", migrMount, "--include-grants", "--include-keys", "-o", store3, "--progress", "none")
	require.Equal(t, before, dumpRecords(t, store3), "after the interrupted import and its rerun, the mount holds every record once")
}

// tokens runs a code flow of alice with the first client on the plugin and
// returns the token endpoint's answer.
func (f *builtinFixture) tokens(t *testing.T, token string) map[string]any {
	t.Helper()
	base := migrMount + "/oidc/provider/" + f.provider
	r := oauthDo(t, http.MethodPost, base+"/authorize", map[string]any{
		"client_id": f.app1.id, "redirect_uri": f.redirect, "scope": f.scope, "response_type": "code", "state": "st", "nonce": "n2",
	}, vaultToken(token))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	tok := oauthDo(t, http.MethodPost, base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {r.Body["code"].(string)}, "redirect_uri": {f.redirect},
	}, basicAuth(f.app1.id, f.app1.secret))
	require.Equal(t, http.StatusOK, tok.Status, tok.Raw)
	require.NotEmpty(t, tok.Body["refresh_token"])
	return tok.Body
}

// normalizeSet sorts a list, for fields whose order the built-in engine
// does not keep.
func normalizeSet(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	slices.Sort(out)
	return out
}

// aliasSummary is what an import keeps of an entity's aliases.
func aliasSummary(v any) []string {
	var out []string
	for _, a := range v.([]any) {
		m := a.(map[string]any)
		out = append(out, fmt.Sprint(m["id"], m["canonical_id"], m["mount_accessor"], m["name"], m["custom_metadata"], m["creation_time"], m["last_update_time"]))
	}
	slices.Sort(out)
	return out
}
