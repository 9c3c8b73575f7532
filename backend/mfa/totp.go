package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// totpPrefix holds, per method and entity, the TOTP seed, the validation
// state and the recovery code hashes: mfa/secret/<method id>/<entity id>.
const totpPrefix = "mfa/secret/"

func secretKey(methodID, entityID string) string { return totpPrefix + methodID + "/" + entityID }

func kSecret(methodID, entityID string) string { return "mfa-secret/" + methodID + "/" + entityID }

// lockedSecret runs apply holding, in the store's lock order (see Store),
// the stripes of the entity's secret for the method and of the entity, then
// s.state.mu for reading. Under them it looks the method and the entity up
// afresh and hands them to apply, or answers Vault's error when either is
// gone: DeleteMFAMethod holds s.state.mu for writing while it deletes a
// method and all its secrets, and an entity delete holds the entity's
// stripe while it deletes the entity's secrets, so no write can bring back
// a secret of a deleted method or entity. apply must not take s.state.mu
// again (a waiting writer would deadlock it) nor any stripe.
func (s *Service) lockedSecret(methodID, entityID string, apply func(m *MFAMethod, e *identity.Entity) error) error {
	return s.locks.Locked(func() []string { return []string{kSecret(methodID, entityID), identity.EntityLockKey(entityID)} }, func() error {
		s.state.mu.RLock()
		defer s.state.mu.RUnlock()
		m := s.state.methods[methodID]
		if m == nil {
			return core.UserErrorf("configuration for method ID %q does not exist", methodID)
		}
		e := s.identity.EntityRecord(entityID)
		if e == nil {
			return core.UserErrorf("invalid entity ID")
		}
		return apply(m, e)
	})
}

// entitySecret is an entity's MFA state for one method.
type entitySecret struct {
	// TOTP seed (base32, no padding); the method holds its settings. The
	// entity is enrolled only while it decodes to at least the method's
	// key_size bytes (see enrolled); a record without one (an earlier
	// version stored such records when it made recovery codes for an
	// entity that never enrolled, and a merge may carry them) is "not
	// present" for passcodes and recovery codes.
	Key string `json:"key,omitempty"`
	// LastStep is the last accepted TOTP time step; a code is accepted
	// only for a later step, so each step is usable once.
	LastStep int64 `json:"last_step,omitempty"`
	// Failures counts refused attempts since the last success or reset,
	// and the provider attempts in flight, which are counted (reserved)
	// before the provider is asked.
	Failures int `json:"failures,omitempty"`
	// RecoveryHashes are SHA-256 hashes of the unused recovery codes (TOTP
	// methods only; they work only while the entity is enrolled).
	RecoveryHashes []string `json:"recovery_hashes,omitempty"`
}

// decodeSeed decodes a stored seed exactly as the TOTP library does before
// it computes a code: trimmed, padded, upper-cased base32.
func decodeSeed(key string) ([]byte, error) {
	key = strings.ToUpper(strings.TrimSpace(key))
	if n := len(key) % 8; n != 0 {
		key += strings.Repeat("=", 8-n)
	}
	return base32.StdEncoding.DecodeString(key)
}

// seedLongEnough reports whether key decodes to a seed of at least the
// method's key_size bytes (and at least one): the only seeds a passcode is
// ever checked against.
func seedLongEnough(key string, t *TOTPSettings) bool {
	if key == "" || t == nil {
		return false
	}
	seed, err := decodeSeed(key)
	return err == nil && len(seed) >= max(t.KeySize, 1)
}

// enrolled reports whether sec holds an enrolled seed for the TOTP method.
func enrolled(sec *entitySecret, m *MFAMethod) bool {
	return sec != nil && m.Type == MFATOTP && seedLongEnough(sec.Key, m.TOTP)
}

func errNotPresent(m *MFAMethod, entityID string) error {
	return core.UserErrorf("MFA secret for method name %q not present in entity %q", m.Name, entityID)
}

