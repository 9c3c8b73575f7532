package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-secure-stdlib/strutil"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of entities, entity aliases, groups and group aliases.

// --- entities ---

type entityTransfer struct {
	transfer.NoPrepare
	s *Store
}

func (k entityTransfer) Parallel() bool { return true }

func (k entityTransfer) Decode(it *transfer.Item) error {
	var d dump.Entity
	if err := transfer.Decode(it, &d, func() string { return d.ID }); err != nil {
		return err
	}
	if err := transfer.CheckName("entity id", d.ID); err != nil {
		return err
	}
	if d.Name == "" {
		return errors.New("an entity needs a name")
	}
	if err := transfer.CheckTimes(d.CreationTime, d.LastUpdateTime); err != nil {
		return err
	}
	e := &Entity{
		ID: d.ID, Name: d.Name, Metadata: d.Metadata, Disabled: d.Disabled, NamespaceID: core.NamespaceID,
		MergedEntityIDs: d.MergedEntityIDs, ModifyIndex: max(d.ModifyIndex, 1),
		CreationTime: d.CreationTime.UTC(), LastUpdateTime: d.LastUpdateTime.UTC(),
	}
	if len(d.Policies) > 0 {
		e.Policies = normalizePolicies(d.Policies)
	}
	if containsRoot(e.Policies) {
		return errors.New("policies cannot contain root")
	}
	if err := validateMetadata(e.Metadata); err != nil {
		return fmt.Errorf("invalid entity metadata: %v", err)
	}
	it.Obj = e
	return nil
}

func (k entityTransfer) LockKeys(it *transfer.Item) (keys []string) {
	k.s.idx.read(func() { keys = k.s.entityLockKeys(it) })
	return keys
}

// entityLockKeys are the lock keys of the record; the caller holds the index lock.
func (s *Store) entityLockKeys(it *transfer.Item) []string {
	e := it.Obj.(*Entity)
	keys := []string{kEntity(e.ID), kEntityName(e.Name)}
	if cur := s.idx.entities[e.ID]; cur != nil {
		keys = append(keys, kEntityName(cur.Name))
	}
	if holder := s.idx.entityNames.get(e.Name); holder != nil {
		keys = append(keys, kEntity(holder.ID))
	}
	return keys
}

func (k entityTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	e := it.Obj.(*Entity)
	if !b.ClaimOrDuplicate(it, "entity-name", strings.ToLower(e.Name), fmt.Sprintf("entity name %q", e.Name)) {
		return nil
	}
	var cur, holder *Entity
	k.s.idx.read(func() { cur, holder = k.s.idx.entities[e.ID], k.s.idx.entityNames.get(e.Name) })
	switch {
	case holder != nil && holder.ID != e.ID:
		b.Taken(it, "entity name %q is already used by entity %s", e.Name, holder.ID)
	default:
		transfer.Compare(b, it, cur, e, "entity "+e.ID)
	}
	return nil
}

func (k entityTransfer) Refs(*transfer.Batch, *transfer.Item) {}

func (k entityTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return k.s.storage.PutJSON(ctx, entityKey(it.Rec.ID), it.Obj)
}

func (k entityTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	k.s.idx.write(func() {
		for _, it := range written {
			k.s.idx.putEntity(it.Obj.(*Entity))
		}
	})
	for _, it := range written {
		if e := it.Obj.(*Entity); e.Disabled && it.Cur != nil && !it.Cur.(*Entity).Disabled {
			b.Disabled = append(b.Disabled, e.ID)
		}
	}
}

func (k entityTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	var list []*Entity
	s.idx.read(func() {
		for _, id := range page(s.idx.entityOrder, Page{After: after, Limit: limit}) {
			list = append(list, s.idx.entities[id])
		}
	})
	return transfer.RecordsOf(dump.KindEntity, list, func(e *Entity) (string, any) {
		return e.ID, dump.Entity{
			ID: e.ID, Name: e.Name, Metadata: e.Metadata, Policies: e.Policies, Disabled: e.Disabled,
			MergedEntityIDs: e.MergedEntityIDs, ModifyIndex: e.ModifyIndex,
			CreationTime: e.CreationTime, LastUpdateTime: e.LastUpdateTime,
		}
	})
}

