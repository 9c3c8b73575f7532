package identity

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/google/btree"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// index is the in-memory view of the whole store, rebuilt from storage at
// load: every object by id, the case-insensitive name and alias lookups, and
// the reverse edges of the identity graph (entity → aliases, entity →
// groups, group → child groups). One lock guards it so a read sees the graph
// at one instant. Objects in it are never modified; writers swap in copies.
type index struct {
	mu core.RWMutex

	// Ids in ascending order, for lists and their pages without sorting.
	entityOrder, aliasOrder, groupOrder *btree.BTreeG[string]

	entities    map[string]*Entity
	entityNames names[Entity]

	aliases       map[string]*Alias   // entity aliases by id
	aliasFactors  map[string]*Alias   // factorKey(accessor, name)
	entityAliases map[string][]*Alias // entity id → its aliases

	groups            map[string]*Group
	groupNames        names[Group]
	groupsByMember    map[string][]string // entity id → ids of groups listing it
	groupChildren     map[string][]string // group id → ids of groups naming it a parent
	groupAliases      map[string]*Group   // group alias id → its group
	groupAliasFactors map[string]*Group   // factorKey(accessor, name) → group

	// mounts is the store's, given to every alias put in the index.
	mounts *mounts
}

func newIndex() *index {
	return &index{
		mu:                core.RWMutex{Rank: core.RankIndex},
		entityOrder:       btree.NewOrderedG[string](32),
		aliasOrder:        btree.NewOrderedG[string](32),
		groupOrder:        btree.NewOrderedG[string](32),
		entities:          map[string]*Entity{},
		entityNames:       newNames[Entity](),
		aliases:           map[string]*Alias{},
		aliasFactors:      map[string]*Alias{},
		entityAliases:     map[string][]*Alias{},
		groups:            map[string]*Group{},
		groupNames:        newNames[Group](),
		groupsByMember:    map[string][]string{},
		groupChildren:     map[string][]string{},
		groupAliases:      map[string]*Group{},
		groupAliasFactors: map[string]*Group{},
	}
}

// factorKey identifies an alias by mount accessor (case-sensitive) and name
// (case-insensitive), as Vault's alias factors index does.
func factorKey(accessor, name string) string {
	return accessor + "\x00" + strings.ToLower(name)
}

func (x *index) read(f func()) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	f()
}

func (x *index) write(f func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f()
}

// --- entities (callers hold x.mu) ---

func (x *index) putEntity(e *Entity) {
	if old := x.entities[e.ID]; old != nil {
		x.entityNames.drop(old.Name, old)
	}
	x.entities[e.ID] = e
	x.entityOrder.ReplaceOrInsert(e.ID)
	x.entityNames.set(e.Name, e)
}

// addLoadedEntity stores e while loading. Two stored entities can only share
// a name if a write raced with a crash; the older keeps the name and the
// other is returned.
func (x *index) addLoadedEntity(e *Entity) (shadowed *Entity) {
	x.entities[e.ID] = e
	x.entityOrder.ReplaceOrInsert(e.ID)
	cur := x.entityNames.get(e.Name)
	if cur != nil && olderFirst(cur.CreationTime, cur.ID, e.CreationTime, e.ID) {
		return e
	}
	x.entityNames.set(e.Name, e)
	return cur
}

func (x *index) deleteEntity(id string) {
	e := x.entities[id]
	if e == nil {
		return
	}
	delete(x.entities, id)
	x.entityOrder.Delete(id)
	x.entityNames.drop(e.Name, e)
}

// page returns, in ascending order, the ids of order after p.After (from
// the start when ""), at most p.Limit of them (all when <= 0).
// Selector picks one entity or group: by id, by name in any letter case, by
// the id of one of its aliases, or by an alias's mount accessor and name;
// the first field set decides.
type Selector struct {
	ID, Name, AliasID, AliasName, AliasMountAccessor string
}

