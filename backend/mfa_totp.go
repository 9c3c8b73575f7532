package backend

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
)

// totpPrefix holds, per method and entity, the TOTP seed, the validation
// state and the recovery code hashes: mfa/secret/<method id>/<entity id>.
const totpPrefix = "mfa/secret/"

func secretKey(methodID, entityID string) string { return totpPrefix + methodID + "/" + entityID }

func kSecret(methodID, entityID string) string { return "mfa-secret/" + methodID + "/" + entityID }

// lockedSecret runs apply holding the locks of the entity's secret for the
// method and of the entity itself, once it has made sure under them that
// the entity still exists: an entity delete, which holds the entity's lock
// while it removes the entity's secrets, cannot interleave with a write
// that would bring a secret back.
func (s *Store) lockedSecret(methodID, entityID string, apply func() error) error {
	return s.locked(func() []string { return []string{kSecret(methodID, entityID), kEntity(entityID)} }, func() error {
		if err := s.checkEntity(entityID); err != nil {
			return err
		}
		return apply()
	})
}

// entitySecret is an entity's MFA state for one method.
type entitySecret struct {
	// TOTP seed (base32, no padding); the method holds its settings.
	Key string `json:"key,omitempty"`
	// LastStep is the last accepted TOTP time step; a code is accepted
	// only for a later step, so each step is usable once.
	LastStep int64 `json:"last_step,omitempty"`
	// Failures counts refused attempts since the last success or reset.
	Failures int `json:"failures,omitempty"`
	// RecoveryHashes are SHA-256 hashes of the unused recovery codes.
	RecoveryHashes []string `json:"recovery_hashes,omitempty"`
}

func (s *Store) readSecret(ctx context.Context, methodID, entityID string) (*entitySecret, error) {
	sec := new(entitySecret)
	found, err := s.getJSON(ctx, secretKey(methodID, entityID), sec)
	if err != nil || !found {
		return nil, err
	}
	return sec, nil
}

// mfaTarget looks up the method, then the entity, of an MFA operation, with
// Vault's errors.
func (s *Store) mfaTarget(methodID, entityID string) (*MFAMethod, error) {
	s.mfa.mu.RLock()
	m := s.mfa.methods[methodID]
	s.mfa.mu.RUnlock()
	if m == nil {
		return nil, userErrorf("configuration for method ID %q does not exist", methodID)
	}
	if err := s.checkEntity(entityID); err != nil {
		return nil, err
	}
	return m, nil
}