// --- entity aliases ---

type aliasTransfer struct{ s *Store }

// Prepare looks the alias's auth mount up, before any lock.
func (k aliasTransfer) Prepare(ctx context.Context, it *transfer.Item) {
	it.Aux = k.s.lookUpMounts(ctx, it.Obj.(*Alias).MountAccessor)
}

func (k aliasTransfer) Parallel() bool { return true }

// decodeAlias decodes an entity-alias or group-alias record.
func decodeAlias(it *transfer.Item) (*Alias, error) {
	var d dump.Alias
	if err := transfer.Decode(it, &d, func() string { return d.ID }); err != nil {
		return nil, err
	}
	if err := transfer.CheckNames("alias id", d.ID, "canonical_id", d.CanonicalID); err != nil {
		return nil, err
	}
	if d.MountAccessor == "" || d.Name == "" {
		return nil, errors.New("an alias needs a mount_accessor and a name")
	}
	if err := transfer.CheckTimes(d.CreationTime, d.LastUpdateTime); err != nil {
		return nil, err
	}
	return &Alias{
		ID: d.ID, CanonicalID: d.CanonicalID, MountAccessor: d.MountAccessor, Name: d.Name,
		Metadata: d.Metadata, CustomMetadata: d.CustomMetadata, MergedFromCanonicalIDs: d.MergedFromCanonicalIDs,
		NamespaceID: core.NamespaceID, CreationTime: d.CreationTime.UTC(), LastUpdateTime: d.LastUpdateTime.UTC(),
	}, nil
}

func aliasRecord(a *Alias) dump.Alias {
	return dump.Alias{
		ID: a.ID, CanonicalID: a.CanonicalID, MountAccessor: a.MountAccessor, Name: a.Name,
		Metadata: a.Metadata, CustomMetadata: a.CustomMetadata, MergedFromCanonicalIDs: a.MergedFromCanonicalIDs,
		CreationTime: a.CreationTime, LastUpdateTime: a.LastUpdateTime,
	}
}

func (k aliasTransfer) Decode(it *transfer.Item) error {
	a, err := decodeAlias(it)
	if err != nil {
		return err
	}
	if len(a.CustomMetadata) > 0 {
		if err := validateCustomMetadata(a.CustomMetadata); err != nil {
			return fmt.Errorf("invalid custom_metadata: %v", err)
		}
	}
	it.Obj = a
	return nil
}

func (k aliasTransfer) LockKeys(it *transfer.Item) (keys []string) {
	k.s.idx.read(func() { keys = k.s.aliasLockKeys(it) })
	return keys
}

// aliasLockKeys are the lock keys of the record; the caller holds the index lock.
func (s *Store) aliasLockKeys(it *transfer.Item) []string {
	a := it.Obj.(*Alias)
	keys := []string{kAlias(a.ID), kAliasFactors(a.MountAccessor, a.Name), kEntity(a.CanonicalID)}
	if cur := s.idx.aliases[a.ID]; cur != nil {
		keys = append(keys, kAliasFactors(cur.MountAccessor, cur.Name), kEntity(cur.CanonicalID))
	}
	if holder := s.idx.aliasFactors[factorKey(a.MountAccessor, a.Name)]; holder != nil {
		keys = append(keys, kAlias(holder.ID))
	}
	return keys
}

func (k aliasTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	a := it.Obj.(*Alias)
	if !b.ClaimOrDuplicate(it, "alias-factors", factorKey(a.MountAccessor, a.Name), fmt.Sprintf("alias name %q on mount accessor %q", a.Name, a.MountAccessor)) {
		return nil
	}
	if !b.ClaimOrDuplicate(it, "alias-entity-mount", a.CanonicalID+"\x00"+a.MountAccessor, fmt.Sprintf("an alias of entity %s on mount accessor %q", a.CanonicalID, a.MountAccessor)) {
		return nil
	}
	var cur, holder *Alias
	k.s.idx.read(func() { cur, holder = k.s.idx.aliases[a.ID], k.s.idx.aliasFactors[factorKey(a.MountAccessor, a.Name)] })
	switch {
	case holder != nil && holder.ID != a.ID:
		b.Taken(it, "alias name %q on mount accessor %q is already used by alias %s of entity %s", a.Name, a.MountAccessor, holder.ID, holder.CanonicalID)
	default:
		transfer.Compare(b, it, cur, a, "entity alias "+a.ID)
	}
	return nil
}

