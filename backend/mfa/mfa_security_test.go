package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/fakeproviders"
)

// Regression tests of the MFA security fixes: seeds too short to be
// secret, recovery codes without a factor, disabled entities, the lock
// order between method deletes and secret writes, provider attempts made
// at once, and provider addresses.

func b32(b []byte) string { return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b) }

// rawSecret is the stored secret record of the entity for the method, as
// bytes (nil when there is none), to compare before and after a refusal.
func rawSecret(t *testing.T, st *testStore, methodID, entityID string) []byte {
	t.Helper()
	e, err := st.storage.Get(context.Background(), secretKey(methodID, entityID))
	require.NoError(t, err)
	if e == nil {
		return nil
	}
	return e.Value
}

func storedSecret(t *testing.T, st *testStore, methodID, entityID string) *entitySecret {
	t.Helper()
	sec, err := st.readSecret(context.Background(), methodID, entityID)
	require.NoError(t, err)
	return sec
}

func putSecret(t *testing.T, st *testStore, methodID, entityID string, sec *entitySecret) {
	t.Helper()
	require.NoError(t, st.storage.PutJSON(context.Background(), secretKey(methodID, entityID), sec))
}

// totpFixture is a loaded store on a fake clock with a TOTP method (SHA1,
// 6 digits, skew 1, key size 20) allowing max attempts.
func totpFixture(t *testing.T, name string, max int) (*testStore, *fakeClock, *MFAMethod) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	st := totpStore(t, new(logical.InmemStorage), clock)
	return st, clock, newTOTPMethod(t, st, name, max)
}

func newTOTPMethod(t *testing.T, st *testStore, name string, max int) *MFAMethod {
	t.Helper()
	m, _, err := st.WriteMFAMethod(context.Background(), "", MFAMethodInput{
		Type: MFATOTP, MethodName: core.Some(name), Issuer: "Acme", Period: 30 * time.Second,
		KeySize: 20, Algorithm: "SHA1", Digits: 6, Skew: 1, MaxValidationAttempts: max,
	})
	require.NoError(t, err)
	return m
}

func newEntity(t *testing.T, st *testStore, name string) *identity.Entity {
	t.Helper()
	e, _, err := st.UpsertEntity(context.Background(), identity.EntityUpdate{Name: name})
	require.NoError(t, err)
	return e
}

// thief is a server that must never be reached: it counts the requests it
// gets and answers them with answer.
func thief(t *testing.T, answer any) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// providerFixture is a loaded store with entity alice and a method made
// from in.
func providerFixture(t *testing.T, in MFAMethodInput) (*testStore, *identity.Entity, *MFAMethod) {
	t.Helper()
	st := openStore(testOptions{Storage: new(logical.InmemStorage), MFAPollInterval: 5 * time.Millisecond})
	require.NoError(t, st.Load(context.Background()))
	e := newEntity(t, st, "alice")
	m, _, err := st.WriteMFAMethod(context.Background(), "", in)
	require.NoError(t, err)
	return st, e, m
}

func sha1Opts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

func notPresent(m *MFAMethod, entityID string) string {
	return fmt.Sprintf("MFA secret for method name %q not present in entity %q", m.Name, entityID)
}

// --- item 1: a passcode is checked only against an enrolled seed ---

// For every seed length below the method's key_size, including none, the
// code computed with that seed for the current step is refused as "not
// present", counts nothing, and matchTOTP itself finds no match.
func TestTOTPShortSeedIsNotPresent(t *testing.T) {
	ctx := context.Background()
	st, clock, m := totpFixture(t, "short", 5)
	e := newEntity(t, st, "short-seed")
	for n := 0; n < m.TOTP.KeySize; n++ {
		seed := make([]byte, n)
		_, err := rand.Read(seed)
		require.NoError(t, err)
		key := b32(seed)
		code, err := totp.GenerateCodeCustom(key, clock.t, sha1Opts())
		require.NoError(t, err)

		_, ok := matchTOTP(key, code, clock.t, m.TOTP)
		require.False(t, ok, "matchTOTP matched a %d-byte seed", n)

		putSecret(t, st, m.ID, e.ID, &entitySecret{Key: key, Failures: 2})
		before := rawSecret(t, st, m.ID, e.ID)
		err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: code})
		require.Error(t, err, "a %d-byte seed's code was accepted", n)
		require.Equal(t, notPresent(m, e.ID), err.Error(), "n=%d", n)
		require.Equal(t, http.StatusBadRequest, status(err))
		require.Equal(t, before, rawSecret(t, st, m.ID, e.ID), "n=%d: the refusal changed the record", n)
	}
	// A seed of key_size bytes is enrolled: the guard is not stricter.
	seed := make([]byte, m.TOTP.KeySize)
	_, _ = rand.Read(seed)
	putSecret(t, st, m.ID, e.ID, &entitySecret{Key: b32(seed)})
	code, err := totp.GenerateCodeCustom(b32(seed), clock.t, sha1Opts())
	require.NoError(t, err)
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: code}))
}

