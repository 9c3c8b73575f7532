package oidc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"

	"github.com/go-jose/go-jose/v4"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of the OIDC configuration: the issuer, keys, scopes,
// assignments, clients (with their client_id and secret), providers,
// roles, and on request the grants of refresh token families. The batch
// holds s.state.mu for writing.

// keepNilDedupe is dedupe, keeping a list that was never set (nil) as it
// is, so that an object reads back as it was exported.
func keepNilDedupe(list []string) []string {
	if list == nil {
		return nil
	}
	return dedupe(list)
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func fromSeconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// pageOfNames pages through the sorted names of m under s.state.mu and
// builds their records.
func pageOfNames[V any](s *Service, kind string, m func() map[string]V, after string, limit int, build func(name string, v V) any) ([]dump.Record, []string, error) {
	s.state.mu.RLock()
	objects := m()
	names := transfer.PageAfter(core.SortedKeys(objects), after, limit)
	values := make([]any, len(names))
	for i, n := range names {
		values[i] = build(n, objects[n])
	}
	s.state.mu.RUnlock()
	out := make([]dump.Record, 0, len(names))
	for i, n := range names {
		rec, err := dump.NewRecord(kind, n, values[i])
		if err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
	}
	return out, names, nil
}

// --- the issuer ---

type oidcConfigTransfer struct {
	transfer.NoPrepare
	s *Service
}

func (kt oidcConfigTransfer) Parallel() bool { return false }

func (kt oidcConfigTransfer) Decode(it *transfer.Item) error {
	var d dump.OIDCConfig
	if err := transfer.Decode(it, &d, func() string { return dump.OIDCConfigID }); err != nil {
		return err
	}
	if d.Issuer != "" && !validIssuer(d.Issuer) {
		return errors.New("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
	}
	it.Obj = &oidcConfig{Issuer: d.Issuer}
	return nil
}

func (kt oidcConfigTransfer) LockKeys(*transfer.Item) []string { return nil }

// check: an issuer that was never set ("") takes the record's.
func (kt oidcConfigTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	c := it.Obj.(*oidcConfig)
	switch cur := kt.s.state.issuer; {
	case cur == c.Issuer:
		it.Action = transfer.ActionUnchanged
	case cur == "":
		it.Action = transfer.ActionCreated
	default:
		b.Settle(it, false, "the OIDC issuer", []string{"issuer"})
	}
	return nil
}

func (kt oidcConfigTransfer) Refs(*transfer.Batch, *transfer.Item) {}

func (kt oidcConfigTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return kt.s.storage.PutJSON(ctx, oidcConfigKey, it.Obj)
}

func (kt oidcConfigTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		kt.s.state.issuer = it.Obj.(*oidcConfig).Issuer
	}
}

func (kt oidcConfigTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := kt.s
	if len(transfer.PageAfter([]string{dump.OIDCConfigID}, after, limit)) == 0 {
		return nil, nil, nil
	}
	s.state.mu.RLock()
	issuer := s.state.issuer
	s.state.mu.RUnlock()
	rec, err := dump.NewRecord(dump.KindOIDCConfig, dump.OIDCConfigID, dump.OIDCConfig{Issuer: issuer})
	if err != nil {
		return nil, nil, err
	}
	return []dump.Record{rec}, []string{dump.OIDCConfigID}, nil
}

// --- keys ---

type oidcKeyTransfer struct {
	transfer.NoPrepare
	s *Service
}

// keyImport is an oidc-key record's object: the key, and whether the
// record carried its material.
type keyImport struct {
	key      *oidcKey
	material bool
}

func (kt oidcKeyTransfer) Parallel() bool { return false }

func (kt oidcKeyTransfer) Decode(it *transfer.Item) error {
	var d dump.OIDCKey
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckName("key name", d.Name); err != nil {
		return err
	}
	if !slices.Contains(SupportedAlgorithms, d.Algorithm) {
		return fmt.Errorf("unknown signing algorithm %q", d.Algorithm)
	}
	k := newKey(d.Name, d.AllowedClientIDs)
	if k.AllowedClientIDs == nil {
		k.AllowedClientIDs = []string{}
	}
	k.Algorithm, k.RotationPeriod, k.VerificationTTL = d.Algorithm, fromSeconds(d.RotationPeriod), fromSeconds(d.VerificationTTL)
	if k.RotationPeriod < time.Minute {
		return errors.New("rotation_period must be at least one minute")
	}
	if k.VerificationTTL > 10*k.RotationPeriod {
		return errors.New("verification_ttl cannot be longer than 10x rotation_period")
	}
	if m := d.Material; m != nil {
		if err := k.setMaterial(m); err != nil {
			return fmt.Errorf("material: %v", err)
		}
	}
	it.Obj = &keyImport{key: k, material: d.Material != nil}
	return nil
}

// setMaterial takes a record's key ring and private keys: public keys in
// the ring, private keys of the key's algorithm for ids of the ring, and
// one for the current and the next key.
func (k *oidcKey) setMaterial(m *dump.KeyMaterial) error {
	ring := map[string]bool{}
	for _, r := range m.KeyRing {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(r.Public); err != nil {
			return fmt.Errorf("key_ring %q: %v", r.KeyID, err)
		}
		if !pub.IsPublic() || pub.KeyID != r.KeyID || ring[r.KeyID] {
			return fmt.Errorf("key_ring %q: not a public key of that id, or listed twice", r.KeyID)
		}
		ring[r.KeyID] = true
		k.KeyRing = append(k.KeyRing, RingKey{KeyID: r.KeyID, ExpireAt: r.ExpireAt.UTC(), Public: pub})
	}
	for _, raw := range m.PrivateKeys {
		jwk := new(jose.JSONWebKey)
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("private key: %v", err)
		}
		if jwk.IsPublic() || !ring[jwk.KeyID] || jwk.Algorithm != k.Algorithm || k.private[jwk.KeyID] != nil {
			return fmt.Errorf("private key %q: not a private %s key of the ring, or given twice", jwk.KeyID, k.Algorithm)
		}
		k.private[jwk.KeyID] = jwk
	}
	k.SigningKeyID, k.NextSigningKeyID, k.NextRotation = m.SigningKeyID, m.NextSigningKeyID, m.NextRotation.UTC()
	for _, id := range []string{k.SigningKeyID, k.NextSigningKeyID} {
		if id == "" || k.private[id] == nil {
			return fmt.Errorf("the current and next keys (%q, %q) need their private keys", k.SigningKeyID, k.NextSigningKeyID)
		}
	}
	return nil
}