func (k aliasTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	a := it.Obj.(*Alias)
	mount, err := it.Aux.(mountLookups).check(b.Ctx, a.MountAccessor)
	if err != nil {
		it.Problem(transfer.ProblemInvalid, "%v", err)
	}
	if cur, _ := it.Cur.(*Alias); cur != nil && cur.CanonicalID != a.CanonicalID && mount.Local {
		it.Problem(transfer.ProblemInvalid, "local aliases can't be moved between entities")
	}
	k.s.idx.read(func() {
		if !b.Will(dump.KindEntity, a.CanonicalID) && k.s.idx.entities[a.CanonicalID] == nil {
			it.Missing(dump.KindEntity, a.CanonicalID, "canonical_id %q names no entity", a.CanonicalID)
			return
		}
		// One alias per mount for an entity: the store's other aliases of
		// the entity, unless the batch gives them (claimed in check).
		for _, o := range k.s.idx.entityAliases[a.CanonicalID] {
			if o.ID == a.ID || o.MountAccessor != a.MountAccessor {
				continue
			}
			if b.Pending(dump.KindEntityAlias, o.ID) != nil {
				continue
			}
			it.Problem(transfer.ProblemInvalid, "entity %s already has alias %s on mount accessor %q", a.CanonicalID, o.ID, a.MountAccessor)
		}
	})
}

func (k aliasTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return k.s.storage.PutJSON(ctx, aliasKey(it.Rec.ID), it.Obj)
}

func (k aliasTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	k.s.idx.write(func() {
		for _, it := range written {
			k.s.idx.putAlias(it.Obj.(*Alias))
		}
	})
}

func (k aliasTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	var list []*Alias
	s.idx.read(func() {
		for _, id := range page(s.idx.aliasOrder, Page{After: after, Limit: limit}) {
			list = append(list, s.idx.aliases[id])
		}
	})
	return transfer.RecordsOf(dump.KindEntityAlias, list, func(a *Alias) (string, any) { return a.ID, aliasRecord(a) })
}

// --- groups ---

type groupTransfer struct {
	transfer.NoPrepare
	s *Store
}

func (k groupTransfer) Parallel() bool { return true }

func (k groupTransfer) Decode(it *transfer.Item) error {
	var d dump.Group
	if err := transfer.Decode(it, &d, func() string { return d.ID }); err != nil {
		return err
	}
	if err := transfer.CheckName("group id", d.ID); err != nil {
		return err
	}
	if d.Name == "" {
		return errors.New("a group needs a name")
	}
	if err := transfer.CheckTimes(d.CreationTime, d.LastUpdateTime); err != nil {
		return err
	}
	g := &Group{
		ID: d.ID, Name: d.Name, Type: d.Type, Metadata: d.Metadata, NamespaceID: core.NamespaceID,
		ModifyIndex: max(d.ModifyIndex, 1), CreationTime: d.CreationTime.UTC(), LastUpdateTime: d.LastUpdateTime.UTC(),
	}
	if g.Type == "" {
		g.Type = GroupInternal
	}
	if g.Type != GroupInternal && g.Type != GroupExternal {
		return fmt.Errorf("invalid group type %q", g.Type)
	}
	// As a group write stores them.
	if d.Policies != nil {
		g.Policies = normalizePolicies(strutil.RemoveDuplicatesStable(d.Policies, true))
	}
	if containsRoot(g.Policies) {
		return errors.New("policies cannot contain root")
	}
	if err := validateMetadata(g.Metadata); err != nil {
		return fmt.Errorf("invalid group metadata: %v", err)
	}
	if d.MemberEntityIDs != nil {
		g.MemberEntityIDs = strutil.RemoveDuplicates(d.MemberEntityIDs, false)
	}
	if len(g.MemberEntityIDs) > 0 && g.Type == GroupExternal {
		return errors.New("member entities can't be set manually for external groups")
	}
	if d.ParentGroupIDs != nil {
		g.ParentGroupIDs = strutil.RemoveDuplicatesStable(d.ParentGroupIDs, false)
	}
	if slices.Contains(g.ParentGroupIDs, g.ID) {
		return fmt.Errorf("member group ID %q is same as the ID of the group", g.ID)
	}
	it.Obj = g
	return nil
}

