package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// GroupAliasUpdate creates a group alias, or with ID updates one. Name and
// MountAccessor are required either way, as in Vault; CanonicalID names the
// external group (one is created when absent on create).
type GroupAliasUpdate struct {
	ID            string
	Name          string
	MountAccessor string
	CanonicalID   string
}

// UpsertGroupAlias applies u and returns the alias, or nil and false when
// nothing changed.
func (s *Store) UpsertGroupAlias(ctx context.Context, u GroupAliasUpdate) (*Alias, bool, error) {
	lookups := s.lookUpMounts(ctx, u.MountAccessor)
	generated := "" // the name of a new group, needed only for a new alias without a group
	if u.ID == "" && u.CanonicalID == "" {
		var err error
		if generated, err = s.newGroupName(); err != nil {
			return nil, false, err
		}
	}
	var out *Alias
	var changed bool
	err := s.locks.Locked(func() (keys []string) {
		keys = []string{kGroupAliasFactors(u.MountAccessor, u.Name)}
		if u.CanonicalID != "" {
			keys = append(keys, kGroup(u.CanonicalID))
		} else if generated != "" {
			keys = append(keys, kGroupName(generated))
		}
		s.idx.read(func() {
			// The alias's current group, and the alias the target group
			// has now, which this write replaces.
			for _, g := range []*Group{s.idx.groupAliases[u.ID], s.idx.groups[u.CanonicalID]} {
				if g != nil {
					keys = append(keys, kGroup(g.ID))
					if g.Alias != nil {
						keys = append(keys, kGroupAliasFactors(g.Alias.MountAccessor, g.Alias.Name))
					}
				}
			}
		})
		return keys
	}, func() error {
		var err error
		out, changed, err = s.applyGroupAliasUpdate(ctx, u, generated, lookups)
		return err
	})
	return out, changed, err
}

func (s *Store) applyGroupAliasUpdate(ctx context.Context, u GroupAliasUpdate, generated string, lookups mountLookups) (*Alias, bool, error) {
	var previous, target, byFactors *Group
	s.idx.read(func() {
		if u.ID != "" {
			previous = s.idx.groupAliases[u.ID]
		}
		if u.CanonicalID != "" {
			target = s.idx.groups[u.CanonicalID]
		}
		byFactors = s.idx.groupAliasFactors[factorKey(u.MountAccessor, u.Name)]
	})
	if u.ID != "" && previous == nil {
		return nil, false, core.UserErrorf("invalid group alias ID")
	}
	if u.Name == "" {
		return nil, false, core.UserErrorf("missing alias name")
	}
	if u.MountAccessor == "" {
		return nil, false, core.UserErrorf("missing mount_accessor")
	}
	now := s.now().UTC()
	var a *Alias
	if previous != nil {
		cur := previous.Alias
		if cur.Name == u.Name && cur.MountAccessor == u.MountAccessor && (u.CanonicalID == "" || u.CanonicalID == cur.CanonicalID) {
			return nil, false, nil
		}
		a = cur.clone()
	} else {
		a = &Alias{NamespaceID: core.NamespaceID, CreationTime: now}
	}
	if u.CanonicalID != "" {
		if target == nil {
			return nil, false, core.UserErrorf("invalid group ID given in 'canonical_id'")
		}
		if target.Type != GroupExternal {
			return nil, false, core.UserErrorf("alias can't be set on an internal group")
		}
	}
	mount, err := lookups.check(ctx, u.MountAccessor)
	if err != nil {
		return nil, false, err
	}
	if mount.Local {
		return nil, false, core.UserErrorf("mount accessor %q is a local mount", u.MountAccessor)
	}
	if byFactors != nil && byFactors.Alias.ID != a.ID {
		return nil, false, core.UserErrorf("combination of mount and group alias name is already in use")
	}
	a.Name, a.MountAccessor, a.LastUpdateTime = u.Name, u.MountAccessor, now
	if a.ID == "" {
		id, err := core.NewID()
		if err != nil {
			return nil, false, err
		}
		a.ID = id
	}

	var moved *Group // the alias's previous group, when the alias moves away
	switch {
	case target == nil && previous == nil:
		id, err := core.NewID()
		if err != nil {
			return nil, false, err
		}
		target = &Group{ID: id, Name: generated, Type: GroupExternal, NamespaceID: core.NamespaceID, CreationTime: now}
	case previous == nil:
		// A new alias on an existing group, replacing its alias if any.
	case target == nil || target.ID == previous.ID:
		target = previous
	default:
		moved = previous.clone()
		moved.Alias = nil
	}
	g := target.clone()
	g.LastUpdateTime = now
	a.CanonicalID = g.ID
	g.Alias = a
	if moved != nil {
		if err := s.saveGroup(ctx, moved); err != nil {
			return nil, false, err
		}
	}
	if err := s.saveGroup(ctx, g); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// GroupAliasByID returns the group alias with this id, or nil.
func (s *Store) GroupAliasByID(ctx context.Context, id string) (*Alias, error) {
	var a *Alias
	s.idx.read(func() {
		if g := s.idx.groupAliases[id]; g != nil {
			a = g.Alias
		}
	})
	return a, nil
}

// GroupAliases returns every group alias in ascending id order.
func (s *Store) GroupAliases(ctx context.Context) ([]*Alias, error) {
	var out []*Alias
	s.idx.read(func() {
		for _, g := range s.idx.groupAliases {
			out = append(out, g.Alias)
		}
	})
	slices.SortFunc(out, func(a, b *Alias) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteGroupAlias removes the alias from its group; an unknown id is not an
// error.
func (s *Store) DeleteGroupAlias(ctx context.Context, id string) error {
	return s.locks.Locked(func() (keys []string) {
		s.idx.read(func() {
			if g := s.idx.groupAliases[id]; g != nil {
				keys = []string{kGroup(g.ID), kGroupAliasFactors(g.Alias.MountAccessor, g.Alias.Name)}
			}
		})
		return keys
	}, func() error {
		var g *Group
		s.idx.read(func() { g = s.idx.groupAliases[id] })
		if g == nil {
			return nil
		}
		ng := g.clone()
		ng.Alias = nil
		return s.saveGroup(ctx, ng)
	})
}