func (kt oidcKeyTransfer) LockKeys(*transfer.Item) []string { return nil }

// keyRecord is the key as a record, with its material when asked.
func keyRecord(k *oidcKey, withMaterial bool) (dump.OIDCKey, error) {
	d := dump.OIDCKey{
		Name: k.Name, Algorithm: k.Algorithm, RotationPeriod: seconds(k.RotationPeriod),
		VerificationTTL: seconds(k.VerificationTTL), AllowedClientIDs: k.AllowedClientIDs,
	}
	if !withMaterial || k.SigningKeyID == "" {
		return d, nil
	}
	m := &dump.KeyMaterial{KeyRing: []dump.RingKey{}, PrivateKeys: []json.RawMessage{}, SigningKeyID: k.SigningKeyID, NextSigningKeyID: k.NextSigningKeyID, NextRotation: k.NextRotation}
	for _, r := range k.KeyRing {
		pub, err := r.Public.MarshalJSON()
		if err != nil {
			return d, err
		}
		m.KeyRing = append(m.KeyRing, dump.RingKey{KeyID: r.KeyID, ExpireAt: r.ExpireAt, Public: pub})
	}
	for _, id := range core.SortedKeys(k.private) {
		raw, err := k.private[id].MarshalJSON()
		if err != nil {
			return d, err
		}
		m.PrivateKeys = append(m.PrivateKeys, raw)
	}
	d.Material = m
	return d, nil
}

