package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/go-secure-stdlib/strutil"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// MergeRequest merges the From entities into To: their aliases move to To,
// their ids are recorded in To's merged_entity_ids, their group memberships
// pass to To, and they are deleted. KeepAliasIDs resolves aliases of To and
// a From entity on the same mount: the listed alias stays, the other goes.
type MergeRequest struct {
	To           string
	From         []string
	KeepAliasIDs []string
	Force        bool
}

// AliasClash describes one alias of a merge refused for aliases on the same
// mount, in the shape Vault returns it.
type AliasClash struct {
	Alias     string `json:"alias"`
	Entity    string `json:"entity"`
	EntityID  string `json:"entity_id"`
	Mount     string `json:"mount"`
	MountPath string `json:"mount_path"`
}

// MergeConflictError is the refusal of a merge whose entities have aliases
// on the same mount and no KeepAliasIDs: Vault's message and the clashes.
type MergeConflictError struct {
	Msg     string
	Clashes []AliasClash
	// accessors are the mount accessors of Clashes, whose Mount and
	// MountPath are filled in once the merge has let go of its locks.
	accessors []string
}

func (e *MergeConflictError) Error() string { return e.Msg }

// MergeEntities performs m. All checks run before anything is written.
func (s *Store) MergeEntities(ctx context.Context, m MergeRequest) error {
	from := strutil.RemoveDuplicates(m.From, false)
	err := s.merge(ctx, m, from)
	if err == nil {
		// The merged entities are gone, and their sign-ins with them.
		s.hooks.SignInsEnd(slices.DeleteFunc(slices.Clone(from), func(id string) bool { return id == m.To })...)
	}
	var clash *MergeConflictError
	if errors.As(err, &clash) {
		// Vault reports the mounts of the clashing aliases, as reads do.
		for i, acc := range clash.accessors {
			mount, known, _ := s.mounts.resolve(ctx, acc)
			if known {
				clash.Clashes[i].Mount, clash.Clashes[i].MountPath = mount.Type, mount.Path
			}
		}
	}
	return err
}

func (s *Store) merge(ctx context.Context, m MergeRequest, from []string) error {
	// Every MFA secret write holds the stripe of its entity, so the entity
	// stripes taken here keep the secrets of all the merged entities still;
	// Secrets.Hold, inside them (lock order), keeps the methods, so no
	// secret of a method deleted meanwhile moves.
	return s.locks.Locked(func() (keys []string) {
		s.idx.read(func() {
			for _, id := range append([]string{m.To}, from...) {
				keys = append(keys, kEntity(id))
				if e := s.idx.entities[id]; e != nil {
					keys = append(keys, s.idx.entityKeys(e)...)
				}
			}
		})
		return keys
	}, func() error {
		return s.hooks.Secrets.Hold(func() error {
			plan, err := s.planMerge(m, from)
			if err != nil {
				return err
			}
			fromIDs := make([]string, len(plan.from))
			for i, f := range plan.from {
				fromIDs[i] = f.ID
			}
			moveSecrets, err := s.hooks.Secrets.PlanMerge(ctx, plan.to.ID, fromIDs, m.Force)
			if err != nil {
				return err
			}
			if err := s.applyMerge(ctx, plan); err != nil {
				return err
			}
			return moveSecrets(ctx)
		})
	})
}

type mergePlan struct {
	to          *Entity
	from        []*Entity
	moved       []*Alias // aliases to store under To
	dropped     []string // alias ids to delete
	groups      []*Group // groups with From members replaced by To
	deletedFrom []string
}

func (s *Store) planMerge(m MergeRequest, from []string) (*mergePlan, error) {
	var p *mergePlan
	var err error
	s.idx.read(func() { p, err = s.idx.planMerge(m, from) })
	return p, err
}

