package mfa

import (
	"context"
	"encoding/base32"
	"fmt"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/fakeproviders"
)

func totpStore(t *testing.T, s *logical.InmemStorage, clock *fakeClock) *testStore {
	t.Helper()
	st := openStore(testOptions{Storage: s, Now: clock.Now})
	require.NoError(t, st.Load(context.Background()))
	return st
}

func totpMethod(t *testing.T, st *testStore, alg string, digits, skew, max int) string {
	t.Helper()
	m, _, err := st.WriteMFAMethod(context.Background(), "", MFAMethodInput{
		Type: MFATOTP, MethodName: core.Some("m-" + alg), Issuer: "Acme", Period: 30 * time.Second,
		KeySize: 20, QRSize: 200, Algorithm: alg, Digits: digits, Skew: skew, MaxValidationAttempts: max,
	})
	require.NoError(t, err)
	return m.ID
}

// setSeed gives the entity a known TOTP seed, as admin-generate would a
// random one.
func setSeed(t *testing.T, st *testStore, methodID, entityID string, seed []byte) {
	t.Helper()
	key := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
	require.NoError(t, st.storage.PutJSON(context.Background(), secretKey(methodID, entityID), &entitySecret{Key: key}))
}

func status(err error) int {
	if e, ok := core.AsError(err); ok {
		return e.Status
	}
	if err != nil {
		return 500
	}
	return 200
}