func (k groupTransfer) LockKeys(it *transfer.Item) (keys []string) {
	k.s.idx.read(func() { keys = k.s.groupLockKeys(it) })
	return keys
}

// groupLockKeys are the lock keys of the record; the caller holds the index lock.
func (s *Store) groupLockKeys(it *transfer.Item) []string {
	g := it.Obj.(*Group)
	keys := []string{kGroup(g.ID), kGroupName(g.Name)}
	if cur := s.idx.groups[g.ID]; cur != nil {
		keys = append(keys, kGroupName(cur.Name))
	}
	if holder := s.idx.groupNames.get(g.Name); holder != nil {
		keys = append(keys, kGroup(holder.ID))
	}
	for _, m := range g.MemberEntityIDs {
		keys = append(keys, kEntity(m))
	}
	for _, p := range g.ParentGroupIDs {
		keys = append(keys, kGroup(p))
	}
	if len(g.ParentGroupIDs) > 0 {
		keys = append(keys, kHierarchy)
	}
	return keys
}

// withoutAlias is g as a group record compares it: its alias is a record
// of its own.
func withoutAlias(g *Group) *Group {
	c := g.clone()
	c.Alias = nil
	return c
}

func (k groupTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	g := it.Obj.(*Group)
	if !b.ClaimOrDuplicate(it, "group-name", strings.ToLower(g.Name), fmt.Sprintf("group name %q", g.Name)) {
		return nil
	}
	var cur, holder *Group
	k.s.idx.read(func() { cur, holder = k.s.idx.groups[g.ID], k.s.idx.groupNames.get(g.Name) })
	switch {
	case holder != nil && holder.ID != g.ID:
		b.Taken(it, "group name %q is already used by group %s", g.Name, holder.ID)
	case cur == nil:
		it.Action = transfer.ActionCreated
	default:
		it.Cur = cur
		same, diff := transfer.SameJSON(withoutAlias(cur), g)
		b.Settle(it, same, "group "+g.ID, diff)
		if it.Action == transfer.ActionOverwritten {
			if cur.Type != g.Type {
				it.Problem(transfer.ProblemInvalid, "group type cannot be changed")
			}
			// The group's alias is a record of its own: it stays.
			g.Alias = cur.Alias
		}
	}
	return nil
}

// effectiveGroup is the group id names once the batch b is written, or
// nil. The caller holds the index's read lock.
func (s *Store) effectiveGroup(b *transfer.Batch, id string) *Group {
	if g, ok := b.Pending(dump.KindGroup, id).(*Group); ok {
		return g
	}
	return s.idx.groups[id]
}

func (k groupTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	g := it.Obj.(*Group)
	k.s.idx.read(func() {
		for _, m := range g.MemberEntityIDs {
			if !b.Will(dump.KindEntity, m) && k.s.idx.entities[m] == nil {
				it.Missing(dump.KindEntity, m, "member_entity_ids: %q names no entity", m)
			}
		}
		for _, p := range g.ParentGroupIDs {
			parent := k.s.effectiveGroup(b, p)
			switch {
			case parent == nil:
				it.Missing(dump.KindGroup, p, "parent_group_ids: %q names no group", p)
			case parent.Type == GroupExternal:
				it.Problem(transfer.ProblemInvalid, "parent_group_ids: %q is an external group, which can't have member groups", p)
			}
		}
		// The hierarchy must stay a forest: no group above itself.
		seen := map[string]bool{}
		stack := slices.Clone(g.ParentGroupIDs)
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if id == g.ID {
				it.Problem(transfer.ProblemInvalid, "cyclic relationship detected: group %s would be its own ancestor", g.ID)
				return
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			if p := k.s.effectiveGroup(b, id); p != nil {
				stack = append(stack, p.ParentGroupIDs...)
			}
		}
	})
}

