package backend

import (
	"context"
	"fmt"
	"strings"
	"time"
)

const entityPrefix = "entity/"

func entityKey(id string) string { return entityPrefix + id }

// Lock keys: an entity by id, and an entity name (case-insensitive).
func entityLock(id string) string       { return "entity-id/" + id }
func entityNameLock(name string) string { return "entity-name/" + strings.ToLower(name) }

// Entity is a person or service known to the identity store. It is stored as
// one JSON entry under entity/<id>.
type Entity struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies,omitempty"`
	Disabled        bool              `json:"disabled,omitempty"`
	NamespaceID     string            `json:"namespace_id"`
	MergedEntityIDs []string          `json:"merged_entity_ids,omitempty"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
}

func (e *Entity) clone() *Entity {
	c := *e
	return &c
}

// EntityUpdate is a create-or-update request for an entity, with Vault's
// semantics: a known ID selects the entity; otherwise a Name already in use
// selects that entity; otherwise a new entity is made. Fields not Set are
// left as they are.
type EntityUpdate struct {
	ID       string
	Name     string
	Metadata Opt[map[string]string]
	Policies Opt[[]string]
	Disabled Opt[bool]
}

// UpsertEntity applies u and returns the stored entity and whether it was
// created.
func (s *Store) UpsertEntity(ctx context.Context, u EntityUpdate) (*Entity, bool, error) {
	if err := s.ready(ctx); err != nil {
		return nil, false, err
	}
	for {
		e, created, retry, err := s.tryUpsertEntity(ctx, u)
		if !retry {
			return e, created, err
		}
	}
}

func (s *Store) tryUpsertEntity(ctx context.Context, u EntityUpdate) (e *Entity, created, retry bool, err error) {
	// Look up unlocked, then lock everything this write may touch and check
	// that the lookups still hold.
	var target *Entity
	if u.ID != "" {
		if target = s.entities.get(u.ID); target == nil {
			return nil, false, false, userErrorf("entity not found from id")
		}
	}
	var byName *Entity
	if u.Name != "" {
		byName = s.entities.getByName(u.Name)
		switch {
		case byName == nil:
		case target == nil:
			target = byName
		case target.ID != byName.ID:
			return nil, false, false, userErrorf("entity name is already in use")
		}
	}
	name := u.Name
	if target == nil && name == "" {
		if name, err = newName("entity", s.entities.nameTaken); err != nil {
			return nil, false, false, err
		}
	}

	keys := []string{entityNameLock(name)}
	if target != nil {
		keys = append(keys, entityLock(target.ID), entityNameLock(target.Name))
	}
	unlock := s.lockKeys(keys...)
	defer unlock()
	if target != nil && s.entities.get(target.ID) != target {
		return nil, false, true, nil
	}
	if name != "" && s.entities.getByName(name) != byName {
		return nil, false, true, nil
	}

	if target == nil {
		id, err := newID()
		if err != nil {
			return nil, false, false, err
		}
		e = &Entity{ID: id, NamespaceID: NamespaceID}
	} else {
		e = target.clone()
	}
	if name != "" {
		e.Name = name
	}
	if u.Policies.Set {
		e.Policies = normalizePolicies(u.Policies.Val)
	}
	if containsRoot(e.Policies) {
		return nil, false, false, userErrorf("policies cannot contain root")
	}
	if u.Disabled.Set {
		e.Disabled = u.Disabled.Val
	}
	if u.Metadata.Set {
		e.Metadata = u.Metadata.Val
	}
	if err := validateMetadata(e.Metadata); err != nil {
		return nil, false, false, userErrorf("invalid entity metadata: %v", err)
	}
	now := s.now().UTC()
	if target == nil {
		e.CreationTime = now
	}
	e.LastUpdateTime = now

	if err := s.putJSON(ctx, entityKey(e.ID), e); err != nil {
		return nil, false, false, err
	}
	s.entities.put(e)
	return e, target == nil, false, nil
}

// EntityByID returns the entity with this id, or nil.
func (s *Store) EntityByID(ctx context.Context, id string) (*Entity, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	return s.entities.get(id), nil
}

// EntityByName returns the entity with this name in any letter case, or nil.
func (s *Store) EntityByName(ctx context.Context, name string) (*Entity, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	return s.entities.getByName(name), nil
}

// Entities returns every entity in ascending id order.
func (s *Store) Entities(ctx context.Context) ([]*Entity, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	return s.entities.sorted(), nil
}

// EntityCount returns how many entities there are.
func (s *Store) EntityCount(ctx context.Context) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	return s.entities.len(), nil
}

// DeleteEntity deletes the entity with this id; an unknown id is not an error.
func (s *Store) DeleteEntity(ctx context.Context, id string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.deleteEntity(ctx, func() *Entity { return s.entities.get(id) })
}

// DeleteEntityByName deletes the entity with this name in any letter case;
// an unknown name is not an error.
func (s *Store) DeleteEntityByName(ctx context.Context, name string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.deleteEntity(ctx, func() *Entity { return s.entities.getByName(name) })
}

// DeleteEntities deletes the entities with these ids, skipping unknown ones.
func (s *Store) DeleteEntities(ctx context.Context, ids []string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deleteEntity(ctx, func() *Entity { return s.entities.get(id) }); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteEntity(ctx context.Context, find func() *Entity) error {
	for {
		e := find()
		if e == nil {
			return nil
		}
		unlock := s.lockKeys(entityLock(e.ID), entityNameLock(e.Name))
		if s.entities.get(e.ID) != e {
			unlock()
			continue
		}
		err := s.storage.Delete(ctx, entityKey(e.ID))
		if err == nil {
			s.entities.remove(e)
		} else {
			err = fmt.Errorf("failed to delete entity %q: %w", e.ID, err)
		}
		unlock()
		return err
	}
}

func (s *Store) loadEntities(ctx context.Context) error {
	_, err := loadAll(ctx, s, entityPrefix, func(e *Entity) {
		if other := s.entities.add(e); other != nil {
			s.logger.Warn("two entities share a name; the older one keeps it", "name", e.Name, "shadowed_id", other.ID)
		}
	})
	return err
}

// reloadEntity replaces the in-memory entity id with what storage holds.
func (s *Store) reloadEntity(ctx context.Context, id string) error {
	unlock := s.lockKeys(entityLock(id))
	defer unlock()
	e := new(Entity)
	found, err := s.getJSON(ctx, entityKey(id), e)
	if err != nil {
		return err
	}
	if !found {
		s.entities.remove(s.entities.get(id))
		return nil
	}
	s.entities.put(e)
	return nil
}
