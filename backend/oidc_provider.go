package backend

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
	EntityIDs Opt[[]string]
	GroupIDs  Opt[[]string]
}

// ScopeUpdate is a write to a scope.
type ScopeUpdate struct {
	Template    Opt[string]
	Description Opt[string]
}

// ClientUpdate is a write to a client. On create, fields not Set take
// Vault's defaults (key "default", 24h TTLs, confidential).
type ClientUpdate struct {
	RedirectURIs              Opt[[]string]
	Assignments               Opt[[]string]
	Key                       Opt[string]
	IDTokenTTL                Opt[time.Duration]
	AccessTokenTTL            Opt[time.Duration]
	RefreshTokenTTL           Opt[time.Duration]
	ClientCredentialsEntityID Opt[string]
	ClientType                Opt[string]
	GroupFilter               Opt[[]string]
	AccessTokenFormat         Opt[string]
	JWKS                      Opt[string]
	DeviceGrant               Opt[bool]
	PostLogoutRedirectURIs    Opt[[]string]
	BackchannelLogoutURI      Opt[string]
}

// ProviderUpdate is a write to a provider.
type ProviderUpdate struct {
	Issuer           Opt[string]
	AllowedClientIDs Opt[[]string]
	ScopesSupported  Opt[[]string]
	SignInMethods    Opt[[]string]
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
		return sortedKeys(st.assignments)
	case ScopeObject:
		return sortedKeys(st.scopes)
	case ClientObject:
		return sortedKeys(st.clients)
	default:
		return sortedKeys(st.providers)
	}
}