// A record without a seed (written by an earlier version's recovery code
// generation, or carried by a merge) is "not present" for passcodes and
// recovery codes, and nothing can create one any more.
func TestSeedlessTOTPRecordIsNotPresent(t *testing.T) {
	ctx := context.Background()
	st, clock, m := totpFixture(t, "seedless", 5)
	emptyCode, err := totp.GenerateCodeCustom("", clock.t, sha1Opts())
	require.NoError(t, err)

	// Never enrolled: admin generation of recovery codes is refused and
	// writes nothing.
	fresh := newEntity(t, st, "fresh")
	_, err = st.GenerateRecoveryCodes(ctx, m.ID, fresh.ID)
	require.Error(t, err)
	require.Equal(t, notPresent(m, fresh.ID), err.Error())
	require.Equal(t, http.StatusBadRequest, status(err))
	require.Nil(t, rawSecret(t, st, m.ID, fresh.ID))
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: fresh.ID, Passcode: emptyCode})
	require.Equal(t, notPresent(m, fresh.ID), err.Error())

	// A record left by an earlier version: recovery hashes, no seed.
	old := newEntity(t, st, "old")
	const code = "ABCDEFGH-IJKLMNOP"
	putSecret(t, st, m.ID, old.ID, &entitySecret{Failures: 1, RecoveryHashes: []string{hashRecoveryCode(code)}})
	before := rawSecret(t, st, m.ID, old.ID)
	for _, v := range []MFAValidation{{Passcode: emptyCode}, {RecoveryCode: code}} {
		v.MethodID, v.EntityID = m.ID, old.ID
		err := st.ValidateMFA(ctx, v)
		require.Error(t, err)
		require.Equal(t, notPresent(m, old.ID), err.Error())
		require.Equal(t, http.StatusBadRequest, status(err))
	}
	require.Equal(t, before, rawSecret(t, st, m.ID, old.ID))

	// Carried by a merge into an entity that has no secret either.
	target := newEntity(t, st, "target")
	require.NoError(t, st.MergeEntities(ctx, identity.MergeRequest{To: target.ID, From: []string{old.ID}}))
	for _, v := range []MFAValidation{{Passcode: emptyCode}, {RecoveryCode: code}} {
		v.MethodID, v.EntityID = m.ID, target.ID
		err := st.ValidateMFA(ctx, v)
		require.Error(t, err)
		require.Equal(t, notPresent(m, target.ID), err.Error())
	}
	if sec := storedSecret(t, st, m.ID, target.ID); sec != nil {
		require.Empty(t, sec.Key)
	}
}

// --- item 2: recovery codes only for enrolled TOTP methods ---

