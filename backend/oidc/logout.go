package oidc

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), opt-in per
// client: a client that registers post_logout_redirect_uris (or a
// backchannel_logout_uri) uses logout. Its ID tokens carry a sid claim, the
// id of the sign-in's token family (made for the sign-in even when the
// client has no refresh tokens), and the provider's end_session_endpoint,
// <issuer>/logout, ends that sign-in: it revokes the family, so every
// refresh and access token of the sign-in, and nothing else.
//
// The provider keeps no browser session of its own (the sign-in page holds
// its Vault token in memory only), so "the sign-in" is the one the
// id_token_hint names by its sid. A request without a hint, or with a hint
// that has no sid (issued before the client opted in), revokes nothing; it
// still returns to a registered post_logout_redirect_uri. Holding a validly
// signed ID token of a sign-in is what it takes to end it: the page's
// confirmation is for the user, not a protection.

// LogoutRequest is a request to the end_session_endpoint.
type LogoutRequest struct {
	Provider              string
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	// Issuer turns the provider's configured issuer into its issuer.
	Issuer func(configured string) string
}

// LogoutView is a valid logout request as the page shows it.
type LogoutView struct {
	// ClientName and ClientID are the client the request is for; "" when
	// neither a hint nor client_id named one.
	ClientName, ClientID string
	// RedirectURI is the registered post_logout_redirect_uri to return to
	// ("" for none) and State the state to echo.
	RedirectURI, State string
	// Session is the sign-in's sid from the hint, "" when none; Subject
	// the hint's sub.
	Session, Subject string
}

// logoutError is the end_session_endpoint's refusal; it never redirects.
func logoutError(desc string) *OAuthError { return invalidRequest(desc) }

// usesLogout reports whether the client opted in to logout.
func (c *Client) usesLogout() bool {
	return len(c.PostLogoutRedirectURIs) > 0 || c.BackchannelLogoutURI != ""
}

// setLogoutURIs applies a client write's logout URIs: post-logout redirect
// URIs are absolute URLs a browser may be sent to; the back-channel URI is
// https, or http on a loopback host, without a fragment.
func setLogoutURIs(c *Client, u ClientUpdate) error {
	if u.PostLogoutRedirectURIs.Set {
		uris := []string{}
		for _, raw := range u.PostLogoutRedirectURIs.Val {
			if raw = strings.TrimSpace(raw); raw == "" {
				continue
			}
			if err := checkRedirectURL(raw); err != nil {
				return core.UserErrorf("invalid post_logout_redirect_uris value %q: %s", raw, err)
			}
			uris = append(uris, raw)
		}
		c.PostLogoutRedirectURIs = dedupe(uris)
		if len(c.PostLogoutRedirectURIs) == 0 {
			c.PostLogoutRedirectURIs = nil
		}
	}
	if u.BackchannelLogoutURI.Set {
		raw := strings.TrimSpace(u.BackchannelLogoutURI.Val)
		if raw != "" {
			if err := checkRedirectURL(raw); err != nil {
				return core.UserErrorf("invalid backchannel_logout_uri %q: %s", raw, err)
			}
			if err := core.CheckSecureURL("backchannel_logout_uri", raw); err != nil {
				return core.UserErrorf("%v", err)
			}
		}
		c.BackchannelLogoutURI = raw
	}
	return nil
}

// checkRedirectURL checks that raw is an absolute URL with a host, no
// fragment, and not a scheme a browser runs as script.
func checkRedirectURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return core.UserErrorf("it does not parse")
	case !u.IsAbs() || u.Host == "":
		return core.UserErrorf("it must be an absolute URL with a host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return core.UserErrorf("it must not have a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "blob", "file":
		return core.UserErrorf("scheme %q is not allowed", u.Scheme)
	}
	return nil
}

// idTokenHint is what logout reads of an id_token_hint.
type idTokenHint struct {
	jwt.Claims
	SID string `json:"sid"`
}