// check compares the configuration, and the material when the record has
// it. A key that has not signed anything yet (no material, as the default
// key of a new mount) and has the record's configuration takes the
// record's material as if it were new.
func (kt oidcKeyTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	ki := it.Obj.(*keyImport)
	cur := kt.s.state.keys[ki.key.Name]
	if cur == nil {
		it.Action = transfer.ActionCreated
		return nil
	}
	it.Cur = cur
	curConfig, _ := keyRecord(cur, false)
	newConfig, _ := keyRecord(ki.key, false)
	same, diff := transfer.SameJSON(curConfig, newConfig)
	if same && ki.material {
		if cur.SigningKeyID == "" {
			it.Action = transfer.ActionCreated
			return nil
		}
		curFull, err := keyRecord(cur, true)
		if err != nil {
			return err
		}
		newFull, err := keyRecord(ki.key, true)
		if err != nil {
			return err
		}
		same, diff = transfer.SameJSON(curFull, newFull)
	}
	b.Settle(it, same, "OIDC key "+ki.key.Name, diff)
	return nil
}

// effectiveKey is the named key as the batch b leaves it, or nil.
func (s *Service) effectiveKey(b *transfer.Batch, name string) *oidcKey {
	if ki, ok := b.Pending(dump.KindOIDCKey, name).(*keyImport); ok {
		return ki.key
	}
	return s.state.keys[name]
}

// refs: a key the batch changes must still outlive the tokens of the
// stored roles and clients that use it and that the batch does not write.
func (kt oidcKeyTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	k := it.Obj.(*keyImport).key
	written := func(kind, name string) bool {
		o := b.Find(kind, name)
		return o != nil && o.Writes()
	}
	for _, name := range core.SortedKeys(kt.s.state.roles) {
		if r := kt.s.state.roles[name]; r.Key == k.Name && !written(dump.KindOIDCRole, name) && r.TTL > k.VerificationTTL {
			it.Problem(transfer.ProblemInvalid, "unable to update key %q because it is currently referenced by one or more roles with a token ttl greater than %d seconds", k.Name, seconds(k.VerificationTTL))
			return
		}
	}
	for _, name := range core.SortedKeys(kt.s.state.clients) {
		c := kt.s.state.clients[name]
		if c.Key != k.Name || written(dump.KindOIDCClient, name) {
			continue
		}
		if c.IDTokenTTL > k.VerificationTTL || setAccessTokenFormat(c.clone(), core.Opt[string]{}, k) != nil {
			it.Problem(transfer.ProblemInvalid, "unable to update key %q because it is currently referenced by one or more clients with a token ttl greater than %d seconds", k.Name, seconds(k.VerificationTTL))
			return
		}
	}
}

// write stores a key. One without material gets new keys when created,
// and keeps its keys when its configuration is overwritten (new ones for
// a new algorithm), as a key write does.
func (kt oidcKeyTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	ki := it.Obj.(*keyImport)
	k := ki.key
	if !ki.material {
		now := kt.s.now()
		if cur, _ := it.Cur.(*oidcKey); cur != nil {
			c := cur.clone()
			c.AllowedClientIDs, c.RotationPeriod, c.VerificationTTL = k.AllowedClientIDs, k.RotationPeriod, k.VerificationTTL
			if next := now.Add(c.RotationPeriod); c.NextRotation.IsZero() || next.Before(c.NextRotation) {
				c.NextRotation = next
			}
			if c.Algorithm != k.Algorithm {
				c.Algorithm = k.Algorithm
				if err := c.generateCurrentAndNext(); err != nil {
					return err
				}
			}
			k = c
		} else {
			if err := k.generateCurrentAndNext(); err != nil {
				return err
			}
			k.NextRotation = now.Add(k.RotationPeriod)
		}
	}
	return kt.s.saveKey(ctx, k)
}

func (kt oidcKeyTransfer) Publish(*transfer.Batch, []*transfer.Item) {}

func (kt oidcKeyTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := kt.s
	return pageOfNames(s, dump.KindOIDCKey, func() map[string]*oidcKey { return s.state.keys }, after, limit, func(_ string, k *oidcKey) any {
		d, _ := keyRecord(k, false)
		return d
	})
}

