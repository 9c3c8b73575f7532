package identity

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const entityPrefix = "entity/"

func entityKey(id string) string { return entityPrefix + id }

// Entity is a person or service known to the identity store. It is stored as
// one JSON entry under entity/<id>; its aliases and group memberships are
// stored with the aliases and groups.
type Entity struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies,omitempty"`
	Disabled        bool              `json:"disabled,omitempty"`
	NamespaceID     string            `json:"namespace_id"`
	MergedEntityIDs []string          `json:"merged_entity_ids,omitempty"`
	// ModifyIndex counts the writes of the entity record (not of its
	// aliases or groups); it is what a check-and-set write compares.
	ModifyIndex    uint64    `json:"modify_index"`
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
}

func (e *Entity) clone() *Entity {
	c := *e
	return &c
}

// EntityView is an entity with what the graph says about it: its aliases
// (oldest first) and the ids of the groups it is in, directly or through a
// parent group.
type EntityView struct {
	*Entity
	Aliases           []*Alias
	DirectGroupIDs    []string
	InheritedGroupIDs []string
}

// EntityUpdate is a create-or-update request for an entity, with Vault's
// semantics: a known ID selects the entity; otherwise a Name already in use
// selects that entity; otherwise a new entity is made. Fields not Set are
// left as they are. CAS, when Set, must equal the entity's modify_index (0
// for an entity that must not exist yet).
type EntityUpdate struct {
	ID       string
	Name     string
	Metadata core.Opt[map[string]string]
	Policies core.Opt[[]string]
	Disabled core.Opt[bool]
	CAS      core.Opt[int]
}

// UpsertEntity applies u and returns the stored entity and whether it was
// created.
func (s *Store) UpsertEntity(ctx context.Context, u EntityUpdate) (*Entity, bool, error) {
	generated := ""
	if u.ID == "" && u.Name == "" {
		var err error
		if generated, err = s.newEntityName(); err != nil {
			return nil, false, err
		}
	}
	var out *Entity
	var created bool
	err := s.locks.Locked(func() (keys []string) {
		s.idx.read(func() {
			if u.ID != "" {
				keys = append(keys, kEntity(u.ID))
				if e := s.idx.entities[u.ID]; e != nil {
					keys = append(keys, kEntityName(e.Name))
				}
			}
			if name := cmp.Or(u.Name, generated); name != "" {
				keys = append(keys, kEntityName(name))
				if e := s.idx.entityNames.get(name); e != nil {
					keys = append(keys, kEntity(e.ID))
				}
			}
		})
		return keys
	}, func() error {
		var err error
		out, created, err = s.applyEntityUpdate(ctx, u, generated)
		return err
	})
	if err == nil && out.Disabled && u.Disabled.Set {
		s.hooks.SignInsEnd(out.ID)
	}
	return out, created, err
}

func (s *Store) applyEntityUpdate(ctx context.Context, u EntityUpdate, generated string) (*Entity, bool, error) {
	var target, byName *Entity
	s.idx.read(func() {
		if u.ID != "" {
			target = s.idx.entities[u.ID]
		}
		if name := cmp.Or(u.Name, generated); name != "" {
			byName = s.idx.entityNames.get(name)
		}
	})
	if u.ID != "" && target == nil {
		return nil, false, core.UserErrorf("entity not found from id")
	}
	switch {
	case byName == nil:
	case generated != "":
		return nil, false, fmt.Errorf("generated entity name %q was taken meanwhile", generated)
	case target == nil:
		target = byName
	case target.ID != byName.ID:
		return nil, false, core.UserErrorf("entity name is already in use")
	}

	var index uint64
	if target != nil {
		index = target.ModifyIndex
	}
	if err := checkCAS(u.CAS, index); err != nil {
		return nil, false, err
	}

	var e *Entity
	if target == nil {
		id, err := core.NewID()
		if err != nil {
			return nil, false, err
		}
		e = &Entity{ID: id, NamespaceID: core.NamespaceID}
	} else {
		e = target.clone()
	}
	if name := cmp.Or(u.Name, generated); name != "" {
		e.Name = name
	}
	if u.Policies.Set {
		e.Policies = normalizePolicies(u.Policies.Val)
	}
	if containsRoot(e.Policies) {
		return nil, false, core.UserErrorf("policies cannot contain root")
	}
	if u.Disabled.Set {
		e.Disabled = u.Disabled.Val
	}
	if u.Metadata.Set {
		e.Metadata = u.Metadata.Val
	}
	if err := validateMetadata(e.Metadata); err != nil {
		return nil, false, core.UserErrorf("invalid entity metadata: %v", err)
	}
	now := s.now().UTC()
	if target == nil {
		e.CreationTime = now
	}
	e.LastUpdateTime = now
	if err := s.saveEntity(ctx, e); err != nil {
		return nil, false, err
	}
	return e, target == nil, nil
}

