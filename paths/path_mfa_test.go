package paths_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/fakeproviders"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

func createMethod(t *testing.T, b *testutil.Backend, typ string, data map[string]any) string {
	t.Helper()
	r := b.Write("mfa/method/"+typ, data)
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	return r.Data()["method_id"].(string)
}

func TestMFATOTPMethodCRUD(t *testing.T) {
	b := newBackend(t)
	id := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "acme"})
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, id)
	want := map[string]any{
		"type": "totp", "id": id, "name": "acme", "namespace_id": "root", "namespace_path": "",
		"issuer": "Acme", "period": 30, "digits": 6, "skew": 1, "key_size": 20, "qr_size": 200,
		"algorithm": "SHA1", "max_validation_attempts": 5,
	}
	require.Equal(t, want, b.Read("mfa/method/totp/"+id).Data())
	require.Equal(t, want, b.Read("mfa/method/"+id).Data())

	// The same method_name updates that method and answers its id.
	r := b.Write("mfa/method/totp", map[string]any{"issuer": "Acme2", "method_name": "acme", "digits": 8})
	require.Equal(t, id, r.Data()["method_id"])
	d := b.Read("mfa/method/totp/" + id).Data()
	require.Equal(t, "Acme2", d["issuer"])
	require.Equal(t, 8, d["digits"])
	// An update by id sets every field, omitted ones to their defaults.
	require.Equal(t, http.StatusNoContent, b.Write("mfa/method/totp/"+id, map[string]any{"issuer": "Acme3", "period": "60s"}).Status)
	d = b.Read("mfa/method/totp/" + id).Data()
	require.Equal(t, "Acme3", d["issuer"])
	require.Equal(t, 6, d["digits"])
	require.Equal(t, 60, d["period"])
	require.Equal(t, "acme", d["name"], "the name is kept when omitted")
	// An unknown id changes nothing.
	require.Equal(t, http.StatusNoContent, b.Write("mfa/method/totp/00000000-0000-0000-0000-000000000000", map[string]any{"issuer": "x"}).Status)
	require.Equal(t, http.StatusNotFound, b.Read("mfa/method/totp/00000000-0000-0000-0000-000000000000").Status)

	l := b.List("mfa/method/totp/")
	require.Equal(t, []string{id}, l.Data()["keys"])
	require.Equal(t, []string{id}, b.List("mfa/method/").Data()["keys"])
	require.Equal(t, http.StatusNotFound, b.List("mfa/method/duo/").Status)

	r = b.Read("mfa/method/okta/" + id)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "failed to find the method ID under MFA type okta.", r.ErrorText())
	r = b.Delete("mfa/method/okta/" + id)
	require.Equal(t, "method type does not match the MFA config type", r.ErrorText())
	require.Equal(t, http.StatusOK, b.Read("mfa/method/"+id).Status, "a refused delete deletes nothing")
	require.Equal(t, http.StatusNoContent, b.Delete("mfa/method/totp/"+id).Status)
	require.Equal(t, http.StatusNotFound, b.Read("mfa/method/"+id).Status)
}

