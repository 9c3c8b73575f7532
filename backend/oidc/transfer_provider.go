package oidc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of the provider's objects (scopes, assignments,
// clients with their ids and secrets, providers) and of roles.

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