// saveEntity bumps the entity's modify index, stores it and indexes it. The
// caller holds the entity's lock.
func (s *Store) saveEntity(ctx context.Context, e *Entity) error {
	e.ModifyIndex++
	if err := s.storage.PutJSON(ctx, entityKey(e.ID), e); err != nil {
		return err
	}
	s.idx.write(func() { s.idx.putEntity(e) })
	return nil
}

// checkCAS applies a check-and-set value to an object's modify index (0
// when the object does not exist, which only cas 0 accepts).
func checkCAS(cas core.Opt[int], index uint64) error {
	if cas.Set && (cas.Val < 0 || uint64(cas.Val) != index) {
		return core.UserErrorf("check-and-set parameter did not match the current version")
	}
	return nil
}

// newEntity makes a new entity with a generated name, for an alias that
// names no entity. The caller holds the lock of the name's stripe.
func (s *Store) newEntity(name string) (*Entity, error) {
	id, err := core.NewID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	return &Entity{ID: id, Name: name, NamespaceID: core.NamespaceID, CreationTime: now, LastUpdateTime: now}, nil
}

func (s *Store) newEntityName() (string, error) {
	return core.NewName("entity", func(n string) bool {
		var taken bool
		s.idx.read(func() { taken = s.idx.entityNames.get(n) != nil })
		return taken
	})
}

// EntitySelector picks an entity for a lookup: by id, by name (any case), by
// the id of one of its aliases, or by an alias's mount accessor and name.
type EntitySelector = Selector

// Entity returns the entity sel picks, with its aliases and groups, or nil.
func (s *Store) Entity(ctx context.Context, sel EntitySelector) (*EntityView, error) {
	var v *EntityView
	s.idx.read(func() {
		owner := func(a *Alias) *Entity {
			if a == nil {
				return nil
			}
			return s.idx.entities[a.CanonicalID]
		}
		e := find(sel, s.idx.entities, s.idx.entityNames,
			func(id string) *Entity { return owner(s.idx.aliases[id]) },
			func(factors string) *Entity { return owner(s.idx.aliasFactors[factors]) })
		if e != nil {
			v = s.idx.entityView(e)
		}
	})
	return v, nil
}

// entityView builds the view of e; the caller holds s.idx.mu.
func (x *index) entityView(e *Entity) *EntityView {
	direct, inherited := x.groupsOfEntity(e.ID)
	return &EntityView{Entity: e, Aliases: x.aliasesOf(e.ID), DirectGroupIDs: direct, InheritedGroupIDs: inherited}
}

// Page selects part of a list: the objects whose ids follow After (from the
// start when ""), at most Limit of them (all when Limit <= 0).
type Page struct {
	After string
	Limit int
}

func (p Page) check() error {
	if p.Limit < 0 {
		return core.UserErrorf("limit must not be negative")
	}
	return nil
}

