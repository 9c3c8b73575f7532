package identity

import (
	"context"
)

// How a caller whose Vault aliases match no alias of the store is treated.
const (
	// CallerEntitiesCreate gives such a caller an entity of its own on its
	// first request, as Vault creates an entity at every login.
	CallerEntitiesCreate = "create"
	// CallerEntitiesMatch maps only callers that an existing alias names.
	CallerEntitiesMatch = "match"
)

// AliasRef names an alias by mount accessor and name, as Vault reports the
// aliases of a request's entity.
type AliasRef struct {
	MountAccessor string
	Name          string
}

// Caller is a request's Vault entity as Vault reports it: its name and its
// aliases, in Vault's order.
type Caller struct {
	Name    string
	Aliases []AliasRef
}

// CallerEntity finds the entity of this store that owns one of the caller's
// Vault aliases (same mount accessor, name in any case): the caller's entity
// here. When the aliases name entities of two or more entities here, the
// first of the caller's aliases (in Vault's order) that matches decides.
//
// When none matches and the mount's caller_entities setting is "create",
// the caller gets an entity here, as Vault creates one at a login: named
// after its Vault entity when that name is free here (in any case), else a
// generated entity_<8 hex> name; no policies, no metadata; and an alias
// (without metadata) for each of its Vault aliases whose mount accessor
// passes the accessor check. Under the write locks of every alias and both
// candidate names, the lookup is made again, so racing first requests
// create one entity between them. With "match", it never writes.
//
// It returns the entity and the matched (or first created) alias, or nil
// when the caller has no entity here and none is made (no alias to match
// or create).
func (s *Store) CallerEntity(ctx context.Context, c Caller) (*EntityView, *Alias, error) {
	var v *EntityView
	var match *Alias
	s.idx.read(func() { v, match = s.idx.callerEntity(c.Aliases) })
	if v != nil || s.callers() != CallerEntitiesCreate {
		return v, match, nil
	}
	refs := s.creatableRefs(ctx, c.Aliases)
	if len(refs) == 0 {
		return nil, nil, nil
	}
	for {
		// A generated name in reserve, locked with the Vault name, for
		// when that one is taken.
		generated, err := s.newEntityName()
		if err != nil {
			return nil, nil, err
		}
		retry := false
		err = s.locks.Locked(func() []string {
			keys := []string{kEntityName(generated)}
			if c.Name != "" {
				keys = append(keys, kEntityName(c.Name))
			}
			for _, r := range c.Aliases {
				keys = append(keys, kAliasFactors(r.MountAccessor, r.Name))
			}
			return keys
		}, func() error {
			var err error
			v, match, retry, err = s.createCallerEntity(ctx, c, refs, generated)
			return err
		})
		if err != nil || !retry {
			return v, match, err
		}
	}
}

// callerEntity is the lookup of CallerEntity; the caller holds x.mu.
func (x *index) callerEntity(refs []AliasRef) (*EntityView, *Alias) {
	for _, r := range refs {
		a := x.aliasFactors[factorKey(r.MountAccessor, r.Name)]
		if a == nil {
			continue
		}
		if e := x.entities[a.CanonicalID]; e != nil {
			return x.entityView(e), a
		}
	}
	return nil, nil
}

// creatableRefs are the caller's aliases an entity made for it gets: those
// with a name and an accessor that passes the accessor check of alias
// writes, one per mount (Vault gives an entity one alias per mount). The
// check may ask Vault for its mount table, so it runs before any lock.
func (s *Store) creatableRefs(ctx context.Context, refs []AliasRef) []AliasRef {
	var out []AliasRef
	seen := map[string]bool{}
	for _, r := range refs {
		if r.Name == "" || seen[r.MountAccessor] {
			continue
		}
		if _, err := s.checkMount(ctx, r.MountAccessor); err != nil {
			s.logger.Debug("caller alias not copied: its mount accessor does not pass the check",
				"mount_accessor", r.MountAccessor, "error", err)
			continue
		}
		seen[r.MountAccessor] = true
		out = append(out, r)
	}
	return out
}

// createCallerEntity is the write of CallerEntity, under the locks of every
// alias of c and of both names: it looks again, and creates only when there
// is still no match. Every check runs before the first write; the entity is
// written before its aliases, as an alias write that makes an entity does.
// retry reports that both names were taken meanwhile (the generated one
// too, which takes another writer drawing the same 32 random bits).
func (s *Store) createCallerEntity(ctx context.Context, c Caller, refs []AliasRef, generated string) (v *EntityView, match *Alias, retry bool, err error) {
	var name string
	var free []AliasRef
	s.idx.read(func() {
		if v, match = s.idx.callerEntity(c.Aliases); v != nil {
			return
		}
		switch {
		case c.Name != "" && s.idx.entityNames.get(c.Name) == nil:
			name = c.Name
		case s.idx.entityNames.get(generated) == nil:
			name = generated
		}
		// An alias whose entity is missing (a crash between two writes)
		// keeps its factors: that one is not made again.
		for _, r := range refs {
			if s.idx.aliasFactors[factorKey(r.MountAccessor, r.Name)] == nil {
				free = append(free, r)
			}
		}
	})
	switch {
	case v != nil:
		return v, match, false, nil
	case len(free) == 0:
		return nil, nil, false, nil
	case name == "":
		return nil, nil, true, nil
	}

	e, err := s.newEntity(name)
	if err != nil {
		return nil, nil, false, err
	}
	aliases := make([]*Alias, len(free))
	for i, r := range free {
		if aliases[i], err = s.newAlias(e.ID, r.MountAccessor, r.Name, map[string]string{}); err != nil {
			return nil, nil, false, err
		}
	}

	if err := s.saveEntity(ctx, e); err != nil {
		return nil, nil, false, err
	}
	for _, a := range aliases {
		if err := s.storeAlias(ctx, a); err != nil {
			return nil, nil, false, err
		}
	}
	s.logger.Debug("entity created for a caller", "entity_id", e.ID, "name", e.Name, "aliases", len(aliases))
	s.idx.read(func() { v = s.idx.entityView(e) })
	return v, aliases[0], false, nil
}