// errRecoveryTOTPOnly refuses recovery codes for Duo, Okta and PingID: the
// plugin holds no enrollment for them (they have their own bypass codes).
var errRecoveryTOTPOnly = core.UserErrorf("recovery codes are available only for TOTP methods")

func (s *Service) readSecret(ctx context.Context, methodID, entityID string) (*entitySecret, error) {
	sec := new(entitySecret)
	found, err := s.storage.GetJSON(ctx, secretKey(methodID, entityID), sec)
	if err != nil || !found {
		return nil, err
	}
	return sec, nil
}

// mfaTarget looks up the method, then the entity, of an MFA operation, with
// Vault's errors.
func (s *Service) mfaTarget(methodID, entityID string) (*MFAMethod, error) {
	s.state.mu.RLock()
	m := s.state.methods[methodID]
	s.state.mu.RUnlock()
	if m == nil {
		return nil, core.UserErrorf("configuration for method ID %q does not exist", methodID)
	}
	if err := s.checkEntity(entityID); err != nil {
		return nil, err
	}
	return m, nil
}

// checkEntity refuses an entity id that names no entity.
func (s *Service) checkEntity(entityID string) error {
	if s.identity.EntityRecord(entityID) == nil {
		return core.UserErrorf("invalid entity ID")
	}
	return nil
}

// TOTPEnrollment is a generated TOTP secret as Vault returns it: the
// otpauth URL and a base64 PNG QR code of it ("" when qr_size is 0).
// Warning is set, and the rest empty, when the entity already has a secret.
type TOTPEnrollment struct {
	URL     string
	Barcode string
	Warning string
}