func TestMFAMethodErrors(t *testing.T) {
	b := newBackend(t)
	id := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "first"})
	createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "second"})
	cases := []struct {
		name, path string
		data       map[string]any
		msg        string
	}{
		{"no issuer", "mfa/method/totp", map[string]any{}, "issuer must be set"},
		{"bad algorithm", "mfa/method/totp", map[string]any{"issuer": "a", "algorithm": "MD5"}, "unrecognized algorithm"},
		{"bad digits", "mfa/method/totp", map[string]any{"issuer": "a", "digits": 7}, "digits can only be 6 or 8"},
		{"bad period", "mfa/method/totp", map[string]any{"issuer": "a", "period": 0}, "period must be greater than zero"},
		{"bad skew", "mfa/method/totp", map[string]any{"issuer": "a", "skew": 2}, "skew must be 0 or 1"},
		{"bad key size", "mfa/method/totp", map[string]any{"issuer": "a", "key_size": 0}, "key_size must be greater than zero"},
		{"negative attempts", "mfa/method/totp", map[string]any{"issuer": "a", "max_validation_attempts": -1}, "max_validation_attempts must be greater than zero"},
		{"self enrollment", "mfa/method/totp", map[string]any{"issuer": "a", "enable_self_enrollment": true}, "enable_self_enrollment is an enterprise only feature"},
		{"name of another", "mfa/method/totp/" + id, map[string]any{"issuer": "a", "method_name": "second"}, "a login MFA method configuration with the method name second already exists"},
		{"okta org", "mfa/method/okta", map[string]any{"api_token": "t"}, "org_name must be set"},
		{"okta token", "mfa/method/okta", map[string]any{"org_name": "o"}, "api_token must be set"},
		{"duo secret", "mfa/method/duo", map[string]any{"integration_key": "i", "api_hostname": "h"}, "secret_key is empty"},
		{"duo ikey", "mfa/method/duo", map[string]any{"secret_key": "s", "api_hostname": "h"}, "integration_key is empty"},
		{"duo host", "mfa/method/duo", map[string]any{"secret_key": "s", "integration_key": "i"}, "api_hostname is empty"},
		{"ping empty", "mfa/method/pingid", map[string]any{}, "settings_file_base64 is empty"},
		{"ping base64", "mfa/method/pingid", map[string]any{"settings_file_base64": "a*b="}, "illegal base64 data at input byte 1"},
		{"ping line", "mfa/method/pingid", map[string]any{"settings_file_base64": base64.StdEncoding.EncodeToString([]byte("novalue"))}, `pingid settings file contains a non-empty non-comment line that is not in key=value format: "novalue"`},
		{"ping bool", "mfa/method/pingid", map[string]any{"settings_file_base64": base64.StdEncoding.EncodeToString([]byte("use_signature=maybe"))}, "error parsing use_signature value in pingid settings file"},
		{"ping key", "mfa/method/pingid", map[string]any{"settings_file_base64": base64.StdEncoding.EncodeToString([]byte("colour=blue"))}, `unknown key "colour" in pingid settings file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refused(t, b, c.path, c.data, c.msg) })
	}
	require.Equal(t, http.StatusNotFound, b.Read("mfa/method/totp/NOT-A-UUID").Status, "ids are lowercase UUIDs")
}

func TestMFAProviderMethodsHideSecrets(t *testing.T) {
	b := newBackend(t)
	okta := createMethod(t, b, "okta", map[string]any{"org_name": "acme", "api_token": "secret-token", "username_format": "{{identity.entity.name}}@acme.test"})
	require.Equal(t, map[string]any{"type": "okta", "id": okta, "name": "", "namespace_id": "root", "namespace_path": "",
		"org_name": "acme", "base_url": "okta.com", "mount_accessor": "", "username_format": "{{identity.entity.name}}@acme.test"}, b.Read("mfa/method/"+okta).Data())
	require.Equal(t, http.StatusNoContent, b.Write("mfa/method/okta/"+okta, map[string]any{"org_name": "acme", "api_token": "t", "production": false}).Status)
	d := b.Read("mfa/method/" + okta).Data()
	require.Equal(t, false, d["production"])
	require.NotContains(t, d, "base_url")

	duo := createMethod(t, b, "duo", map[string]any{"secret_key": "sk", "integration_key": "ik", "api_hostname": "api-1.duo.test", "push_info": "from=vault", "use_passcode": true})
	require.Equal(t, map[string]any{"type": "duo", "id": duo, "name": "", "namespace_id": "root", "namespace_path": "",
		"api_hostname": "api-1.duo.test", "pushinfo": "from=vault", "use_passcode": true, "mount_accessor": "", "username_format": ""}, b.Read("mfa/method/"+duo).Data())

	ping := fakeproviders.NewFakePingID([]byte("0123456789abcdef0123456789abcdef"), "acme-org", "ping-token")
	defer ping.Close()
	pid := createMethod(t, b, "pingid", map[string]any{"settings_file_base64": ping.SettingsFile()})
	d = b.Read("mfa/method/" + pid).Data()
	require.Equal(t, ping.URL+"/pingid", d["idp_url"])
	require.Equal(t, "acme-org", d["org_alias"])
	require.Equal(t, true, d["use_signature"])
	require.NotContains(t, d, "username_format")

	all := b.List("mfa/method/")
	require.Len(t, all.Data()["keys"], 3)
	require.Len(t, all.Data()["key_info"], 3)
	for _, info := range all.Data()["key_info"].(map[string]any) {
		for _, secret := range []string{"api_token", "secret_key", "integration_key", "token", "use_base64_key"} {
			require.NotContains(t, info, secret)
		}
	}
}

func TestMFALoginEnforcement(t *testing.T) {
	b := newBackend(t)
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
	e := createEntity(t, b, nil)
	g := createGroup(t, b, map[string]any{"name": "g", "member_entity_ids": e})
	cases := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"no methods", map[string]any{"auth_method_types": []string{"userpass"}}, "missing method ids"},
		{"unknown method", map[string]any{"mfa_method_ids": []string{"nope"}, "auth_method_types": []string{"userpass"}}, "one of the provided method ids doesn't exist"},
		{"bad accessor", map[string]any{"mfa_method_ids": []string{m}, "auth_method_accessors": []string{"nope"}}, "one of the auth method accessors provided is invalid"},
		{"bad type", map[string]any{"mfa_method_ids": []string{m}, "auth_method_types": []string{"User Pass"}}, "one of the auth method types provided is invalid"},
		{"unknown group", map[string]any{"mfa_method_ids": []string{m}, "identity_group_ids": []string{"nope"}}, "one of the provided group ids doesn't exist"},
		{"unknown entity", map[string]any{"mfa_method_ids": []string{m}, "identity_entity_ids": []string{"nope"}}, "one of the provided entity ids doesn't exist"},
		{"no selector", map[string]any{"mfa_method_ids": []string{m}}, "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified"},
	}
	for _, c := range cases {
		r := b.Write("mfa/login-enforcement/e1", c.data)
		require.Equal(t, http.StatusBadRequest, r.Status, c.name)
		require.Equal(t, c.msg, r.ErrorText(), c.name)
	}
	require.Equal(t, http.StatusNotFound, b.Read("mfa/login-enforcement/e1").Status)

	require.Equal(t, http.StatusNoContent, b.Write("mfa/login-enforcement/e1", map[string]any{"mfa_method_ids": []string{m}, "identity_group_ids": []string{g}}).Status)
	r := b.Read("mfa/login-enforcement/e1")
	validSchema(t, b, r)
	require.Equal(t, []string{g}, r.Data()["identity_group_ids"])
	require.Equal(t, []string{}, r.Data()["auth_method_types"])
	// Selectors not given keep their value; one must still be given.
	require.Equal(t, http.StatusNoContent, b.Write("mfa/login-enforcement/e1", map[string]any{"mfa_method_ids": []string{m}, "auth_method_accessors": []string{userpass}}).Status)
	require.Equal(t, []string{g}, b.Read("mfa/login-enforcement/e1").Data()["identity_group_ids"])
	require.Equal(t, []string{"e1"}, b.List("mfa/login-enforcement/").Data()["keys"])

	ev := b.Write("mfa/evaluate", map[string]any{"entity_id": e, "mount_type": "ldap"})
	require.Equal(t, []string{"e1"}, ev.Data()["enforcements"], "through the group")
	require.Equal(t, []string{m}, ev.Data()["mfa_method_ids"])
	require.Equal(t, []string{}, b.Write("mfa/evaluate", map[string]any{"mount_type": "ldap"}).Data()["enforcements"])
	require.Equal(t, []string{"e1"}, b.Write("mfa/evaluate", map[string]any{"mount_accessor": userpass}).Data()["enforcements"])

	r = b.Delete("mfa/method/totp/" + m)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.True(t, strings.HasPrefix(r.ErrorText(), "methodID is still used by an enforcement configuration with ID: "))
	require.Equal(t, http.StatusNoContent, b.Delete("mfa/login-enforcement/e1").Status)
	require.Equal(t, http.StatusNoContent, b.Delete("mfa/method/totp/"+m).Status)
}

func TestTOTPGenerateAndAdminPaths(t *testing.T) {
	b, entityID := oidcBackend(t) // alice, the caller
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "acme", "qr_size": 120})
	gen := func(data map[string]any) testutil.Result {
		return b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "mfa/method/totp/generate", Data: data, EntityID: "vault-entity"})
	}
	r := gen(map[string]any{"method_id": m})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	validSchema(t, b, r)
	require.Contains(t, r.Data()["url"], "otpauth://totp/Acme:"+entityID+"?")
	raw, err := base64.StdEncoding.DecodeString(r.Data()["barcode"].(string))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, 120, img.Bounds().Dx())

	r = gen(map[string]any{"method_id": m})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, []string{`Entity already has a secret for MFA method "acme"`}, r.Resp.Warnings)
	require.Nil(t, r.Resp.Data)

	for _, c := range []struct {
		path string
		data map[string]any
		msg  string
	}{
		{"mfa/method/totp/generate", map[string]any{}, "missing method ID"},
		{"mfa/method/totp/admin-generate", map[string]any{"method_id": m}, "missing entityID"},
		{"mfa/method/totp/admin-generate", map[string]any{"method_id": "nope", "entity_id": entityID}, `configuration for method ID "nope" does not exist`},
		{"mfa/method/totp/admin-generate", map[string]any{"method_id": m, "entity_id": "nope"}, "invalid entity ID"},
		{"mfa/method/totp/admin-destroy", map[string]any{"method_id": m}, "missing entity ID"},
		{"mfa/method/totp/admin-destroy", map[string]any{"entity_id": entityID}, "missing method ID"},
	} {
		r := b.Write(c.path, c.data)
		require.Equal(t, http.StatusBadRequest, r.Status, c.path)
		require.Equal(t, c.msg, r.ErrorText(), c.path)
	}
	duo := createMethod(t, b, "duo", map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "h"})
	require.Equal(t, `generate not available for MFA type "duo"`, b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": duo, "entity_id": entityID}).ErrorText())
	require.Equal(t, "method ID does not match TOTP type", b.Write("mfa/method/totp/admin-destroy", map[string]any{"method_id": duo, "entity_id": entityID}).ErrorText())
	// A caller without an entity here cannot generate.
	r = b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "mfa/method/totp/generate", Data: map[string]any{"method_id": m}})
	require.Equal(t, "missing entityID", r.ErrorText())

	require.Equal(t, http.StatusNoContent, b.Write("mfa/method/totp/admin-destroy", map[string]any{"method_id": m, "entity_id": entityID}).Status)
	r = b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, r.Status, "a new secret after destroy")
	require.Empty(t, r.Resp.Warnings, "the old secret is gone")
	require.Contains(t, r.Data()["url"], "otpauth://")
	r = b.Write("mfa/admin-validate", map[string]any{"method_id": m, "entity_id": entityID, "passcode": "000000"})
	require.Equal(t, http.StatusForbidden, r.Status)
}

func TestMFAPushProviders(t *testing.T) {
	b, entityID := oidcBackend(t) // entity "alice"
	validate := func(method, passcode string) testutil.Result {
		return b.Write("mfa/admin-validate", map[string]any{"method_id": method, "entity_id": entityID, "passcode": passcode})
	}

	duo := fakeproviders.NewFakeDuo("DIXXXXXXXX", "duo-secret")
	defer duo.Close()
	duo.Passcode = "123456"
	dm := createMethod(t, b, "duo", map[string]any{"secret_key": "duo-secret", "integration_key": "DIXXXXXXXX", "api_hostname": duo.URL, "push_info": "from=vault"})
	duo.Users["alice"] = "push-allow"
	require.Equal(t, http.StatusOK, validate(dm, "").Status)
	require.Equal(t, "from=vault", duo.Calls[len(duo.Calls)-1].Get("pushinfo"))
	duo.Users["alice"] = "push-deny"
	require.Equal(t, http.StatusForbidden, validate(dm, "").Status)
	require.Equal(t, http.StatusOK, validate(dm, "123456").Status, "a passcode instead of a push")
	badKey := createMethod(t, b, "duo", map[string]any{"secret_key": "wrong", "integration_key": "DIXXXXXXXX", "api_hostname": duo.URL})
	require.Equal(t, http.StatusInternalServerError, validate(badKey, "").Status, "a refused signature is a provider failure")

	okta := fakeproviders.NewFakeOkta("okta-token")
	defer okta.Close()
	okta.Passcode = "654321"
	om := createMethod(t, b, "okta", map[string]any{"org_name": "acme", "api_token": "okta-token", "base_url": okta.URL, "username_format": "{{identity.entity.name}}@acme.test"})
	okta.Users["alice@acme.test"] = "SUCCESS"
	require.Equal(t, http.StatusOK, validate(om, "").Status)
	require.Equal(t, 1, okta.Polls(), "the push was polled")
	okta.Users["alice@acme.test"] = "REJECTED"
	require.Equal(t, http.StatusForbidden, validate(om, "").Status)
	require.Equal(t, http.StatusOK, validate(om, "654321").Status)

	ping := fakeproviders.NewFakePingID([]byte("0123456789abcdef0123456789abcdef"), "acme-org", "ping-token")
	defer ping.Close()
	pm := createMethod(t, b, "pingid", map[string]any{"settings_file_base64": ping.SettingsFile()})
	ping.Users["alice"] = 200
	require.Equal(t, http.StatusOK, validate(pm, "").Status)
	ping.Users["alice"] = 10000
	require.Equal(t, http.StatusForbidden, validate(pm, "").Status)
}

// seedOf is the base32 seed of an otpauth URL.
func seedOf(t *testing.T, otpauth string) string {
	t.Helper()
	u, err := url.Parse(otpauth)
	require.NoError(t, err)
	return u.Query().Get("secret")
}

func codeAt(t *testing.T, seed string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

// An entity that never enrolled has no recovery codes to make, and the code
// of the empty key is never accepted: neither after an admin generation of
// recovery codes, nor with a seedless record left by an earlier version.
func TestMFAEmptySeedNeverValidates(t *testing.T) {
	b, entityID := oidcBackend(t)
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "acme"})
	notPresent := `MFA secret for method name "acme" not present in entity "` + entityID + `"`

	before := snapshot(b)
	r := b.Write("mfa/recovery-codes/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, notPresent, r.ErrorText())
	require.Equal(t, before, snapshot(b), "a refused generation writes nothing")
	r = b.Write("mfa/admin-validate", map[string]any{"method_id": m, "entity_id": entityID, "passcode": codeAt(t, "", time.Now())})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, notPresent, r.ErrorText())

	// A record an earlier version stored without a seed.
	entry, err := logical.StorageEntryJSON("mfa/secret/"+m+"/"+entityID, map[string]any{"failures": 1})
	require.NoError(t, err)
	require.NoError(t, b.Storage.Put(context.Background(), entry))
	before = snapshot(b)
	r = b.Write("mfa/admin-validate", map[string]any{"method_id": m, "entity_id": entityID, "passcode": codeAt(t, "", time.Now())})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, notPresent, r.ErrorText())
	require.Equal(t, before, snapshot(b), "nothing counted")
}

// Recovery codes: only for TOTP methods, only for an enrolled entity, and
// the caller's own generation needs a current factor.
func TestMFARecoveryCodesNeedEnrollmentAndFactor(t *testing.T) {
	b, entityID := oidcBackend(t) // alice, the caller
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "acme", "max_validation_attempts": 3})
	self := func(data map[string]any) testutil.Result {
		data["method_id"] = m
		return b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "mfa/recovery-codes/generate", Data: data, EntityID: "vault-entity"})
	}
	validate := func(data map[string]any) testutil.Result {
		data["method_id"] = m
		return b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "mfa/validate", Data: data, EntityID: "vault-entity"})
	}
	refusedAs := func(r testutil.Result, status int, msg string, before map[string]string) {
		t.Helper()
		require.Equal(t, status, r.Status, r.ErrorText())
		require.Equal(t, msg, r.ErrorText())
		if before != nil {
			require.Equal(t, before, snapshot(b), "the refusal changed nothing")
		}
	}

	// Not enrolled: no codes, whoever asks.
	before := snapshot(b)
	refusedAs(self(map[string]any{"passcode": "123456"}), http.StatusBadRequest, `MFA secret for method name "acme" not present in entity "`+entityID+`"`, before)
	refusedAs(self(map[string]any{}), http.StatusBadRequest, "MFA credentials not supplied", before)

	enroll := b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, enroll.Status, enroll.ErrorText())
	seed := seedOf(t, enroll.Data()["url"].(string))

	// No factor, both factors, a malformed passcode: refused, nothing counted.
	before = snapshot(b)
	refusedAs(self(map[string]any{}), http.StatusBadRequest, "MFA credentials not supplied", before)
	refusedAs(self(map[string]any{"passcode": codeAt(t, seed, time.Now()), "recovery_code": "AAAAAAAA-AAAAAAAA"}), http.StatusBadRequest, "supply either passcode or recovery_code, not both", before)
	refusedAs(self(map[string]any{"passcode": "12345"}), http.StatusForbidden, "failed to validate TOTP passcode", before)

	// A wrong passcode counts, as on mfa/validate, and makes no codes.
	refusedAs(self(map[string]any{"passcode": wrongCode(t, seed)}), http.StatusForbidden, "failed to validate TOTP passcode", nil)
	require.NotEqual(t, before, snapshot(b), "the refusal was counted")

	// A correct passcode makes codes and uses up its time step.
	code := codeAt(t, seed, time.Now())
	r := self(map[string]any{"passcode": code})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	validSchema(t, b, r)
	codes := r.Data()["recovery_codes"].([]string)
	require.Len(t, codes, 10)
	refusedAs(validate(map[string]any{"passcode": code}), http.StatusForbidden, "failed to validate TOTP passcode", nil)

	// A recovery code is a factor too; it is used up, and the new set
	// replaces the old one.
	r = self(map[string]any{"recovery_code": codes[0]})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	fresh := r.Data()["recovery_codes"].([]string)
	refusedAs(validate(map[string]any{"recovery_code": codes[1]}), http.StatusForbidden, "failed to validate TOTP passcode", nil)
	require.Equal(t, http.StatusOK, validate(map[string]any{"recovery_code": fresh[0]}).Status)

	// Locked out: no codes either, nothing changes.
	for range 3 {
		validate(map[string]any{"passcode": wrongCode(t, seed)})
	}
	before = snapshot(b)
	r = self(map[string]any{"recovery_code": fresh[1]})
	require.Equal(t, http.StatusForbidden, r.Status)
	require.True(t, strings.HasPrefix(r.ErrorText(), "maximum TOTP validation attempts "), r.ErrorText())
	require.Equal(t, before, snapshot(b))

	// An administrator makes codes without a factor, for an enrolled entity.
	r = b.Write("mfa/recovery-codes/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	require.Len(t, r.Data()["recovery_codes"], 10)

	// Not for other method types, and a recovery code is no factor for them.
	duo := createMethod(t, b, "duo", map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "api.duo.test"})
	before = snapshot(b)
	refusedAs(b.Write("mfa/recovery-codes/admin-generate", map[string]any{"method_id": duo, "entity_id": entityID}), http.StatusBadRequest, "recovery codes are available only for TOTP methods", before)
	refusedAs(b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "mfa/recovery-codes/generate", Data: map[string]any{"method_id": duo, "passcode": "123456"}, EntityID: "vault-entity"}),
		http.StatusBadRequest, "recovery codes are available only for TOTP methods", before)
	refusedAs(b.Write("mfa/admin-validate", map[string]any{"method_id": duo, "entity_id": entityID, "recovery_code": fresh[2]}), http.StatusBadRequest, "recovery codes are available only for TOTP methods", before)
}

// wrongCode is a 6-digit code that no step of the skew window accepts.
func wrongCode(t *testing.T, seed string) string {
	t.Helper()
	now := time.Now()
	valid := map[string]bool{}
	for d := -2; d <= 2; d++ {
		valid[codeAt(t, seed, now.Add(time.Duration(d)*30*time.Second))] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !valid[c] {
			return c
		}
	}
}

// mfa/admin-validate refuses a disabled entity with 403 and counts nothing.
func TestMFAAdminValidateRefusesDisabledEntity(t *testing.T) {
	b, entityID := oidcBackend(t)
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme"})
	enroll := b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, enroll.Status)
	seed := seedOf(t, enroll.Data()["url"].(string))
	require.Equal(t, http.StatusNoContent, b.Write("entity/id/"+entityID, map[string]any{"disabled": true}).Status)
	before := snapshot(b)
	for _, passcode := range []string{codeAt(t, seed, time.Now()), wrongCode(t, seed)} {
		r := b.Write("mfa/admin-validate", map[string]any{"method_id": m, "entity_id": entityID, "passcode": passcode})
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "permission denied: the entity is disabled", r.ErrorText())
	}
	require.Equal(t, before, snapshot(b))
}

// Provider addresses must be https unless they are on loopback.
func TestMFAProviderURLsMustUseHTTPS(t *testing.T) {
	b := newBackend(t)
	b.List("mfa/method/") // loads the store, which writes its defaults
	ping := base64.StdEncoding.EncodeToString([]byte("use_base64_key=a2V5\nuse_signature=true\ntoken=t\norg_alias=o\nidp_url=http://example.com/pingid"))
	refused(t, b, "mfa/method/okta", map[string]any{"org_name": "acme", "api_token": "t", "base_url": "http://example.com"}, "base_url must use https unless its host is a loopback address")
	refused(t, b, "mfa/method/duo", map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "http://example.com"}, "api_hostname must use https unless its host is a loopback address")
	refused(t, b, "mfa/method/pingid", map[string]any{"settings_file_base64": ping}, "idp_url must use https unless its host is a loopback address")
	createMethod(t, b, "okta", map[string]any{"org_name": "acme", "api_token": "t", "base_url": "http://127.0.0.1:8080"})
	createMethod(t, b, "duo", map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "https://api.duo.test"})
}

// TestMFAEntityStatus: mfa/entity-status reads an entity's enrollment,
// failed attempts, lockout and recovery codes per method, writes nothing,
// returns no secret, and refuses an unknown entity as the admin paths do.
func TestMFAEntityStatus(t *testing.T) {
	b, entityID := oidcBackend(t)
	m := createMethod(t, b, "totp", map[string]any{"issuer": "Acme", "method_name": "acme", "max_validation_attempts": 2})
	duo := createMethod(t, b, "duo", map[string]any{"secret_key": "s", "integration_key": "i", "api_hostname": "h"})
	status := func() map[string]any {
		r := b.Read("mfa/entity-status/" + entityID)
		require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
		validSchema(t, b, r)
		return r.Data()["methods"].(map[string]any)
	}
	st := status()
	require.Equal(t, map[string]any{"type": "totp", "name": "acme", "enrolled": false, "failed_attempts": 0, "max_validation_attempts": 2, "locked_out": false, "recovery_codes_remaining": 0}, st[m])
	require.Equal(t, true, st[duo].(map[string]any)["enrolled"], "push methods need no enrollment here")

	r := b.Write("mfa/method/totp/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, r.Status)
	seed := strings.TrimPrefix(regexp.MustCompile(`secret=[A-Z2-7]+`).FindString(r.Data()["url"].(string)), "secret=")
	require.NotEmpty(t, seed)
	r = b.Write("mfa/recovery-codes/admin-generate", map[string]any{"method_id": m, "entity_id": entityID})
	require.Equal(t, http.StatusOK, r.Status, r.ErrorText())
	for range 2 {
		b.Write("mfa/admin-validate", map[string]any{"method_id": m, "entity_id": entityID, "passcode": "000000"})
	}
	before := storedEntries(t, b)
	st = status()
	got := st[m].(map[string]any)
	require.Equal(t, true, got["enrolled"])
	require.Equal(t, 2, got["failed_attempts"])
	require.Equal(t, true, got["locked_out"])
	require.NotZero(t, got["recovery_codes_remaining"])
	raw, err := json.Marshal(st)
	require.NoError(t, err)
	require.NotContains(t, string(raw), seed, "no seed in the answer")
	require.Equal(t, before, storedEntries(t, b), "a read writes nothing")

	require.Equal(t, http.StatusNoContent, b.Write("mfa/admin-reset-lockout", map[string]any{"method_id": m, "entity_id": entityID}).Status)
	require.Equal(t, false, status()[m].(map[string]any)["locked_out"])

	r = b.Read("mfa/entity-status/nope")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "invalid entity ID", r.ErrorText())
}

// storedEntries is every storage entry of the backend, key to value.
func storedEntries(t *testing.T, b *testutil.Backend) map[string]string {
	t.Helper()
	keys, err := logical.CollectKeys(t.Context(), b.Storage)
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		e, err := b.Storage.Get(t.Context(), k)
		require.NoError(t, err)
		out[k] = string(e.Value)
	}
	return out
}