func TestRecoveryCodesOnlyForTOTPMethods(t *testing.T) {
	ctx := context.Background()
	duo := fakeproviders.NewFakeDuo("DIXXXXXXXX", "duo-secret")
	defer duo.Close()
	duo.Users["alice"] = "push-deny"
	s := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: s})
	require.NoError(t, st.Load(ctx))
	e := newEntity(t, st, "alice")
	m, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFADuo, SecretKey: "duo-secret", IntegrationKey: "DIXXXXXXXX", APIHostname: duo.URL})
	require.NoError(t, err)

	_, err = st.GenerateRecoveryCodes(ctx, m.ID, e.ID)
	require.Error(t, err)
	require.Equal(t, "recovery codes are available only for TOTP methods", err.Error())
	require.Equal(t, http.StatusBadRequest, status(err))
	require.Nil(t, rawSecret(t, st, m.ID, e.ID))

	// Codes stored for a Duo method by an earlier version do not work.
	const code = "ABCDEFGH-IJKLMNOP"
	putSecret(t, st, m.ID, e.ID, &entitySecret{RecoveryHashes: []string{hashRecoveryCode(code)}})
	before := rawSecret(t, st, m.ID, e.ID)
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, RecoveryCode: code})
	require.Error(t, err)
	require.Equal(t, "recovery codes are available only for TOTP methods", err.Error())
	require.Equal(t, http.StatusBadRequest, status(err))
	require.Equal(t, before, rawSecret(t, st, m.ID, e.ID))
	require.Zero(t, duo.Attempts(), "Duo was not asked")
}

// A recovery code satisfies only the method it was made for.
func TestRecoveryCodeBoundToItsMethod(t *testing.T) {
	ctx := context.Background()
	st := totpStore(t, new(logical.InmemStorage), &fakeClock{t: time.Unix(1_800_000_000, 0)})
	a, b := newTOTPMethod(t, st, "a", 5), newTOTPMethod(t, st, "b", 5)
	e := newEntity(t, st, "alice")
	for _, m := range []*MFAMethod{a, b} {
		_, err := st.GenerateTOTP(ctx, m.ID, e.ID)
		require.NoError(t, err)
	}
	codes, err := st.GenerateRecoveryCodes(ctx, a.ID, e.ID)
	require.NoError(t, err)
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: b.ID, EntityID: e.ID, RecoveryCode: codes[0]})
	require.Equal(t, "failed to validate TOTP passcode", err.Error())
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: a.ID, EntityID: e.ID, RecoveryCode: codes[0]}))
}

// --- item 3: a disabled entity is refused and nothing is counted ---

func TestValidateMFARefusesDisabledEntity(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	duo := fakeproviders.NewFakeDuo("DIXXXXXXXX", "duo-secret")
	defer duo.Close()
	duo.Users["alice"] = "allow"
	st := openStore(testOptions{Storage: s, Now: clock.Now})
	require.NoError(t, st.Load(ctx))
	m := newTOTPMethod(t, st, "t", 5)
	dm, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFADuo, SecretKey: "duo-secret", IntegrationKey: "DIXXXXXXXX", APIHostname: duo.URL})
	require.NoError(t, err)
	e := newEntity(t, st, "alice")
	_, err = st.GenerateTOTP(ctx, m.ID, e.ID)
	require.NoError(t, err)
	codes, err := st.GenerateRecoveryCodes(ctx, m.ID, e.ID)
	require.NoError(t, err)
	key := storedSecret(t, st, m.ID, e.ID).Key
	good, err := totp.GenerateCodeCustom(key, clock.t, sha1Opts())
	require.NoError(t, err)

	_, _, err = st.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Disabled: core.Some(true)})
	require.NoError(t, err)
	before := rawSecret(t, st, m.ID, e.ID)
	for _, v := range []MFAValidation{
		{MethodID: m.ID, Passcode: good},
		{MethodID: m.ID, Passcode: "000000"},
		{MethodID: m.ID, RecoveryCode: codes[0]},
		{MethodID: dm.ID},
		{MethodID: dm.ID, Passcode: "123456"},
	} {
		v.EntityID = e.ID
		err := st.ValidateMFA(ctx, v)
		require.ErrorIs(t, err, core.ErrEntityDisabled, "%+v", v)
		require.Equal(t, http.StatusForbidden, status(err))
	}
	require.Equal(t, before, rawSecret(t, st, m.ID, e.ID), "nothing counted or used up")
	require.Nil(t, rawSecret(t, st, dm.ID, e.ID), "nothing counted for Duo")
	require.Zero(t, duo.Attempts(), "Duo was not asked")

	// Enabled again, the same code and recovery code work: neither was used.
	_, _, err = st.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Disabled: core.Some(false)})
	require.NoError(t, err)
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: good}))
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, RecoveryCode: codes[0]}))
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: dm.ID, EntityID: e.ID}))
}

