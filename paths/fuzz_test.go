package paths_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

// The fuzz targets feed arbitrary request bodies to the write paths and
// check what every bad input must get: no panic, no 500, and for a refusal
// (4xx) storage exactly as before. Seed corpora are in testdata/fuzz; `go
// test` runs them, `go test -fuzz=<target>` explores further.

// fuzzBackend is a backend with one of each object, whose ids the paths
// below name.
type fuzzBackend struct {
	*testutil.Backend
	entity, alias, group, method string
}

// fuzzCaller is the Vault entity of the fuzzed requests, linked to the
// fuzz alias, so that the provider's authorize reaches its last checks.
const fuzzCaller = "vault-fuzz-entity"

func newFuzzBackend(t testing.TB) *fuzzBackend {
	b := testutil.New(t, plugin.Factory)
	fb := &fuzzBackend{Backend: b}
	r := b.Write("entity-alias", map[string]any{"name": "fuzz", "mount_accessor": userpass})
	fb.alias, fb.entity = r.Data()["id"].(string), r.Data()["canonical_id"].(string)
	fb.group = b.Write("group", map[string]any{"name": "fuzz-group"}).Data()["id"].(string)
	fb.method = b.Write("mfa/method/totp", map[string]any{"issuer": "Fuzz"}).Data()["method_id"].(string)
	b.System.EntityVal = &logical.Entity{ID: fuzzCaller, Aliases: []*logical.Alias{{MountAccessor: userpass, Name: "fuzz"}}}
	if r := b.Write("oidc/key/fuzz", map[string]any{"allowed_client_ids": "*", "algorithm": "EdDSA"}); r.Status != http.StatusNoContent {
		t.Fatalf("key for the role fuzzing: %d %s", r.Status, r.ErrorText())
	}
	return fb
}

func (fb *fuzzBackend) paths() []string {
	return []string{
		"entity", "entity/id/" + fb.entity, "entity/name/fuzz", "entity/batch-delete", "entity/merge",
		"entity-alias", "entity-alias/id/" + fb.alias, "alias", "persona",
		"group", "group/id/" + fb.group, "group/name/fuzz-group", "group-alias",
		"lookup/entity", "lookup/group",
		"oidc/config", "oidc/key/fuzz", "oidc/key/fuzz/rotate", "oidc/role/fuzz", "oidc/introspect",
		"mfa/method/totp", "mfa/method/totp/" + fb.method, "mfa/method/okta", "mfa/method/duo", "mfa/method/pingid",
		"mfa/login-enforcement/fuzz", "mfa/method/totp/admin-generate", "mfa/method/totp/admin-destroy",
		"mfa/admin-validate", "mfa/admin-reset-lockout", "mfa/recovery-codes/admin-generate", "mfa/evaluate",
		"oidc/assignment/fuzz", "oidc/scope/fuzz", "oidc/client/fuzz", "oidc/provider/fuzz",
		"oidc/provider/default/authorize", "oidc/provider/default/token",
		"oidc/provider/default/introspect", "oidc/provider/default/revoke",
	}
}

// checkWrite sends one write, applies the bad-input rules and returns the
// status.
func checkWrite(t *testing.T, fb *fuzzBackend, path string, body map[string]any) int {
	before := snapshot(fb.Backend)
	r := fb.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: path, Data: body, EntityID: fuzzCaller})
	status, msg := r.Status, r.ErrorText()
	switch {
	case status >= 500:
		t.Fatalf("%s %v: status %d: %s", path, body, status, msg)
	case status >= 400:
		if msg == "" {
			t.Fatalf("%s %v: status %d without a message", path, body, status)
		}
		if after := snapshot(fb.Backend); !maps.Equal(before, after) {
			t.Fatalf("%s %v: refused with %q but storage changed", path, body, msg)
		}
	}
	return status
}

// providerPathsAt is where the provider's paths begin in paths().
const providerPathsAt = 32

