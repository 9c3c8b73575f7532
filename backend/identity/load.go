package identity

import (
	"context"
	"errors"
	"slices"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// storedKinds are the object kinds kept in storage, one JSON entry each.
var storedKinds = []storedKind{
	{prefix: entityPrefix, decode: func() any { return new(Entity) }},
	{prefix: aliasPrefix, decode: func() any { return new(Alias) }},
	{prefix: groupPrefix, decode: func() any { return new(Group) }},
}

type storedKind struct {
	prefix string
	decode func() any
}

// loadAll builds the index from the current load snapshot's valid sections
// and the objects of the other sections, or from every object when there is
// no usable snapshot, and reports which. Entity aliases whose entity is gone
// (a delete interrupted between its writes) are removed.
func (s *Store) loadAll(ctx context.Context) (string, error) {
	view, valid, ok := s.readSnapshot(ctx)
	source := LoadedFromSnapshot
	switch {
	case !ok:
		source = LoadedFromObjects
		var err error
		if view, err = s.readObjects(ctx, nil); err != nil {
			return "", err
		}
	case slices.Contains(valid[:], false):
		source = LoadedFromBoth
		rest, err := s.readObjects(ctx, func(key string) bool { return !valid[snapshotSection(key)] })
		if err != nil {
			return "", err
		}
		view.entities = append(view.entities, rest.entities...)
		view.aliases = append(view.aliases, rest.aliases...)
		view.groups = append(view.groups, rest.groups...)
	}
	entities, aliases, groups := view.entities, view.aliases, view.groups
	var orphans []string
	s.idx.write(func() {
		for _, e := range entities {
			if other := s.idx.addLoadedEntity(e); other != nil {
				s.logger.Warn("two entities share a name; the older one keeps it", "name", e.Name, "shadowed_id", other.ID)
			}
		}
		for _, a := range aliases {
			if s.idx.entities[a.CanonicalID] == nil {
				orphans = append(orphans, a.ID)
				continue
			}
			s.idx.putAlias(a)
		}
		for _, g := range groups {
			if other := s.idx.addLoadedGroup(g); other != nil {
				s.logger.Warn("two groups share a name; the older one keeps it", "name", g.Name, "shadowed_id", other.ID)
			}
		}
	})
	// A snapshot is current until a write; removing orphans is one.
	s.snap.current.Store(source == LoadedFromSnapshot)
	for _, id := range orphans {
		s.logger.Warn("removing alias of a deleted entity", "alias_id", id)
		if err := s.storage.Remove(ctx, aliasKey(id)); err != nil && !errors.Is(err, logical.ErrReadOnly) {
			return "", err
		}
	}
	return source, nil
}

// readObjects reads the entity, alias and group entries whose key want
// accepts, or every one when want is nil.
func (s *Store) readObjects(ctx context.Context, want func(key string) bool) (*snapshotView, error) {
	var view snapshotView
	if err := core.LoadPrefixWhere(ctx, s.storage, entityPrefix, want, func(_ string, e *Entity) { view.entities = append(view.entities, e) }); err != nil {
		return nil, err
	}
	if err := core.LoadPrefixWhere(ctx, s.storage, aliasPrefix, want, func(_ string, a *Alias) { view.aliases = append(view.aliases, a) }); err != nil {
		return nil, err
	}
	if err := core.LoadPrefixWhere(ctx, s.storage, groupPrefix, want, func(_ string, g *Group) { view.groups = append(view.groups, g) }); err != nil {
		return nil, err
	}
	return &view, nil
}

// reload replaces one object in the index with what storage holds, under
// the object's lock, whose key is its storage key (kEntity, kAlias, kGroup).
func (s *Store) reload(ctx context.Context, kind storedKind, id string) error {
	return s.locks.Locked(func() []string { return []string{kind.prefix + id} }, func() error { return s.reloadLocked(ctx, kind, id) })
}

func (s *Store) reloadLocked(ctx context.Context, kind storedKind, id string) error {
	v := kind.decode()
	found, err := s.storage.GetJSON(ctx, kind.prefix+id, v)
	if err != nil {
		return err
	}
	s.idx.write(func() {
		switch o := v.(type) {
		case *Entity:
			if found {
				s.idx.putEntity(o)
			} else {
				s.idx.deleteEntity(id)
			}
		case *Alias:
			if found {
				s.idx.putAlias(o)
			} else {
				s.idx.deleteAlias(id)
			}
		case *Group:
			if found {
				s.idx.putGroup(o)
			} else {
				s.idx.deleteGroup(id)
			}
		}
	})
	return nil
}
