//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/fakeproviders"
)

// mfaStore is a store with a TOTP method (three attempts) and its users:
// alice and mallory enrolled, dora enrolled then disabled, lou enrolled
// then locked out, nina never enrolled.
type mfaStore struct {
	*secStore
	method                          string
	alice, mallory, dora, lou, nina *secUser
	otpauth                         map[string]string // user name -> otpauth URL
	noEntity                        string
}

func newMFAStore(t *testing.T, name string) *mfaStore {
	t.Helper()
	s := &mfaStore{secStore: newSecStore(t, name), otpauth: map[string]string{}}
	m := mustWrite(t, s.path("mfa/method/totp"), map[string]any{"issuer": "Acme", "method_name": name + "-totp", "max_validation_attempts": 3})
	s.method = m.Data["method_id"].(string)
	s.noEntity = s.entitylessToken(t)
	users := map[string]**secUser{"alice": &s.alice, "mallory": &s.mallory, "dora": &s.dora, "lou": &s.lou, "nina": &s.nina}
	for short, dst := range users {
		*dst = s.user(t, name+"-"+short)
		if short == "nina" {
			continue
		}
		gen := asToken(t, (*dst).token, "POST", s.path("mfa/method/totp/generate"), map[string]any{"method_id": s.method})
		require.Equal(t, http.StatusOK, gen.Status, gen.Errors)
		s.otpauth[(*dst).name] = gen.Data["url"].(string)
	}
	mustWrite(t, s.path("entity/id/"+s.dora.entityID), map[string]any{"disabled": true})
	for range 3 {
		r := s.validate(t, s.lou.token, map[string]any{"passcode": "000000"})
		require.Equal(t, answer{http.StatusForbidden, "failed to validate TOTP passcode"}, r)
	}
	return s
}

func (s *mfaStore) validate(t *testing.T, token string, body map[string]any) answer {
	t.Helper()
	body["method_id"] = s.method
	return vaultCall(t, token, "POST", s.path("mfa/validate"), body)
}

func (s *mfaStore) code(t *testing.T, u *secUser, at time.Time) string {
	return oathtool(t, s.otpauth[u.name], at)
}

