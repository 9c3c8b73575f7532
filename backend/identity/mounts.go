package identity

import (
	"context"
	"regexp"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Mount is an auth mount of Vault as its mount table lists it.
type Mount struct {
	Accessor string
	// Path is where the mount is, as Vault reports it on aliases:
	// "auth/userpass/". Empty when the mount is known only by the form of
	// its accessor.
	Path string
	// Type is the auth method type: "userpass", "approle", ...
	Type string
	// Local is true for a mount that is not replicated (vault auth enable
	// -local).
	Local bool
}

// MountTable is Vault's auth mount table, which a plugin can read only
// through Vault's API with a token the operator gives it. An error means the
// table cannot be read now (no token, or a token that fails): the store then
// checks accessors by their form, as without a table. The store never fails
// a request because of it.
type MountTable interface {
	// Mount returns the auth mount with this accessor, and whether Vault
	// has one.
	Mount(ctx context.Context, accessor string) (Mount, bool, error)
	// HasType reports whether Vault has an auth mount of this type.
	HasType(ctx context.Context, mountType string) (bool, error)
}

// Vault makes auth mount accessors as auth_<type>_<8 hex digits>.
var accessorFormat = regexp.MustCompile(`^auth_(.+)_[0-9a-f]{8}$`)

// MountTypeOf returns the auth method type named in a mount accessor, and
// whether the accessor has the form of a Vault auth mount accessor: the
// check the store makes without Vault's mount table.
func MountTypeOf(accessor string) (string, bool) {
	m := accessorFormat.FindStringSubmatch(accessor)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// A plugin without Vault's mount table checks auth method types by form:
// Vault's type names are lower case words with dashes.
var authTypeFormat = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// mounts resolves mount accessors for one store: through Vault's table when
// there is one that can be read, else by form. Every alias in the index
// points to its store's mounts (see index.putAlias), so that a read can show
// the alias's mount without a way back to the store.
// Without a table, lookups cost no more than the form check.
type mounts struct {
	table MountTable // nil: by form only
}

// resolve finds the auth mount of an accessor. known is whether the
// accessor names one; fromTable whether Vault's table answered (false: the
// form of the accessor did). Resolving never fails: a table that cannot be
// read means the form check.
func (r *mounts) resolve(ctx context.Context, accessor string) (m Mount, known, fromTable bool) {
	if r != nil && r.table != nil {
		if m, ok, err := r.table.Mount(ctx, accessor); err == nil {
			return m, ok, true
		}
	}
	t, ok := MountTypeOf(accessor)
	return Mount{Accessor: accessor, Type: t}, ok, false
}

// hasType reports whether an auth mount of this type exists, or by form
// whether it could.
func (r *mounts) hasType(ctx context.Context, mountType string) bool {
	if r != nil && r.table != nil {
		if ok, err := r.table.HasType(ctx, mountType); err == nil {
			return ok
		}
	}
	return authTypeFormat.MatchString(mountType)
}

// checkMount resolves the mount accessor of a write, against Vault's table
// when there is one, else by form: 400 with Vault's message when it names
// no auth mount. It may read Vault's table: call it before taking locks.
func (s *Store) checkMount(ctx context.Context, accessor string) (Mount, error) {
	return s.lookUpMounts(ctx, accessor).check(ctx, accessor)
}

// mountLookups are the mounts of a write's accessors, looked up before the
// write takes its locks: a lookup may have to read Vault's table, which no
// lock of the store is held for.
type mountLookups struct {
	mounts *mounts
	found  map[string]mountLookup
}

type mountLookup struct {
	mount            Mount
	known, fromTable bool
}

// lookUpMounts resolves the accessors ("" skipped) before a write locks.
func (s *Store) lookUpMounts(ctx context.Context, accessors ...string) mountLookups {
	l := mountLookups{mounts: s.mounts, found: map[string]mountLookup{}}
	for _, a := range accessors {
		if _, done := l.found[a]; !done && a != "" {
			m, known, fromTable := s.mounts.resolve(ctx, a)
			l.found[a] = mountLookup{m, known, fromTable}
		}
	}
	return l
}

// resolve is mounts.resolve answered from the lookups; an accessor they
// lack (the object changed after they were made) is resolved now.
func (l mountLookups) resolve(ctx context.Context, accessor string) (Mount, bool, bool) {
	if f, ok := l.found[accessor]; ok {
		return f.mount, f.known, f.fromTable
	}
	return l.mounts.resolve(ctx, accessor)
}

// check resolves the mount accessor of a write, against Vault's table when
// there is one, else by form: 400 with Vault's message when it names no
// auth mount.
func (l mountLookups) check(ctx context.Context, accessor string) (Mount, error) {
	m, ok, _ := l.resolve(ctx, accessor)
	if !ok {
		return Mount{}, core.UserErrorf("invalid mount accessor %q", accessor)
	}
	return m, nil
}

// Mount is the auth mount of the alias as reads show it: with Vault's mount
// table, its type, path and locality, or the zero Mount when the table has
// no such mount; without a table, the type named in the accessor only (no
// path, never local). Resolved when asked, from the table the plugin
// caches, so that nothing of it is stored.
func (a *Alias) Mount() Mount {
	m, ok, _ := a.mounts.resolve(context.Background(), a.MountAccessor)
	if !ok {
		return Mount{Accessor: a.MountAccessor}
	}
	return m
}

// MountType is the type of the auth mount the alias belongs to, "" when
// unknown.
func (a *Alias) MountType() string { return a.Mount().Type }