// ExportKeys returns every OIDC key with its key ring and private keys.
// The backend gives them only when the mount's settings allow it.
func (s *Service) ExportKeys(ctx context.Context) ([]dump.Record, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	out := []dump.Record{}
	for _, name := range core.SortedKeys(s.state.keys) {
		d, err := keyRecord(s.state.keys[name], true)
		if err != nil {
			return nil, err
		}
		rec, err := dump.NewRecord(dump.KindOIDCKey, name, d)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// --- scopes ---

func decodeScope(it *transfer.Item) error {
	var d dump.OIDCScope
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckName("scope name", d.Name); err != nil {
		return err
	}
	if d.Name == OpenIDScope {
		return fmt.Errorf("the %q scope name is reserved", OpenIDScope)
	}
	if err := validateTemplate(d.Template); err != nil {
		return err
	}
	it.Obj = &Scope{Name: d.Name, Template: d.Template, Description: d.Description}
	return nil
}

// namedKind is the handling of the OIDC objects kept by name in storage
// (prefix + name) and in a map of the OIDC state: scopes and assignments as
// they are, providers and roles with their references.
type namedKind[T any] struct {
	transfer.NoPrepare
	s       *Service
	kind    string // the record kind
	what    string // its name in messages
	prefix  string // its storage prefix
	objects func(*oidcState) map[string]*T
	decode  func(it *transfer.Item) error
	// record is the object's record data, for export.
	record func(s *Service, v *T) any
}

func (k namedKind[T]) Parallel() bool                       { return false }
func (k namedKind[T]) Decode(it *transfer.Item) error       { return k.decode(it) }
func (k namedKind[T]) LockKeys(*transfer.Item) []string     { return nil }
func (k namedKind[T]) Refs(*transfer.Batch, *transfer.Item) {}

func (k namedKind[T]) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	checkNamed(b, it, k.objects(k.s.state)[it.Rec.ID], k.what)
	return nil
}

func (k namedKind[T]) Write(ctx context.Context, _ *transfer.Batch, it *transfer.Item) error {
	return k.s.storage.PutJSON(ctx, k.prefix+it.Rec.ID, it.Obj)
}

func (k namedKind[T]) Publish(_ *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		k.objects(k.s.state)[it.Rec.ID] = it.Obj.(*T)
	}
}

func (k namedKind[T]) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	return pageOfNames(k.s, k.kind, func() map[string]*T { return k.objects(k.s.state) }, after, limit, func(_ string, v *T) any { return k.record(k.s, v) })
}

// checkNamed decides a named object: created, or compared with cur.
func checkNamed[T any](b *transfer.Batch, it *transfer.Item, cur *T, what string) {
	if cur == nil {
		it.Action = transfer.ActionCreated
		return
	}
	it.Cur = cur
	same, diff := transfer.SameJSON(cur, it.Obj)
	b.Settle(it, same, what+" "+it.Rec.ID, diff)
}

// --- assignments ---

// decodeAssignment: an assignment's entity and group ids are not checked, as the
// engine checks them nowhere ("*" stands for all); allow_all is built in.
func decodeAssignment(it *transfer.Item) error {
	var d dump.OIDCAssignment
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckName("assignment name", d.Name); err != nil {
		return err
	}
	a := &Assignment{Name: d.Name, EntityIDs: dedupeLower(d.EntityIDs), GroupIDs: dedupeLower(d.GroupIDs)}
	if a.Name == AllowAllAssignment && (!slices.Equal(a.EntityIDs, []string{"*"}) || !slices.Equal(a.GroupIDs, []string{"*"})) {
		return fmt.Errorf("modification of assignment %q not allowed", AllowAllAssignment)
	}
	it.Obj = a
	return nil
}

// --- clients ---

type oidcClientTransfer struct {
	transfer.NoPrepare
	s *Service
}

func (kt oidcClientTransfer) Parallel() bool { return false }

// anyKey verifies for ever: with it, setAccessTokenFormat checks a format
// alone, before the client's key is known.
var anyKey = &oidcKey{NamedKey: NamedKey{VerificationTTL: math.MaxInt64}}

func (c *Client) clone() *Client {
	cp := *c
	return &cp
}