// --- item 7: a method delete racing secret writes leaves no secret ---

func TestDeleteMFAMethodRacingSecretWrites(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: s, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	require.NoError(t, st.Load(ctx))
	var entities []*identity.Entity
	for i := range 16 {
		entities = append(entities, newEntity(t, st, fmt.Sprintf("race-%d", i)))
	}
	for round := range 40 {
		m := newTOTPMethod(t, st, fmt.Sprintf("race-%d", round), 1000)
		gone := fmt.Sprintf("configuration for method ID %q does not exist", m.ID)
		start := make(chan struct{})
		errs := make(chan error, len(entities)+2)
		var wg sync.WaitGroup
		for _, e := range entities {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					var err error
					switch i % 4 {
					case 0:
						err = st.DestroyTOTP(ctx, m.ID, e.ID)
					case 1:
						_, err = st.GenerateTOTP(ctx, m.ID, e.ID)
					case 2:
						_, err = st.GenerateRecoveryCodes(ctx, m.ID, e.ID)
					case 3:
						err = st.ResetMFALockout(ctx, m.ID, e.ID)
					}
					if err != nil {
						if err.Error() != gone {
							errs <- fmt.Errorf("round %d, op %d: %w", round, i%4, err)
						}
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Duration(round%5) * time.Millisecond)
			if err := st.DeleteMFAMethod(ctx, MFATOTP, m.ID); err != nil {
				errs <- err
			}
		}()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		close(start)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: deadlock: a method delete and secret writes never finished", round)
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		left, err := s.List(ctx, totpPrefix+m.ID+"/")
		require.NoError(t, err)
		require.Empty(t, left, "round %d: secrets of the deleted method left behind", round)
	}
}

// --- item 8: provider attempts made at once never exceed the maximum ---

type providerCase struct {
	name string
	// setup starts the fake with a Delay and a denying answer for alice,
	// and returns the method input, the passcode of a wrong attempt, and
	// how many verifications reached the provider.
	setup func(t *testing.T) (MFAMethodInput, string, func() int)
}

func providerCases() []providerCase {
	return []providerCase{
		{"duo", func(t *testing.T) (MFAMethodInput, string, func() int) {
			duo := fakeproviders.NewFakeDuo("DIXXXXXXXX", "duo-secret")
			t.Cleanup(duo.Close)
			duo.Passcode, duo.Delay = "123456", 30*time.Millisecond
			duo.Users["alice"] = "push-deny"
			return MFAMethodInput{Type: MFADuo, SecretKey: "duo-secret", IntegrationKey: "DIXXXXXXXX", APIHostname: duo.URL}, "999999", duo.Attempts
		}},
		{"okta", func(t *testing.T) (MFAMethodInput, string, func() int) {
			okta := fakeproviders.NewFakeOkta("okta-token")
			t.Cleanup(okta.Close)
			okta.Passcode, okta.Delay = "654321", 30*time.Millisecond
			okta.Users["alice"] = "REJECTED"
			return MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "okta-token", BaseURL: okta.URL}, "999999", okta.Attempts
		}},
		{"pingid", func(t *testing.T) (MFAMethodInput, string, func() int) {
			ping := fakeproviders.NewFakePingID([]byte("0123456789abcdef0123456789abcdef"), "acme-org", "ping-token")
			t.Cleanup(ping.Close)
			ping.Delay = 30 * time.Millisecond
			ping.Users["alice"] = 10000
			return MFAMethodInput{Type: MFAPingID, SettingsFileBase64: ping.SettingsFile()}, "", ping.Attempts
		}},
	}
}

