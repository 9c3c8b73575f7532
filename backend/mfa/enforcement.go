package mfa

import (
	"context"
	"slices"
	"strings"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// MFAEnforcement says which logins need which MFA methods: those through
// the listed auth mounts or mount types, or of the listed entities or
// members of the listed groups. Stored under mfa/enforcement/<name>.
type MFAEnforcement struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	NamespaceID         string   `json:"namespace_id"`
	MFAMethodIDs        []string `json:"mfa_method_ids"`
	AuthMethodAccessors []string `json:"auth_method_accessors"`
	AuthMethodTypes     []string `json:"auth_method_types"`
	IdentityGroupIDs    []string `json:"identity_group_ids"`
	IdentityEntityIDs   []string `json:"identity_entity_ids"`
}

// MFAEnforcementInput is an enforcement write; selectors not Set keep their
// value, but at least one must be Set in every write, as in Vault.
type MFAEnforcementInput struct {
	MFAMethodIDs        core.Opt[[]string]
	AuthMethodAccessors core.Opt[[]string]
	AuthMethodTypes     core.Opt[[]string]
	IdentityGroupIDs    core.Opt[[]string]
	IdentityEntityIDs   core.Opt[[]string]
}

// WriteMFAEnforcement creates or updates the named enforcement.
func (s *Service) WriteMFAEnforcement(ctx context.Context, name string, in MFAEnforcementInput) error {
	// The auth mounts are looked up before locking, as Vault's table may
	// have to be read again; their errors come in Vault's order below.
	badAccessor := in.AuthMethodAccessors.Set && slices.ContainsFunc(in.AuthMethodAccessors.Val, func(a string) bool {
		_, ok := s.identity.ResolveMount(ctx, a)
		return !ok
	})
	badType := in.AuthMethodTypes.Set && slices.ContainsFunc(in.AuthMethodTypes.Val, func(t string) bool {
		return !s.identity.HasMountType(ctx, t)
	})
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	e := &MFAEnforcement{Name: name, NamespaceID: core.NamespaceID}
	if cur := s.state.enforcements[name]; cur != nil {
		c := *cur
		e = &c
	} else {
		id, err := core.NewID()
		if err != nil {
			return err
		}
		e.ID = id
	}
	if !in.MFAMethodIDs.Set {
		return core.UserErrorf("missing method ids")
	}
	for _, id := range in.MFAMethodIDs.Val {
		if s.state.methods[id] == nil {
			return core.UserErrorf("one of the provided method ids doesn't exist")
		}
	}
	e.MFAMethodIDs = in.MFAMethodIDs.Val
	selector := false
	if in.AuthMethodAccessors.Set {
		if badAccessor {
			return core.UserErrorf("one of the auth method accessors provided is invalid")
		}
		e.AuthMethodAccessors, selector = in.AuthMethodAccessors.Val, true
	}
	if in.AuthMethodTypes.Set {
		if badType {
			return core.UserErrorf("one of the auth method types provided is invalid")
		}
		e.AuthMethodTypes, selector = in.AuthMethodTypes.Val, true
	}
	if in.IdentityGroupIDs.Set && slices.ContainsFunc(in.IdentityGroupIDs.Val, func(id string) bool { return !s.identity.GroupExists(id) }) {
		return core.UserErrorf("one of the provided group ids doesn't exist")
	}
	if in.IdentityEntityIDs.Set && slices.ContainsFunc(in.IdentityEntityIDs.Val, func(id string) bool { return s.identity.EntityRecord(id) == nil }) {
		return core.UserErrorf("one of the provided entity ids doesn't exist")
	}
	if in.IdentityGroupIDs.Set {
		e.IdentityGroupIDs, selector = in.IdentityGroupIDs.Val, true
	}
	if in.IdentityEntityIDs.Set {
		e.IdentityEntityIDs, selector = in.IdentityEntityIDs.Val, true
	}
	if !selector {
		return core.UserErrorf("One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified")
	}
	if err := s.storage.PutJSON(ctx, mfaEnforcementPrefix+name, e); err != nil {
		return err
	}
	s.state.enforcements[name] = e
	return nil
}

// MFAEnforcementByName returns the enforcement, or nil.
func (s *Service) MFAEnforcementByName(ctx context.Context, name string) (*MFAEnforcement, error) {
	return core.Copied(&s.state.mu, func() *MFAEnforcement { return s.state.enforcements[name] }), nil
}

// MFAEnforcements returns every enforcement in ascending id order, the
// order Vault lists them in.
func (s *Service) MFAEnforcements(ctx context.Context) ([]*MFAEnforcement, error) {
	out := core.CopiesWhere(&s.state.mu, s.state.enforcements, nil)
	slices.SortFunc(out, func(a, b *MFAEnforcement) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteMFAEnforcement deletes the named enforcement; unknown is not an
// error.
func (s *Service) DeleteMFAEnforcement(ctx context.Context, name string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if err := s.storage.Remove(ctx, mfaEnforcementPrefix+name); err != nil {
		return err
	}
	delete(s.state.enforcements, name)
	return nil
}

// MFAEvaluation is which enforcements apply to a login and the methods
// they require.
type MFAEvaluation struct {
	Enforcements []string
	MethodIDs    []string
}

// EvaluateMFA answers which enforcements apply to a login of the entity
// through the auth mount with this accessor and type: those naming the
// mount, its type, the entity, or a group the entity belongs to directly or
// through a parent.
func (s *Service) EvaluateMFA(ctx context.Context, entityID, accessor, mountType string) (*MFAEvaluation, error) {
	groups := map[string]bool{}
	direct, inherited := s.identity.GroupsOfEntity(entityID)
	for _, g := range slices.Concat(direct, inherited) {
		groups[g] = true
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	out := &MFAEvaluation{Enforcements: []string{}, MethodIDs: []string{}}
	for _, name := range core.SortedKeys(s.state.enforcements) {
		e := s.state.enforcements[name]
		applies := (accessor != "" && slices.Contains(e.AuthMethodAccessors, accessor)) ||
			(mountType != "" && slices.Contains(e.AuthMethodTypes, mountType)) ||
			(entityID != "" && slices.Contains(e.IdentityEntityIDs, entityID)) ||
			slices.ContainsFunc(e.IdentityGroupIDs, func(g string) bool { return groups[g] })
		if !applies {
			continue
		}
		out.Enforcements = append(out.Enforcements, name)
		for _, m := range e.MFAMethodIDs {
			if !slices.Contains(out.MethodIDs, m) {
				out.MethodIDs = append(out.MethodIDs, m)
			}
		}
	}
	slices.Sort(out.MethodIDs)
	return out, nil
}
