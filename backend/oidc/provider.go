package oidc

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/strutil"
	"github.com/hashicorp/vault/sdk/helper/base62"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Storage of the OIDC provider's configuration. Clients hold their secret,
// so their prefix is seal-wrapped.
const (
	oidcAssignmentPrefix = "oidc/assignment/"
	oidcScopePrefix      = "oidc/scope/"
	oidcClientPrefix     = "oidc/client/"
	oidcProviderPrefix   = "oidc/provider/"

	// ClientSealWrapPrefix is the storage prefix holding provider clients
	// and their secrets.
	ClientSealWrapPrefix = oidcClientPrefix
)

// Built-in provider objects, made at load when missing.
const (
	AllowAllAssignment  = "allow_all"
	DefaultProviderName = "default"
	OpenIDScope         = "openid"
	// TokenSignIn in a provider's sign_in_methods lets a person paste a
	// Vault token on the sign-in page.
	TokenSignIn = "token"
)

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
)

// DefaultSignInMethods are a new provider's sign-in choices: the userpass
// method at its default path, and a pasted Vault token.
var DefaultSignInMethods = []string{"userpass", TokenSignIn}

// Assignment says which entities and groups may use the clients that list
// it. Stored under oidc/assignment/<name>.
type Assignment struct {
	Name      string   `json:"name"`
	EntityIDs []string `json:"entity_ids"`
	GroupIDs  []string `json:"group_ids"`
}

// Scope is a template of claims a relying party may request by name. Stored
// under oidc/scope/<name>.
type Scope struct {
	Name        string `json:"name"`
	Template    string `json:"template"`
	Description string `json:"description"`
}

// Client is a relying party of the provider. Stored under
// oidc/client/<name>. RefreshTokenTTL and ClientCredentialsEntityID are not
// in Vault: a zero RefreshTokenTTL issues no refresh tokens, and the
// client_credentials grant needs an entity to speak for the client.
type Client struct {
	Name                      string        `json:"name"`
	RedirectURIs              []string      `json:"redirect_uris"`
	Assignments               []string      `json:"assignments"`
	Key                       string        `json:"key"`
	IDTokenTTL                time.Duration `json:"id_token_ttl"`
	AccessTokenTTL            time.Duration `json:"access_token_ttl"`
	RefreshTokenTTL           time.Duration `json:"refresh_token_ttl"`
	ClientCredentialsEntityID string        `json:"client_credentials_entity_id"`
	ClientType                string        `json:"client_type"`
	ClientID                  string        `json:"client_id"`
	ClientSecret              string        `json:"client_secret"`
	// GroupFilter, not in Vault, limits the groups the client's scope
	// templates see (see filterGroups); empty, they see all.
	GroupFilter []string `json:"group_filter,omitempty"`
	// AccessTokenFormat, not in Vault, is "" for opaque hvo_at_ access
	// tokens, or AccessTokenJWT for RFC 9068 JWTs signed with the client's
	// key.
	AccessTokenFormat string `json:"access_token_format,omitempty"`
	// JWKS, not in Vault, is the public JSON Web Key Set a confidential
	// client registered for private_key_jwt authentication; "" for none.
	JWKS string `json:"jwks,omitempty"`
	// DeviceGrant, not in Vault, lets the client use the RFC 8628 device
	// authorization grant (see oidc_device.go); off by default.
	DeviceGrant bool `json:"device_grant,omitempty"`
	// PostLogoutRedirectURIs and BackchannelLogoutURI, not in Vault, opt
	// the client in to logout (oidc_logout.go): where the provider's
	// end_session_endpoint may send the browser back, and where it posts
	// logout tokens when a sign-in ends.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
}

// Provider is an OIDC provider of this mount. Stored under
// oidc/provider/<name>. SignInMethods is not in Vault: it lists what the
// sign-in page offers.
type Provider struct {
	Name             string   `json:"name"`
	Issuer           string   `json:"issuer"`
	AllowedClientIDs []string `json:"allowed_client_ids"`
	ScopesSupported  []string `json:"scopes_supported"`
	SignInMethods    []string `json:"sign_in_methods"`
}