// Entities returns a page of the entities in ascending id order, each with
// its aliases (and no group ids).
func (s *Store) Entities(ctx context.Context, p Page) ([]*EntityView, error) {
	return pageOf(s, s.idx.entityOrder, p, func(id string) *EntityView {
		return &EntityView{Entity: s.idx.entities[id], Aliases: s.idx.aliasesOf(id)}
	})
}

// EntityCount returns how many entities there are.
func (s *Store) EntityCount(ctx context.Context) (int, error) {
	var n int
	s.idx.read(func() { n = len(s.idx.entities) })
	return n, nil
}

// DeleteEntity deletes the entity with this id, its aliases and its group
// memberships; an unknown id is not an error.
func (s *Store) DeleteEntity(ctx context.Context, id string) error {
	return s.deleteEntity(ctx, kEntity(id), func() *Entity { return s.idx.entities[id] })
}

// DeleteEntityByName is DeleteEntity for the entity with this name in any
// letter case.
func (s *Store) DeleteEntityByName(ctx context.Context, name string) error {
	return s.deleteEntity(ctx, kEntityName(name), func() *Entity { return s.idx.entityNames.get(name) })
}

// DeleteEntities deletes the entities with these ids, skipping unknown ones.
func (s *Store) DeleteEntities(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := s.deleteEntity(ctx, kEntity(id), func() *Entity { return s.idx.entities[id] }); err != nil {
			return err
		}
	}
	return nil
}

// deleteEntity deletes the entity find returns (called under s.idx.mu);
// lookup is the lock key of what find looks up, held even when it finds
// nothing, so no entity can appear under it meanwhile. Order: group
// memberships first, then aliases, then the entity, so a crash part way
// leaves an entity with fewer memberships or aliases, never an alias or
// membership of a missing entity.
func (s *Store) deleteEntity(ctx context.Context, lookup string, find func() *Entity) error {
	var deleted string
	defer func() {
		if deleted != "" {
			s.hooks.SignInsEnd(deleted)
		}
	}()
	return s.locks.Locked(func() (keys []string) {
		keys = []string{lookup}
		s.idx.read(func() {
			if e := find(); e != nil {
				keys = append(keys, s.idx.entityKeys(e)...)
			}
		})
		return keys
	}, func() error {
		var e *Entity
		var aliases []*Alias
		var groups []*Group
		s.idx.read(func() {
			if e = find(); e != nil {
				aliases = s.idx.aliasesOf(e.ID)
				for _, gid := range s.idx.groupsByMember[e.ID] {
					groups = append(groups, s.idx.groups[gid])
				}
			}
		})
		if e == nil {
			return nil
		}
		for _, g := range groups {
			ng := g.clone()
			ng.MemberEntityIDs = deleteString(ng.MemberEntityIDs, e.ID)
			if err := s.saveGroup(ctx, ng); err != nil {
				return err
			}
		}
		for _, a := range aliases {
			if err := s.storage.Remove(ctx, aliasKey(a.ID)); err != nil {
				return err
			}
			s.idx.write(func() { s.idx.deleteAlias(a.ID) })
		}
		if err := s.storage.Remove(ctx, entityKey(e.ID)); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.deleteEntity(e.ID) })
		deleted = e.ID
		return s.hooks.Secrets.Hold(func() error { return s.hooks.Secrets.DeleteOf(ctx, e.ID) })
	})
}

// entityKeys are the lock keys of an entity, its name, its aliases and the
// groups it is a member of: everything deleting or merging it changes.
func (x *index) entityKeys(e *Entity) []string {
	keys := []string{kEntity(e.ID), kEntityName(e.Name)}
	for _, a := range x.entityAliases[e.ID] {
		keys = append(keys, kAlias(a.ID), kAliasFactors(a.MountAccessor, a.Name))
	}
	for _, g := range x.groupsByMember[e.ID] {
		keys = append(keys, kGroup(g))
	}
	return keys
}

// deleteString returns list without s, keeping a non-nil empty list as Vault
// does when the last member leaves.
func deleteString(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(x string) bool { return x == s })
}