// planMerge validates the merge as Vault does, in Vault's order, and works
// out every write; the caller holds x.mu.
func (x *index) planMerge(m MergeRequest, from []string) (*mergePlan, error) {
	to := x.entities[m.To]
	if to == nil {
		return nil, core.UserErrorf("entity id to merge to is invalid")
	}
	if len(m.From) > 1 && len(m.KeepAliasIDs) > 1 {
		return nil, core.UserErrorf("aliases conflicts cannot be resolved with multiple from entity ids - merge one entity at a time")
	}
	toAliases := x.aliasesOf(to.ID)
	p := &mergePlan{to: to.clone()}

	var clashErr *multierror.Error
	var clashes []AliasClash
	var accessors []string // of clashes
	fromAccessors := map[string]string{}
	for _, id := range from {
		if id == to.ID {
			return nil, core.UserErrorf("to_entity_id should not be present in from_entity_ids")
		}
		f := x.entities[id]
		if f == nil {
			return nil, core.UserErrorf("entity id to merge from is invalid")
		}
		p.from = append(p.from, f)
		if len(m.KeepAliasIDs) > 0 {
			continue
		}
		for _, ta := range toAliases {
			for _, fa := range x.aliasesOf(f.ID) {
				if owner, ok := fromAccessors[fa.MountAccessor]; ok && owner != id {
					return nil, core.UserErrorf("mount accessor %s found in multiple fromEntities, merge should be done with one fromEntity at a time", fa.MountAccessor)
				}
				fromAccessors[fa.MountAccessor] = id
				if ta.MountAccessor != fa.MountAccessor {
					continue
				}
				if clashErr == nil {
					clashErr = multierror.Append(clashErr, fmt.Errorf("toEntity and at least one fromEntity have aliases with the same mount accessor, repeat the merge request specifying exactly one fromEntity, clashes: "))
				}
				clashErr = multierror.Append(clashErr, fmt.Errorf("mountAccessor: %s, toEntity ID: %s, fromEntity ID: %s, conflicting toEntity alias ID: %s, conflicting fromEntity alias ID: %s",
					ta.MountAccessor, to.ID, id, ta.ID, fa.ID))
				clashes = append(clashes,
					AliasClash{Alias: ta.Name, Entity: to.Name, EntityID: to.ID},
					AliasClash{Alias: fa.Name, Entity: f.Name, EntityID: id})
				accessors = append(accessors, ta.MountAccessor, fa.MountAccessor)
			}
		}
	}
	if clashErr != nil {
		return nil, &MergeConflictError{Msg: clashErr.Error(), Clashes: clashes, accessors: accessors}
	}

	toByAccessor := map[string][]string{}
	for _, a := range toAliases {
		toByAccessor[a.MountAccessor] = append(toByAccessor[a.MountAccessor], a.ID)
	}
	groupsByID := map[string]*Group{}
	groupOf := func(id string) *Group {
		if g := groupsByID[id]; g != nil {
			return g
		}
		g := x.groups[id].clone()
		groupsByID[id] = g
		p.groups = append(p.groups, g)
		return g
	}
	for _, f := range p.from {
	aliases:
		for _, fa := range x.aliasesOf(f.ID) {
			for _, ta := range toByAccessor[fa.MountAccessor] {
				switch {
				case slices.Contains(m.KeepAliasIDs, ta):
					p.dropped = append(p.dropped, fa.ID)
					continue aliases
				case slices.Contains(m.KeepAliasIDs, fa.ID):
					p.dropped = append(p.dropped, ta)
				default:
					return nil, core.UserErrorf("conflicting mount accessors in following alias IDs and neither were present in conflicting_alias_ids_to_keep: %s, %s", fa.ID, ta)
				}
			}
			moved := fa.clone()
			moved.CanonicalID = to.ID
			moved.MergedFromCanonicalIDs = append(slices.Clone(fa.MergedFromCanonicalIDs), f.ID)
			p.moved = append(p.moved, moved)
		}
		p.to.MergedEntityIDs = append(slices.Clone(p.to.MergedEntityIDs), f.MergedEntityIDs...)
		p.to.MergedEntityIDs = append(p.to.MergedEntityIDs, f.ID)
		for _, gid := range x.groupsByMember[f.ID] {
			g := groupOf(gid)
			g.MemberEntityIDs = deleteString(g.MemberEntityIDs, f.ID)
			if !slices.Contains(g.MemberEntityIDs, to.ID) {
				g.MemberEntityIDs = append(g.MemberEntityIDs, to.ID)
			}
			// Vault writes such a group twice per merged entity (member
			// removed, then target added); its modify_index shows it.
			g.ModifyIndex += 2
		}
		p.deletedFrom = append(p.deletedFrom, f.ID)
	}
	return p, nil
}

// applyMerge writes a merge: the target first, then aliases, groups, and
// last the merged entities, so an interrupted merge leaves every alias and
// membership pointing at an existing entity. The caller is inside
// Secrets.Hold (Secrets.DeleteOf).
func (s *Store) applyMerge(ctx context.Context, p *mergePlan) error {
	if err := s.saveEntity(ctx, p.to); err != nil {
		return err
	}
	for _, id := range p.dropped {
		if err := s.storage.Remove(ctx, aliasKey(id)); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.deleteAlias(id) })
	}
	for _, a := range p.moved {
		if err := s.storage.PutJSON(ctx, aliasKey(a.ID), a); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.putAlias(a) })
	}
	for _, g := range p.groups {
		g.MemberEntityIDs = strutil.RemoveDuplicates(g.MemberEntityIDs, false)
		g.ModifyIndex-- // saveGroup adds the last one
		if err := s.saveGroup(ctx, g); err != nil {
			return err
		}
	}
	for _, id := range p.deletedFrom {
		if err := s.storage.Remove(ctx, entityKey(id)); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.deleteEntity(id) })
		if err := s.hooks.Secrets.DeleteOf(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