// allows reports whether the provider serves the client id.
func (p *Provider) allows(clientID string) bool { return allowsClient(p.AllowedClientIDs, clientID) }

// supported returns the scopes the provider supports, in order; never nil,
// so a grant stores []. openid is never among them (no scope may be named
// so), and callers that need it add it.
func (p *Provider) supported(scopes []string) []string {
	out := []string{}
	for _, sc := range scopes {
		if slices.Contains(p.ScopesSupported, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// AssignmentUpdate is a write to an assignment; fields not Set keep their
// value (empty on create).
type AssignmentUpdate struct {
	EntityIDs core.Opt[[]string]
	GroupIDs  core.Opt[[]string]
}

// ScopeUpdate is a write to a scope.
type ScopeUpdate struct {
	Template    core.Opt[string]
	Description core.Opt[string]
}

// ClientUpdate is a write to a client. On create, fields not Set take
// Vault's defaults (key "default", 24h TTLs, confidential).
type ClientUpdate struct {
	RedirectURIs              core.Opt[[]string]
	Assignments               core.Opt[[]string]
	Key                       core.Opt[string]
	IDTokenTTL                core.Opt[time.Duration]
	AccessTokenTTL            core.Opt[time.Duration]
	RefreshTokenTTL           core.Opt[time.Duration]
	ClientCredentialsEntityID core.Opt[string]
	ClientType                core.Opt[string]
	GroupFilter               core.Opt[[]string]
	AccessTokenFormat         core.Opt[string]
	JWKS                      core.Opt[string]
	DeviceGrant               core.Opt[bool]
	PostLogoutRedirectURIs    core.Opt[[]string]
	BackchannelLogoutURI      core.Opt[string]
}

// ProviderUpdate is a write to a provider.
type ProviderUpdate struct {
	Issuer           core.Opt[string]
	AllowedClientIDs core.Opt[[]string]
	ScopesSupported  core.Opt[[]string]
	SignInMethods    core.Opt[[]string]
}

// ProviderObject names one of the provider's object kinds, for the calls
// they share (existence, names, delete).
type ProviderObject int

// The provider's object kinds.
const (
	AssignmentObject ProviderObject = iota
	ScopeObject
	ClientObject
	ProviderObj
)

func (st *oidcState) has(kind ProviderObject, name string) bool {
	switch kind {
	case AssignmentObject:
		return st.assignments[name] != nil
	case ScopeObject:
		return st.scopes[name] != nil
	case ClientObject:
		return st.clients[name] != nil
	default:
		return st.providers[name] != nil
	}
}

func (st *oidcState) names(kind ProviderObject) []string {
	switch kind {
	case AssignmentObject:
		return core.SortedKeys(st.assignments)
	case ScopeObject:
		return core.SortedKeys(st.scopes)
	case ClientObject:
		return core.SortedKeys(st.clients)
	default:
		return core.SortedKeys(st.providers)
	}
}

// ProviderObjectExists reports whether the named object exists.
func (s *Service) ProviderObjectExists(ctx context.Context, kind ProviderObject, name string) (bool, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.has(kind, name), nil
}

// ProviderObjectNames lists the names of one kind, sorted.
func (s *Service) ProviderObjectNames(ctx context.Context, kind ProviderObject) ([]string, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.names(kind), nil
}

// dedupe sorts and removes duplicates, as Vault stores these lists.
func dedupe(list []string) []string {
	if list == nil {
		return []string{}
	}
	return strutil.RemoveDuplicates(list, false)
}

// dedupeLower is dedupe of lower-cased values, as Vault stores an
// assignment's entity and group ids.
func dedupeLower(list []string) []string {
	if list == nil {
		return []string{}
	}
	return strutil.RemoveDuplicates(list, true)
}

// firstMissing returns the first of names that m lacks.
func firstMissing[V any](names []string, m map[string]V) (string, bool) {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return n, true
		}
	}
	return "", false
}

// WriteAssignment creates or updates an assignment.
func (s *Service) WriteAssignment(ctx context.Context, name string, u AssignmentUpdate) error {
	if name == AllowAllAssignment {
		return core.UserErrorf("modification of assignment %q not allowed", AllowAllAssignment)
	}
	return s.writeOIDC(ctx, func(st *oidcState) (string, any, func(), error) {
		a := &Assignment{Name: name, EntityIDs: []string{}, GroupIDs: []string{}}
		if cur := st.assignments[name]; cur != nil {
			c := *cur
			a = &c
		}
		if u.EntityIDs.Set {
			a.EntityIDs = dedupeLower(u.EntityIDs.Val)
		}
		if u.GroupIDs.Set {
			a.GroupIDs = dedupeLower(u.GroupIDs.Val)
		}
		return oidcAssignmentPrefix + name, a, func() { st.assignments[name] = a }, nil
	})
}

// Assignment returns the assignment, or nil.
func (s *Service) Assignment(ctx context.Context, name string) (*Assignment, error) {
	return core.Copied(&s.state.mu, func() *Assignment { return s.state.assignments[name] }), nil
}

// WriteScope creates or updates a scope; its template is checked as a
// role's.
func (s *Service) WriteScope(ctx context.Context, name string, u ScopeUpdate) error {
	if name == OpenIDScope {
		return core.UserErrorf("the %q scope name is reserved", OpenIDScope)
	}
	return s.writeOIDC(ctx, func(st *oidcState) (string, any, func(), error) {
		sc := &Scope{Name: name}
		if cur := st.scopes[name]; cur != nil {
			c := *cur
			sc = &c
		}
		if u.Template.Set {
			sc.Template = decodeTemplate(u.Template.Val)
		}
		if u.Description.Set {
			sc.Description = u.Description.Val
		}
		if err := validateTemplate(sc.Template); err != nil {
			return "", nil, nil, err
		}
		return oidcScopePrefix + name, sc, func() { st.scopes[name] = sc }, nil
	})
}

// OIDCScope returns the scope, or nil.
func (s *Service) OIDCScope(ctx context.Context, name string) (*Scope, error) {
	return core.Copied(&s.state.mu, func() *Scope { return s.state.scopes[name] }), nil
}

// WriteClient creates or updates a client with Vault's rules: key and type
// are fixed at creation, assignments and the key must exist, and the ID
// token may not outlive the key's verification.
func (s *Service) WriteClient(ctx context.Context, name string, u ClientUpdate) error {
	return s.writeOIDC(ctx, func(st *oidcState) (string, any, func(), error) {
		cur := st.clients[name]
		c := &Client{
			Name: name, RedirectURIs: []string{}, Assignments: []string{}, Key: DefaultKeyName,
			IDTokenTTL: 24 * time.Hour, AccessTokenTTL: 24 * time.Hour, ClientType: ClientConfidential,
		}
		if cur != nil {
			cp := *cur
			c = &cp
		}
		if u.RedirectURIs.Set {
			c.RedirectURIs = dedupe(u.RedirectURIs.Val)
		}
		if u.Assignments.Set {
			c.Assignments = dedupe(u.Assignments.Val)
		}
		if a, ok := firstMissing(c.Assignments, st.assignments); ok {
			return "", nil, nil, core.UserErrorf("assignment %q does not exist", a)
		}
		if u.Key.Set {
			if cur != nil && u.Key.Val != cur.Key {
				return "", nil, nil, core.UserErrorf("key modification is not allowed")
			}
			if cur == nil {
				c.Key = u.Key.Val
			}
		}
		key := st.keys[c.Key]
		if key == nil {
			return "", nil, nil, core.UserErrorf("key %q does not exist", c.Key)
		}
		if u.IDTokenTTL.Set {
			c.IDTokenTTL = u.IDTokenTTL.Val
		}
		if u.AccessTokenTTL.Set {
			c.AccessTokenTTL = u.AccessTokenTTL.Val
		}
		if c.IDTokenTTL > key.VerificationTTL {
			return "", nil, nil, core.UserErrorf("a client's id_token_ttl cannot be greater than the verification_ttl of the key it references")
		}
		if u.RefreshTokenTTL.Set {
			if u.RefreshTokenTTL.Val < 0 {
				return "", nil, nil, core.UserErrorf("refresh_token_ttl must not be negative")
			}
			c.RefreshTokenTTL = u.RefreshTokenTTL.Val
		}
		if u.ClientType.Set {
			if cur != nil && u.ClientType.Val != cur.ClientType {
				return "", nil, nil, core.UserErrorf("client_type modification is not allowed")
			}
			c.ClientType = u.ClientType.Val
		}
		if c.ClientType != ClientConfidential && c.ClientType != ClientPublic {
			return "", nil, nil, core.UserErrorf("invalid client_type %q", c.ClientType)
		}
		if u.ClientCredentialsEntityID.Set {
			c.ClientCredentialsEntityID = u.ClientCredentialsEntityID.Val
		}
		if c.ClientCredentialsEntityID != "" && c.ClientType != ClientConfidential {
			return "", nil, nil, core.UserErrorf("client_credentials_entity_id is only allowed for confidential clients")
		}
		if u.GroupFilter.Set {
			if err := validateGroupFilter(u.GroupFilter.Val); err != nil {
				return "", nil, nil, err
			}
			c.GroupFilter = dedupe(u.GroupFilter.Val)
		}
		if err := setAccessTokenFormat(c, u.AccessTokenFormat, key); err != nil {
			return "", nil, nil, err
		}
		if err := setClientJWKS(c, u.JWKS); err != nil {
			return "", nil, nil, err
		}
		if err := setLogoutURIs(c, u); err != nil {
			return "", nil, nil, err
		}
		if u.DeviceGrant.Set {
			c.DeviceGrant = u.DeviceGrant.Val
		}
		if c.ClientID == "" {
			id, err := base62.Random(32)
			if err != nil {
				return "", nil, nil, err
			}
			c.ClientID = id
		}
		if c.ClientType == ClientConfidential && c.ClientSecret == "" {
			secret, err := base62.Random(64)
			if err != nil {
				return "", nil, nil, err
			}
			c.ClientSecret = "hvo_secret_" + secret
		}
		if key.SigningKeyID == "" {
			if err := s.materialize(ctx, key); err != nil {
				return "", nil, nil, err
			}
		}
		return oidcClientPrefix + name, c, func() { st.putClient(c) }, nil
	})
}

// materialize gives a key its first current and next keys, as its first
// role or client does. The caller holds s.state.mu.
func (s *Service) materialize(ctx context.Context, key *oidcKey) error {
	k := key.clone()
	if err := k.generateCurrentAndNext(); err != nil {
		return err
	}
	k.NextRotation = s.now().Add(k.RotationPeriod)
	return s.saveKey(ctx, k)
}

func (st *oidcState) putClient(c *Client) {
	if old := st.clients[c.Name]; old != nil {
		delete(st.clientIDs, old.ClientID)
	}
	st.clients[c.Name] = c
	st.clientIDs[c.ClientID] = c
}

func (st *oidcState) dropClient(name string) {
	if old := st.clients[name]; old != nil {
		delete(st.clientIDs, old.ClientID)
		delete(st.clients, name)
	}
}

// OIDCClient returns the client, or nil.
func (s *Service) OIDCClient(ctx context.Context, name string) (*Client, error) {
	return core.Copied(&s.state.mu, func() *Client { return s.state.clients[name] }), nil
}

// OIDCClients returns all clients, sorted by name.
func (s *Service) OIDCClients(ctx context.Context) ([]*Client, error) {
	return core.CopiesWhere(&s.state.mu, s.state.clients, nil), nil
}

var signInMount = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$`)

// WriteProvider creates or updates a provider. It returns warnings Vault
// gives: scope templates of the provider that set the same claim.
func (s *Service) WriteProvider(ctx context.Context, name string, u ProviderUpdate) ([]string, error) {
	var warnings []string
	err := s.writeOIDC(ctx, func(st *oidcState) (string, any, func(), error) {
		p := &Provider{Name: name, AllowedClientIDs: []string{}, ScopesSupported: []string{}, SignInMethods: DefaultSignInMethods}
		if cur := st.providers[name]; cur != nil {
			c := *cur
			p = &c
		}
		if u.Issuer.Set {
			p.Issuer = u.Issuer.Val
		}
		if p.Issuer != "" && !validIssuer(p.Issuer) {
			return "", nil, nil, core.UserErrorf("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
		}
		if u.AllowedClientIDs.Set {
			p.AllowedClientIDs = dedupe(u.AllowedClientIDs.Val)
		}
		if u.ScopesSupported.Set {
			p.ScopesSupported = dedupe(u.ScopesSupported.Val)
		}
		if sc, ok := firstMissing(p.ScopesSupported, st.scopes); ok {
			return "", nil, nil, core.UserErrorf("scope %q does not exist", sc)
		}
		if u.SignInMethods.Set {
			p.SignInMethods = []string{}
			for _, m := range u.SignInMethods.Val {
				m = strings.Trim(m, "/")
				if !signInMount.MatchString(m) || strings.Contains(m, "..") {
					return "", nil, nil, core.UserErrorf("invalid sign-in method %q: give %q or the path of a username and password auth method such as userpass or ldap", m, TokenSignIn)
				}
				if !slices.Contains(p.SignInMethods, m) {
					p.SignInMethods = append(p.SignInMethods, m)
				}
			}
		}
		if p.Issuer != "" {
			warnings = append(warnings, `If "issuer" is set explicitly, all tokens must be validated against that address, including those issued by secondary clusters. Setting issuer to "" will restore the default behavior of using the cluster's api_addr as the issuer.`)
		}
		// Vault warns of every claim two supported scopes set, naming the
		// later scope first.
		owner := map[string]string{}
		for _, sc := range p.ScopesSupported {
			for _, k := range core.SortedKeys(templateKeys(st.scopes[sc].Template)) {
				if prev, ok := owner[k]; ok && prev != sc {
					warnings = append(warnings, fmt.Sprintf("Found scope templates with conflicting top-level keys: conflict %q in scopes %q, %q. This may result in an error if the scopes are requested in an OIDC Authentication Request.", k, sc, prev))
				}
				owner[k] = sc
			}
		}
		return oidcProviderPrefix + name, p, func() { st.providers[name] = p }, nil
	})
	return warnings, err
}

