package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/strutil"
	"github.com/hashicorp/vault/sdk/helper/base62"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// codeTTL is how long an authorization code may be exchanged, as in Vault.
const codeTTL = 5 * time.Minute

// OAuthError is an OAuth 2.0 error answer of the provider's endpoints:
// {"error": Code, "error_description": Description} with Status.
type OAuthError struct {
	Status      int
	Code        string
	Description string
	// State is echoed by the authorization endpoint.
	State string
	// Redirect is true when the error may be sent to the redirect_uri: the
	// client and its redirect_uri were valid.
	Redirect bool
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// AsOAuthError reports whether err is (or wraps) an OAuth error.
func AsOAuthError(err error) (*OAuthError, bool) {
	var e *OAuthError
	ok := errors.As(err, &e)
	return e, ok
}

func oauthError(status int, code, desc string) *OAuthError {
	return &OAuthError{Status: status, Code: code, Description: desc}
}

func invalidRequest(desc string) *OAuthError {
	return oauthError(http.StatusBadRequest, "invalid_request", desc)
}

// AuthorizeRequest is an OpenID Connect authentication request.
type AuthorizeRequest struct {
	Provider            string
	ClientID            string
	RedirectURI         string
	Scope               string // space separated
	ResponseType        string
	State               string
	Nonce               string
	MaxAge              core.Opt[int]
	CodeChallenge       core.Opt[string]
	CodeChallengeMethod string
	Request, RequestURI bool // the request and request_uri parameters are present

	// Authorize only. HasEntity tells whether the caller's Vault token has
	// an entity; Caller finds the caller's entity in this store (nil when
	// none matches); TokenCreated returns when the caller's Vault token was
	// made, for max_age.
	HasEntity    bool
	Caller       func() (*identity.EntityView, error)
	TokenCreated func() (time.Time, error)
}

// SignInView is what the sign-in page shows of a valid request.
type SignInView struct {
	ClientName string
	Scopes     []string // requested scopes the provider supports, openid first
	Methods    []string // the provider's sign-in methods
	// Descriptions are the scopes' descriptions, where they have one.
	Descriptions map[string]string
}

// authorizeTarget is what a valid request resolves to.
type authorizeTarget struct {
	provider *Provider
	client   *Client
	scopes   []string
}

// CheckAuthorize validates an authentication request as Authorize does,
// except for what needs the caller: the sign-in page runs it before anyone
// has signed in.
func (s *Service) CheckAuthorize(ctx context.Context, r AuthorizeRequest) (*SignInView, error) {
	t, err := s.checkRequest(r)
	if err != nil {
		return nil, err
	}
	if err := checkChallenge(r, t.client); err != nil {
		return nil, err
	}
	if r.MaxAge.Set && r.MaxAge.Val < 1 {
		return nil, AuthzError(r, "invalid_request", "max_age must be greater than zero")
	}
	view := &SignInView{ClientName: t.client.Name, Scopes: t.scopes, Methods: slices.Clone(t.provider.SignInMethods), Descriptions: map[string]string{}}
	s.state.mu.RLock()
	for _, name := range t.scopes {
		if sc := s.state.scopes[name]; sc != nil && sc.Description != "" {
			view.Descriptions[name] = sc.Description
		}
	}
	s.state.mu.RUnlock()
	return view, nil
}

// Authorize checks an authentication request for the caller's entity, in
// Vault's order, and returns an authorization code.
func (s *Service) Authorize(ctx context.Context, r AuthorizeRequest) (string, error) {
	t, err := s.checkRequest(r)
	if err != nil {
		return "", err
	}
	if !r.HasEntity {
		return "", AuthzError(r, "access_denied", "identity entity must be associated with the request")
	}
	v, err := r.Caller()
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", AuthzError(r, "access_denied", entityNotFound)
	}
	if !s.assigned(t.client, v) {
		return "", AuthzError(r, "access_denied", entityNotAssigned)
	}
	if err := checkChallenge(r, t.client); err != nil {
		return "", err
	}
	var authTime int64
	if r.MaxAge.Set {
		if r.MaxAge.Val < 1 {
			return "", AuthzError(r, "invalid_request", "max_age must be greater than zero")
		}
		created, err := r.TokenCreated()
		if err != nil {
			s.logger.Debug("looking up the caller's token for max_age", "error", err)
			return "", AuthzError(r, "access_denied", "token associated with request not found")
		}
		if s.now().Sub(created) > time.Duration(r.MaxAge.Val)*time.Second {
			return "", AuthzError(r, "max_age_violation", "active re-authentication is required by max_age")
		}
		authTime = created.Unix()
	}
	code, err := base62.Random(32)
	if err != nil {
		return "", err
	}
	g := &grant{
		Provider: r.Provider, ClientID: r.ClientID, EntityID: v.ID, Scopes: t.scopes,
		AuthTime: authTime, Nonce: r.Nonce, RedirectURI: r.RedirectURI,
		ExpireAt: s.now().Add(codeTTL),
	}
	if r.CodeChallenge.Set {
		g.Challenge, g.ChallengeMethod = r.CodeChallenge.Val, challengeMethod(r.CodeChallengeMethod)
	}
	if err := s.storage.PutJSON(ctx, grantKey(codeGrant, code), g); err != nil {
		return "", err
	}
	return code, nil
}

