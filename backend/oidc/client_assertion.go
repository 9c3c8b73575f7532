package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// private_key_jwt client authentication (RFC 7523 section 2.2, OpenID
// Connect Core section 9): a confidential client that registered a JWKS
// (its jwks field) may authenticate with a JWT signed by one of its keys
// instead of its secret. The secret stays usable.
const (
	// ClientAssertionJWTBearer is the client_assertion_type of
	// private_key_jwt.
	ClientAssertionJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// PrivateKeyJWT is the authentication method's name in discovery.
	PrivateKeyJWT = "private_key_jwt"
	// MaxAssertionLifetime bounds how far ahead an assertion's exp may be,
	// and so how long its jti is kept.
	MaxAssertionLifetime = 5 * time.Minute
	// assertionGrant holds the spent jtis of client assertions until
	// their exp.
	assertionGrant = "assertion"
)

// setClientJWKS applies a write of a client's jwks: a JSON Web Key Set of
// public signing keys only, each of an algorithm the provider verifies.
// "" removes it. Only confidential clients may register one.
func setClientJWKS(c *Client, u core.Opt[string]) error {
	if u.Set {
		if u.Val == "" {
			c.JWKS = ""
		} else {
			set, err := parseClientJWKS(u.Val)
			if err != nil {
				return err
			}
			out, err := json.Marshal(set)
			if err != nil {
				return err
			}
			c.JWKS = string(out)
		}
	}
	if c.JWKS != "" && c.ClientType != ClientConfidential {
		return core.UserErrorf("jwks is only allowed for confidential clients")
	}
	return nil
}

func parseClientJWKS(raw string) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return nil, core.UserErrorf("invalid jwks: %v", err)
	}
	if len(set.Keys) == 0 {
		return nil, core.UserErrorf("invalid jwks: it holds no key")
	}
	for i, k := range set.Keys {
		switch {
		case !k.IsPublic():
			return nil, core.UserErrorf("invalid jwks: key %d is not a public key; register public keys only", i)
		case !k.Valid():
			return nil, core.UserErrorf("invalid jwks: key %d is not valid", i)
		case k.Use != "" && k.Use != "sig":
			return nil, core.UserErrorf("invalid jwks: key %d is not a signing key (use %q)", i, k.Use)
		case len(keyAlgorithms(k)) == 0:
			return nil, core.UserErrorf("invalid jwks: key %d has no supported signing algorithm (alg %q)", i, k.Algorithm)
		}
	}
	return &set, nil
}

// keyAlgorithms are the signature algorithms a registered public key may
// verify: its alg when it names one the key type allows, else every
// supported algorithm of its type.
func keyAlgorithms(k jose.JSONWebKey) []string {
	var algs []string
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		algs = []string{"RS256", "RS384", "RS512"}
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	}
	if k.Algorithm == "" {
		return algs
	}
	if slices.Contains(algs, k.Algorithm) {
		return []string{k.Algorithm}
	}
	return nil
}

// assertionUse is a verified client assertion whose jti is to be spent.
type assertionUse struct {
	key      string
	clientID string
	expire   time.Time
}

// checkAssertion verifies a client assertion and returns the client id it
// authenticates and its jti to spend. The caller holds s.state.mu.
func (s *Service) checkAssertion(p *Provider, a ClientAuth) (string, *assertionUse, error) {
	switch {
	case a.Basic || a.Secret != "":
		return "", nil, invalidRequest("client_assertion may not be combined with another client authentication method")
	case a.AssertionType == "" || a.Assertion == "":
		return "", nil, invalidRequest("client_assertion and client_assertion_type go together")
	case a.AssertionType != ClientAssertionJWTBearer:
		return "", nil, invalidClient("unsupported client_assertion_type")
	}
	parsed, err := jwt.ParseSigned(a.Assertion, signatureAlgorithms)
	if err != nil || len(parsed.Headers) != 1 {
		return "", nil, invalidClient("client assertion is not a signed JWT")
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return "", nil, invalidClient("client assertion is not a signed JWT")
	}
	clientID := unverified.Subject
	if a.ID != "" && a.ID != clientID {
		return "", nil, invalidClient("client_id does not match the client assertion's sub")
	}
	c := s.state.clientIDs[clientID]
	if c == nil {
		return "", nil, invalidClient("client failed to authenticate")
	}
	if c.JWKS == "" {
		return "", nil, invalidClient("the client registered no jwks: private_key_jwt is not available to it")
	}
	set, err := parseClientJWKS(c.JWKS)
	if err != nil {
		return "", nil, oauthError(http.StatusInternalServerError, "server_error", "the client's jwks does not parse")
	}
	h := parsed.Headers[0]
	var claims jwt.Claims
	verified := false
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != "" && k.KeyID != h.KeyID) || !slices.Contains(keyAlgorithms(k), h.Algorithm) {
			continue
		}
		if parsed.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "", nil, invalidClient("client assertion signature does not verify with the client's jwks")
	}
	now := s.now()
	iss := ""
	if a.Issuer != nil {
		iss = a.Issuer(p.Issuer)
	}
	switch {
	case claims.Issuer != clientID || claims.Subject != clientID:
		return "", nil, invalidClient("client assertion iss and sub must both be the client_id")
	case iss == "" || !(claims.Audience.Contains(iss) || claims.Audience.Contains(iss+"/token")):
		return "", nil, invalidClient("client assertion aud must be the token endpoint URL or the issuer")
	case claims.Expiry == nil:
		return "", nil, invalidClient("client assertion exp is required")
	case !now.Before(claims.Expiry.Time()):
		return "", nil, invalidClient("client assertion is expired")
	case claims.Expiry.Time().After(now.Add(MaxAssertionLifetime)):
		return "", nil, invalidClient("client assertion exp is more than 5 minutes ahead")
	case claims.NotBefore != nil && now.Before(claims.NotBefore.Time()):
		return "", nil, invalidClient("client assertion is not valid yet (nbf)")
	case claims.ID == "":
		return "", nil, invalidClient("client assertion jti is required")
	}
	return clientID, &assertionUse{
		key:      grantKey(assertionGrant, clientID+"\x00"+claims.ID),
		clientID: clientID,
		expire:   claims.Expiry.Time(),
	}, nil
}

// spendAssertion records an assertion's jti until its exp; a jti seen
// before is refused.
func (s *Service) spendAssertion(ctx context.Context, u *assertionUse) error {
	if u == nil {
		return nil
	}
	return s.locks.Locked(func() []string { return []string{u.key} }, func() error {
		var g grant
		found, err := s.storage.GetJSON(ctx, u.key, &g)
		if err != nil {
			return err
		}
		if found && s.now().Before(g.ExpireAt) {
			return invalidClient("client assertion was already used (jti)")
		}
		return s.storage.PutJSON(ctx, u.key, &grant{ClientID: u.clientID, IssuedAt: s.now(), ExpireAt: u.expire})
	})
}

// authenticateClient authenticates the client at the token, introspection
// and revocation endpoints: by secret or, with private_key_jwt, by a client
// assertion, whose jti is spent once everything else checked out.
func (s *Service) authenticateClient(ctx context.Context, providerName string, a ClientAuth) (*clientContext, error) {
	cc, err := s.authenticate(providerName, a)
	if err != nil {
		return nil, err
	}
	if err := s.spendAssertion(ctx, cc.assertion); err != nil {
		return nil, err
	}
	return cc, nil
}