// GenerateTOTP makes a TOTP secret for the entity, unless it is enrolled.
// A new enrollment starts a fresh record: no used step, no refused
// attempts, and no recovery codes (those of a record without a seed were
// made without proof of a factor).
func (s *Service) GenerateTOTP(ctx context.Context, methodID, entityID string) (*TOTPEnrollment, error) {
	if _, err := s.mfaTarget(methodID, entityID); err != nil {
		return nil, err
	}
	var out *TOTPEnrollment
	err := s.lockedSecret(methodID, entityID, func(m *MFAMethod, _ *identity.Entity) error {
		if m.Type != MFATOTP {
			return core.UserErrorf("generate not available for MFA type %q", m.Type)
		}
		sec, err := s.readSecret(ctx, methodID, entityID)
		if err != nil {
			return err
		}
		if enrolled(sec, m) {
			out = &TOTPEnrollment{Warning: fmt.Sprintf("Entity already has a secret for MFA method %q", m.Name)}
			return nil
		}
		t := m.TOTP
		key, err := totp.Generate(totp.GenerateOpts{
			Issuer: t.Issuer, AccountName: entityID, Period: uint(t.Period), SecretSize: uint(t.KeySize),
			Digits: otp.Digits(t.Digits), Algorithm: otpAlgorithm(t.Algorithm), Rand: rand.Reader,
		})
		if err != nil {
			return fmt.Errorf("failed to generate TOTP key for method name %q: %w", m.Name, err)
		}
		out = &TOTPEnrollment{URL: key.String()}
		if t.QRSize != 0 {
			img, err := key.Image(t.QRSize, t.QRSize)
			if err != nil {
				return fmt.Errorf("failed to generate QR code image: %w", err)
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				return err
			}
			out.Barcode = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		return s.storage.PutJSON(ctx, secretKey(methodID, entityID), &entitySecret{Key: key.Secret()})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DestroyTOTP deletes the entity's TOTP secret for the method, with its
// validation state and recovery codes; none is not an error.
func (s *Service) DestroyTOTP(ctx context.Context, methodID, entityID string) error {
	if _, err := s.mfaTarget(methodID, entityID); err != nil {
		return err
	}
	return s.lockedSecret(methodID, entityID, func(m *MFAMethod, _ *identity.Entity) error {
		if m.Type != MFATOTP {
			return core.UserErrorf("method ID does not match TOTP type")
		}
		return s.storage.Remove(ctx, secretKey(methodID, entityID))
	})
}

func otpAlgorithm(name string) otp.Algorithm {
	switch name {
	case "SHA256":
		return otp.AlgorithmSHA256
	case "SHA512":
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

// MFAValidation is a step-up MFA check of an entity with one method: a
// passcode (TOTP code, or a provider's passcode) or a recovery code. For
// push providers an empty passcode sends a push.
type MFAValidation struct {
	MethodID     string
	EntityID     string
	Passcode     string
	RecoveryCode string
}

// errTOTPFailed is Vault's message for any refused TOTP code; refusals of
// credentials answer 403, as Vault's MFA validation does.
var errTOTPFailed = &core.Error{Status: http.StatusForbidden, Msg: "failed to validate TOTP passcode"}

func deniedf(format string, args ...any) error {
	return &core.Error{Status: http.StatusForbidden, Msg: fmt.Sprintf(format, args...)}
}

// maxAttempts is the method's max_validation_attempts (Vault's default
// for the providers, which have no such setting).
func maxAttempts(m *MFAMethod) int {
	if m.TOTP != nil {
		return m.TOTP.MaxValidationAttempts
	}
	return defaultMaxTOTPValidateAttempts
}

// ValidateMFA checks the credentials of an enabled entity. Every refused
// attempt is counted in storage; at the method's max_validation_attempts
// the entity is locked out of the method until ResetMFALockout. A TOTP
// code is checked only against an enrolled seed, and accepted only for a
// time step later than the last accepted one, so no code works twice, even
// across restarts. A recovery code (TOTP methods only) works once.
//
// A provider may take long (a push waits for the user), so it is asked
// without holding the locks, which other writes share. The attempt is
// counted (reserved) under the locks before the provider is asked, and
// refused there once the count has reached the maximum, so attempts made at
// once can never exceed it; after the answer a success clears the count, a
// refusal keeps the reserved one, and a provider error releases it.
func (s *Service) ValidateMFA(ctx context.Context, v MFAValidation) error {
	if _, err := s.mfaTarget(v.MethodID, v.EntityID); err != nil {
		return err
	}
	var reserved *MFAMethod
	err := s.lockedSecret(v.MethodID, v.EntityID, func(m *MFAMethod, e *identity.Entity) error {
		sec, err := s.openAttempt(ctx, m, e, v)
		if err != nil {
			return err
		}
		if m.Type == MFATOTP {
			return s.recordAttempt(ctx, m, e, sec, checkCode(m, sec, v, s.now()))
		}
		sec.Failures++
		if err := s.storage.PutJSON(ctx, secretKey(m.ID, e.ID), sec); err != nil {
			return err
		}
		reserved = m
		return nil
	})
	if err != nil || reserved == nil {
		return err
	}
	ok, verr := s.verifyWithProvider(ctx, reserved, v.EntityID, v.Passcode)
	if verr == nil && !ok {
		// Refused: the reserved attempt stays counted.
		return deniedf("failed to validate %s MFA", reserved.Type)
	}
	// The outcome is stored even if the caller went away meanwhile.
	ctx = context.WithoutCancel(ctx)
	err = s.lockedSecret(v.MethodID, v.EntityID, func(_ *MFAMethod, e *identity.Entity) error {
		sec, err := s.readSecret(ctx, v.MethodID, v.EntityID)
		if err != nil || sec == nil {
			return err
		}
		if verr == nil && !e.Disabled {
			sec.Failures = 0
			return s.storage.PutJSON(ctx, secretKey(v.MethodID, v.EntityID), sec)
		}
		// A provider error, or an entity disabled meanwhile: the attempt
		// reached no verdict that counts, so its reservation is released.
		if sec.Failures > 0 { // else reset meanwhile
			sec.Failures--
			if err := s.storage.PutJSON(ctx, secretKey(v.MethodID, v.EntityID), sec); err != nil {
				return err
			}
		}
		if verr == nil {
			return core.ErrEntityDisabled
		}
		return nil
	})
	if verr != nil {
		return verr
	}
	return err
}

// openAttempt checks, under the secret's locks, everything an attempt is
// refused for before its credentials are looked at, and returns the
// entity's state for the method; nothing it refuses is counted. Refused:
// a disabled entity; a recovery code for a method other than TOTP; for
// TOTP, no credentials, a malformed passcode (as Vault refuses it before
// its attempt counter) and an entity without an enrolled seed; for the
// providers, an address credentials would be sent to in clear; and an
// entity locked out of the method.
func (s *Service) openAttempt(ctx context.Context, m *MFAMethod, e *identity.Entity, v MFAValidation) (*entitySecret, error) {
	if e.Disabled {
		return nil, core.ErrEntityDisabled
	}
	isTOTP := m.Type == MFATOTP
	switch {
	case v.RecoveryCode != "" && !isTOTP:
		return nil, errRecoveryTOTPOnly
	case isTOTP && v.Passcode == "" && v.RecoveryCode == "":
		return nil, core.UserErrorf("MFA credentials not supplied")
	case isTOTP && v.RecoveryCode == "" && len(v.Passcode) != m.TOTP.Digits:
		return nil, errTOTPFailed
	case !isTOTP:
		if err := providerEndpoint(m); err != nil {
			return nil, err
		}
	}
	sec, err := s.readSecret(ctx, m.ID, e.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case isTOTP && !enrolled(sec, m):
		return nil, errNotPresent(m, e.ID)
	case sec == nil:
		sec = &entitySecret{}
	}
	if max := maxAttempts(m); sec.Failures >= max {
		return nil, deniedf("maximum TOTP validation attempts %d exceeded the allowed attempts %d; an administrator must reset the lockout", sec.Failures+1, max)
	}
	return sec, nil
}

// recordAttempt stores the outcome of a TOTP attempt checked under the
// locks: a refusal counts, a success clears the count (and keeps what the
// credentials used up).
func (s *Service) recordAttempt(ctx context.Context, m *MFAMethod, e *identity.Entity, sec *entitySecret, ok bool) error {
	if ok {
		sec.Failures = 0
	} else {
		sec.Failures++
	}
	if err := s.storage.PutJSON(ctx, secretKey(m.ID, e.ID), sec); err != nil {
		return err
	}
	if !ok {
		return errTOTPFailed
	}
	return nil
}

// checkCode verifies a recovery code or a TOTP code and records what it
// used up (the code, the time step) in sec. The caller has made sure the
// entity is enrolled.
func checkCode(m *MFAMethod, sec *entitySecret, v MFAValidation, now time.Time) bool {
	if v.RecoveryCode != "" {
		return useRecoveryCode(sec, v.RecoveryCode)
	}
	step, ok := matchTOTP(sec.Key, v.Passcode, now, m.TOTP)
	if !ok || step <= sec.LastStep {
		return false
	}
	sec.LastStep = step
	return true
}

// matchTOTP returns the time step within the skew window whose code equals
// passcode. A seed shorter than the method's key_size (or none) matches
// nothing and no code is computed with it: anyone can compute the codes of
// an empty or short key.
func matchTOTP(secret, passcode string, now time.Time, t *TOTPSettings) (int64, bool) {
	if !seedLongEnough(secret, t) {
		return 0, false
	}
	period := int64(t.Period)
	current := now.Unix() / period
	opts := totp.ValidateOpts{Period: uint(t.Period), Digits: otp.Digits(t.Digits), Algorithm: otpAlgorithm(t.Algorithm)}
	for step := current - int64(t.Skew); step <= current+int64(t.Skew); step++ {
		code, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(code), []byte(passcode)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// ResetMFALockout clears the entity's refused attempts for the method.
func (s *Service) ResetMFALockout(ctx context.Context, methodID, entityID string) error {
	if _, err := s.mfaTarget(methodID, entityID); err != nil {
		return err
	}
	return s.lockedSecret(methodID, entityID, func(*MFAMethod, *identity.Entity) error {
		sec, err := s.readSecret(ctx, methodID, entityID)
		if err != nil || sec == nil || sec.Failures == 0 {
			return err
		}
		sec.Failures = 0
		return s.storage.PutJSON(ctx, secretKey(methodID, entityID), sec)
	})
}

// recoveryCodeCount is how many codes a generation makes.
const recoveryCodeCount = 10

// GenerateRecoveryCodes makes new single-use recovery codes for an
// administrator, without a factor, replacing any earlier ones, and returns
// them; only their hashes are stored. Only TOTP methods have recovery codes,
// and only for an enrolled entity.
func (s *Service) GenerateRecoveryCodes(ctx context.Context, methodID, entityID string) ([]string, error) {
	return s.generateRecoveryCodes(ctx, MFAValidation{MethodID: methodID, EntityID: entityID}, false)
}

// GenerateOwnRecoveryCodes makes new recovery codes for the entity itself:
// as GenerateRecoveryCodes, but the request must carry exactly one valid
// current factor, checked as ValidateMFA checks it (lockout, counted
// refusals, a passcode's time step and a recovery code used up), under the
// same locks as the replacement of the codes.
func (s *Service) GenerateOwnRecoveryCodes(ctx context.Context, v MFAValidation) ([]string, error) {
	return s.generateRecoveryCodes(ctx, v, true)
}

func (s *Service) generateRecoveryCodes(ctx context.Context, v MFAValidation, needFactor bool) ([]string, error) {
	if _, err := s.mfaTarget(v.MethodID, v.EntityID); err != nil {
		return nil, err
	}
	var codes []string
	err := s.lockedSecret(v.MethodID, v.EntityID, func(m *MFAMethod, e *identity.Entity) error {
		if needFactor && e.Disabled {
			return core.ErrEntityDisabled
		}
		if m.Type != MFATOTP {
			return errRecoveryTOTPOnly
		}
		var sec *entitySecret
		var err error
		if needFactor {
			if v.Passcode != "" && v.RecoveryCode != "" {
				return core.UserErrorf("supply either passcode or recovery_code, not both")
			}
			if sec, err = s.openAttempt(ctx, m, e, v); err != nil {
				return err
			}
			if !checkCode(m, sec, v, s.now()) {
				return s.recordAttempt(ctx, m, e, sec, false)
			}
			sec.Failures = 0
		} else {
			if sec, err = s.readSecret(ctx, m.ID, e.ID); err != nil {
				return err
			}
			if !enrolled(sec, m) {
				return errNotPresent(m, e.ID)
			}
		}
		var hashes []string
		codes = nil
		for range recoveryCodeCount {
			b := make([]byte, 10)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			c := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:16]
			codes = append(codes, c[:8]+"-"+c[8:])
			hashes = append(hashes, hashRecoveryCode(c))
		}
		sec.RecoveryHashes = hashes
		return s.storage.PutJSON(ctx, secretKey(m.ID, e.ID), sec)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

func hashRecoveryCode(code string) string {
	norm := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

// useRecoveryCode removes the code's hash if present (comparing every hash
// in constant time) and reports whether it was.
func useRecoveryCode(sec *entitySecret, code string) bool {
	h := hashRecoveryCode(code)
	found := -1
	for i, stored := range sec.RecoveryHashes {
		if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1 {
			found = i
		}
	}
	if found < 0 {
		return false
	}
	sec.RecoveryHashes = append(sec.RecoveryHashes[:found:found], sec.RecoveryHashes[found+1:]...)
	return true
}
