package backend

import (
	"slices"
	"strings"
	"sync"
)

// entityIndex is the in-memory view of all entities: by id and by
// case-insensitive name. Entries are immutable; writers replace them.
type entityIndex struct {
	mu     sync.RWMutex
	byID   map[string]*Entity
	byName map[string]*Entity // key: strings.ToLower(name)
}

func newEntityIndex() *entityIndex {
	return &entityIndex{byID: map[string]*Entity{}, byName: map[string]*Entity{}}
}

func (x *entityIndex) get(id string) *Entity {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byID[id]
}

func (x *entityIndex) getByName(name string) *Entity {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byName[strings.ToLower(name)]
}

func (x *entityIndex) nameTaken(name string) bool { return x.getByName(name) != nil }

func (x *entityIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// put stores e, replacing the entity with the same id and its name entry.
func (x *entityIndex) put(e *Entity) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(x.byID[e.ID])
	x.byID[e.ID] = e
	x.byName[strings.ToLower(e.Name)] = e
}

// add stores e while loading. Two stored entities can only share a name if a
// write was interrupted halfway through a rename race; the older one keeps
// the name and reports the other.
func (x *entityIndex) add(e *Entity) (shadowed *Entity) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[e.ID] = e
	key := strings.ToLower(e.Name)
	if cur := x.byName[key]; cur != nil {
		if cur.CreationTime.Before(e.CreationTime) || (cur.CreationTime.Equal(e.CreationTime) && cur.ID < e.ID) {
			return e
		}
		x.byName[key] = e
		return cur
	}
	x.byName[key] = e
	return nil
}

func (x *entityIndex) remove(e *Entity) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(e)
}

func (x *entityIndex) removeLocked(e *Entity) {
	if e == nil || x.byID[e.ID] != e {
		return
	}
	delete(x.byID, e.ID)
	key := strings.ToLower(e.Name)
	if x.byName[key] == e {
		delete(x.byName, key)
	}
}

// sorted returns all entities in ascending id order, the order Vault lists
// them in.
func (x *entityIndex) sorted() []*Entity {
	x.mu.RLock()
	out := make([]*Entity, 0, len(x.byID))
	for _, e := range x.byID {
		out = append(out, e)
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Entity) int { return strings.Compare(a.ID, b.ID) })
	return out
}