// TestSecurityMFAPaths: step-up validation, TOTP enrollment and recovery
// codes refuse every actor that may not act, and such refusals change
// nothing.
func TestSecurityMFAPaths(t *testing.T) {
	s := newMFAStore(t, "sec-mfa")
	now := time.Now()
	duo := fakeproviders.NewFakeDuo("ikey", "skey")
	t.Cleanup(duo.Close)
	duoMethod := mustWrite(t, s.path("mfa/method/duo"), map[string]any{"secret_key": "skey", "integration_key": "ikey", "api_hostname": duo.URL}).Data["method_id"].(string)

	// The code of the empty key at this moment: anyone can compute it.
	emptyKeyCode, err := totp.GenerateCodeCustom("", now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	notPresent := func(u *secUser) answer {
		return answer{http.StatusBadRequest, fmt.Sprintf("MFA secret for method name %q not present in entity %q", s.mount+"-totp", u.entityID)}
	}
	disabled := answer{http.StatusForbidden, "permission denied: the entity is disabled"}
	noEntity := answer{http.StatusBadRequest, "no entity associated with the request's token"}
	call := func(token, path string, body map[string]any) func(t *testing.T) answer {
		return func(t *testing.T) answer { return vaultCall(t, token, "POST", s.path(path), body) }
	}
	m := map[string]any{"method_id": s.method}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{"method_id": s.method}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}

	attacks := []attack{
		// Step-up validation.
		{"anonymous may not validate", call("", "mfa/validate", with(map[string]any{"passcode": "123456"})), permissionDenied},
		{"no entity may not validate", call(s.noEntity, "mfa/validate", with(map[string]any{"passcode": "123456"})), noEntity},
		{"a disabled entity may not validate", func(t *testing.T) answer {
			return s.validate(t, s.dora.token, map[string]any{"passcode": s.code(t, s.dora, now)})
		}, disabled},
		{"a locked-out entity may not validate, even with a good code", func(t *testing.T) answer {
			return s.validate(t, s.lou.token, map[string]any{"passcode": s.code(t, s.lou, now)})
		}, answer{http.StatusForbidden, "maximum TOTP validation attempts 4 exceeded the allowed attempts 3; an administrator must reset the lockout"}},
		{"an entity never enrolled may not pass with the empty key's code", func(t *testing.T) answer {
			return s.validate(t, s.nina.token, map[string]any{"passcode": emptyKeyCode})
		}, notPresent(s.nina)},
		{"a recovery code may not stand for a push method", call(s.alice.token, "mfa/validate", map[string]any{"method_id": duoMethod, "recovery_code": "AAAAAAAA-AAAAAAAA"}),
			answer{http.StatusBadRequest, "recovery codes are available only for TOTP methods"}},

		// Enrollment.
		{"anonymous may not enroll", call("", "mfa/method/totp/generate", m), permissionDenied},
		{"no entity may not enroll", call(s.noEntity, "mfa/method/totp/generate", m), answer{http.StatusBadRequest, "missing entityID"}},
		{"a disabled entity may not enroll", call(s.dora.token, "mfa/method/totp/generate", m), disabled},

		// Recovery codes.
		{"anonymous may not make recovery codes", call("", "mfa/recovery-codes/generate", m), permissionDenied},
		{"no entity may not make recovery codes", call(s.noEntity, "mfa/recovery-codes/generate", with(map[string]any{"passcode": "123456"})), noEntity},
		{"a disabled entity may not make recovery codes", func(t *testing.T) answer {
			return vaultCall(t, s.dora.token, "POST", s.path("mfa/recovery-codes/generate"), with(map[string]any{"passcode": s.code(t, s.dora, now)}))
		}, disabled},
		{"a token alone may not replace the recovery codes", call(s.alice.token, "mfa/recovery-codes/generate", m),
			answer{http.StatusBadRequest, "MFA credentials not supplied"}},
		{"an entity never enrolled may not make recovery codes", call(s.nina.token, "mfa/recovery-codes/generate", with(map[string]any{"passcode": emptyKeyCode})), notPresent(s.nina)},
		{"an administrator may not make recovery codes for an entity never enrolled", func(t *testing.T) answer {
			return vaultCall(t, server.Token, "POST", s.path("mfa/recovery-codes/admin-generate"), with(map[string]any{"entity_id": s.nina.entityID}))
		}, notPresent(s.nina)},
		{"recovery codes may not be made for a push method", call(s.alice.token, "mfa/recovery-codes/generate", map[string]any{"method_id": duoMethod, "passcode": "123456"}),
			answer{http.StatusBadRequest, "recovery codes are available only for TOTP methods"}},
	}
	// The administrators' paths are not an entity's to call.
	for _, p := range []string{"mfa/admin-validate", "mfa/admin-reset-lockout", "mfa/recovery-codes/admin-generate", "mfa/method/totp/admin-generate", "mfa/method/totp/admin-destroy"} {
		attacks = append(attacks, attack{"an entity may not call " + p, call(s.mallory.token, p, with(map[string]any{"entity_id": s.alice.entityID, "passcode": "123456"})), permissionDenied})
	}
	refuseAll(t, s.secStore, attacks)

	// The refusals left every entity's state as it was: alice passes with
	// a fresh code, lou is still locked out, nina has no secret.
	require.Equal(t, answer{http.StatusOK, ""}, s.validate(t, s.alice.token, map[string]any{"passcode": s.code(t, s.alice, now)}))
	require.Equal(t, http.StatusForbidden, s.validate(t, s.lou.token, map[string]any{"passcode": s.code(t, s.lou, now)}).status)
	for k := range s.storage(t) {
		require.NotEqual(t, "mfa/secret/"+s.method+"/"+s.nina.entityID, k, "no secret is stored for an entity never enrolled")
	}
}