// FuzzWritePaths sends an arbitrary JSON object to one of the write paths.
func FuzzWritePaths(f *testing.F) {
	for i, seed := range []string{
		`{"name":"a","metadata":{"k":"v"},"policies":"a,b","disabled":true}`,
		`{"metadata":["k=v","bad"],"policies":[1,2]}`,
		`{"id":"nope","name":""}`,
		`{"mount_accessor":"auth_userpass_1234abcd","name":"x","custom_metadata":{"":"v"}}`,
		`{"member_entity_ids":"a,b","member_group_ids":[""],"type":"external","cas":-1}`,
		`{"to_entity_id":"x","from_entity_ids":"x,y","conflicting_alias_ids_to_keep":7}`,
		`{"issuer":"https://a.com/x","rotation_period":"-1s","verification_ttl":"1y","algorithm":"none"}`,
		`{"key":"fuzz","template":"{\"a\": {{identity.entity.name}}","ttl":"25h"}`,
		`{"token":"e30.e30.","client_id":""}`,
		`{"issuer":"","digits":9,"skew":-1,"period":"x","algorithm":"SHA3"}`,
		`{"settings_file_base64":"dG9rZW49","org_name":"","api_token":""}`,
		`{"mfa_method_ids":["x"],"auth_method_types":[""]}`,
		`{"method_id":"x","entity_id":"","passcode":"1234567890"}`,
	} {
		f.Add(uint8(i), []byte(seed))
	}
	// The provider's paths, from index providerPathsAt of paths().
	if p := newFuzzBackend(f).paths()[providerPathsAt]; p != "oidc/assignment/fuzz" {
		f.Fatalf("paths()[%d] is %q: the provider seeds would fuzz other paths", providerPathsAt, p)
	}
	for i, seed := range []string{
		`{"entity_ids":"a,b","group_ids":["",""]}`,
		`{"template":"{\"groups\": {{identity.entity.groups.names}}}","description":7}`,
		`{"redirect_uris":"x","assignments":"allow_all","key":"fuzz","id_token_ttl":"1s","client_type":"public","refresh_token_ttl":-1}`,
		`{"issuer":"http://h:1","allowed_client_ids":"*","scopes_supported":"","sign_in_methods":"token,ldap/x"}`,
		`{"client_id":"x","redirect_uri":"https://a","scope":"openid","response_type":"code","max_age":-1,"code_challenge":""}`,
		`{"grant_type":"refresh_token","refresh_token":"hvo_rt_x","client_id":"x","client_secret":""}`,
		`{"token":"hvo_at_x","token_type_hint":"refresh_token","client_id":"x"}`,
		`{"token":"","client_id":"","client_secret":"s"}`,
	} {
		f.Add(uint8(providerPathsAt+i), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		var body map[string]any
		if json.Unmarshal(raw, &body) != nil {
			t.Skip("not a JSON object")
		}
		fb := newFuzzBackend(t)
		paths := fb.paths()
		checkWrite(t, fb, paths[int(which)%len(paths)], body)
	})
}

// FuzzRoleTemplate writes an OIDC role with an arbitrary claims template.
func FuzzRoleTemplate(f *testing.F) {
	for _, seed := range []string{
		`{"groups": {{identity.entity.groups.names}}}`,
		`{"a": {{identity.entity.metadata}}, "b": "{{identity.entity.aliases.auth_userpass_1234abcd.name}}"}`,
		`{{{{}}}}`, `{"exp": 1}`, `e30=`, `{"t": {{time.now.plus.1h}}}`, `{"x": {{identity.groups.ids.x.name}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, template string) {
		fb := newFuzzBackend(t)
		if checkWrite(t, fb, "oidc/role/fuzz", map[string]any{"key": "fuzz", "template": template}) < 300 {
			if r := fb.Read("oidc/role/fuzz"); r.Status != http.StatusOK {
				t.Fatalf("accepted role reads as %d", r.Status)
			}
		}
	})
}

// FuzzTOTPPasscode validates an arbitrary passcode for an enrolled entity.
func FuzzTOTPPasscode(f *testing.F) {
	for _, seed := range []string{"123456", "", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345\x00", " 123456 "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, passcode string) {
		fb := newFuzzBackend(t)
		if r := fb.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": fb.method, "entity_id": fb.entity}); r.Status != http.StatusOK {
			t.Fatalf("enroll: %d %s", r.Status, r.ErrorText())
		}
		r := fb.Write("mfa/admin-validate", map[string]any{"method_id": fb.method, "entity_id": fb.entity, "passcode": passcode})
		if r.Status >= 500 || (r.Status >= 400 && r.ErrorText() == "") {
			t.Fatalf("passcode %q: status %d %q", passcode, r.Status, r.ErrorText())
		}
	})
}
