package mfa

import (
	"context"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// MethodStatus is an entity's state for one MFA method, without any secret:
// whether it is enrolled (TOTP: holds a seed of the method's key size; the
// push methods need no enrollment here), its refused attempts since the
// last success or reset, whether they lock it out, and how many unused
// recovery codes it has.
type MethodStatus struct {
	MethodID, Type, Name   string
	Enrolled               bool
	FailedAttempts         int
	MaxValidationAttempts  int
	LockedOut              bool
	RecoveryCodesRemaining int
}

// EntityStatus returns the entity's state for every method, by ascending
// method id. An unknown entity is a 400 as on the other admin paths.
func (s *Service) EntityStatus(ctx context.Context, entityID string) ([]MethodStatus, error) {
	if err := s.checkEntity(entityID); err != nil {
		return nil, err
	}
	methods := core.CopiesWhere(&s.state.mu, s.state.methods, nil)
	out := make([]MethodStatus, 0, len(methods))
	for _, m := range methods {
		sec, err := s.readSecret(ctx, m.ID, entityID)
		if err != nil {
			return nil, err
		}
		st := MethodStatus{MethodID: m.ID, Type: m.Type, Name: m.Name, MaxValidationAttempts: maxAttempts(m)}
		st.Enrolled = m.Type != MFATOTP || enrolled(sec, m)
		if sec != nil {
			st.FailedAttempts = sec.Failures
			st.LockedOut = sec.Failures >= st.MaxValidationAttempts
			if enrolled(sec, m) {
				st.RecoveryCodesRemaining = len(sec.RecoveryHashes)
			}
		}
		out = append(out, st)
	}
	return out, nil
}