// ProviderObjectExists reports whether the named object exists.
func (s *Store) ProviderObjectExists(ctx context.Context, kind ProviderObject, name string) (bool, error) {
	if err := s.ready(ctx); err != nil {
		return false, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	return s.oidc.has(kind, name), nil
}

// ProviderObjectNames lists the names of one kind, sorted.
func (s *Store) ProviderObjectNames(ctx context.Context, kind ProviderObject) ([]string, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	return s.oidc.names(kind), nil
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
func (s *Store) WriteAssignment(ctx context.Context, name string, u AssignmentUpdate) error {
	if name == AllowAllAssignment {
		return userErrorf("modification of assignment %q not allowed", AllowAllAssignment)
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
func (s *Store) Assignment(ctx context.Context, name string) (*Assignment, error) {
	return readOIDC(ctx, s, func(st *oidcState) *Assignment { return st.assignments[name] })
}

// WriteScope creates or updates a scope; its template is checked as a
// role's.
func (s *Store) WriteScope(ctx context.Context, name string, u ScopeUpdate) error {
	if name == OpenIDScope {
		return userErrorf("the %q scope name is reserved", OpenIDScope)
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
func (s *Store) OIDCScope(ctx context.Context, name string) (*Scope, error) {
	return readOIDC(ctx, s, func(st *oidcState) *Scope { return st.scopes[name] })
}

// WriteClient creates or updates a client with Vault's rules: key and type
// are fixed at creation, assignments and the key must exist, and the ID
// token may not outlive the key's verification.
func (s *Store) WriteClient(ctx context.Context, name string, u ClientUpdate) error {
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
			return "", nil, nil, userErrorf("assignment %q does not exist", a)
		}
		if u.Key.Set {
			if cur != nil && u.Key.Val != cur.Key {
				return "", nil, nil, userErrorf("key modification is not allowed")
			}
			if cur == nil {
				c.Key = u.Key.Val
			}
		}
		key := st.keys[c.Key]
		if key == nil {
			return "", nil, nil, userErrorf("key %q does not exist", c.Key)
		}
		if u.IDTokenTTL.Set {
			c.IDTokenTTL = u.IDTokenTTL.Val
		}
		if u.AccessTokenTTL.Set {
			c.AccessTokenTTL = u.AccessTokenTTL.Val
		}
		if c.IDTokenTTL > key.VerificationTTL {
			return "", nil, nil, userErrorf("a client's id_token_ttl cannot be greater than the verification_ttl of the key it references")
		}
		if u.RefreshTokenTTL.Set {
			if u.RefreshTokenTTL.Val < 0 {
				return "", nil, nil, userErrorf("refresh_token_ttl must not be negative")
			}
			c.RefreshTokenTTL = u.RefreshTokenTTL.Val
		}
		if u.ClientType.Set {
			if cur != nil && u.ClientType.Val != cur.ClientType {
				return "", nil, nil, userErrorf("client_type modification is not allowed")
			}
			c.ClientType = u.ClientType.Val
		}
		if c.ClientType != ClientConfidential && c.ClientType != ClientPublic {
			return "", nil, nil, userErrorf("invalid client_type %q", c.ClientType)
		}
		if u.ClientCredentialsEntityID.Set {
			c.ClientCredentialsEntityID = u.ClientCredentialsEntityID.Val
		}
		if c.ClientCredentialsEntityID != "" && c.ClientType != ClientConfidential {
			return "", nil, nil, userErrorf("client_credentials_entity_id is only allowed for confidential clients")
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
// role or client does. The caller holds s.oidc.mu.
func (s *Store) materialize(ctx context.Context, key *oidcKey) error {
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
func (s *Store) OIDCClient(ctx context.Context, name string) (*Client, error) {
	return readOIDC(ctx, s, func(st *oidcState) *Client { return st.clients[name] })
}

// OIDCClients returns all clients, sorted by name.
func (s *Store) OIDCClients(ctx context.Context) ([]*Client, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	out := make([]*Client, 0, len(s.oidc.clients))
	for _, name := range sortedKeys(s.oidc.clients) {
		c := *s.oidc.clients[name]
		out = append(out, &c)
	}
	return out, nil
}

var signInMount = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$`)

// WriteProvider creates or updates a provider. It returns warnings Vault
// gives: scope templates of the provider that set the same claim.
func (s *Store) WriteProvider(ctx context.Context, name string, u ProviderUpdate) ([]string, error) {
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
			return "", nil, nil, userErrorf("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
		}
		if u.AllowedClientIDs.Set {
			p.AllowedClientIDs = dedupe(u.AllowedClientIDs.Val)
		}
		if u.ScopesSupported.Set {
			p.ScopesSupported = dedupe(u.ScopesSupported.Val)
		}
		if sc, ok := firstMissing(p.ScopesSupported, st.scopes); ok {
			return "", nil, nil, userErrorf("scope %q does not exist", sc)
		}
		if u.SignInMethods.Set {
			p.SignInMethods = []string{}
			for _, m := range u.SignInMethods.Val {
				m = strings.Trim(m, "/")
				if !signInMount.MatchString(m) || strings.Contains(m, "..") {
					return "", nil, nil, userErrorf("invalid sign-in method %q: give %q or the path of a username and password auth method such as userpass or ldap", m, TokenSignIn)
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
			for _, k := range sortedKeys(templateKeys(st.scopes[sc].Template)) {
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
func (s *Store) OIDCProvider(ctx context.Context, name string) (*Provider, error) {
	return readOIDC(ctx, s, func(st *oidcState) *Provider { return st.providers[name] })
}

// OIDCProviders returns the providers that serve clientID ("" for all),
// sorted by name.
func (s *Store) OIDCProviders(ctx context.Context, clientID string) ([]*Provider, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	var out []*Provider
	for _, name := range sortedKeys(s.oidc.providers) {
		p := s.oidc.providers[name]
		if clientID == "" || p.allows(clientID) {
			c := *p
			out = append(out, &c)
		}
	}
	return out, nil
}

// DeleteProviderObject deletes an assignment, scope, client or provider
// with Vault's rules: built-in objects stay, and an assignment or scope in
// use stays. An unknown name is not an error.
func (s *Store) DeleteProviderObject(ctx context.Context, kind ProviderObject, name string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	st := s.oidc
	var prefix string
	switch kind {
	case AssignmentObject:
		if name == AllowAllAssignment {
			return userErrorf("deletion of assignment %q not allowed", AllowAllAssignment)
		}
		if users := namesWhere(st.clients, func(c *Client) bool { return slices.Contains(c.Assignments, name) }); len(users) > 0 {
			return userErrorf("unable to delete assignment %q because it is currently referenced by these clients: %s", name, strings.Join(users, ", "))
		}
		prefix = oidcAssignmentPrefix
	case ScopeObject:
		if users := namesWhere(st.providers, func(p *Provider) bool { return slices.Contains(p.ScopesSupported, name) }); len(users) > 0 {
			return userErrorf("unable to delete scope %q because it is currently referenced by these providers: %s", name, strings.Join(users, ", "))
		}
		prefix = oidcScopePrefix
	case ClientObject:
		prefix = oidcClientPrefix
	default:
		if name == DefaultProviderName {
			return userErrorf("deletion of OIDC provider %q not allowed", DefaultProviderName)
		}
		prefix = oidcProviderPrefix
	}
	if err := s.delete(ctx, prefix+name); err != nil {
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
func (s *Store) writeOIDC(ctx context.Context, build func(st *oidcState) (string, any, func(), error)) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	key, v, publish, err := build(s.oidc)
	if err != nil {
		return err
	}
	if err := s.putJSON(ctx, key, v); err != nil {
		return err
	}
	publish()
	return nil
}

// readOIDC returns a copy of what get finds under the shared OIDC lock.
func readOIDC[T any](ctx context.Context, s *Store, get func(st *oidcState) *T) (*T, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	if v := get(s.oidc); v != nil {
		c := *v
		return &c, nil
	}
	return nil, nil
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
		for _, k := range sortedKeys(claims) {
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
func (s *Store) loadProvider(ctx context.Context, st *oidcState) error {
	if err := loadPrefix(ctx, s, oidcAssignmentPrefix, func(name string, a *Assignment) { st.assignments[name] = a }); err != nil {
		return err
	}
	if err := loadPrefix(ctx, s, oidcScopePrefix, func(name string, sc *Scope) { st.scopes[name] = sc }); err != nil {
		return err
	}
	if err := loadPrefix(ctx, s, oidcClientPrefix, func(_ string, c *Client) { st.putClient(c) }); err != nil {
		return err
	}
	if err := loadPrefix(ctx, s, oidcProviderPrefix, func(name string, p *Provider) { st.providers[name] = p }); err != nil {
		return err
	}
	if err := loadPrefix(ctx, s, familyPrefix, func(id string, g *grant) { st.revoked[id] = g.ExpireAt }); err != nil {
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
// reports whether the key was one. The caller holds s.oidc.mu.
func (s *Store) invalidateProvider(ctx context.Context, key string) (bool, error) {
	kinds := []struct {
		prefix string
		kind   ProviderObject
		load   func(name string) (bool, error)
	}{
		{oidcAssignmentPrefix, AssignmentObject, func(name string) (bool, error) {
			return loadOne(ctx, s, key, func(a *Assignment) { s.oidc.assignments[name] = a })
		}},
		{oidcScopePrefix, ScopeObject, func(name string) (bool, error) {
			return loadOne(ctx, s, key, func(sc *Scope) { s.oidc.scopes[name] = sc })
		}},
		{oidcClientPrefix, ClientObject, func(string) (bool, error) {
			return loadOne(ctx, s, key, func(c *Client) { s.oidc.putClient(c) })
		}},
		{oidcProviderPrefix, ProviderObj, func(name string) (bool, error) {
			return loadOne(ctx, s, key, func(p *Provider) { s.oidc.providers[name] = p })
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
			s.oidc.drop(k.kind, name)
		}
		return true, nil
	}
	return false, nil
}

// loadOne reads key and hands the value to set when it exists.
func loadOne[T any](ctx context.Context, s *Store, key string, set func(*T)) (bool, error) {
	v := new(T)
	found, err := s.getJSON(ctx, key, v)
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
func (s *Store) ProviderFeatures(ctx context.Context, providerName string) (ProviderFeatures, error) {
	var f ProviderFeatures
	if err := s.ready(ctx); err != nil {
		return f, err
	}
	s.oidc.mu.RLock()
	defer s.oidc.mu.RUnlock()
	p := s.oidc.providers[providerName]
	if p == nil {
		return f, nil
	}
	for _, c := range s.oidc.clients {
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