func (kt oidcClientTransfer) Decode(it *transfer.Item) error {
	var d dump.OIDCClient
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckNames("client name", d.Name, "client_id", d.ClientID); err != nil {
		return err
	}
	switch d.ClientType {
	case ClientConfidential:
		if d.ClientSecret == "" {
			return errors.New("a confidential client needs its client_secret")
		}
	case ClientPublic:
		if d.ClientSecret != "" {
			return errors.New("a public client has no client_secret")
		}
	default:
		return fmt.Errorf("invalid client_type %q", d.ClientType)
	}
	if d.Key == "" {
		return errors.New("a client needs a key")
	}
	if d.IDTokenTTL < 0 || d.AccessTokenTTL < 0 || d.RefreshTokenTTL < 0 {
		return errors.New("id_token_ttl, access_token_ttl and refresh_token_ttl must not be negative")
	}
	c := &Client{
		Name: d.Name, RedirectURIs: keepNilDedupe(d.RedirectURIs), Assignments: keepNilDedupe(d.Assignments), Key: d.Key,
		IDTokenTTL: fromSeconds(d.IDTokenTTL), AccessTokenTTL: fromSeconds(d.AccessTokenTTL), RefreshTokenTTL: fromSeconds(d.RefreshTokenTTL),
		ClientCredentialsEntityID: d.ClientCredentialsEntityID, ClientType: d.ClientType, ClientID: d.ClientID,
		ClientSecret: d.ClientSecret, DeviceGrant: d.DeviceGrant,
	}
	if c.ClientCredentialsEntityID != "" && c.ClientType != ClientConfidential {
		return errors.New("client_credentials_entity_id is only allowed for confidential clients")
	}
	if len(d.GroupFilter) > 0 {
		if err := validateGroupFilter(d.GroupFilter); err != nil {
			return err
		}
		c.GroupFilter = dedupe(d.GroupFilter)
	}
	if err := setAccessTokenFormat(c, core.Some(d.AccessTokenFormat), anyKey); err != nil {
		return err
	}
	if err := setClientJWKS(c, core.Some(d.JWKS)); err != nil {
		return err
	}
	if err := setLogoutURIs(c, ClientUpdate{PostLogoutRedirectURIs: core.Some(d.PostLogoutRedirectURIs), BackchannelLogoutURI: core.Some(d.BackchannelLogoutURI)}); err != nil {
		return err
	}
	it.Obj = c
	return nil
}

func (kt oidcClientTransfer) LockKeys(*transfer.Item) []string { return nil }

func (kt oidcClientTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	c := it.Obj.(*Client)
	if !b.ClaimOrDuplicate(it, "client-id", c.ClientID, fmt.Sprintf("client_id %q", c.ClientID)) {
		return nil
	}
	if holder := kt.s.state.clientIDs[c.ClientID]; holder != nil && holder.Name != c.Name {
		b.Taken(it, "client_id %q is already used by client %q", c.ClientID, holder.Name)
		return nil
	}
	checkNamed(b, it, kt.s.state.clients[c.Name], "OIDC client")
	return nil
}

func (kt oidcClientTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	c := it.Obj.(*Client)
	if key := kt.s.effectiveKey(b, c.Key); key == nil {
		it.Missing(dump.KindOIDCKey, c.Key, "key %q does not exist", c.Key)
	} else {
		if c.IDTokenTTL > key.VerificationTTL {
			it.Problem(transfer.ProblemInvalid, "a client's id_token_ttl cannot be greater than the verification_ttl of the key it references")
		}
		if err := setAccessTokenFormat(c.clone(), core.Opt[string]{}, key); err != nil {
			it.Problem(transfer.ProblemInvalid, "%v", err)
		}
	}
	for _, a := range c.Assignments {
		if !b.Will(dump.KindOIDCAssignment, a) && kt.s.state.assignments[a] == nil {
			it.Missing(dump.KindOIDCAssignment, a, "assignment %q does not exist", a)
		}
	}
	if id := c.ClientCredentialsEntityID; id != "" {
		if !b.Will(dump.KindEntity, id) && kt.s.identity.EntityRecord(id) == nil {
			it.Missing(dump.KindEntity, id, "client_credentials_entity_id %q names no entity", id)
		}
	}
}

// materializeFor gives a key its first keys when a client or role is the
// first to use it, as their writes do.
func (s *Service) materializeFor(ctx context.Context, name string) error {
	if k := s.state.keys[name]; k != nil && k.SigningKeyID == "" {
		return s.materialize(ctx, k)
	}
	return nil
}

func (kt oidcClientTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	c := it.Obj.(*Client)
	if err := kt.s.materializeFor(ctx, c.Key); err != nil {
		return err
	}
	if err := kt.s.storage.PutJSON(ctx, oidcClientPrefix+c.Name, c); err != nil {
		return err
	}
	kt.s.state.putClient(c)
	return nil
}