func TestProviderAttemptsAtOnceNeverExceedMax(t *testing.T) {
	const n = 20
	for _, c := range providerCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			in, passcode, attempts := c.setup(t)
			st, e, m := providerFixture(t, in)

			results := make(chan error, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					results <- st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: passcode})
				}()
			}
			close(start)
			var refused, locked int
			for range n {
				err := <-results
				require.Error(t, err)
				require.Equal(t, http.StatusForbidden, status(err), err.Error())
				switch {
				case err.Error() == "failed to validate "+c.name+" MFA":
					refused++
				case strings.HasPrefix(err.Error(), "maximum TOTP validation attempts "):
					locked++
				default:
					t.Fatalf("unexpected refusal %q", err)
				}
			}
			require.Equal(t, defaultMaxTOTPValidateAttempts, refused, "attempts refused by the provider")
			require.Equal(t, n-defaultMaxTOTPValidateAttempts, locked, "attempts refused by the lockout")
			require.Equal(t, defaultMaxTOTPValidateAttempts, attempts(), "verifications that reached the provider")
			require.Equal(t, defaultMaxTOTPValidateAttempts, storedSecret(t, st, m.ID, e.ID).Failures)
		})
	}
}

// An unreachable or failing provider releases the reserved attempt; a
// success clears the count.
func TestProviderErrorReleasesAttempt(t *testing.T) {
	ctx := context.Background()
	duo := fakeproviders.NewFakeDuo("DIXXXXXXXX", "duo-secret")
	defer duo.Close()
	duo.Users["alice"] = "push-allow"
	duo.Passcode = "123456"
	st := openStore(testOptions{Storage: new(logical.InmemStorage)})
	require.NoError(t, st.Load(ctx))
	e := newEntity(t, st, "alice")
	bad, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFADuo, SecretKey: "wrong", IntegrationKey: "DIXXXXXXXX", APIHostname: duo.URL})
	require.NoError(t, err)
	for range 10 {
		err := st.ValidateMFA(ctx, MFAValidation{MethodID: bad.ID, EntityID: e.ID})
		require.Error(t, err)
		require.Equal(t, 500, status(err), err.Error())
	}
	if sec := storedSecret(t, st, bad.ID, e.ID); sec != nil {
		require.Zero(t, sec.Failures, "provider errors are not counted")
	}

	good, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFADuo, SecretKey: "duo-secret", IntegrationKey: "DIXXXXXXXX", APIHostname: duo.URL})
	require.NoError(t, err)
	for range 3 {
		require.Error(t, st.ValidateMFA(ctx, MFAValidation{MethodID: good.ID, EntityID: e.ID, Passcode: "999999"}))
	}
	require.Equal(t, 3, storedSecret(t, st, good.ID, e.ID).Failures)
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: good.ID, EntityID: e.ID, Passcode: "123456"}))
	require.Zero(t, storedSecret(t, st, good.ID, e.ID).Failures, "a success clears the count")
}

// N wrong TOTP codes at once count exactly min(N, max) and lock at max.
func TestTOTPWrongCodesAtOnceCountExactly(t *testing.T) {
	ctx := context.Background()
	const max = 5
	st, clock, m := totpFixture(t, "many", max)
	for _, n := range []int{1, 2, 4, 5, 6, 9, 20, 40} {
		e := newEntity(t, st, fmt.Sprintf("n-%d", n))
		_, err := st.GenerateTOTP(ctx, m.ID, e.ID)
		require.NoError(t, err)
		key := storedSecret(t, st, m.ID, e.ID).Key
		valid := map[string]bool{}
		for d := -1; d <= 1; d++ {
			c, _ := totp.GenerateCodeCustom(key, clock.t.Add(time.Duration(d)*30*time.Second), sha1Opts())
			valid[c] = true
		}
		wrong := "000000"
		for i := 0; valid[wrong]; i++ {
			wrong = fmt.Sprintf("%06d", i+1)
		}
		var refused, locked atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: wrong})
				switch {
				case err != nil && err.Error() == "failed to validate TOTP passcode":
					refused.Add(1)
				case err != nil && strings.HasPrefix(err.Error(), "maximum TOTP validation attempts "):
					locked.Add(1)
				default:
					t.Errorf("unexpected answer %v", err)
				}
			}()
		}
		wg.Wait()
		want := min(n, max)
		require.Equal(t, int32(want), refused.Load(), "n=%d", n)
		require.Equal(t, int32(n-want), locked.Load(), "n=%d", n)
		require.Equal(t, want, storedSecret(t, st, m.ID, e.ID).Failures, "n=%d", n)
	}
}

// --- item 9: provider addresses ---