// TestSecurityMFACredentialsUsedOnce: a TOTP code, a recovery code and
// another entity's code work for nobody a second time, and every such
// refusal counts against the lockout of the entity that tried.
func TestSecurityMFACredentialsUsedOnce(t *testing.T) {
	s := newMFAStore(t, "sec-mfa-once")
	now := time.Now()
	failed := answer{http.StatusForbidden, "failed to validate TOTP passcode"}

	code := s.code(t, s.alice, now)
	require.Equal(t, http.StatusOK, s.validate(t, s.alice.token, map[string]any{"passcode": code}).status)
	require.Equal(t, failed, s.validate(t, s.alice.token, map[string]any{"passcode": code}), "a replayed code")
	require.Equal(t, failed, s.validate(t, s.mallory.token, map[string]any{"passcode": s.code(t, s.alice, now.Add(30*time.Second))}), "another entity's code")

	// Self-service recovery codes need a current factor: a wrong passcode
	// is a counted failure, a good one (of a later step) makes the codes.
	require.Equal(t, failed, vaultCall(t, s.alice.token, "POST", s.path("mfa/recovery-codes/generate"), map[string]any{"method_id": s.method, "passcode": "000000"}))
	gen := asToken(t, s.alice.token, "POST", s.path("mfa/recovery-codes/generate"), map[string]any{"method_id": s.method, "passcode": s.code(t, s.alice, now.Add(30*time.Second))})
	require.Equal(t, http.StatusOK, gen.Status, gen.Errors)
	codes := gen.Data["recovery_codes"].([]any)
	recovery := codes[0].(string)
	require.Equal(t, http.StatusOK, s.validate(t, s.alice.token, map[string]any{"recovery_code": recovery}).status)
	require.Equal(t, failed, s.validate(t, s.alice.token, map[string]any{"recovery_code": recovery}), "a used recovery code")
	require.Equal(t, failed, s.validate(t, s.mallory.token, map[string]any{"recovery_code": codes[1].(string)}), "another entity's recovery code")

	// A recovery code replaces the codes once: the code it used is gone
	// with the rest.
	again := asToken(t, s.alice.token, "POST", s.path("mfa/recovery-codes/generate"), map[string]any{"method_id": s.method, "recovery_code": codes[2].(string)})
	require.Equal(t, http.StatusOK, again.Status, again.Errors)
	require.Equal(t, failed, s.validate(t, s.alice.token, map[string]any{"recovery_code": codes[3].(string)}), "codes of an earlier generation")

	// Mallory's refusals counted for mallory: two so far, one more locks her
	// out at three.
	require.Equal(t, failed, s.validate(t, s.mallory.token, map[string]any{"passcode": "000000"}))
	require.Equal(t, answer{http.StatusForbidden, "maximum TOTP validation attempts 4 exceeded the allowed attempts 3; an administrator must reset the lockout"},
		s.validate(t, s.mallory.token, map[string]any{"passcode": s.code(t, s.mallory, now)}))
}

// TestSecurityMFAPushAttemptsAtOnce: wrong push attempts sent at once can
// never exceed the method's attempts: each is counted before Duo is asked.
func TestSecurityMFAPushAttemptsAtOnce(t *testing.T) {
	s := newSecStore(t, "sec-push")
	alice := s.user(t, "sec-push-alice")
	duo := fakeproviders.NewFakeDuo("ikey", "skey")
	duo.Delay = 300 * time.Millisecond
	duo.Users[alice.name] = "push-deny"
	t.Cleanup(duo.Close)
	method := mustWrite(t, s.path("mfa/method/duo"), map[string]any{"secret_key": "skey", "integration_key": "ikey", "api_hostname": duo.URL}).Data["method_id"].(string)

	const tries = 12
	var wg sync.WaitGroup
	answers := make([]answer, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = vaultCall(t, alice.token, "POST", s.path("mfa/validate"), map[string]any{"method_id": method})
		}()
	}
	wg.Wait()
	const max = 5 // the push methods' attempts
	require.Equal(t, max, duo.Attempts(), "only the attempts within the limit reach Duo")
	denied, locked := 0, 0
	for _, a := range answers {
		switch {
		case a == (answer{http.StatusForbidden, "failed to validate duo MFA"}):
			denied++
		case a.status == http.StatusForbidden && strings.HasPrefix(a.text, "maximum TOTP validation attempts"):
			locked++
		default:
			t.Fatalf("unexpected answer %v", a)
		}
	}
	require.Equal(t, max, denied)
	require.Equal(t, tries-max, locked)
}

