//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

func TestMFAConfigurationMatchesBuiltin(t *testing.T) {
	t.Cleanup(func() {
		for _, m := range []string{"identity", mount} {
			do(t, "DELETE", m+"/mfa/login-enforcement/cmp-enf", nil)
			list := do(t, "LIST", m+"/mfa/method", nil)
			keys, _ := list.Data["keys"].([]any)
			for _, k := range keys {
				info := list.Data["key_info"].(map[string]any)[k.(string)].(map[string]any)
				do(t, "DELETE", fmt.Sprintf("%s/mfa/method/%s/%s", m, info["type"], k), nil)
			}
		}
	})
	compareWithBuiltin(t, []step{
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "Acme", "method_name": "cmp-totp", "digits": 8}, capture: "totp"},
		{method: "GET", path: "mfa/method/totp/{totp}"},
		{method: "GET", path: "mfa/method/{totp}"},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "Acme2", "method_name": "cmp-totp"}},
		{method: "POST", path: "mfa/method/totp/{totp}", body: map[string]any{"issuer": "Acme3", "algorithm": "SHA512", "max_validation_attempts": 3}},
		{method: "GET", path: "mfa/method/totp/{totp}"},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"method_name": "x"}},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "algorithm": "MD5"}},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "digits": 7}},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "skew": 2}},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "key_size": 0}},
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "period": 0}},
		// Vault 1.19 and 1.20 ignore the parameter (with a warning) and
		// create the method.
		{method: "POST", path: "mfa/method/totp", body: map[string]any{"issuer": "a", "enable_self_enrollment": true},
			changedIn: 21, want: outcome{Status: http.StatusBadRequest, Errors: []string{"enable_self_enrollment is an enterprise only feature"}}},
		{method: "GET", path: "mfa/method/okta/{totp}"},
		{method: "GET", path: "mfa/method/totp/00000000-0000-0000-0000-000000000000"},
		{method: "POST", path: "mfa/method/okta", body: map[string]any{"org_name": "acme", "api_token": "secret", "method_name": "cmp-okta"}, capture: "okta"},
		{method: "GET", path: "mfa/method/okta/{okta}"},
		{method: "POST", path: "mfa/method/okta", body: map[string]any{"api_token": "secret"}},
		{method: "POST", path: "mfa/method/duo", body: map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "api.duo.test", "push_info": "p", "method_name": "cmp-duo"}, capture: "duo"},
		{method: "GET", path: "mfa/method/duo/{duo}"},
		{method: "POST", path: "mfa/method/duo", body: map[string]any{"secret_key": "s", "integration_key": "i"}},
		{method: "POST", path: "mfa/method/pingid", body: map[string]any{"settings_file_base64": "dXNlX3NpZ25hdHVyZT10cnVlCmlkcF91cmw9aHR0cHM6Ly9pZHBpLnBpbmcudGVzdApvcmdfYWxpYXM9b3JnCnRva2VuPXQKdXNlX2Jhc2U2NF9rZXk9YTJWNQ==", "method_name": "cmp-ping"}, capture: "ping"},
		{method: "GET", path: "mfa/method/pingid/{ping}"},
		{method: "POST", path: "mfa/method/pingid", body: map[string]any{"settings_file_base64": "bm92YWx1ZQ=="}},
		{method: "LIST", path: "mfa/method/totp"},
		{method: "LIST", path: "mfa/method"},
		{method: "POST", path: "mfa/method/totp/{totp}", body: map[string]any{"issuer": "a", "method_name": "cmp-okta"}, known500: true},
		{method: "POST", path: "entity", body: map[string]any{"name": "mfa-cmp"}, capture: "e"},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"auth_method_types": []string{"userpass"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"nope"}, "auth_method_types": []string{"userpass"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "identity_entity_ids": []string{"nope"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "identity_group_ids": []string{"nope"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_accessors": []string{"bogus"}}},
		{method: "POST", path: "mfa/login-enforcement/cmp-enf", body: map[string]any{"mfa_method_ids": []string{"{totp}"}, "auth_method_accessors": []string{"{userpass}"}, "identity_entity_ids": []string{"{e}"}}},
		{method: "GET", path: "mfa/login-enforcement/cmp-enf"},
		{method: "LIST", path: "mfa/login-enforcement"},
		{method: "DELETE", path: "mfa/method/totp/{totp}", known500: true},
		{method: "POST", path: "mfa/method/totp/admin-generate", body: map[string]any{"method_id": "{totp}"}},
		{method: "POST", path: "mfa/method/totp/admin-generate", body: map[string]any{"method_id": "{duo}", "entity_id": "{e}"}},
		{method: "POST", path: "mfa/method/totp/admin-generate", body: map[string]any{"method_id": "nope", "entity_id": "{e}"}},
		{method: "POST", path: "mfa/method/totp/admin-generate", body: map[string]any{"method_id": "{totp}", "entity_id": "nope"}},
		{method: "POST", path: "mfa/method/totp/admin-destroy", body: map[string]any{"method_id": "{totp}"}},
		{method: "POST", path: "mfa/method/totp/admin-destroy", body: map[string]any{"method_id": "{totp}", "entity_id": "{e}"}},
		{method: "DELETE", path: "mfa/login-enforcement/cmp-enf"},
		{method: "GET", path: "mfa/login-enforcement/cmp-enf"},
		{method: "DELETE", path: "mfa/method/duo/{duo}"},
		{method: "GET", path: "mfa/method/{duo}"},
	})
}