func (kt oidcClientTransfer) Publish(*transfer.Batch, []*transfer.Item) {}

// export leaves out a client_credentials_entity_id whose entity was
// deleted (the engine keeps it; it binds to nothing).
func (kt oidcClientTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := kt.s
	return pageOfNames(s, dump.KindOIDCClient, func() map[string]*Client { return s.state.clients }, after, limit, func(_ string, c *Client) any {
		entity := c.ClientCredentialsEntityID
		if entity != "" && s.identity.EntityRecord(entity) == nil {
			entity = ""
		}
		return dump.OIDCClient{
			Name: c.Name, ClientID: c.ClientID, ClientSecret: c.ClientSecret, ClientType: c.ClientType,
			RedirectURIs: c.RedirectURIs, Assignments: c.Assignments, Key: c.Key,
			IDTokenTTL: seconds(c.IDTokenTTL), AccessTokenTTL: seconds(c.AccessTokenTTL), RefreshTokenTTL: seconds(c.RefreshTokenTTL),
			ClientCredentialsEntityID: entity, GroupFilter: c.GroupFilter, AccessTokenFormat: c.AccessTokenFormat,
			JWKS: c.JWKS, DeviceGrant: c.DeviceGrant, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			BackchannelLogoutURI: c.BackchannelLogoutURI,
		}
	})
}

// --- providers ---

// oidcProviderTransfer checks that the scopes and clients a provider names
// exist once the batch is written.
type oidcProviderTransfer struct{ namedKind[Provider] }

