package identity

import (
	"context"
	"strings"

	"github.com/google/btree"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// names is a case-insensitive index of objects by name, kept in name order
// too, for the lists by name. Callers hold the index lock.
type names[T any] struct {
	by    map[string]*T // lower(name)
	order *btree.BTreeG[string]
}

func newNames[T any]() names[T] {
	return names[T]{by: map[string]*T{}, order: btree.NewOrderedG[string](32)}
}

func (n names[T]) get(name string) *T { return n.by[strings.ToLower(name)] }

func (n names[T]) set(name string, v *T) {
	key := strings.ToLower(name)
	n.by[key] = v
	n.order.ReplaceOrInsert(key)
}

// drop removes name if v holds it.
func (n names[T]) drop(name string, v *T) {
	if key := strings.ToLower(name); n.by[key] == v {
		delete(n.by, key)
		n.order.Delete(key)
	}
}

func (n names[T]) len() int { return len(n.by) }

// NamePage is a page of a list by name: the names that begin with Prefix
// (in any letter case), in ascending order of their lower-case form, after
// After (compared the same way; from the first when ""), at most Limit of
// them (all when 0).
type NamePage struct {
	Prefix, After string
	Limit         int
}

// page returns the objects of p.
func (n names[T]) page(p NamePage) []*T {
	prefix, after := strings.ToLower(p.Prefix), strings.ToLower(p.After)
	start := max(prefix, after)
	var out []*T
	n.order.AscendGreaterOrEqual(start, func(key string) bool {
		if !strings.HasPrefix(key, prefix) {
			return false
		}
		if key != after {
			out = append(out, n.by[key])
		}
		return p.Limit <= 0 || len(out) < p.Limit
	})
	return out
}

// EntitiesByName returns a page of the entities in name order (see
// NamePage), each with its aliases.
func (s *Store) EntitiesByName(ctx context.Context, p NamePage) ([]*EntityView, error) {
	if p.Limit < 0 {
		return nil, core.UserErrorf("limit must not be negative")
	}
	var out []*EntityView
	s.idx.read(func() {
		for _, e := range s.idx.entityNames.page(p) {
			out = append(out, &EntityView{Entity: e, Aliases: s.idx.aliasesOf(e.ID)})
		}
	})
	return out, nil
}

// GroupsByName returns a page of the groups in name order (see NamePage).
func (s *Store) GroupsByName(ctx context.Context, p NamePage) ([]*Group, error) {
	if p.Limit < 0 {
		return nil, core.UserErrorf("limit must not be negative")
	}
	var out []*Group
	s.idx.read(func() { out = s.idx.groupNames.page(p) })
	return out, nil
}