func (k groupTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return k.s.storage.PutJSON(ctx, groupKey(it.Rec.ID), it.Obj)
}

func (k groupTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	k.s.idx.write(func() {
		for _, it := range written {
			k.s.idx.putGroup(it.Obj.(*Group))
		}
	})
}

func groupRecord(g *Group) dump.Group {
	return dump.Group{
		ID: g.ID, Name: g.Name, Type: g.Type, Metadata: g.Metadata, Policies: g.Policies,
		MemberEntityIDs: g.MemberEntityIDs, ParentGroupIDs: g.ParentGroupIDs, ModifyIndex: g.ModifyIndex,
		CreationTime: g.CreationTime, LastUpdateTime: g.LastUpdateTime,
	}
}

// Groups export after their parents: sorted by depth (the longest chain
// of parents above them), then id.
func (k groupTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	type keyed struct {
		key string
		g   *Group
	}
	var list []keyed
	s.idx.read(func() {
		depth := map[string]int{}
		var depthOf func(id string, path map[string]bool) int
		depthOf = func(id string, path map[string]bool) int {
			if d, ok := depth[id]; ok {
				return d
			}
			path[id] = true
			d := 0
			for _, p := range s.idx.groups[id].ParentGroupIDs {
				if s.idx.groups[p] != nil && !path[p] {
					d = max(d, depthOf(p, path)+1)
				}
			}
			delete(path, id)
			depth[id] = d
			return d
		}
		for id, g := range s.idx.groups {
			list = append(list, keyed{fmt.Sprintf("%06d/%s", depthOf(id, map[string]bool{}), id), g})
		}
	})
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	i := sort.Search(len(list), func(i int) bool { return list[i].key > after })
	list = list[i:min(len(list), i+limit)]
	var out []dump.Record
	var keys []string
	for _, k := range list {
		rec, err := dump.NewRecord(dump.KindGroup, k.g.ID, groupRecord(k.g))
		if err != nil {
			return nil, nil, err
		}
		out, keys = append(out, rec), append(keys, k.key)
	}
	return out, keys, nil
}

// --- group aliases ---

type groupAliasTransfer struct{ s *Store }

// Prepare looks the alias's auth mount up, before any lock.
func (k groupAliasTransfer) Prepare(ctx context.Context, it *transfer.Item) {
	it.Aux = k.s.lookUpMounts(ctx, it.Obj.(*Alias).MountAccessor)
}

// Group aliases are few, and two may touch one group (one leaving it, one
// arriving): they are written one by one, each published at once.
func (k groupAliasTransfer) Parallel() bool { return false }

func (k groupAliasTransfer) Decode(it *transfer.Item) error {
	a, err := decodeAlias(it)
	if err != nil {
		return err
	}
	if len(a.CustomMetadata) > 0 {
		return errors.New("a group alias has no custom_metadata")
	}
	it.Obj = a
	return nil
}

func (k groupAliasTransfer) LockKeys(it *transfer.Item) (keys []string) {
	k.s.idx.read(func() { keys = k.s.groupAliasLockKeys(it) })
	return keys
}

// groupAliasLockKeys are the lock keys of the record; the caller holds the index lock.
func (s *Store) groupAliasLockKeys(it *transfer.Item) []string {
	a := it.Obj.(*Alias)
	keys := []string{kGroup(a.CanonicalID), kGroupAliasFactors(a.MountAccessor, a.Name)}
	for _, g := range []*Group{s.idx.groupAliases[a.ID], s.idx.groupAliasFactors[factorKey(a.MountAccessor, a.Name)], s.idx.groups[a.CanonicalID]} {
		if g != nil {
			keys = append(keys, kGroup(g.ID))
			if g.Alias != nil {
				keys = append(keys, kGroupAliasFactors(g.Alias.MountAccessor, g.Alias.Name))
			}
		}
	}
	return keys
}