// find is the lookup of sel among objects indexed by id (byID) and by
// name (byName), and through their aliases by alias id and by
// factorKey. The caller holds x.mu.
func find[T any](sel Selector, byID map[string]*T, byName names[T], byAliasID, byFactors func(string) *T) *T {
	switch {
	case sel.ID != "":
		return byID[sel.ID]
	case sel.Name != "":
		return byName.get(sel.Name)
	case sel.AliasID != "":
		return byAliasID(sel.AliasID)
	case sel.AliasName != "" && sel.AliasMountAccessor != "":
		return byFactors(factorKey(sel.AliasMountAccessor, sel.AliasName))
	}
	return nil
}

// pageOf is one page of the objects in order, each made by get from its id
// under the index lock.
func pageOf[T any](s *Store, order *btree.BTreeG[string], p Page, get func(id string) T) ([]T, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	var out []T
	s.idx.read(func() {
		for _, id := range page(order, p) {
			out = append(out, get(id))
		}
	})
	return out, nil
}

func page(order *btree.BTreeG[string], p Page) []string {
	var out []string
	order.AscendGreaterOrEqual(p.After, func(id string) bool {
		if id != p.After {
			out = append(out, id)
		}
		return p.Limit <= 0 || len(out) < p.Limit
	})
	return out
}

// --- entity aliases (callers hold x.mu) ---

// withMounts lets an alias entering the index resolve its mount accessor
// through the store's mounts. An alias already in the index has them, so
// an alias shared by a group and its copy is never written once readers
// can see it.
func (x *index) withMounts(a *Alias) {
	if a != nil && a.mounts == nil && x.mounts != nil {
		a.mounts = x.mounts
	}
}

func (x *index) putAlias(a *Alias) {
	x.withMounts(a)
	x.deleteAlias(a.ID)
	x.aliases[a.ID] = a
	x.aliasOrder.ReplaceOrInsert(a.ID)
	x.aliasFactors[factorKey(a.MountAccessor, a.Name)] = a
	x.entityAliases[a.CanonicalID] = append(x.entityAliases[a.CanonicalID], a)
}

func (x *index) deleteAlias(id string) {
	a := x.aliases[id]
	if a == nil {
		return
	}
	delete(x.aliases, id)
	x.aliasOrder.Delete(id)
	if key := factorKey(a.MountAccessor, a.Name); x.aliasFactors[key] == a {
		delete(x.aliasFactors, key)
	}
	list := slices.DeleteFunc(slices.Clone(x.entityAliases[a.CanonicalID]), func(o *Alias) bool { return o.ID == id })
	if len(list) == 0 {
		delete(x.entityAliases, a.CanonicalID)
	} else {
		x.entityAliases[a.CanonicalID] = list
	}
}

// aliasesOf returns an entity's aliases, oldest first.
func (x *index) aliasesOf(entityID string) []*Alias {
	list := slices.Clone(x.entityAliases[entityID])
	slices.SortFunc(list, func(a, b *Alias) int {
		return cmp.Or(a.CreationTime.Compare(b.CreationTime), strings.Compare(a.ID, b.ID))
	})
	return list
}

// olderFirst reports whether (t1, id1) sorts before (t2, id2).
func olderFirst(t1 time.Time, id1 string, t2 time.Time, id2 string) bool {
	return t1.Before(t2) || (t1.Equal(t2) && id1 < id2)
}

// --- groups (callers hold x.mu) ---

func (x *index) putGroup(g *Group) {
	old := x.groups[g.ID]
	if old != nil {
		x.groupNames.drop(old.Name, old)
		x.unindexGroupAlias(old)
	}
	var oldMembers, oldParents []string
	if old != nil {
		oldMembers, oldParents = old.MemberEntityIDs, old.ParentGroupIDs
	}
	added, removed := diff(oldMembers, g.MemberEntityIDs)
	for _, m := range removed {
		removeFrom(x.groupsByMember, m, g.ID)
	}
	for _, m := range added {
		x.groupsByMember[m] = append(x.groupsByMember[m], g.ID)
	}
	added, removed = diff(oldParents, g.ParentGroupIDs)
	for _, p := range removed {
		removeFrom(x.groupChildren, p, g.ID)
	}
	for _, p := range added {
		x.groupChildren[p] = append(x.groupChildren[p], g.ID)
	}
	x.withMounts(g.Alias)
	x.groups[g.ID] = g
	x.groupOrder.ReplaceOrInsert(g.ID)
	x.groupNames.set(g.Name, g)
	if g.Alias != nil {
		x.groupAliases[g.Alias.ID] = g
		x.groupAliasFactors[factorKey(g.Alias.MountAccessor, g.Alias.Name)] = g
	}
}

