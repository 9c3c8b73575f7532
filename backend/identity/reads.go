package identity

import (
	"context"
	"slices"

	"github.com/hashicorp/vault/sdk/logical"
)

// Lookups for the parts built on the identity store (MFA, OIDC). Each reads
// the index once, under its leaf lock, and returns stored objects, which are
// never modified in place.

// EntityRecord returns the stored entity with this id, or nil.
func (s *Store) EntityRecord(id string) *Entity {
	var e *Entity
	s.idx.read(func() { e = s.idx.entities[id] })
	return e
}

// GroupExists reports whether a group has this id.
func (s *Store) GroupExists(id string) bool {
	var ok bool
	s.idx.read(func() { ok = s.idx.groups[id] != nil })
	return ok
}

// GroupsOfEntity returns the ids of the groups the entity belongs to
// directly, and through a parent group, in ascending order.
func (s *Store) GroupsOfEntity(id string) (direct, inherited []string) {
	s.idx.read(func() { direct, inherited = s.idx.groupsOfEntity(id) })
	return direct, inherited
}

// ResolveMount returns the auth mount with this accessor and whether it is
// known (from Vault's table, or by form without one).
func (s *Store) ResolveMount(ctx context.Context, accessor string) (Mount, bool) {
	m, ok, _ := s.mounts.resolve(ctx, accessor)
	return m, ok
}

// HasMountType reports whether Vault has an auth mount of this type (any
// type passes when the table cannot be read).
func (s *Store) HasMountType(ctx context.Context, mountType string) bool {
	return s.mounts.hasType(ctx, mountType)
}

// TemplateInput is the entity and its groups (direct, then inherited) in the
// SDK's form, which the template language reads.
func (s *Store) TemplateInput(v *EntityView) (*logical.Entity, []*logical.Group) {
	e := &logical.Entity{ID: v.ID, Name: v.Name, Metadata: v.Metadata, Disabled: v.Disabled, NamespaceID: v.NamespaceID}
	for _, a := range v.Aliases {
		e.Aliases = append(e.Aliases, &logical.Alias{
			ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor, MountType: a.MountType(),
			Metadata: a.Metadata, CustomMetadata: a.CustomMetadata, NamespaceID: a.NamespaceID,
		})
	}
	var groups []*logical.Group
	s.idx.read(func() {
		for _, id := range slices.Concat(v.DirectGroupIDs, v.InheritedGroupIDs) {
			if g := s.idx.groups[id]; g != nil {
				groups = append(groups, &logical.Group{ID: g.ID, Name: g.Name, Metadata: g.Metadata, NamespaceID: g.NamespaceID})
			}
		}
	})
	return e, groups
}
