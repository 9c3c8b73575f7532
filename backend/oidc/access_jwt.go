package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Access token formats of a client (access_token_format). Not in Vault,
// whose access tokens are opaque.
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
	// accessTokenType is the typ header of a JWT access token (RFC 9068
	// section 2.1); ID tokens and identity tokens have none, so neither can
	// pass for an access token.
	accessTokenType = "at+jwt"
)

// setAccessTokenFormat applies a write of a client's access_token_format.
// Opaque is stored as "", so a client that never opts in is stored and read
// as before. A JWT access token must verify with the published keys for its
// whole life, so its TTL may not exceed the key's verification_ttl (as an
// ID token's may not).
func setAccessTokenFormat(c *Client, u core.Opt[string], key *oidcKey) error {
	if u.Set {
		switch u.Val {
		case "", AccessTokenOpaque:
			c.AccessTokenFormat = ""
		case AccessTokenJWT:
			c.AccessTokenFormat = AccessTokenJWT
		default:
			return core.UserErrorf("invalid access_token_format %q: give %q or %q", u.Val, AccessTokenOpaque, AccessTokenJWT)
		}
	}
	if c.AccessTokenFormat == AccessTokenJWT && c.AccessTokenTTL > key.VerificationTTL {
		return core.UserErrorf("a client's access_token_ttl cannot be greater than the verification_ttl of the key it references when access_token_format is %q", AccessTokenJWT)
	}
	return nil
}

// newAccessToken makes the access token of a grant and returns it with the
// storage key of its grant: a random hvo_at_ value stored under its hash,
// or, for a client with access_token_format jwt, an RFC 9068 JWT signed
// with the client's key and stored under the hash of its jti. issuer turns
// the provider's configured issuer into its tokens' issuer.
func (s *Service) newAccessToken(cc *clientContext, issuer func(string) string, g *grant, now time.Time) (string, string, error) {
	c := cc.client
	if c.AccessTokenFormat != AccessTokenJWT {
		access, err := randomToken(accessPrefix)
		return access, grantKey(accessGrant, access), err
	}
	iss := ""
	if issuer != nil {
		iss = issuer(cc.provider.Issuer)
	}
	if iss == "" {
		return "", "", oauthError(http.StatusInternalServerError, "server_error", ErrNoIssuer.Msg)
	}
	jti, err := randomToken("")
	if err != nil {
		return "", "", err
	}
	claims := map[string]any{
		"iss":       iss,
		"sub":       g.EntityID,
		"aud":       c.ClientID,
		"client_id": c.ClientID,
		"jti":       jti,
		"iat":       now.Unix(),
		"exp":       now.Add(c.AccessTokenTTL).Unix(),
	}
	if len(g.Scopes) > 0 {
		claims["scope"] = strings.Join(g.Scopes, " ")
	}
	if g.AuthTime != 0 {
		claims["auth_time"] = g.AuthTime
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	token, err := cc.key.signTyped(payload, accessTokenType)
	if err != nil {
		return "", "", oauthError(http.StatusInternalServerError, "server_error", "error signing access token: "+err.Error())
	}
	return token, grantKey(accessGrant, jti), nil
}

// signTyped signs a payload with the key's current key, with a typ header.
func (k *oidcKey) signTyped(payload []byte, typ string) (string, error) {
	priv := k.private[k.SigningKeyID]
	if priv == nil {
		return "", errors.New("signing key is nil; rotate the key and try again")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: priv}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// looksLikeJWT tells a JWT access token from an opaque one: opaque tokens
// are base62, without dots.
func looksLikeJWT(token string) bool {
	return !strings.HasPrefix(token, accessPrefix) && strings.Count(token, ".") == 2
}

// presentedKey is the storage key of the grant of a presented token of a
// kind: the hash of an opaque token, or of a JWT access token's jti once the
// JWT verifies; "" for a JWT that does not.
func (s *Service) presentedKey(kind, token string) string {
	if kind == accessGrant && looksLikeJWT(token) {
		jti := s.verifyAccessJWT(token)
		if jti == "" {
			return ""
		}
		return grantKey(accessGrant, jti)
	}
	return grantKey(kind, token)
}

// verifyAccessJWT returns the jti of a JWT access token this mount signed:
// typ at+jwt, one signature by a published key of one of the mount's named
// keys. Whether it is live (expiry, revocation, provider, client) is its
// grant's to tell. "" when it does not verify.
func (s *Service) verifyAccessJWT(token string) string {
	parsed, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil || len(parsed.Headers) != 1 {
		return ""
	}
	h := parsed.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != accessTokenType || h.KeyID == "" {
		return ""
	}
	now := s.now()
	var pub *jose.JSONWebKey
	s.state.mu.RLock()
	for _, k := range s.state.keys {
		for _, r := range k.KeyRing {
			if r.KeyID == h.KeyID && (r.ExpireAt.IsZero() || !r.ExpireAt.Before(now)) && r.Public.Algorithm == h.Algorithm {
				p := r.Public
				pub = &p
			}
		}
	}
	s.state.mu.RUnlock()
	if pub == nil {
		return ""
	}
	var claims struct {
		ID string `json:"jti"`
	}
	if err := parsed.Claims(pub, &claims); err != nil {
		return ""
	}
	return claims.ID
}
