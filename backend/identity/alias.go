package identity

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/vault/sdk/helper/custommetadata"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

const aliasPrefix = "alias/"

func aliasKey(id string) string { return aliasPrefix + id }

// Alias ties an entity (or, inside a Group, a group) to a name on an auth
// mount. Entity aliases are stored one JSON entry each under alias/<id>.
type Alias struct {
	ID                     string            `json:"id"`
	CanonicalID            string            `json:"canonical_id"`
	MountAccessor          string            `json:"mount_accessor"`
	Name                   string            `json:"name"`
	Metadata               map[string]string `json:"metadata"`
	CustomMetadata         map[string]string `json:"custom_metadata"`
	MergedFromCanonicalIDs []string          `json:"merged_from_canonical_ids,omitempty"`
	NamespaceID            string            `json:"namespace_id"`
	CreationTime           time.Time         `json:"creation_time"`
	LastUpdateTime         time.Time         `json:"last_update_time"`

	// mounts resolves MountAccessor for reads; set when the alias enters
	// the index (index.putAlias, index.putGroup), never stored.
	mounts *mounts
}

func (a *Alias) clone() *Alias {
	c := *a
	return &c
}

// AliasUpdate is a create-or-update request for an entity alias, with Vault's
// semantics: an ID selects the alias to update; otherwise an existing alias
// with the same mount accessor and name (any case) is updated; otherwise a
// new alias is made, on CanonicalID or on a new entity.
type AliasUpdate struct {
	ID             string
	Name           string
	MountAccessor  string
	CanonicalID    string
	CustomMetadata core.Opt[map[string]string]
}

// UpsertAlias applies u. It returns the alias and true when something was
// written, or nil and false for an update that changed nothing.
func (s *Store) UpsertAlias(ctx context.Context, u AliasUpdate) (*Alias, bool, error) {
	if err := validateCustomMetadata(u.CustomMetadata.Val); err != nil {
		return nil, false, err
	}
	if u.ID == "" && (u.MountAccessor == "" || u.Name == "") {
		return nil, false, core.UserErrorf("'id' or 'mount_accessor' and 'name' must be provided")
	}
	// The mounts of the given accessor and of the alias's current one.
	var curAccessor string
	s.idx.read(func() {
		if a := s.idx.aliases[u.ID]; a != nil {
			curAccessor = a.MountAccessor
		}
	})
	lookups := s.lookUpMounts(ctx, u.MountAccessor, curAccessor)
	if u.ID == "" {
		if _, err := lookups.check(ctx, u.MountAccessor); err != nil {
			return nil, false, err
		}
	}
	generated := ""
	if u.ID == "" && u.CanonicalID == "" {
		// The alias may need a new entity; reserve its name now so the
		// write can lock it.
		var err error
		if generated, err = s.newEntityName(); err != nil {
			return nil, false, err
		}
	}
	var out *Alias
	var changed bool
	err := s.locks.Locked(func() (keys []string) {
		s.idx.read(func() {
			var cur *Alias
			if u.ID != "" {
				keys = append(keys, kAlias(u.ID))
				cur = s.idx.aliases[u.ID]
			} else {
				cur = s.idx.aliasFactors[factorKey(u.MountAccessor, u.Name)]
			}
			if u.MountAccessor != "" && u.Name != "" {
				keys = append(keys, kAliasFactors(u.MountAccessor, u.Name))
			}
			if cur != nil {
				keys = append(keys, kAlias(cur.ID), kAliasFactors(cur.MountAccessor, cur.Name), kEntity(cur.CanonicalID))
				keys = append(keys, kAliasFactors(cmp.Or(u.MountAccessor, cur.MountAccessor), cmp.Or(u.Name, cur.Name)))
			}
			if u.CanonicalID != "" {
				keys = append(keys, kEntity(u.CanonicalID))
			} else if generated != "" {
				keys = append(keys, kEntityName(generated))
			}
		})
		return keys
	}, func() error {
		var err error
		out, changed, err = s.applyAliasUpdate(ctx, u, generated, lookups)
		return err
	})
	return out, changed, err
}