// TestTOTPRFC6238Vectors checks the test vectors of RFC 6238 appendix B
// (8 digits, SHA1/256/512) through ValidateMFA with an injected clock.
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := map[string]string{
		"SHA1":   "12345678901234567890",
		"SHA256": "12345678901234567890123456789012",
		"SHA512": "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix  int64
		codes map[string]string
	}{
		{59, map[string]string{"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}},
		{1111111109, map[string]string{"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}},
		{1111111111, map[string]string{"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}},
		{1234567890, map[string]string{"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}},
		{2000000000, map[string]string{"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}},
		{20000000000, map[string]string{"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}},
	}
	ctx := context.Background()
	for alg, seed := range seeds {
		t.Run(alg, func(t *testing.T) {
			clock := &fakeClock{}
			st := totpStore(t, new(logical.InmemStorage), clock)
			mid := totpMethod(t, st, alg, 8, 0, 5)
			e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "rfc"})
			require.NoError(t, err)
			setSeed(t, st, mid, e.ID, []byte(seed))
			for _, v := range vectors {
				clock.t = time.Unix(v.unix, 0)
				require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: mid, EntityID: e.ID, Passcode: v.codes[alg]}), "t=%d", v.unix)
				err := st.ValidateMFA(ctx, MFAValidation{MethodID: mid, EntityID: e.ID, Passcode: v.codes[alg]})
				require.Equal(t, "failed to validate TOTP passcode", err.Error(), "a replayed code is refused")
				require.Equal(t, http.StatusForbidden, status(err))
				require.NoError(t, st.ResetMFALockout(ctx, mid, e.ID))
			}
		})
	}
}

func TestTOTPSkewReplayLockoutAndRestart(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	st := totpStore(t, s, clock)
	mid := totpMethod(t, st, "SHA1", 6, 1, 3)
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	enr, err := st.GenerateTOTP(ctx, mid, e.ID)
	require.NoError(t, err)
	require.Contains(t, enr.URL, "otpauth://totp/Acme:"+e.ID+"?algorithm=SHA1&digits=6&issuer=Acme&period=30&secret=")
	again, err := st.GenerateTOTP(ctx, mid, e.ID)
	require.NoError(t, err)
	require.Equal(t, `Entity already has a secret for MFA method "m-SHA1"`, again.Warning)
	sec, err := st.readSecret(ctx, mid, e.ID)
	require.NoError(t, err)
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(sec.Key, at)
		require.NoError(t, err)
		return c
	}
	validate := func(st *testStore, passcode string) error {
		return st.ValidateMFA(ctx, MFAValidation{MethodID: mid, EntityID: e.ID, Passcode: passcode})
	}

	// skew 1: the previous step's code is accepted, then nothing at or
	// before it.
	prev := code(clock.t.Add(-30 * time.Second))
	require.NoError(t, validate(st, prev))
	require.Error(t, validate(st, prev))
	require.NoError(t, validate(st, code(clock.t)))
	require.Error(t, validate(st, code(clock.t.Add(-30*time.Second))), "older than the last accepted step")
	require.Error(t, validate(st, code(clock.t.Add(2*30*time.Second))), "outside the skew window")

	// A restart does not forget the used step.
	clock.Advance(30 * time.Second)
	next := code(clock.t)
	require.NoError(t, validate(st, next))
	restarted := totpStore(t, s, clock)
	require.Equal(t, "failed to validate TOTP passcode", validate(restarted, next).Error())

	// Lockout after max attempts, also across a restart, until reset.
	require.NoError(t, restarted.ResetMFALockout(ctx, mid, e.ID))
	for range 3 {
		require.Error(t, validate(restarted, "000000"))
	}
	clock.Advance(30 * time.Second)
	err = validate(restarted, code(clock.t))
	require.Equal(t, "maximum TOTP validation attempts 4 exceeded the allowed attempts 3; an administrator must reset the lockout", err.Error())
	require.Equal(t, http.StatusForbidden, status(err))
	again2 := totpStore(t, s, clock)
	require.Error(t, validate(again2, code(clock.t)), "still locked after a restart")
	require.NoError(t, again2.ResetMFALockout(ctx, mid, e.ID))
	require.NoError(t, validate(again2, code(clock.t)))

	// Bad input is refused and changes nothing, not even the attempt count.
	before, _ := s.Get(ctx, secretKey(mid, e.ID))
	for _, passcode := range []string{"12345", "1234567", "abc"} {
		require.Equal(t, "failed to validate TOTP passcode", validate(again2, passcode).Error())
	}
	after, _ := s.Get(ctx, secretKey(mid, e.ID))
	require.Equal(t, before.Value, after.Value)
	require.Equal(t, "MFA credentials not supplied", validate(again2, "").Error())
	other, _, _ := again2.UpsertEntity(ctx, identity.EntityUpdate{Name: "no-secret"})
	err = again2.ValidateMFA(ctx, MFAValidation{MethodID: mid, EntityID: other.ID, Passcode: "123456"})
	require.Equal(t, `MFA secret for method name "m-SHA1" not present in entity "`+other.ID+`"`, err.Error())
	require.Equal(t, http.StatusBadRequest, status(err))
	err = again2.ValidateMFA(ctx, MFAValidation{MethodID: "nope", EntityID: e.ID, Passcode: "123456"})
	require.Equal(t, `configuration for method ID "nope" does not exist`, err.Error())
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	st := totpStore(t, s, clock)
	mid := totpMethod(t, st, "SHA1", 6, 1, 5)
	e, _, _ := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	_, err := st.GenerateTOTP(ctx, mid, e.ID)
	require.NoError(t, err)
	codes, err := st.GenerateRecoveryCodes(ctx, mid, e.ID)
	require.NoError(t, err)
	require.Len(t, codes, 10)
	entry, _ := s.Get(ctx, secretKey(mid, e.ID))
	for _, c := range codes {
		require.NotContains(t, string(entry.Value), c[:8], "only hashes are stored")
	}
	use := func(code string) error {
		return st.ValidateMFA(ctx, MFAValidation{MethodID: mid, EntityID: e.ID, RecoveryCode: code})
	}
	require.NoError(t, use(codes[0]))
	require.Error(t, use(codes[0]), "single use")
	require.NoError(t, use(" "+strings.ToLower(codes[1])+" "), "case and spaces do not matter")
	require.Error(t, use("AAAAAAAA-AAAAAAAA"))
	fresh, err := st.GenerateRecoveryCodes(ctx, mid, e.ID)
	require.NoError(t, err)
	require.Error(t, use(codes[2]), "a new set replaces the old")
	require.NoError(t, use(fresh[0]))
}

// An entity delete racing MFA writes for the same entity leaves no secret
// behind: the writes either finish before the delete removes the secrets or
// find the entity gone.
func TestEntityDeleteRacingMFAWrites(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := totpStore(t, s, &fakeClock{t: time.Unix(1_800_000_000, 0)})
	mid := totpMethod(t, st, "SHA1", 6, 1, 5)
	for i := range 200 {
		e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: fmt.Sprintf("e-%d", i)})
		require.NoError(t, err)
		setSeed(t, st, mid, e.ID, []byte("12345678901234567890")) // recovery codes need an enrollment
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			for {
				if _, err := st.GenerateRecoveryCodes(ctx, mid, e.ID); err != nil {
					require.Equal(t, "invalid entity ID", err.Error())
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			require.NoError(t, st.DeleteEntity(ctx, e.ID))
		}()
		close(start)
		wg.Wait()
		entry, err := s.Get(ctx, secretKey(mid, e.ID))
		require.NoError(t, err)
		require.Nil(t, entry, "secret of deleted entity %d left behind", i)
	}
}

// A push waiting for the user does not hold the locks that writes to the
// same entity (and to whatever shares their stripes) take.
func TestProviderPushDoesNotBlockWrites(t *testing.T) {
	ctx := context.Background()
	okta := fakeproviders.NewFakeOkta("okta-token")
	defer okta.Close()
	okta.Users["alice"] = "WAITING"
	st := openStore(testOptions{Storage: new(logical.InmemStorage), MFAPollInterval: 10 * time.Millisecond})
	require.NoError(t, st.Load(ctx))
	e, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{Name: "alice"})
	require.NoError(t, err)
	m, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "okta-token", BaseURL: okta.URL})
	require.NoError(t, err)

	pushCtx, cancel := context.WithCancel(ctx)
	pushed := make(chan error, 1)
	go func() { pushed <- st.ValidateMFA(pushCtx, MFAValidation{MethodID: m.ID, EntityID: e.ID}) }()
	require.Eventually(t, func() bool { return okta.Polls() > 0 }, 5*time.Second, 5*time.Millisecond, "the push is waiting")

	wrote := make(chan error, 1)
	go func() {
		_, _, err := st.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Policies: core.Some([]string{"p"})})
		wrote <- err
	}()
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("an entity write waited for the pending push")
	}
	require.NoError(t, st.ResetMFALockout(ctx, m.ID, e.ID), "nor did a write of the same secret")
	cancel()
	require.Error(t, <-pushed)
}