func decodeProvider(it *transfer.Item) error {
	var d dump.OIDCProvider
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckName("provider name", d.Name); err != nil {
		return err
	}
	if d.Issuer != "" && !validIssuer(d.Issuer) {
		return errors.New("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
	}
	p := &Provider{
		Name: d.Name, Issuer: d.Issuer, AllowedClientIDs: keepNilDedupe(d.AllowedClientIDs),
		ScopesSupported: keepNilDedupe(d.ScopesSupported), SignInMethods: slices.Clone(DefaultSignInMethods),
	}
	if d.SignInMethods != nil {
		p.SignInMethods = []string{}
		for _, m := range d.SignInMethods {
			m = strings.Trim(m, "/")
			if !signInMount.MatchString(m) || strings.Contains(m, "..") {
				return fmt.Errorf("invalid sign-in method %q: give %q or the path of a username and password auth method such as userpass or ldap", m, TokenSignIn)
			}
			if !slices.Contains(p.SignInMethods, m) {
				p.SignInMethods = append(p.SignInMethods, m)
			}
		}
	}
	it.Obj = p
	return nil
}

// clientIDLands reports whether a client with this client_id exists once
// the batch is written.
func (s *Service) clientIDLands(b *transfer.Batch, id string) bool {
	if it := b.Claimed("client-id", id); it != nil && it.Action != transfer.ActionSkipped {
		return true
	}
	return s.state.clientIDs[id] != nil
}

func (kt oidcProviderTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	p := it.Obj.(*Provider)
	for _, sc := range p.ScopesSupported {
		if !b.Will(dump.KindOIDCScope, sc) && kt.s.state.scopes[sc] == nil {
			it.Missing(dump.KindOIDCScope, sc, "scope %q does not exist", sc)
		}
	}
	for _, id := range p.AllowedClientIDs {
		if id != "*" && !kt.s.clientIDLands(b, id) {
			it.Missing(dump.KindOIDCClient, id, "allowed_client_ids: %q is the client_id of no client", id)
		}
	}
}

// providerRecord leaves out allowed client ids of clients deleted since (the
// engine keeps them; they allow nothing).
func providerRecord(s *Service, p *Provider) any {
	allowed := p.AllowedClientIDs
	if allowed != nil {
		allowed = slices.DeleteFunc(slices.Clone(allowed), func(id string) bool { return id != "*" && s.state.clientIDs[id] == nil })
	}
	return dump.OIDCProvider{Name: p.Name, Issuer: p.Issuer, AllowedClientIDs: allowed, ScopesSupported: p.ScopesSupported, SignInMethods: p.SignInMethods}
}

// --- roles ---

// oidcRoleTransfer checks the role's key and gives the key its first keys
// when the role is the first to use it.
type oidcRoleTransfer struct{ namedKind[Role] }

func decodeRole(it *transfer.Item) error {
	var d dump.OIDCRole
	if err := transfer.Decode(it, &d, func() string { return d.Name }); err != nil {
		return err
	}
	if err := transfer.CheckName("role name", d.Name); err != nil {
		return err
	}
	if d.Key == "" {
		return errors.New("the key parameter is required")
	}
	if d.ClientID == "" {
		return errors.New("a role needs its client_id")
	}
	if d.TTL < 0 {
		return errors.New("ttl must not be negative")
	}
	if err := validateTemplate(d.Template); err != nil {
		return err
	}
	r := &Role{Name: d.Name, Key: d.Key, Template: d.Template, TTL: fromSeconds(d.TTL), ClientID: d.ClientID}
	if len(d.Audiences) > 0 {
		auds, err := validateAudiences(d.Audiences)
		if err != nil {
			return err
		}
		r.Audiences = auds
	}
	it.Obj = r
	return nil
}

func (kt oidcRoleTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	r := it.Obj.(*Role)
	switch key := kt.s.effectiveKey(b, r.Key); {
	case key == nil:
		it.Missing(dump.KindOIDCKey, r.Key, "cannot find key %q", r.Key)
	case r.TTL > key.VerificationTTL:
		it.Problem(transfer.ProblemInvalid, "a role's token ttl cannot be longer than the verification_ttl of the key it references")
	}
}

func (kt oidcRoleTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	r := it.Obj.(*Role)
	if err := kt.s.materializeFor(ctx, r.Key); err != nil {
		return err
	}
	if err := kt.namedKind.Write(ctx, b, it); err != nil {
		return err
	}
	kt.s.state.nextRun = 0
	return nil
}

// --- grants of refresh token families ---

type oidcGrantTransfer struct {
	transfer.NoPrepare
	s *Service
}

// grantImport is an oidc-grant record's object.
type grantImport struct {
	storageKey string
	g          *grant
}

func (kt oidcGrantTransfer) Parallel() bool { return true }

func (kt oidcGrantTransfer) Decode(it *transfer.Item) error {
	var d dump.OIDCGrant
	if err := transfer.Decode(it, &d, func() string { return d.Kind + "/" + d.Key }); err != nil {
		return err
	}
	switch d.Kind {
	case dump.GrantAccess, dump.GrantRefresh:
		if b, err := hex.DecodeString(d.Key); err != nil || len(b) != 32 || strings.ToLower(d.Key) != d.Key {
			return fmt.Errorf("the key of a %s grant is a SHA-256 in lower-case hex", d.Kind)
		}
	case dump.GrantSpan, dump.GrantFamily:
		if err := transfer.CheckName("family id", d.Key); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown grant kind %q", d.Kind)
	}
	g := new(grant)
	if err := transfer.DecodeStrict(d.Record, g); err != nil {
		return fmt.Errorf("record: %v", err)
	}
	if g.ExpireAt.IsZero() {
		return errors.New("record: a grant needs its expire_at")
	}
	it.Obj = &grantImport{storageKey: grantPrefix + d.Kind + "/" + d.Key, g: g}
	return nil
}

// lockKeys: a grant's lock key is its storage key, as the token endpoint
// locks it.
func (kt oidcGrantTransfer) LockKeys(it *transfer.Item) []string {
	return []string{it.Obj.(*grantImport).storageKey}
}

func (kt oidcGrantTransfer) Check(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	o := it.Obj.(*grantImport)
	cur := new(grant)
	found, err := kt.s.storage.GetJSON(ctx, o.storageKey, cur)
	if err != nil {
		return err
	}
	if !found {
		it.Action = transfer.ActionCreated
		return nil
	}
	it.Cur = cur
	same, diff := transfer.SameJSON(cur, o.g)
	b.Settle(it, same, "OIDC grant "+it.Rec.ID, diff)
	return nil
}

func (kt oidcGrantTransfer) Refs(*transfer.Batch, *transfer.Item) {}

func (kt oidcGrantTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	o := it.Obj.(*grantImport)
	return kt.s.storage.PutJSON(ctx, o.storageKey, o.g)
}

// publish: revoked families are also known in memory.
func (kt oidcGrantTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		o := it.Obj.(*grantImport)
		if family, ok := strings.CutPrefix(o.storageKey, familyPrefix); ok {
			kt.s.state.revoked[family] = o.g.ExpireAt
		}
	}
}