// The Okta poll link is followed only on the configured base URL: a link
// to another host (or scheme) never receives the API token.
func TestOktaPollLinkMustStayOnBaseURL(t *testing.T) {
	ctx := context.Background()
	other, stolen := thief(t, map[string]any{"factorResult": "SUCCESS"})
	okta := fakeproviders.NewFakeOkta("okta-token")
	defer okta.Close()
	okta.Users["alice"] = "SUCCESS"
	for _, pollBase := range []string{other.URL, strings.Replace(okta.URL, "http://", "https://", 1)} {
		okta.PollBase = pollBase
		st, e, m := providerFixture(t, MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "okta-token", BaseURL: okta.URL})
		err := st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID})
		require.Error(t, err, "poll link %s", pollBase)
		require.Equal(t, 500, status(err), err.Error())
		require.Contains(t, err.Error(), "poll link")
		require.Zero(t, stolen.Load(), "the other host received a request")
		require.Zero(t, okta.Polls())
		if sec := storedSecret(t, st, m.ID, e.ID); sec != nil {
			require.Zero(t, sec.Failures, "a refused link is a provider error, not counted")
		}
	}
	// The fake's own link is followed.
	okta.PollBase = ""
	st, e, m := providerFixture(t, MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "okta-token", BaseURL: okta.URL})
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID}))
}

func pingSettings(idpURL string) string {
	return base64.StdEncoding.EncodeToString([]byte("use_base64_key=a2V5\nuse_signature=true\ntoken=t\norg_alias=o\nidp_url=" + idpURL))
}

func TestProviderURLsMustUseHTTPSUnlessLoopback(t *testing.T) {
	ctx := context.Background()
	s := new(logical.InmemStorage)
	st := openStore(testOptions{Storage: s})
	require.NoError(t, st.Load(ctx))
	okta := func(u string) MFAMethodInput {
		return MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "t", BaseURL: u}
	}
	duo := func(u string) MFAMethodInput {
		return MFAMethodInput{Type: MFADuo, SecretKey: "s", IntegrationKey: "i", APIHostname: u}
	}
	ping := func(u string) MFAMethodInput {
		return MFAMethodInput{Type: MFAPingID, SettingsFileBase64: pingSettings(u)}
	}
	for _, c := range []struct {
		in    MFAMethodInput
		field string
	}{
		{okta("http://example.com"), "base_url"},
		{okta("http://127.0.0.1.example.com"), "base_url"},
		{okta("ftp://example.com"), "base_url"},
		{duo("http://example.com"), "api_hostname"},
		{duo("http://10.0.0.1:8080"), "api_hostname"},
		{ping("http://example.com/pingid"), "idp_url"},
	} {
		_, _, err := st.WriteMFAMethod(ctx, "", c.in)
		require.Error(t, err, "%+v", c.in)
		require.Equal(t, c.field+" must use https unless its host is a loopback address", err.Error())
		require.Equal(t, http.StatusBadRequest, status(err))
	}
	keys, err := s.List(ctx, mfaMethodPrefix)
	require.NoError(t, err)
	require.Empty(t, keys, "a refused write stores nothing")

	for _, in := range []MFAMethodInput{
		okta("okta.com"), okta("https://okta.internal"), okta("http://127.0.0.1:8080"), okta("http://localhost:1"), okta("http://[::1]:1"),
		duo("api-1.duo.test"), duo("https://api-1.duo.test"), duo("http://127.0.0.2:9"),
		ping("https://idpxnyl3m.pingidentity.com/pingid"), ping("http://localhost:9/pingid"),
	} {
		_, _, err := st.WriteMFAMethod(ctx, "", in)
		require.NoError(t, err, "%+v", in)
	}

	// An update to a plain http address is refused and keeps the method.
	m, _, err := st.WriteMFAMethod(ctx, "", MFAMethodInput{Type: MFAOkta, MethodName: core.Some("keep"), OrgName: "acme", APIToken: "t", BaseURL: "https://okta.internal"})
	require.NoError(t, err)
	before, err := s.Get(ctx, mfaMethodPrefix+m.ID)
	require.NoError(t, err)
	_, _, err = st.WriteMFAMethod(ctx, m.ID, okta("http://example.com"))
	require.Error(t, err)
	after, err := s.Get(ctx, mfaMethodPrefix+m.ID)
	require.NoError(t, err)
	require.Equal(t, before.Value, after.Value)
}

