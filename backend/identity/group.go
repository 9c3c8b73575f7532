package identity

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/strutil"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const groupPrefix = "group/"

func groupKey(id string) string { return groupPrefix + id }

// Group types.
const (
	GroupInternal = "internal"
	GroupExternal = "external"
)

// Group is a set of entities and child groups sharing policies. It is stored
// as one JSON entry under group/<id>, together with its alias (external
// groups only). Edges of the hierarchy are stored on the child, in
// ParentGroupIDs, as Vault stores them.
type Group struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies"`
	MemberEntityIDs []string          `json:"member_entity_ids"`
	ParentGroupIDs  []string          `json:"parent_group_ids"`
	Alias           *Alias            `json:"alias,omitempty"`
	ModifyIndex     uint64            `json:"modify_index"`
	NamespaceID     string            `json:"namespace_id"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
}

func (g *Group) clone() *Group {
	c := *g
	return &c
}

// GroupView is a group with the ids of its child groups, sorted.
type GroupView struct {
	*Group
	MemberGroupIDs []string
}

// GroupUpdate is a create-or-update request for a group. ID selects the group
// to update (it must exist); otherwise ByName selects the group named Name
// (created when absent); otherwise a new group is made. Fields not Set keep
// their value. The Add/Remove lists edit membership without resending it,
// and CAS, when Set, must equal the group's modify_index (0 for a group that
// must not exist yet).
type GroupUpdate struct {
	ID     string
	ByName bool
	Name   string

	Type            core.Opt[string]
	Metadata        core.Opt[map[string]string]
	Policies        core.Opt[[]string]
	MemberEntityIDs core.Opt[[]string]
	MemberGroupIDs  core.Opt[[]string]

	AddMemberEntityIDs, RemoveMemberEntityIDs []string
	AddMemberGroupIDs, RemoveMemberGroupIDs   []string

	CAS core.Opt[int]
}

func (u *GroupUpdate) setsEntities() bool {
	return u.MemberEntityIDs.Set || len(u.AddMemberEntityIDs) > 0 || len(u.RemoveMemberEntityIDs) > 0
}

func (u *GroupUpdate) setsGroups() bool {
	return u.MemberGroupIDs.Set || len(u.AddMemberGroupIDs) > 0 || len(u.RemoveMemberGroupIDs) > 0
}

// UpsertGroup applies u and returns the stored group and whether it was
// created.
func (s *Store) UpsertGroup(ctx context.Context, u GroupUpdate) (*Group, bool, error) {
	generated := ""
	if u.ID == "" && u.Name == "" {
		var err error
		if generated, err = s.newGroupName(); err != nil {
			return nil, false, err
		}
	}
	var out *Group
	var created bool
	err := s.locks.Locked(func() (keys []string) {
		s.idx.read(func() { keys = s.idx.groupUpdateKeys(u, generated) })
		return keys
	}, func() error {
		var err error
		out, created, err = s.applyGroupUpdate(ctx, u, generated)
		return err
	})
	return out, created, err
}

// groupUpdateKeys are the lock keys of a group write: the group and its
// names, the entities it adds (which must keep existing), the child groups
// it adds or drops, and the hierarchy when it adds children.
func (x *index) groupUpdateKeys(u GroupUpdate, generated string) []string {
	var keys []string
	g := x.groupTarget(u)
	if g != nil {
		keys = append(keys, kGroup(g.ID), kGroupName(g.Name))
	} else if u.ID != "" {
		keys = append(keys, kGroup(u.ID))
	}
	if name := cmp.Or(u.Name, generated); name != "" {
		keys = append(keys, kGroupName(name))
		if other := x.groupNames.get(name); other != nil {
			keys = append(keys, kGroup(other.ID))
		}
	}
	var members []string
	if g != nil {
		members = g.MemberEntityIDs
	}
	for _, id := range desiredEntities(members, u) {
		if !slices.Contains(members, id) {
			keys = append(keys, kEntity(id))
		}
	}
	if u.setsGroups() {
		keys = append(keys, kHierarchy)
		var current []string
		if g != nil {
			current = x.groupChildren[g.ID]
		}
		for _, id := range append(slices.Clone(current), desiredChildren(current, u)...) {
			keys = append(keys, kGroup(id))
		}
	}
	return keys
}

// groupTarget is the existing group u writes to, or nil.
func (x *index) groupTarget(u GroupUpdate) *Group {
	switch {
	case u.ID != "":
		return x.groups[u.ID]
	case u.ByName:
		return x.groupNames.get(u.Name)
	}
	return nil
}

// desiredEntities is the member entity list after u, before validation.
func desiredEntities(current []string, u GroupUpdate) []string {
	list := current
	if u.MemberEntityIDs.Set {
		list = u.MemberEntityIDs.Val
	}
	if len(u.AddMemberEntityIDs) > 0 || len(u.RemoveMemberEntityIDs) > 0 {
		list = append(slices.Clone(list), u.AddMemberEntityIDs...)
		list = slices.DeleteFunc(list, func(id string) bool { return slices.Contains(u.RemoveMemberEntityIDs, strings.TrimSpace(id)) })
		if list == nil {
			list = []string{}
		}
	}
	return list
}

// desiredChildren is the child group list after u, or nil when u leaves the
// children alone.
func desiredChildren(current []string, u GroupUpdate) []string {
	if !u.setsGroups() {
		return nil
	}
	list := slices.Clone(current)
	if u.MemberGroupIDs.Set {
		list = slices.Clone(u.MemberGroupIDs.Val)
	}
	list = append(list, u.AddMemberGroupIDs...)
	list = slices.DeleteFunc(list, func(id string) bool { return slices.Contains(u.RemoveMemberGroupIDs, id) })
	if list == nil {
		list = []string{}
	}
	return strutil.RemoveDuplicates(list, false)
}

func (s *Store) applyGroupUpdate(ctx context.Context, u GroupUpdate, generated string) (*Group, bool, error) {
	var target, byName *Group
	var currentChildren []string
	s.idx.read(func() {
		target = s.idx.groupTarget(u)
		if name := cmp.Or(u.Name, generated); name != "" {
			byName = s.idx.groupNames.get(name)
		}
		if target != nil {
			currentChildren = slices.Clone(s.idx.groupChildren[target.ID])
		}
	})
	if u.ID != "" && target == nil {
		return nil, false, core.UserErrorf("invalid group ID")
	}
	var index uint64
	if target != nil {
		index = target.ModifyIndex
	}
	if err := checkCAS(u.CAS, index); err != nil {
		return nil, false, err
	}

	g := &Group{}
	if target != nil {
		g = target.clone()
	}
	if u.Policies.Set {
		g.Policies = strutil.RemoveDuplicatesStable(u.Policies.Val, true)
	}
	if containsRoot(g.Policies) {
		return nil, false, core.UserErrorf("policies cannot contain root")
	}
	if u.Type.Set {
		if g.Type != "" && u.Type.Val != g.Type {
			return nil, false, core.UserErrorf("group type cannot be changed")
		}
		g.Type = u.Type.Val
	}
	if g.Type == "" {
		g.Type = GroupInternal
	}
	if g.Type != GroupInternal && g.Type != GroupExternal {
		return nil, false, core.UserErrorf("invalid group type %q", g.Type)
	}
	if name := cmp.Or(u.Name, generated); name != "" {
		if byName != nil && byName.ID != g.ID {
			return nil, false, core.UserErrorf("group name is already in use")
		}
		g.Name = name
	}
	if u.Metadata.Set {
		g.Metadata = u.Metadata.Val
	}
	if u.setsEntities() {
		if g.Type == GroupExternal {
			return nil, false, core.UserErrorf("member entities can't be set manually for external groups")
		}
		g.MemberEntityIDs = desiredEntities(g.MemberEntityIDs, u)
	}
	children := desiredChildren(currentChildren, u)
	if u.setsGroups() && g.Type == GroupExternal {
		return nil, false, core.UserErrorf("member groups can't be set for external groups")
	}

	created := target == nil
	if created {
		id, err := core.NewID()
		if err != nil {
			return nil, false, err
		}
		g.ID, g.NamespaceID = id, core.NamespaceID
	}
	if err := validateMetadata(g.Metadata); err != nil {
		return nil, false, core.UserErrorf("invalid group metadata: %v", err)
	}
	now := s.now().UTC()
	if created {
		g.CreationTime = now
	}
	g.LastUpdateTime = now
	if g.MemberEntityIDs != nil {
		g.MemberEntityIDs = strutil.RemoveDuplicates(g.MemberEntityIDs, false)
	}
	if g.Policies != nil {
		g.Policies = normalizePolicies(g.Policies)
	}

	// Validate every reference and the hierarchy before writing anything.
	var changedChildren []*Group
	var err error
	s.idx.read(func() {
		for _, id := range g.MemberEntityIDs {
			if s.idx.entities[id] == nil {
				err = core.UserErrorf("invalid entity ID %q", id)
				return
			}
		}
		if children == nil {
			return
		}
		for _, id := range currentChildren {
			if !slices.Contains(children, id) {
				if c := s.idx.groups[id]; c != nil {
					nc := c.clone()
					nc.ParentGroupIDs = deleteString(nc.ParentGroupIDs, g.ID)
					changedChildren = append(changedChildren, nc)
				}
			}
		}
		for _, id := range children {
			c := s.idx.groups[id]
			if c == nil {
				err = core.UserErrorf("invalid member group ID %q", id)
				return
			}
			if slices.Contains(c.ParentGroupIDs, g.ID) {
				continue
			}
			if id == g.ID {
				err = core.UserErrorf("member group ID %q is same as the ID of the group", g.ID)
				return
			}
			if !created && s.idx.isDescendant(id, g.ID) {
				err = core.UserErrorf("cyclic relationship detected for member group ID %q", id)
				return
			}
			nc := c.clone()
			nc.ParentGroupIDs = append(slices.Clone(nc.ParentGroupIDs), g.ID)
			changedChildren = append(changedChildren, nc)
		}
	})
	if err != nil {
		return nil, false, err
	}
	for _, c := range changedChildren {
		if err := s.saveGroup(ctx, c); err != nil {
			return nil, false, err
		}
	}
	if err := s.saveGroup(ctx, g); err != nil {
		return nil, false, err
	}
	return g, created, nil
}

// saveGroup bumps the group's modify index, stores it and indexes it. The
// caller holds the group's lock.
func (s *Store) saveGroup(ctx context.Context, g *Group) error {
	g.ModifyIndex++
	if err := s.storage.PutJSON(ctx, groupKey(g.ID), g); err != nil {
		return err
	}
	s.idx.write(func() { s.idx.putGroup(g) })
	return nil
}

func (s *Store) newGroupName() (string, error) {
	return core.NewName("group", func(n string) bool {
		var taken bool
		s.idx.read(func() { taken = s.idx.groupNames.get(n) != nil })
		return taken
	})
}

// GroupSelector picks a group for a lookup: by id, by name (any case), by the
// id of its alias, or by its alias's mount accessor and name.
type GroupSelector = Selector

// Group returns the group sel picks, with its child group ids, or nil.
func (s *Store) Group(ctx context.Context, sel GroupSelector) (*GroupView, error) {
	var v *GroupView
	s.idx.read(func() {
		g := find(sel, s.idx.groups, s.idx.groupNames,
			func(id string) *Group { return s.idx.groupAliases[id] },
			func(factors string) *Group { return s.idx.groupAliasFactors[factors] })
		if g != nil {
			v = &GroupView{Group: g, MemberGroupIDs: s.idx.childrenOf(g.ID)}
		}
	})
	return v, nil
}

// Groups returns a page of the groups in ascending id order.
func (s *Store) Groups(ctx context.Context, p Page) ([]*Group, error) {
	return pageOf(s, s.idx.groupOrder, p, func(id string) *Group { return s.idx.groups[id] })
}

// DeleteGroup deletes the group (by id, or by name in any letter case when
// byName) and its alias; an unknown group is not an error. Unlike the
// built-in engine it also removes the group from its children's
// parent_group_ids, so no child points at a deleted parent.
func (s *Store) DeleteGroup(ctx context.Context, key string, byName bool) error {
	find := func() *Group {
		if byName {
			return s.idx.groupNames.get(key)
		}
		return s.idx.groups[key]
	}
	lookup := kGroup(key)
	if byName {
		lookup = kGroupName(key)
	}
	return s.locks.Locked(func() (keys []string) {
		keys = []string{lookup}
		s.idx.read(func() {
			g := find()
			if g == nil {
				return
			}
			keys = append(keys, kGroup(g.ID), kGroupName(g.Name))
			if g.Alias != nil {
				keys = append(keys, kGroupAliasFactors(g.Alias.MountAccessor, g.Alias.Name))
			}
			for _, c := range s.idx.groupChildren[g.ID] {
				keys = append(keys, kGroup(c))
			}
		})
		return keys
	}, func() error {
		var g *Group
		var children []*Group
		s.idx.read(func() {
			if g = find(); g != nil {
				for _, c := range s.idx.groupChildren[g.ID] {
					children = append(children, s.idx.groups[c])
				}
			}
		})
		if g == nil {
			return nil
		}
		for _, c := range children {
			nc := c.clone()
			nc.ParentGroupIDs = deleteString(nc.ParentGroupIDs, g.ID)
			if err := s.saveGroup(ctx, nc); err != nil {
				return err
			}
		}
		if err := s.storage.Remove(ctx, groupKey(g.ID)); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.deleteGroup(g.ID) })
		return nil
	})
}