// TestSecurityOktaPollStaysOnItsHost: an Okta answer whose poll link
// points at another host does not get the API token sent there, and an
// Okta method on plain http to a host that is not loopback is refused.
func TestSecurityOktaPollStaysOnItsHost(t *testing.T) {
	s := newSecStore(t, "sec-okta")
	alice := s.user(t, "sec-okta-alice")
	var leaked atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.Write([]byte(`{"factorResult":"SUCCESS"}`))
	}))
	t.Cleanup(thief.Close)
	okta := fakeproviders.NewFakeOkta("okta-api-token")
	okta.Users[alice.name] = "SUCCESS"
	okta.PollBase = thief.URL
	t.Cleanup(okta.Close)
	method := mustWrite(t, s.path("mfa/method/okta"), map[string]any{"org_name": "acme", "api_token": "okta-api-token", "base_url": okta.URL}).Data["method_id"].(string)

	r := vaultCall(t, alice.token, "POST", s.path("mfa/validate"), map[string]any{"method_id": method})
	require.NotEqual(t, http.StatusOK, r.status, "a push answered by another host does not pass: %v", r)
	require.Zero(t, leaked.Load(), "the API token went to the poll link's host")

	before := s.storage(t)
	bad := do(t, "POST", s.path("mfa/method/okta"), map[string]any{"org_name": "acme", "api_token": "t", "base_url": "http://okta.example.com"})
	require.Equal(t, http.StatusBadRequest, bad.Status)
	requireSameStorage(t, before, s.storage(t))
}

// TestSecurityMFAAttackChains replays two attacks end to end as they were
// reported: recovery codes made for an entity that never enrolled left a
// record without a seed, whose empty key's codes then passed; and a stolen
// Vault token alone minted recovery codes and passed step-up with one.
func TestSecurityMFAAttackChains(t *testing.T) {
	s := newMFAStore(t, "sec-chain")
	notPresent := func(u *secUser) answer {
		return answer{http.StatusBadRequest, fmt.Sprintf("MFA secret for method name %q not present in entity %q", s.mount+"-totp", u.entityID)}
	}
	t.Run("empty seed", func(t *testing.T) {
		before := s.storage(t)
		require.Equal(t, notPresent(s.nina), vaultCall(t, server.Token, "POST", s.path("mfa/recovery-codes/admin-generate"), map[string]any{"method_id": s.method, "entity_id": s.nina.entityID}))
		code, err := totp.GenerateCodeCustom("", time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		require.NoError(t, err)
		require.Equal(t, notPresent(s.nina), vaultCall(t, server.Token, "POST", s.path("mfa/admin-validate"), map[string]any{"method_id": s.method, "entity_id": s.nina.entityID, "passcode": code}))
		require.Equal(t, notPresent(s.nina), s.validate(t, s.nina.token, map[string]any{"passcode": code}))
		requireSameStorage(t, before, s.storage(t))
	})
	t.Run("step-up with a token alone", func(t *testing.T) {
		before := s.storage(t)
		gen := asToken(t, s.alice.token, "POST", s.path("mfa/recovery-codes/generate"), map[string]any{"method_id": s.method})
		require.Equal(t, http.StatusBadRequest, gen.Status)
		require.Equal(t, []string{"MFA credentials not supplied"}, gen.Errors)
		require.Nil(t, gen.Data["recovery_codes"])
		requireSameStorage(t, before, s.storage(t))
	})
}