func (k groupAliasTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	a := it.Obj.(*Alias)
	if !b.ClaimOrDuplicate(it, "group-alias-factors", factorKey(a.MountAccessor, a.Name), fmt.Sprintf("group alias name %q on mount accessor %q", a.Name, a.MountAccessor)) ||
		!b.ClaimOrDuplicate(it, "group-alias-group", a.CanonicalID, fmt.Sprintf("an alias of group %s", a.CanonicalID)) {
		return nil
	}
	var cur, holder, target *Group
	k.s.idx.read(func() {
		cur, holder = k.s.idx.groupAliases[a.ID], k.s.idx.groupAliasFactors[factorKey(a.MountAccessor, a.Name)]
		target = k.s.idx.groups[a.CanonicalID]
	})
	switch {
	case holder != nil && holder.Alias.ID != a.ID:
		b.Taken(it, "group alias name %q on mount accessor %q is already used by alias %s of group %s", a.Name, a.MountAccessor, holder.Alias.ID, holder.ID)
	case target != nil && target.Alias != nil && target.Alias.ID != a.ID:
		b.Taken(it, "group %s already has alias %s", target.ID, target.Alias.ID)
	case cur == nil:
		it.Action = transfer.ActionCreated
	default:
		it.Cur = cur
		same, diff := transfer.SameJSON(cur.Alias, a)
		if cur.ID != a.CanonicalID {
			same, diff = false, append(diff, "canonical_id")
		}
		b.Settle(it, same, "group alias "+a.ID, diff)
	}
	return nil
}

func (k groupAliasTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	a := it.Obj.(*Alias)
	var target *Group
	k.s.idx.read(func() { target = k.s.effectiveGroup(b, a.CanonicalID) })
	switch {
	case target == nil:
		it.Missing(dump.KindGroup, a.CanonicalID, "canonical_id %q names no group", a.CanonicalID)
	case target.Type != GroupExternal:
		it.Problem(transfer.ProblemInvalid, "alias can't be set on an internal group")
	}
	mount, err := it.Aux.(mountLookups).check(b.Ctx, a.MountAccessor)
	switch {
	case err != nil:
		it.Problem(transfer.ProblemInvalid, "%v", err)
	case mount.Local:
		it.Problem(transfer.ProblemInvalid, "mount accessor %q is a local mount", a.MountAccessor)
	}
}

// write stores the alias in its group (and takes it from the group it
// leaves), as the group's own entry holds it. The group's modify index is
// kept: it is the group record's.
func (k groupAliasTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	a := it.Obj.(*Alias)
	var target, from *Group
	k.s.idx.read(func() {
		target = k.s.idx.groups[a.CanonicalID]
		if g := k.s.idx.groupAliases[a.ID]; g != nil && g.ID != a.CanonicalID {
			from = g
		}
	})
	if target == nil {
		return fmt.Errorf("group %s vanished during the import", a.CanonicalID)
	}
	if from != nil {
		left := from.clone()
		left.Alias = nil
		if err := k.s.storage.PutJSON(ctx, groupKey(left.ID), left); err != nil {
			return err
		}
		k.s.idx.write(func() { k.s.idx.putGroup(left) })
	}
	g := target.clone()
	g.Alias = a
	if err := k.s.storage.PutJSON(ctx, groupKey(g.ID), g); err != nil {
		return err
	}
	k.s.idx.write(func() { k.s.idx.putGroup(g) })
	return nil
}

func (k groupAliasTransfer) Publish(*transfer.Batch, []*transfer.Item) {}

func (k groupAliasTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	byID := map[string]*Alias{}
	s.idx.read(func() {
		for id, g := range s.idx.groupAliases {
			byID[id] = g.Alias
		}
	})
	ids := transfer.PageAfter(core.SortedKeys(byID), after, limit)
	list := make([]*Alias, 0, len(ids))
	for _, id := range ids {
		list = append(list, byID[id])
	}
	return transfer.RecordsOf(dump.KindGroupAlias, list, func(a *Alias) (string, any) { return a.ID, aliasRecord(a) })
}

// TransferKinds are the identity store's record kinds for import and export.
func (s *Store) TransferKinds() map[string]transfer.Kind {
	return map[string]transfer.Kind{
		dump.KindEntity:      entityTransfer{s: s},
		dump.KindEntityAlias: aliasTransfer{s: s},
		dump.KindGroup:       groupTransfer{s: s},
		dump.KindGroupAlias:  groupAliasTransfer{s: s},
	}
}
