package mfa

import (
	"context"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// EntitySecrets is how the identity store keeps the MFA secrets of its
// entities with them: held still, moved by a merge, deleted with the entity.
func (s *Service) EntitySecrets() identity.SecretKeeper { return entitySecrets{s} }

type entitySecrets struct{ s *Service }

func (e entitySecrets) Hold(f func() error) error { return e.s.withMFAConfig(f) }

func (e entitySecrets) DeleteOf(ctx context.Context, entityID string) error {
	return e.s.deleteSecretsOf(ctx, entityID)
}

func (e entitySecrets) PlanMerge(ctx context.Context, to string, from []string, force bool) (func(context.Context) error, error) {
	moves, err := e.s.planSecretMoves(ctx, to, from, force)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		for _, mv := range moves {
			if err := e.s.storage.PutJSON(ctx, secretKey(mv.method, to), mv.secret); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

type secretMove struct {
	method string
	secret *entitySecret
}

// planSecretMoves finds the MFA secrets of the merged entities to give to
// the target. Where both have one for a method, the merge is refused, as in
// Vault, unless force is set; then the target keeps its own. A TOTP record
// without an enrolled seed is no secret: it neither moves nor conflicts.
// The merged entities' secrets go when they are deleted. The caller holds
// s.state.mu for reading.
func (s *Service) planSecretMoves(ctx context.Context, to string, from []string, force bool) ([]secretMove, error) {
	var moves []secretMove
	for _, mid := range core.SortedKeys(s.state.methods) {
		m := s.state.methods[mid]
		present := func(sec *entitySecret) bool { return sec != nil && (m.Type != MFATOTP || enrolled(sec, m)) }
		target, err := s.readSecret(ctx, mid, to)
		if err != nil {
			return nil, err
		}
		has := present(target)
		for _, f := range from {
			sec, err := s.readSecret(ctx, mid, f)
			if err != nil {
				return nil, err
			}
			switch {
			case !present(sec):
			case has && !force:
				return nil, core.UserErrorf("conflicting MFA config ID %q in entity ID %q", mid, f)
			case !has:
				moves = append(moves, secretMove{method: mid, secret: sec})
				has = true
			}
		}
	}
	return moves, nil
}

// deleteSecretsOf deletes the MFA secrets of a deleted entity. The caller
// holds the entity's stripe and s.state.mu for reading (withMFAConfig), so no
// method goes or comes with secrets meanwhile.
func (s *Service) deleteSecretsOf(ctx context.Context, entityID string) error {
	for _, mid := range core.SortedKeys(s.state.methods) {
		if err := s.storage.Remove(ctx, secretKey(mid, entityID)); err != nil {
			return err
		}
	}
	return nil
}

// withMFAConfig runs f holding s.state.mu for reading. Lock order: the caller
// may hold stripes (taken first), and f may take the index lock, never a
// stripe nor s.state.mu again.
func (s *Service) withMFAConfig(f func() error) error {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return f()
}