// AuthzError is an error of authentication request r that is sent back to
// the client's redirect URI, with r's state: 400, or 500 for server_error.
func AuthzError(r AuthorizeRequest, code, desc string) *OAuthError {
	status := http.StatusBadRequest
	if code == "server_error" {
		status = http.StatusInternalServerError
	}
	return &OAuthError{Status: status, Code: code, Description: desc, State: r.State, Redirect: true}
}

// checkRequest runs the checks of an authentication request that need no
// caller, in Vault's order, and resolves its provider, client and scopes.
func (s *Service) checkRequest(r AuthorizeRequest) (*authorizeTarget, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	st := s.state
	fail := func(code, desc string) error {
		return &OAuthError{Status: http.StatusBadRequest, Code: code, Description: desc, State: r.State}
	}
	if r.ClientID == "" {
		return nil, fail("invalid_client_id", "client_id parameter is required")
	}
	client := st.clientIDs[r.ClientID]
	if client == nil {
		return nil, fail("invalid_client_id", "client with client_id not found")
	}
	if r.RedirectURI == "" {
		return nil, fail("invalid_request", "redirect_uri parameter is required")
	}
	if !slices.ContainsFunc(client.RedirectURIs, func(allowed string) bool { return redirectMatches(allowed, r.RedirectURI) }) {
		return nil, fail("invalid_redirect_uri", "redirect_uri is not allowed for the client")
	}
	provider := st.providers[r.Provider]
	if provider == nil {
		return nil, fail("invalid_request", "provider not found")
	}
	if !provider.allows(r.ClientID) {
		return nil, AuthzError(r, "unauthorized_client", "client is not authorized to use the provider")
	}
	if r.Request {
		return nil, &OAuthError{Status: http.StatusBadRequest, Code: "request_not_supported", Description: "request parameter is not supported", Redirect: true}
	}
	if r.RequestURI {
		return nil, &OAuthError{Status: http.StatusBadRequest, Code: "request_uri_not_supported", Description: "request_uri parameter is not supported", Redirect: true}
	}
	requested := parseScopes(r.Scope)
	if !slices.Contains(requested, OpenIDScope) {
		return nil, AuthzError(r, "invalid_request", `scope parameter must contain the "openid" value`)
	}
	if r.ResponseType == "" {
		return nil, AuthzError(r, "invalid_request", "response_type parameter is required")
	}
	if r.ResponseType != "code" {
		return nil, AuthzError(r, "unsupported_response_type", "unsupported response_type value")
	}
	c, p := *client, *provider
	return &authorizeTarget{provider: &p, client: &c, scopes: supportedScopes(requested, provider)}, nil
}

// supportedScopes keeps openid, first, and the requested scopes the
// provider supports; others are dropped silently, as in Vault.
func supportedScopes(requested []string, p *Provider) []string {
	return append([]string{OpenIDScope}, p.supported(requested)...)
}

// publicNeedsS256 refuses a public client's PKCE with the plain method.
const publicNeedsS256 = "public clients must use code_challenge_method S256"

// checkChallenge checks the PKCE parameters. Public clients must use S256
// (RFC 9700 section 2.1.1, OAuth 2.1): plain, also the default when the
// method is absent, protects nothing when the challenge can be seen, and
// a public client has no secret to fall back on. Confidential clients keep
// Vault's rules: plain allowed, and the default.
func checkChallenge(r AuthorizeRequest, c *Client) error {
	fail := func(desc string) error { return AuthzError(r, "invalid_request", desc) }
	if !r.CodeChallenge.Set {
		if c.ClientType == ClientPublic {
			return fail("PKCE is required for public clients")
		}
		return nil
	}
	method := challengeMethod(r.CodeChallengeMethod)
	switch method {
	case "plain", "S256":
	default:
		return fail("invalid code_challenge_method")
	}
	if c.ClientType == ClientPublic && method != "S256" {
		return fail(publicNeedsS256)
	}
	if n := len(r.CodeChallenge.Val); n < 43 || n > 128 {
		return fail("invalid code_challenge")
	}
	return nil
}

func challengeMethod(m string) string {
	if m == "" {
		return "plain"
	}
	return m
}

// redirectMatches compares a registered redirect URI with a requested one:
// exactly, except that loopback addresses match on any port (RFC 8252,
// section 7.3).
func redirectMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	a, errA := url.Parse(registered)
	b, errB := url.Parse(requested)
	if errA != nil || errB != nil || !core.IsLoopback(a.Hostname()) || !core.IsLoopback(b.Hostname()) {
		return false
	}
	a.Host, b.Host = a.Hostname(), b.Hostname()
	return a.String() == b.String()
}

// assigned reports whether the entity may use the client: it is enabled and
// one of the client's assignments names it or one of its groups, direct or
// inherited. allow_all admits everyone.
func (s *Service) assigned(c *Client, v *identity.EntityView) bool {
	if v.Disabled {
		return false
	}
	groups := slices.Concat(v.DirectGroupIDs, v.InheritedGroupIDs)
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	for _, name := range c.Assignments {
		if name == AllowAllAssignment {
			return true
		}
		a := s.state.assignments[name]
		if a == nil {
			continue
		}
		if slices.Contains(a.EntityIDs, v.ID) || slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(a.GroupIDs, g) }) {
			return true
		}
	}
	return false
}

// parseScopes splits a space-separated scope parameter, deduplicated and
// sorted.
func parseScopes(scope string) []string {
	return strutil.ParseDedupAndSortStrings(strings.TrimSpace(scope), " ")
}