// OIDCProvider returns the provider, or nil.
func (s *Service) OIDCProvider(ctx context.Context, name string) (*Provider, error) {
	return core.Copied(&s.state.mu, func() *Provider { return s.state.providers[name] }), nil
}

// OIDCProviders returns the providers that serve clientID ("" for all),
// sorted by name.
func (s *Service) OIDCProviders(ctx context.Context, clientID string) ([]*Provider, error) {
	return core.CopiesWhere(&s.state.mu, s.state.providers, func(p *Provider) bool { return clientID == "" || p.allows(clientID) }), nil
}

// DeleteProviderObject deletes an assignment, scope, client or provider
// with Vault's rules: built-in objects stay, and an assignment or scope in
// use stays. An unknown name is not an error.
func (s *Service) DeleteProviderObject(ctx context.Context, kind ProviderObject, name string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	st := s.state
	var prefix string
	switch kind {
	case AssignmentObject:
		if name == AllowAllAssignment {
			return core.UserErrorf("deletion of assignment %q not allowed", AllowAllAssignment)
		}
		if users := namesWhere(st.clients, func(c *Client) bool { return slices.Contains(c.Assignments, name) }); len(users) > 0 {
			return core.UserErrorf("unable to delete assignment %q because it is currently referenced by these clients: %s", name, strings.Join(users, ", "))
		}
		prefix = oidcAssignmentPrefix
	case ScopeObject:
		if users := namesWhere(st.providers, func(p *Provider) bool { return slices.Contains(p.ScopesSupported, name) }); len(users) > 0 {
			return core.UserErrorf("unable to delete scope %q because it is currently referenced by these providers: %s", name, strings.Join(users, ", "))
		}
		prefix = oidcScopePrefix
	case ClientObject:
		prefix = oidcClientPrefix
	default:
		if name == DefaultProviderName {
			return core.UserErrorf("deletion of OIDC provider %q not allowed", DefaultProviderName)
		}
		prefix = oidcProviderPrefix
	}
	if err := s.storage.Remove(ctx, prefix+name); err != nil {
		return err
	}
	st.drop(kind, name)
	return nil
}