// addLoadedGroup is putGroup while loading, with addLoadedEntity's rule for
// shared names.
func (x *index) addLoadedGroup(g *Group) (shadowed *Group) {
	cur := x.groupNames.get(g.Name)
	x.putGroup(g)
	if cur != nil && olderFirst(cur.CreationTime, cur.ID, g.CreationTime, g.ID) {
		x.groupNames.set(cur.Name, cur)
		return g
	}
	return cur
}

func (x *index) unindexGroupAlias(g *Group) {
	if g.Alias == nil {
		return
	}
	if x.groupAliases[g.Alias.ID] == g {
		delete(x.groupAliases, g.Alias.ID)
	}
	if key := factorKey(g.Alias.MountAccessor, g.Alias.Name); x.groupAliasFactors[key] == g {
		delete(x.groupAliasFactors, key)
	}
}

func (x *index) deleteGroup(id string) {
	g := x.groups[id]
	if g == nil {
		return
	}
	for _, m := range g.MemberEntityIDs {
		removeFrom(x.groupsByMember, m, id)
	}
	for _, p := range g.ParentGroupIDs {
		removeFrom(x.groupChildren, p, id)
	}
	x.unindexGroupAlias(g)
	x.groupNames.drop(g.Name, g)
	delete(x.groups, id)
	x.groupOrder.Delete(id)
}

// childrenOf returns the ids of the groups that name id as a parent, sorted.
func (x *index) childrenOf(id string) []string {
	return sortedCopy(x.groupChildren[id])
}

// groupsOfEntity returns the ids of the groups that list the entity as a
// member (direct) and of all their ancestors that are not direct
// (inherited), each sorted. The walk visits each group once, so deep or
// wide hierarchies cost time linear in the groups reached.
func (x *index) groupsOfEntity(entityID string) (direct, inherited []string) {
	direct = sortedCopy(x.groupsByMember[entityID])
	inherited = []string{}
	seen := make(map[string]bool, len(direct))
	for _, id := range direct {
		seen[id] = true
	}
	queue := slices.Clone(direct)
	for len(queue) > 0 {
		g := x.groups[queue[0]]
		queue = queue[1:]
		if g == nil {
			continue
		}
		for _, p := range g.ParentGroupIDs {
			if !seen[p] && x.groups[p] != nil {
				seen[p] = true
				inherited = append(inherited, p)
				queue = append(queue, p)
			}
		}
	}
	slices.Sort(inherited)
	return direct, inherited
}

// isDescendant reports whether target can be reached from start by
// following child edges (start itself included).
func (x *index) isDescendant(start, target string) bool {
	seen := map[string]bool{start: true}
	stack := []string{start}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id == target {
			return true
		}
		for _, c := range x.groupChildren[id] {
			if !seen[c] {
				seen[c] = true
				stack = append(stack, c)
			}
		}
	}
	return false
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func removeFrom(m map[string][]string, key, id string) {
	list := slices.DeleteFunc(m[key], func(s string) bool { return s == id })
	if len(list) == 0 {
		delete(m, key)
	} else {
		m[key] = list
	}
}

// diff returns the elements of b missing from a (added) and of a missing
// from b (removed).
func diff(a, b []string) (added, removed []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	ia, ib := in(a), in(b)
	for _, s := range b {
		if !ia[s] {
			added = append(added, s)
		}
	}
	for _, s := range a {
		if !ib[s] {
			removed = append(removed, s)
		}
	}
	return added, removed
}