// CheckLogout validates a logout request without acting on it: the
// provider exists and serves logout, the id_token_hint is an ID token the
// provider issued (signed with the key of the client it names, with the
// provider's issuer; an expired one is accepted), client_id agrees with
// it, and post_logout_redirect_uri is one the client registered exactly.
func (s *Service) CheckLogout(ctx context.Context, r LogoutRequest) (*LogoutView, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	p := s.state.providers[r.Provider]
	if p == nil {
		return nil, oauthError(http.StatusNotFound, "invalid_request", "provider not found")
	}
	v := &LogoutView{State: r.State}
	var c *Client
	if r.IDTokenHint != "" {
		hint, hc, err := s.checkHint(p, r)
		if err != nil {
			return nil, err
		}
		c, v.Session, v.Subject = hc, hint.SID, hint.Subject
	}
	if r.ClientID != "" {
		switch {
		case c != nil && c.ClientID != r.ClientID:
			return nil, logoutError("client_id does not match the id_token_hint's audience")
		case c == nil:
			c = s.state.clientIDs[r.ClientID]
			if c == nil || !p.allows(c.ClientID) {
				return nil, logoutError("client_id is not a client of the provider")
			}
		}
	}
	if c != nil && !c.usesLogout() {
		return nil, logoutError("the client does not use logout: it registered no post_logout_redirect_uris")
	}
	if r.PostLogoutRedirectURI != "" {
		if c == nil {
			return nil, logoutError("post_logout_redirect_uri requires id_token_hint or client_id")
		}
		if !slices.Contains(c.PostLogoutRedirectURIs, r.PostLogoutRedirectURI) {
			return nil, logoutError("post_logout_redirect_uri is not registered for the client")
		}
		v.RedirectURI = r.PostLogoutRedirectURI
	}
	if c != nil {
		v.ClientName, v.ClientID = c.Name, c.ClientID
	}
	return v, nil
}

// checkHint verifies an id_token_hint. The caller holds s.state.mu.
func (s *Service) checkHint(p *Provider, r LogoutRequest) (*idTokenHint, *Client, error) {
	bad := logoutError("id_token_hint is not an ID token of the provider")
	parsed, err := jwt.ParseSigned(r.IDTokenHint, signatureAlgorithms)
	if err != nil || len(parsed.Headers) != 1 {
		return nil, nil, bad
	}
	h := parsed.Headers[0]
	// Access tokens (at+jwt) and logout tokens are signed with the same
	// keys; ID tokens carry no typ.
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "" && !strings.EqualFold(typ, "JWT") {
		return nil, nil, bad
	}
	var unverified idTokenHint
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil || len(unverified.Audience) != 1 {
		return nil, nil, bad
	}
	c := s.state.clientIDs[unverified.Audience[0]]
	if c == nil || !p.allows(c.ClientID) {
		return nil, nil, logoutError("id_token_hint was not issued to a client of the provider")
	}
	k := s.state.keys[c.Key]
	var claims idTokenHint
	verified := false
	if k != nil {
		now := s.now()
		for _, rk := range k.KeyRing {
			if (h.KeyID != "" && rk.KeyID != h.KeyID) || (!rk.ExpireAt.IsZero() && rk.ExpireAt.Before(now)) {
				continue
			}
			if parsed.Claims(rk.Public.Key, &claims) == nil {
				verified = true
				break
			}
		}
	}
	if !verified {
		return nil, nil, logoutError("id_token_hint signature does not verify with the provider's keys")
	}
	iss := ""
	if r.Issuer != nil {
		iss = r.Issuer(p.Issuer)
	}
	if iss == "" || claims.Issuer != iss {
		return nil, nil, logoutError("id_token_hint was not issued by the provider")
	}
	// Expired hints are accepted (RP-Initiated Logout 1.0, section 2): the
	// key ring bounds how old a verifiable one can be.
	return &claims, c, nil
}

// Logout ends the sign-in a valid logout request names: it revokes the
// token family of the hint's sid. It reports whether a sign-in was ended.
func (s *Service) Logout(ctx context.Context, r LogoutRequest) (*LogoutView, bool, error) {
	v, err := s.CheckLogout(ctx, r)
	if err != nil || v.Session == "" {
		return v, false, err
	}
	s.state.mu.RLock()
	c := s.state.clientIDs[v.ClientID]
	s.state.mu.RUnlock()
	if c == nil {
		return v, false, nil
	}
	g := &grant{Provider: r.Provider, ClientID: c.ClientID, EntityID: v.Subject, Family: v.Session}
	if err := s.revokeFamily(ctx, g, c); err != nil {
		return nil, false, err
	}
	s.logger.Info("sign-in ended by RP-initiated logout", "client_id", c.ClientID, "entity_id", v.Subject)
	return v, true, nil
}