// Methods stored before the rule with a plain http address are refused at
// use: no request is sent and nothing is counted.
func TestStoredPlainHTTPProviderRefusedAtUse(t *testing.T) {
	ctx := context.Background()
	for _, m := range []*MFAMethod{
		{ID: "00000000-0000-0000-0000-00000000000a", Type: MFAOkta, NamespaceID: core.NamespaceID, Okta: &OktaSettings{OrgName: "acme", APIToken: "t", BaseURL: "http://example.invalid"}},
		{ID: "00000000-0000-0000-0000-00000000000b", Type: MFADuo, NamespaceID: core.NamespaceID, Duo: &DuoSettings{SecretKey: "s", IntegrationKey: "i", APIHostname: "http://example.invalid"}},
		{ID: "00000000-0000-0000-0000-00000000000c", Type: MFAPingID, NamespaceID: core.NamespaceID, PingID: &PingSettings{UseBase64Key: "a2V5", Token: "t", OrgAlias: "o", IDPURL: "http://example.invalid/pingid"}},
	} {
		s := new(logical.InmemStorage)
		seed := openStore(testOptions{Storage: s})
		require.NoError(t, seed.Load(ctx))
		require.NoError(t, seed.storage.PutJSON(ctx, mfaMethodPrefix+m.ID, m))
		st := openStore(testOptions{Storage: s})
		require.NoError(t, st.Load(ctx))
		e := newEntity(t, st, "alice")
		err := st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: "123456"})
		require.Error(t, err)
		require.Contains(t, err.Error(), "must use https unless its host is a loopback address", m.Type)
		if sec := storedSecret(t, st, m.ID, e.ID); sec != nil {
			require.Zero(t, sec.Failures, m.Type)
		}
	}
}

// The entity's own generation of recovery codes needs exactly one valid
// current factor, checked as ValidateMFA checks it, atomically with the
// replacement of the codes.
func TestOwnRecoveryCodesNeedAFactor(t *testing.T) {
	ctx := context.Background()
	st, clock, m := totpFixture(t, "own", 3)
	e := newEntity(t, st, "alice")
	own := func(passcode, recovery string) ([]string, error) {
		return st.GenerateOwnRecoveryCodes(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: passcode, RecoveryCode: recovery})
	}
	refused := func(passcode, recovery string, want int, msg string) {
		t.Helper()
		before := rawSecret(t, st, m.ID, e.ID)
		codes, err := own(passcode, recovery)
		require.Error(t, err)
		require.Nil(t, codes)
		require.Equal(t, msg, err.Error())
		require.Equal(t, want, status(err), msg)
		require.Equal(t, before, rawSecret(t, st, m.ID, e.ID), "the refusal changed the record")
	}

	refused("123456", "", http.StatusBadRequest, notPresent(m, e.ID))
	_, err := st.GenerateTOTP(ctx, m.ID, e.ID)
	require.NoError(t, err)
	admin, err := st.GenerateRecoveryCodes(ctx, m.ID, e.ID)
	require.NoError(t, err)
	key := storedSecret(t, st, m.ID, e.ID).Key
	code, err := totp.GenerateCodeCustom(key, clock.t, sha1Opts())
	require.NoError(t, err)

	refused("", "", http.StatusBadRequest, "MFA credentials not supplied")
	refused(code, admin[0], http.StatusBadRequest, "supply either passcode or recovery_code, not both")
	refused("12345", "", http.StatusForbidden, "failed to validate TOTP passcode")

	// A wrong factor counts and replaces nothing.
	_, err = own("", "AAAAAAAA-AAAAAAAA")
	require.Equal(t, "failed to validate TOTP passcode", err.Error())
	sec := storedSecret(t, st, m.ID, e.ID)
	require.Equal(t, 1, sec.Failures)
	require.Len(t, sec.RecoveryHashes, 10)

	// A correct passcode: new codes, the step used up, the count cleared.
	codes, err := own(code, "")
	require.NoError(t, err)
	require.Len(t, codes, 10)
	sec = storedSecret(t, st, m.ID, e.ID)
	require.Zero(t, sec.Failures)
	require.NotZero(t, sec.LastStep)
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, Passcode: code})
	require.Equal(t, "failed to validate TOTP passcode", err.Error(), "the step was used up")
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, RecoveryCode: admin[1]})
	require.Equal(t, "failed to validate TOTP passcode", err.Error(), "the old codes are replaced")

	// A recovery code: used up, and the new set replaces the old.
	again, err := own("", codes[0])
	require.NoError(t, err)
	require.NotEqual(t, codes, again)

	// Locked out: refused, nothing changes, even with a valid factor.
	require.NoError(t, st.ResetMFALockout(ctx, m.ID, e.ID))
	for range 3 {
		_ = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID, RecoveryCode: "AAAAAAAA-AAAAAAAA"})
	}
	refused("", again[0], http.StatusForbidden, "maximum TOTP validation attempts 4 exceeded the allowed attempts 3; an administrator must reset the lockout")
	require.NoError(t, st.ResetMFALockout(ctx, m.ID, e.ID))

	// Disabled: refused first, nothing changes.
	_, _, err = st.UpsertEntity(ctx, identity.EntityUpdate{ID: e.ID, Disabled: core.Some(true)})
	require.NoError(t, err)
	refused("", again[0], http.StatusForbidden, core.ErrEntityDisabled.Msg)
	refused("", "", http.StatusForbidden, core.ErrEntityDisabled.Msg)
}