func (s *Store) applyAliasUpdate(ctx context.Context, u AliasUpdate, generated string, lookups mountLookups) (*Alias, bool, error) {
	var cur *Alias
	s.idx.read(func() {
		if u.ID != "" {
			cur = s.idx.aliases[u.ID]
		} else {
			cur = s.idx.aliasFactors[factorKey(u.MountAccessor, u.Name)]
		}
	})
	if u.ID != "" && cur == nil {
		return nil, false, core.UserErrorf("invalid alias ID provided")
	}
	if cur == nil {
		return s.createAlias(ctx, u, generated)
	}
	return s.updateAlias(ctx, u, cur, lookups)
}

func (s *Store) createAlias(ctx context.Context, u AliasUpdate, generated string) (*Alias, bool, error) {
	var entity *Entity
	var taken bool
	s.idx.read(func() {
		if u.CanonicalID != "" {
			entity = s.idx.entities[u.CanonicalID]
			if entity != nil {
				taken = s.idx.hasAliasOn(entity.ID, u.MountAccessor, "")
			}
		}
	})
	if u.CanonicalID != "" && entity == nil {
		return nil, false, core.UserErrorf("invalid canonical ID")
	}
	if taken {
		return nil, false, core.UserErrorf("Alias already exists for requested entity and mount accessor")
	}
	newEntity := entity == nil
	if newEntity {
		var err error
		if entity, err = s.newEntity(generated); err != nil {
			return nil, false, err
		}
	}
	a, err := s.newAlias(entity.ID, u.MountAccessor, u.Name, customMetadataOrEmpty(u.CustomMetadata))
	if err != nil {
		return nil, false, err
	}
	if newEntity {
		if err := s.saveEntity(ctx, entity); err != nil {
			return nil, false, err
		}
	}
	if err := s.storeAlias(ctx, a); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// newAlias builds a new alias of the entity (not yet stored).
func (s *Store) newAlias(entityID, accessor, name string, customMetadata map[string]string) (*Alias, error) {
	id, err := core.NewID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	return &Alias{
		ID:             id,
		CanonicalID:    entityID,
		MountAccessor:  accessor,
		Name:           name,
		CustomMetadata: customMetadata,
		NamespaceID:    core.NamespaceID,
		CreationTime:   now,
		LastUpdateTime: now,
	}, nil
}

// storeAlias writes an alias and indexes it; the caller holds its locks.
func (s *Store) storeAlias(ctx context.Context, a *Alias) error {
	if err := s.storage.PutJSON(ctx, aliasKey(a.ID), a); err != nil {
		return err
	}
	s.idx.write(func() { s.idx.putAlias(a) })
	return nil
}

// validateCustomMetadata applies Vault's custom_metadata limits, reporting
// every problem, key by key in sorted order.
func validateCustomMetadata(cm map[string]string) error {
	if err := custommetadata.Validate(cm); err == nil || len(cm) > 64 {
		return core.UserError(err)
	}
	var msgs []string
	for _, k := range slices.Sorted(maps.Keys(cm)) {
		if err := custommetadata.Validate(map[string]string{k: cm[k]}); err != nil {
			var me *multierror.Error
			if errors.As(err, &me) {
				for _, e := range me.Errors {
					msgs = append(msgs, e.Error())
				}
			}
		}
	}
	return core.UserErrorf("%s", strings.Join(msgs, "; "))
}

// customMetadataOrEmpty is the custom metadata of a write: what was given,
// or an empty map, as Vault stores it when none is.
func customMetadataOrEmpty(o core.Opt[map[string]string]) map[string]string {
	if o.Set && o.Val != nil {
		return o.Val
	}
	return map[string]string{}
}

func (s *Store) updateAlias(ctx context.Context, u AliasUpdate, cur *Alias, lookups mountLookups) (*Alias, bool, error) {
	name, accessor, canonical := u.Name, u.MountAccessor, u.CanonicalID
	var custom map[string]string
	if u.ID != "" {
		// By id: fields not given keep their value.
		custom = cur.CustomMetadata
		if u.CustomMetadata.Set {
			custom = customMetadataOrEmpty(u.CustomMetadata)
		}
		if accessor == "" && name == "" && canonical == "" && !u.CustomMetadata.Set {
			return nil, false, nil
		}
		name, accessor = cmp.Or(name, cur.Name), cmp.Or(accessor, cur.MountAccessor)
	} else {
		// By mount accessor and name: custom metadata not given is cleared.
		custom = customMetadataOrEmpty(u.CustomMetadata)
	}
	if name == cur.Name && accessor == cur.MountAccessor &&
		(canonical == "" || canonical == cur.CanonicalID) && maps.Equal(custom, cur.CustomMetadata) {
		return nil, false, nil
	}

	var owner, target *Entity
	var ownerHasAccessor, targetHasAccessor bool
	var byFactors *Alias
	s.idx.read(func() {
		owner = s.idx.entities[cur.CanonicalID]
		ownerHasAccessor = s.idx.hasAliasOn(cur.CanonicalID, accessor, cur.ID)
		byFactors = s.idx.aliasFactors[factorKey(accessor, name)]
		if canonical != "" {
			target = s.idx.entities[canonical]
			targetHasAccessor = s.idx.hasAliasOn(canonical, accessor, cur.ID)
		}
	})
	if owner == nil {
		return nil, false, core.UserErrorf("given alias is not associated with an entity")
	}
	moving := canonical != "" && canonical != cur.CanonicalID
	if accessor != cur.MountAccessor && !moving && ownerHasAccessor {
		return nil, false, core.UserErrorf("Alias cannot be updated as the entity already has an alias for the given 'mount_accessor' ")
	}
	a := cur.clone()
	if name != cur.Name || accessor != cur.MountAccessor || !maps.Equal(custom, cur.CustomMetadata) {
		if _, err := lookups.check(ctx, accessor); err != nil {
			return nil, false, err
		}
		if byFactors != nil && byFactors.ID != cur.ID {
			return nil, false, core.UserErrorf("alias with combination of mount accessor and name already exists")
		}
		a.Name, a.MountAccessor, a.CustomMetadata = name, accessor, custom
	}
	// Vault resolves the alias's mount once more, whatever changed: an alias
	// whose mount is gone cannot move (Vault answers 500 with this
	// message), nor can an alias on a local mount.
	mount, known, fromTable := lookups.resolve(ctx, a.MountAccessor)
	if fromTable && !known {
		return nil, false, core.UserErrorf("invalid mount accessor %q", a.MountAccessor)
	}
	if moving {
		if mount.Local {
			return nil, false, core.UserErrorf("local aliases can't be moved between entities")
		}
		if target == nil {
			return nil, false, core.UserErrorf("given 'canonical_id' is not associated with an entity")
		}
		if targetHasAccessor {
			return nil, false, core.UserErrorf("Alias cannot be updated as the given entity already has an alias for this mount ")
		}
		a.CanonicalID = target.ID
	}
	a.LastUpdateTime = s.now().UTC()
	if err := s.storeAlias(ctx, a); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// hasAliasOn reports whether the entity has an alias on the mount, other
// than the alias except; the caller holds x.mu.
func (x *index) hasAliasOn(entityID, accessor, except string) bool {
	return slices.ContainsFunc(x.entityAliases[entityID], func(a *Alias) bool {
		return a.MountAccessor == accessor && a.ID != except
	})
}

// AliasByID returns the entity alias with this id, or nil.
func (s *Store) AliasByID(ctx context.Context, id string) (*Alias, error) {
	var a *Alias
	s.idx.read(func() { a = s.idx.aliases[id] })
	return a, nil
}

// Aliases returns a page of the entity aliases in ascending id order.
func (s *Store) Aliases(ctx context.Context, p Page) ([]*Alias, error) {
	return pageOf(s, s.idx.aliasOrder, p, func(id string) *Alias { return s.idx.aliases[id] })
}

// DeleteAlias deletes the entity alias with this id; an unknown id is not an
// error.
func (s *Store) DeleteAlias(ctx context.Context, id string) error {
	return s.locks.Locked(func() (keys []string) {
		keys = []string{kAlias(id)}
		s.idx.read(func() {
			if a := s.idx.aliases[id]; a != nil {
				keys = append(keys, kAliasFactors(a.MountAccessor, a.Name), kEntity(a.CanonicalID))
			}
		})
		return keys
	}, func() error {
		var a *Alias
		s.idx.read(func() { a = s.idx.aliases[id] })
		if a == nil {
			return nil
		}
		if err := s.storage.Remove(ctx, aliasKey(id)); err != nil {
			return err
		}
		s.idx.write(func() { s.idx.deleteAlias(id) })
		return nil
	})
}
