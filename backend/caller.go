package backend

import "context"

// AliasRef names an alias by mount accessor and name, as Vault reports the
// aliases of a request's entity.
type AliasRef struct {
	MountAccessor string
	Name          string
}

// CallerEntity finds the entity of this store that owns one of the caller's
// Vault aliases (same mount accessor, name in any case): the caller's entity
// here. It returns the entity, the matched alias, or nil when none matches.
func (s *Store) CallerEntity(ctx context.Context, refs []AliasRef) (*EntityView, *Alias, error) {
	if err := s.ready(ctx); err != nil {
		return nil, nil, err
	}
	var v *EntityView
	var match *Alias
	s.idx.read(func() {
		for _, r := range refs {
			a := s.idx.aliasFactors[factorKey(r.MountAccessor, r.Name)]
			if a == nil {
				continue
			}
			if e := s.idx.entities[a.CanonicalID]; e != nil {
				v, match = s.idx.entityView(e), a
				return
			}
		}
	})
	return v, match, nil
}