// checkEntity refuses an entity id that names no entity.
func (s *Store) checkEntity(entityID string) error {
	var ok bool
	s.idx.read(func() { ok = s.idx.entities[entityID] != nil })
	if !ok {
		return userErrorf("invalid entity ID")
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

// GenerateTOTP makes a TOTP secret for the entity, unless it has one.
func (s *Store) GenerateTOTP(ctx context.Context, methodID, entityID string) (*TOTPEnrollment, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	m, err := s.mfaTarget(methodID, entityID)
	if err != nil {
		return nil, err
	}
	if m.Type != MFATOTP {
		return nil, userErrorf("generate not available for MFA type %q", m.Type)
	}
	var out *TOTPEnrollment
	err = s.lockedSecret(methodID, entityID, func() error {
		sec, err := s.readSecret(ctx, methodID, entityID)
		if err != nil {
			return err
		}
		if sec != nil && sec.Key != "" {
			out = &TOTPEnrollment{Warning: fmt.Sprintf("Entity already has a secret for MFA method %q", m.Name)}
			return nil
		}
		if sec == nil {
			sec = &entitySecret{}
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
		sec.Key = key.Secret()
		sec.LastStep, sec.Failures = 0, 0
		return s.putJSON(ctx, secretKey(methodID, entityID), sec)
	})
	return out, err
}

// DestroyTOTP deletes the entity's TOTP secret for the method, with its
// validation state and recovery codes; none is not an error.
func (s *Store) DestroyTOTP(ctx context.Context, methodID, entityID string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if err := s.checkEntity(entityID); err != nil {
		return err
	}
	m, err := s.mfaTarget(methodID, entityID)
	if err != nil {
		return err
	}
	if m.Type != MFATOTP {
		return userErrorf("method ID does not match TOTP type")
	}
	return s.lockedSecret(methodID, entityID, func() error {
		return s.delete(ctx, secretKey(methodID, entityID))
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
var errTOTPFailed = &Error{Status: http.StatusForbidden, Msg: "failed to validate TOTP passcode"}

func deniedf(format string, args ...any) error {
	return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf(format, args...)}
}

// ValidateMFA checks the credentials. Every refused attempt is counted in
// storage; at the method's max_validation_attempts the entity is locked out
// of the method until ResetMFALockout. A TOTP code is accepted only for a
// time step later than the last accepted one, so no code works twice, even
// across restarts. A recovery code works once.
func (s *Store) ValidateMFA(ctx context.Context, v MFAValidation) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	m, err := s.mfaTarget(v.MethodID, v.EntityID)
	if err != nil {
		return err
	}
	if v.Passcode == "" && v.RecoveryCode == "" && m.Type == MFATOTP {
		return userErrorf("MFA credentials not supplied")
	}
	if m.Type == MFATOTP && v.RecoveryCode == "" && len(v.Passcode) != m.TOTP.Digits {
		// Malformed: refused without counting, as Vault refuses it
		// before its attempt counter.
		return errTOTPFailed
	}
	max := defaultMaxTOTPValidateAttempts
	if m.TOTP != nil {
		max = m.TOTP.MaxValidationAttempts
	}
	// local: the plugin checks the code itself (TOTP, or a recovery code
	// for any method) instead of asking the method's provider.
	local := m.Type == MFATOTP || v.RecoveryCode != ""
	// load reads the entity's state for the method and refuses an entity
	// that is locked out.
	load := func() (*entitySecret, error) {
		sec, err := s.readSecret(ctx, v.MethodID, v.EntityID)
		if err != nil {
			return nil, err
		}
		if sec == nil {
			if local {
				return nil, userErrorf("MFA secret for method name %q not present in entity %q", m.Name, v.EntityID)
			}
			sec = &entitySecret{}
		}
		if sec.Failures >= max {
			return nil, deniedf("maximum TOTP validation attempts %d exceeded the allowed attempts %d; an administrator must reset the lockout", sec.Failures+1, max)
		}
		return sec, nil
	}
	// record stores the outcome: a refusal counts, a success clears the
	// count (and keeps what the credentials used up).
	record := func(sec *entitySecret, ok bool) error {
		if ok {
			sec.Failures = 0
		} else {
			sec.Failures++
		}
		if err := s.putJSON(ctx, secretKey(v.MethodID, v.EntityID), sec); err != nil {
			return err
		}
		switch {
		case ok:
			return nil
		case local:
			return errTOTPFailed
		}
		return deniedf("failed to validate %s MFA", m.Type)
	}

	if local {
		return s.lockedSecret(v.MethodID, v.EntityID, func() error {
			sec, err := load()
			if err != nil {
				return err
			}
			return record(sec, checkCode(m, sec, v, s.now()))
		})
	}
	// A provider may take long (a push waits for the user), so it is asked
	// without holding the locks, which other writes share: the lockout is
	// checked before and the outcome recorded after. Attempts made at the
	// same moment may all pass the check before any is recorded.
	if err := s.lockedSecret(v.MethodID, v.EntityID, func() error { _, err := load(); return err }); err != nil {
		return err
	}
	ok, err := s.verifyWithProvider(ctx, m, v.EntityID, v.Passcode)
	if err != nil {
		return err
	}
	return s.lockedSecret(v.MethodID, v.EntityID, func() error {
		sec, err := load()
		if err != nil {
			return err
		}
		return record(sec, ok)
	})
}

// checkCode verifies a recovery code or a TOTP code and records what it
// used up (the code, the time step) in sec.
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
// passcode.
func matchTOTP(secret, passcode string, now time.Time, t *TOTPSettings) (int64, bool) {
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
func (s *Store) ResetMFALockout(ctx context.Context, methodID, entityID string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if _, err := s.mfaTarget(methodID, entityID); err != nil {
		return err
	}
	return s.lockedSecret(methodID, entityID, func() error {
		sec, err := s.readSecret(ctx, methodID, entityID)
		if err != nil || sec == nil || sec.Failures == 0 {
			return err
		}
		sec.Failures = 0
		return s.putJSON(ctx, secretKey(methodID, entityID), sec)
	})
}

// recoveryCodeCount is how many codes a generation makes.
const recoveryCodeCount = 10

// GenerateRecoveryCodes makes new single-use recovery codes for the entity
// and method, replacing any earlier ones, and returns them; only their
// hashes are stored.
func (s *Store) GenerateRecoveryCodes(ctx context.Context, methodID, entityID string) ([]string, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if _, err := s.mfaTarget(methodID, entityID); err != nil {
		return nil, err
	}
	var codes []string
	err := s.lockedSecret(methodID, entityID, func() error {
		sec, err := s.readSecret(ctx, methodID, entityID)
		if err != nil {
			return err
		}
		if sec == nil {
			sec = &entitySecret{}
		}
		sec.RecoveryHashes = nil
		for range recoveryCodeCount {
			b := make([]byte, 10)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			c := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:16]
			codes = append(codes, c[:8]+"-"+c[8:])
			sec.RecoveryHashes = append(sec.RecoveryHashes, hashRecoveryCode(c))
		}
		return s.putJSON(ctx, secretKey(methodID, entityID), sec)
	})
	return codes, err
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

// mfaMethodIDs returns the ids of all MFA methods.
func (s *Store) mfaMethodIDs() []string {
	s.mfa.mu.RLock()
	defer s.mfa.mu.RUnlock()
	return sortedKeys(s.mfa.methods)
}

// deleteSecretsOf deletes the MFA secrets of a deleted entity.
func (s *Store) deleteSecretsOf(ctx context.Context, entityID string) error {
	for _, mid := range s.mfaMethodIDs() {
		if err := s.delete(ctx, secretKey(mid, entityID)); err != nil {
			return err
		}
	}
	return nil
}