func (st *oidcState) drop(kind ProviderObject, name string) {
	switch kind {
	case AssignmentObject:
		delete(st.assignments, name)
	case ScopeObject:
		delete(st.scopes, name)
	case ClientObject:
		st.dropClient(name)
	default:
		delete(st.providers, name)
	}
}

// namesWhere returns the sorted names of the objects of m that match picks.
func namesWhere[V any](m map[string]V, match func(V) bool) []string {
	var out []string
	for name, v := range m {
		if match(v) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// writeOIDC runs a write of one provider object under the OIDC lock: build
// validates and returns the storage key, the value to store and how to
// publish it in memory once stored.
func (s *Service) writeOIDC(ctx context.Context, build func(st *oidcState) (string, any, func(), error)) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	key, v, publish, err := build(s.state)
	if err != nil {
		return err
	}
	if err := s.storage.PutJSON(ctx, key, v); err != nil {
		return err
	}
	publish()
	return nil
}

// claimConflict is two scopes whose templates set the same claim.
type claimConflict struct{ claim, first, second string }

// scopeClaims renders the templates of the named scopes and merges their
// claims, reporting the first claim two scopes both set, in scope order.
func (st *oidcState) scopeClaims(scopes []string, render func(tpl string) map[string]any) (map[string]any, *claimConflict) {
	out := map[string]any{}
	from := map[string]string{}
	for _, name := range scopes {
		sc := st.scopes[name]
		if sc == nil || sc.Template == "" {
			continue
		}
		claims := render(sc.Template)
		for _, k := range core.SortedKeys(claims) {
			if prev, ok := from[k]; ok {
				return nil, &claimConflict{claim: k, first: prev, second: name}
			}
			from[k] = name
			out[k] = claims[k]
		}
	}
	return out, nil
}

// loadProvider reads the provider objects into st and makes the built-in
// ones that are missing.
func (s *Service) loadProvider(ctx context.Context, st *oidcState) error {
	if err := core.LoadPrefix(ctx, s.storage, oidcAssignmentPrefix, func(name string, a *Assignment) { st.assignments[name] = a }); err != nil {
		return err
	}
	if err := core.LoadPrefix(ctx, s.storage, oidcScopePrefix, func(name string, sc *Scope) { st.scopes[name] = sc }); err != nil {
		return err
	}
	if err := core.LoadPrefix(ctx, s.storage, oidcClientPrefix, func(_ string, c *Client) { st.putClient(c) }); err != nil {
		return err
	}
	if err := core.LoadPrefix(ctx, s.storage, oidcProviderPrefix, func(name string, p *Provider) { st.providers[name] = p }); err != nil {
		return err
	}
	if err := core.LoadPrefix(ctx, s.storage, familyPrefix, func(id string, g *grant) { st.revoked[id] = g.ExpireAt }); err != nil {
		return err
	}
	if st.assignments[AllowAllAssignment] == nil {
		a := &Assignment{Name: AllowAllAssignment, EntityIDs: []string{"*"}, GroupIDs: []string{"*"}}
		if err := s.putDefault(ctx, oidcAssignmentPrefix+AllowAllAssignment, a); err != nil {
			return err
		}
		st.assignments[AllowAllAssignment] = a
	}
	if st.providers[DefaultProviderName] == nil {
		p := &Provider{Name: DefaultProviderName, AllowedClientIDs: []string{"*"}, ScopesSupported: []string{}, SignInMethods: DefaultSignInMethods}
		if err := s.putDefault(ctx, oidcProviderPrefix+DefaultProviderName, p); err != nil {
			return err
		}
		st.providers[DefaultProviderName] = p
	}
	return nil
}

// invalidateProvider reloads the provider object behind a storage key and
// reports whether the key was one. The caller holds s.state.mu.
func (s *Service) invalidateProvider(ctx context.Context, key string) (bool, error) {
	kinds := []struct {
		prefix string
		kind   ProviderObject
		load   func(name string) (bool, error)
	}{
		{oidcAssignmentPrefix, AssignmentObject, func(name string) (bool, error) {
			return core.LoadOne(ctx, s.storage, key, func(a *Assignment) { s.state.assignments[name] = a })
		}},
		{oidcScopePrefix, ScopeObject, func(name string) (bool, error) {
			return core.LoadOne(ctx, s.storage, key, func(sc *Scope) { s.state.scopes[name] = sc })
		}},
		{oidcClientPrefix, ClientObject, func(string) (bool, error) {
			return core.LoadOne(ctx, s.storage, key, func(c *Client) { s.state.putClient(c) })
		}},
		{oidcProviderPrefix, ProviderObj, func(name string) (bool, error) {
			return core.LoadOne(ctx, s.storage, key, func(p *Provider) { s.state.providers[name] = p })
		}},
	}
	for _, k := range kinds {
		name, ok := strings.CutPrefix(key, k.prefix)
		if !ok {
			continue
		}
		found, err := k.load(name)
		if err != nil {
			return true, err
		}
		if !found {
			s.state.drop(k.kind, name)
		}
		return true, nil
	}
	return false, nil
}

// loadOne reads key and hands the value to set when it exists.
func loadOne[T any](ctx context.Context, s *Service, key string, set func(*T)) (bool, error) {
	v := new(T)
	found, err := s.storage.GetJSON(ctx, key, v)
	if found {
		set(v)
	}
	return found, err
}

// ProviderFeatures are the opt-in features some client a provider allows
// has turned on: discovery lists each only then, and the paths that serve
// one answer as if absent before.
type ProviderFeatures struct {
	// PrivateKeyJWT: a client registered a jwks.
	PrivateKeyJWT bool
	// DeviceGrant: a client has device_grant set.
	DeviceGrant bool
	// EndSession: a client registered post_logout_redirect_uris.
	EndSession bool
	// Backchannel: a client registered a backchannel_logout_uri.
	Backchannel bool
}

// Logout reports whether the provider serves its logout page.
func (f ProviderFeatures) Logout() bool { return f.EndSession || f.Backchannel }

// ProviderFeatures reports the opt-in features of the provider's clients;
// none for an unknown provider.
func (s *Service) ProviderFeatures(ctx context.Context, providerName string) (ProviderFeatures, error) {
	var f ProviderFeatures
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	p := s.state.providers[providerName]
	if p == nil {
		return f, nil
	}
	for _, c := range s.state.clients {
		if !p.allows(c.ClientID) {
			continue
		}
		f.PrivateKeyJWT = f.PrivateKeyJWT || c.JWKS != ""
		f.DeviceGrant = f.DeviceGrant || c.DeviceGrant
		f.EndSession = f.EndSession || len(c.PostLogoutRedirectURIs) > 0
		f.Backchannel = f.Backchannel || c.BackchannelLogoutURI != ""
	}
	return f, nil
}
