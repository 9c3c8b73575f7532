package backend

import (
	"context"
	"slices"
	"strings"
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
	MFAMethodIDs        Opt[[]string]
	AuthMethodAccessors Opt[[]string]
	AuthMethodTypes     Opt[[]string]
	IdentityGroupIDs    Opt[[]string]
	IdentityEntityIDs   Opt[[]string]
}

// WriteMFAEnforcement creates or updates the named enforcement.
func (s *Store) WriteMFAEnforcement(ctx context.Context, name string, in MFAEnforcementInput) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	// The auth mounts are looked up before locking, as Vault's table may
	// have to be read again; their errors come in Vault's order below.
	badAccessor := in.AuthMethodAccessors.Set && slices.ContainsFunc(in.AuthMethodAccessors.Val, func(a string) bool {
		_, ok, _ := s.mounts.resolve(ctx, a)
		return !ok
	})
	badType := in.AuthMethodTypes.Set && slices.ContainsFunc(in.AuthMethodTypes.Val, func(t string) bool {
		return !s.mounts.hasType(ctx, t)
	})
	s.mfa.mu.Lock()
	defer s.mfa.mu.Unlock()
	e := &MFAEnforcement{Name: name, NamespaceID: NamespaceID}
	if cur := s.mfa.enforcements[name]; cur != nil {
		c := *cur
		e = &c
	} else {
		id, err := newID()
		if err != nil {
			return err
		}
		e.ID = id
	}
	if !in.MFAMethodIDs.Set {
		return userErrorf("missing method ids")
	}
	for _, id := range in.MFAMethodIDs.Val {
		if s.mfa.methods[id] == nil {
			return userErrorf("one of the provided method ids doesn't exist")
		}
	}
	e.MFAMethodIDs = in.MFAMethodIDs.Val
	selector := false
	if in.AuthMethodAccessors.Set {
		if badAccessor {
			return userErrorf("one of the auth method accessors provided is invalid")
		}
		e.AuthMethodAccessors, selector = in.AuthMethodAccessors.Val, true
	}
	if in.AuthMethodTypes.Set {
		if badType {
			return userErrorf("one of the auth method types provided is invalid")
		}
		e.AuthMethodTypes, selector = in.AuthMethodTypes.Val, true
	}
	var err error
	s.idx.read(func() {
		if in.IdentityGroupIDs.Set {
			for _, id := range in.IdentityGroupIDs.Val {
				if s.idx.groups[id] == nil {
					err = userErrorf("one of the provided group ids doesn't exist")
					return
				}
			}
		}
		if in.IdentityEntityIDs.Set {
			for _, id := range in.IdentityEntityIDs.Val {
				if s.idx.entities[id] == nil {
					err = userErrorf("one of the provided entity ids doesn't exist")
					return
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if in.IdentityGroupIDs.Set {
		e.IdentityGroupIDs, selector = in.IdentityGroupIDs.Val, true
	}
	if in.IdentityEntityIDs.Set {
		e.IdentityEntityIDs, selector = in.IdentityEntityIDs.Val, true
	}
	if !selector {
		return userErrorf("One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified")
	}
	if err := s.putJSON(ctx, mfaEnforcementPrefix+name, e); err != nil {
		return err
	}
	s.mfa.enforcements[name] = e
	return nil
}

// MFAEnforcementByName returns the enforcement, or nil.
func (s *Store) MFAEnforcementByName(ctx context.Context, name string) (*MFAEnforcement, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.mfa.mu.RLock()
	defer s.mfa.mu.RUnlock()
	if e := s.mfa.enforcements[name]; e != nil {
		c := *e
		return &c, nil
	}
	return nil, nil
}

// MFAEnforcements returns every enforcement in ascending id order, the
// order Vault lists them in.
func (s *Store) MFAEnforcements(ctx context.Context) ([]*MFAEnforcement, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.mfa.mu.RLock()
	defer s.mfa.mu.RUnlock()
	out := make([]*MFAEnforcement, 0, len(s.mfa.enforcements))
	for _, e := range s.mfa.enforcements {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *MFAEnforcement) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteMFAEnforcement deletes the named enforcement; unknown is not an
// error.
func (s *Store) DeleteMFAEnforcement(ctx context.Context, name string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	s.mfa.mu.Lock()
	defer s.mfa.mu.Unlock()
	if err := s.delete(ctx, mfaEnforcementPrefix+name); err != nil {
		return err
	}
	delete(s.mfa.enforcements, name)
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
func (s *Store) EvaluateMFA(ctx context.Context, entityID, accessor, mountType string) (*MFAEvaluation, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	groups := map[string]bool{}
	s.idx.read(func() {
		direct, inherited := s.idx.groupsOfEntity(entityID)
		for _, g := range slices.Concat(direct, inherited) {
			groups[g] = true
		}
	})
	s.mfa.mu.RLock()
	defer s.mfa.mu.RUnlock()
	out := &MFAEvaluation{Enforcements: []string{}, MethodIDs: []string{}}
	for _, name := range sortedKeys(s.mfa.enforcements) {
		e := s.mfa.enforcements[name]
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