// export lists the live grants of refresh token families.
func (kt oidcGrantTransfer) Export(ctx context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := kt.s
	var keys []string
	for _, kind := range dump.GrantKinds {
		list, err := s.storage.List(ctx, grantPrefix+kind+"/")
		if err != nil {
			return nil, nil, fmt.Errorf("failed to list %q: %w", grantPrefix+kind+"/", err)
		}
		for _, k := range list {
			if !strings.HasSuffix(k, "/") {
				keys = append(keys, kind+"/"+k)
			}
		}
	}
	slices.Sort(keys)
	now := s.now()
	var out []dump.Record
	var used []string
	for _, k := range transfer.PageAfter(keys, after, len(keys)) {
		if len(out) == limit {
			break
		}
		g := new(grant)
		found, err := s.storage.GetJSON(ctx, grantPrefix+k, g)
		if err != nil {
			return nil, nil, err
		}
		if !found || !now.Before(g.ExpireAt) {
			continue
		}
		raw, err := json.Marshal(g)
		if err != nil {
			return nil, nil, err
		}
		kind, key, _ := strings.Cut(k, "/")
		rec, err := dump.NewRecord(dump.KindOIDCGrant, k, dump.OIDCGrant{Kind: kind, Key: key, Record: raw})
		if err != nil {
			return nil, nil, err
		}
		out, used = append(out, rec), append(used, k)
	}
	return out, used, nil
}

// TransferKinds are OIDC's record kinds for import and export.
func (s *Service) TransferKinds() map[string]transfer.Kind {
	return map[string]transfer.Kind{
		dump.KindOIDCConfig: oidcConfigTransfer{s: s},
		dump.KindOIDCKey:    oidcKeyTransfer{s: s},
		dump.KindOIDCScope: namedKind[Scope]{
			s: s, kind: dump.KindOIDCScope, what: "OIDC scope", prefix: oidcScopePrefix, decode: decodeScope,
			objects: func(st *oidcState) map[string]*Scope { return st.scopes },
			record: func(_ *Service, sc *Scope) any {
				return dump.OIDCScope{Name: sc.Name, Template: sc.Template, Description: sc.Description}
			},
		},
		dump.KindOIDCAssignment: namedKind[Assignment]{
			s: s, kind: dump.KindOIDCAssignment, what: "OIDC assignment", prefix: oidcAssignmentPrefix, decode: decodeAssignment,
			objects: func(st *oidcState) map[string]*Assignment { return st.assignments },
			record: func(_ *Service, a *Assignment) any {
				return dump.OIDCAssignment{Name: a.Name, EntityIDs: a.EntityIDs, GroupIDs: a.GroupIDs}
			},
		},
		dump.KindOIDCClient: oidcClientTransfer{s: s},
		dump.KindOIDCProvider: oidcProviderTransfer{namedKind[Provider]{
			s: s, kind: dump.KindOIDCProvider, what: "OIDC provider", prefix: oidcProviderPrefix, decode: decodeProvider,
			objects: func(st *oidcState) map[string]*Provider { return st.providers }, record: providerRecord,
		}},
		dump.KindOIDCRole: oidcRoleTransfer{namedKind[Role]{
			s: s, kind: dump.KindOIDCRole, what: "OIDC role", prefix: oidcRolePrefix, decode: decodeRole,
			objects: func(st *oidcState) map[string]*Role { return st.roles },
			record: func(_ *Service, r *Role) any {
				return dump.OIDCRole{Name: r.Name, Key: r.Key, Template: r.Template, TTL: seconds(r.TTL), ClientID: r.ClientID, Audiences: r.Audiences}
			},
		}},
		dump.KindOIDCGrant: oidcGrantTransfer{s: s},
	}
}

// HoldForImport runs f holding the configuration lock for writing, as an
// import batch with records of this part does, inside its stripes.
func (s *Service) HoldForImport(f func() error) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return f()
}