// oathtool computes a code for the secret of an otpauth URL, as an
// authenticator app would.
func oathtool(t *testing.T, otpauth string, at time.Time) string {
	t.Helper()
	u, err := url.Parse(otpauth)
	require.NoError(t, err)
	q := u.Query()
	out, err := exec.Command("oathtool", "--totp="+q.Get("algorithm"), "-d", q.Get("digits"), "-s", q.Get("period")+"s",
		"-N", at.UTC().Format("2006-01-02 15:04:05 UTC"), "-b", q.Get("secret")).CombinedOutput()
	require.NoError(t, err, "oathtool: %s (install Debian's oathtool; make test does)", out)
	return strings.TrimSpace(string(out))
}

// TestTOTPWithOathtoolThroughUserpassCaller enrolls a real userpass user
// (self-service generate), makes recovery codes for it with a current
// factor, then validates oathtool's codes for that user: accepted once,
// refused when replayed, locked out after the attempts, and open again
// after an administrator's reset.
func TestTOTPWithOathtoolThroughUserpassCaller(t *testing.T) {
	require.Equal(t, http.StatusNoContent, do(t, "PUT", "sys/policies/acl/ident-mfa", map[string]any{
		"policy": fmt.Sprintf(`path "%s/mfa/method/totp/generate" { capabilities = ["update"] }
path "%s/mfa/recovery-codes/generate" { capabilities = ["update"] }
path "%s/mfa/validate" { capabilities = ["update"] }`, mount, mount, mount),
	}).Status)
	require.Equal(t, http.StatusNoContent, do(t, "POST", "auth/userpass/users/mfa-user", map[string]any{"password": "pw", "token_policies": "ident-mfa"}).Status)
	forgetVaultEntity(t, "mfa-user", userpassAccessor)
	a := do(t, "POST", mount+"/entity-alias", map[string]any{"name": "mfa-user", "mount_accessor": userpassAccessor})
	require.Equal(t, http.StatusOK, a.Status)
	entityID := a.Data["canonical_id"].(string)
	t.Cleanup(func() { do(t, "DELETE", mount+"/entity/id/"+entityID, nil) })
	login := asToken(t, "", "POST", "auth/userpass/login/mfa-user", map[string]any{"password": "pw"})
	token := login.Body["auth"].(map[string]any)["client_token"].(string)

	for _, c := range []struct{ alg, digits string }{{"SHA1", "6"}, {"SHA256", "8"}, {"SHA512", "8"}} {
		t.Run(c.alg, func(t *testing.T) {
			m := do(t, "POST", mount+"/mfa/method/totp", map[string]any{"issuer": "Acme", "method_name": "oath-" + c.alg, "algorithm": c.alg, "digits": c.digits, "max_validation_attempts": 2})
			require.Equal(t, http.StatusOK, m.Status, m.Errors)
			methodID := m.Data["method_id"].(string)
			t.Cleanup(func() { do(t, "DELETE", mount+"/mfa/method/totp/"+methodID, nil) })

			gen := asToken(t, token, "POST", mount+"/mfa/method/totp/generate", map[string]any{"method_id": methodID})
			require.Equal(t, http.StatusOK, gen.Status, gen.Errors)
			otpauth := gen.Data["url"].(string)
			require.Contains(t, otpauth, "otpauth://totp/Acme:"+entityID)

			validate := func(passcode string) (int, []string) {
				r := asToken(t, token, "POST", mount+"/mfa/validate", map[string]any{"method_id": methodID, "passcode": passcode})
				return r.Status, r.Errors
			}
			now := time.Now()

			// The user's own recovery codes need a current factor: here the
			// previous step's code (skew 1), which is then used up.
			recovery := func(body map[string]any) devvault.Reply {
				body["method_id"] = methodID
				return asToken(t, token, "POST", mount+"/mfa/recovery-codes/generate", body)
			}
			r := recovery(map[string]any{})
			require.Equal(t, http.StatusBadRequest, r.Status)
			require.Equal(t, []string{"MFA credentials not supplied"}, r.Errors)
			r = recovery(map[string]any{"passcode": oathtool(t, otpauth, now.Add(-30*time.Second))})
			require.Equal(t, http.StatusOK, r.Status, r.Errors)
			codes := r.Data["recovery_codes"].([]any)
			require.Len(t, codes, 10)
			r = asToken(t, token, "POST", mount+"/mfa/validate", map[string]any{"method_id": methodID, "recovery_code": codes[0]})
			require.Equal(t, http.StatusOK, r.Status, r.Errors)

			code := oathtool(t, otpauth, now)
			status, errs := validate(code)
			require.Equal(t, http.StatusOK, status, errs)
			status, errs = validate(code)
			require.Equal(t, http.StatusForbidden, status, "a replayed code is refused")
			require.Equal(t, []string{"failed to validate TOTP passcode"}, errs)

			// The replay was one refusal; one more reaches the limit of 2.
			status, _ = validate(strings.Repeat("0", len(code)))
			require.Equal(t, http.StatusForbidden, status)
			next := oathtool(t, otpauth, now.Add(30*time.Second))
			status, errs = validate(next)
			require.Equal(t, http.StatusForbidden, status)
			require.Equal(t, []string{"maximum TOTP validation attempts 3 exceeded the allowed attempts 2; an administrator must reset the lockout"}, errs)

			require.Equal(t, http.StatusNoContent, do(t, "POST", mount+"/mfa/admin-reset-lockout", map[string]any{"method_id": methodID, "entity_id": entityID}).Status)
			status, errs = validate(next)
			require.Equal(t, http.StatusOK, status, "after the reset, a code of the next step works (skew 1): %v", errs)
		})
	}
}