// A merge moves an enrolled TOTP secret into a target whose record has no
// seed, and a record without a seed neither moves nor conflicts.
func TestMergeTreatsSeedlessTOTPRecordsAsAbsent(t *testing.T) {
	ctx := context.Background()
	st, clock, m := totpFixture(t, "merge", 5)
	target, from := newEntity(t, st, "target"), newEntity(t, st, "from")
	putSecret(t, st, m.ID, target.ID, &entitySecret{Failures: 1, RecoveryHashes: []string{hashRecoveryCode("ABCDEFGH-IJKLMNOP")}})
	_, err := st.GenerateTOTP(ctx, m.ID, from.ID)
	require.NoError(t, err)
	key := storedSecret(t, st, m.ID, from.ID).Key
	require.NoError(t, st.MergeEntities(ctx, identity.MergeRequest{To: target.ID, From: []string{from.ID}}), "no conflict without force")
	code, err := totp.GenerateCodeCustom(key, clock.t, sha1Opts())
	require.NoError(t, err)
	require.NoError(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: target.ID, Passcode: code}))
	err = st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: target.ID, RecoveryCode: "ABCDEFGH-IJKLMNOP"})
	require.Equal(t, "failed to validate TOTP passcode", err.Error(), "the target's unproven codes did not survive")
	require.Nil(t, rawSecret(t, st, m.ID, from.ID))

	// Two enrolled entities still conflict, as in Vault.
	other := newEntity(t, st, "other")
	_, err = st.GenerateTOTP(ctx, m.ID, other.ID)
	require.NoError(t, err)
	err = st.MergeEntities(ctx, identity.MergeRequest{To: target.ID, From: []string{other.ID}})
	require.Equal(t, fmt.Sprintf("conflicting MFA config ID %q in entity ID %q", m.ID, other.ID), err.Error())
}

// TestProviderRedirectsAreNotFollowed: a provider answering with a redirect
// (here to another port of the same host, where Go's client would keep the
// Authorization header) does not get the credentials sent on.
func TestProviderRedirectsAreNotFollowed(t *testing.T) {
	ctx := context.Background()
	other, stolen := thief(t, map[string]any{"id": "alice"})
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	st, e, m := providerFixture(t, MFAMethodInput{Type: MFAOkta, OrgName: "acme", APIToken: "okta-token", BaseURL: redirector.URL})
	require.Error(t, st.ValidateMFA(ctx, MFAValidation{MethodID: m.ID, EntityID: e.ID}))
	require.Zero(t, stolen.Load(), "the redirect's target received the API token")
}
