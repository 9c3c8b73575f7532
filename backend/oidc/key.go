package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// SupportedAlgorithms are the signing algorithms of OIDC keys.
var SupportedAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}

// NamedKey is an OIDC signing key's configuration and key ring, stored
// under oidc/key/<name>. The ring lists the public halves of the current key,
// the next key (published ahead of use) and rotated keys until their
// verification time ends; the private halves of the current and next keys
// are stored apart (keyMaterial).
type NamedKey struct {
	Name             string        `json:"name"`
	Algorithm        string        `json:"signing_algorithm"`
	RotationPeriod   time.Duration `json:"rotation_period"`
	VerificationTTL  time.Duration `json:"verification_ttl"`
	AllowedClientIDs []string      `json:"allowed_client_ids"`
	KeyRing          []RingKey     `json:"key_ring"`
	SigningKeyID     string        `json:"signing_key_id"`
	NextSigningKeyID string        `json:"next_signing_key_id"`
	NextRotation     time.Time     `json:"next_rotation"`
}

// RingKey is a public key of the ring; ExpireAt is zero until the key is
// rotated out.
type RingKey struct {
	KeyID    string          `json:"key_id"`
	ExpireAt time.Time       `json:"expire_at"`
	Public   jose.JSONWebKey `json:"public"`
}

// keyMaterial is the private keys of a named key, by key id.
type keyMaterial struct {
	Keys []jose.JSONWebKey `json:"keys"`
}

// oidcKey is a named key in memory, with its private keys. It is never
// modified once published in oidcState; writers store a clone.
type oidcKey struct {
	NamedKey
	private map[string]*jose.JSONWebKey
}

// newKey is a key with Vault's defaults and no material yet.
func newKey(name string, allowedClientIDs []string) *oidcKey {
	return &oidcKey{NamedKey: NamedKey{
		Name:             name,
		Algorithm:        "RS256",
		RotationPeriod:   24 * time.Hour,
		VerificationTTL:  24 * time.Hour,
		AllowedClientIDs: allowedClientIDs,
	}, private: map[string]*jose.JSONWebKey{}}
}

// defaultKey is the key roles use unless they name one; any client may use it.
func defaultKey() *oidcKey { return newKey(DefaultKeyName, []string{"*"}) }

func (k *oidcKey) clone() *oidcKey {
	c := &oidcKey{NamedKey: k.NamedKey, private: map[string]*jose.JSONWebKey{}}
	c.KeyRing = slices.Clone(k.KeyRing)
	c.AllowedClientIDs = slices.Clone(k.AllowedClientIDs)
	for id, p := range k.private {
		c.private[id] = p
	}
	return c
}

// allows reports whether the key may sign for the client id.
func (k *oidcKey) allows(clientID string) bool { return allowsClient(k.AllowedClientIDs, clientID) }

// allowsClient reports whether an allowed_client_ids list admits clientID:
// it names it, or "*".
func allowsClient(allowed []string, clientID string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, clientID)
}

func (s *Service) readKey(ctx context.Context, name string) (*oidcKey, error) {
	k := &oidcKey{private: map[string]*jose.JSONWebKey{}}
	found, err := s.storage.GetJSON(ctx, oidcKeyPrefix+name, &k.NamedKey)
	if err != nil || !found {
		return nil, err
	}
	var m keyMaterial
	if _, err := s.storage.GetJSON(ctx, oidcMaterialPrefix+name, &m); err != nil {
		return nil, err
	}
	for i := range m.Keys {
		k.private[m.Keys[i].KeyID] = &m.Keys[i]
	}
	return k, nil
}

// saveKey stores the key's material, then its configuration: a crash in
// between leaves material no ring entry names, which the next save drops.
// The caller holds s.state.mu.
func (s *Service) saveKey(ctx context.Context, k *oidcKey) error {
	var m keyMaterial
	for _, id := range []string{k.SigningKeyID, k.NextSigningKeyID} {
		if p := k.private[id]; p != nil {
			m.Keys = append(m.Keys, *p)
		}
	}
	if err := s.storage.PutJSON(ctx, oidcMaterialPrefix+k.Name, m); err != nil {
		return err
	}
	if err := s.storage.PutJSON(ctx, oidcKeyPrefix+k.Name, k.NamedKey); err != nil {
		return err
	}
	s.state.keys[k.Name] = k
	s.state.nextRun = 0
	return nil
}

// KeyUpdate is a write to a named key. On create, fields not Set take their
// defaults (24h, 24h, RS256, no allowed client ids); on update they keep
// their value.
type KeyUpdate struct {
	RotationPeriod   core.Opt[time.Duration]
	VerificationTTL  core.Opt[time.Duration]
	Algorithm        core.Opt[string]
	AllowedClientIDs core.Opt[[]string]
}

// KeyExists reports whether the named key exists.
func (s *Service) KeyExists(ctx context.Context, name string) (bool, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.keys[name] != nil, nil
}

// WriteKey creates or updates a named key with Vault's rules.
func (s *Service) WriteKey(ctx context.Context, name string, u KeyUpdate) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	cur := s.state.keys[name]
	var k *oidcKey
	if cur != nil {
		k = cur.clone()
	} else {
		k = newKey(name, []string{})
	}
	if u.RotationPeriod.Set {
		k.RotationPeriod = u.RotationPeriod.Val
	}
	if k.RotationPeriod < time.Minute {
		return core.UserErrorf("rotation_period must be at least one minute")
	}
	if u.VerificationTTL.Set {
		k.VerificationTTL = u.VerificationTTL.Val
	}
	if k.VerificationTTL > 10*k.RotationPeriod {
		return core.UserErrorf("verification_ttl cannot be longer than 10x rotation_period")
	}
	if cur != nil {
		for _, r := range s.state.roles {
			if r.Key == name && r.TTL > k.VerificationTTL {
				return core.UserErrorf("unable to update key %q because it is currently referenced by one or more roles with a token ttl greater than %d seconds", name, k.VerificationTTL/time.Second)
			}
		}
		for _, c := range s.state.clients {
			if c.Key == name && c.IDTokenTTL > k.VerificationTTL {
				return core.UserErrorf("unable to update key %q because it is currently referenced by one or more clients with an id_token_ttl greater than %d seconds", name, k.VerificationTTL/time.Second)
			}
			if c.Key == name && c.AccessTokenFormat == AccessTokenJWT && c.AccessTokenTTL > k.VerificationTTL {
				return core.UserErrorf("unable to update key %q because it is currently referenced by one or more clients with JWT access tokens and an access_token_ttl greater than %d seconds", name, k.VerificationTTL/time.Second)
			}
		}
	}
	if u.AllowedClientIDs.Set {
		k.AllowedClientIDs = u.AllowedClientIDs.Val
	}
	prevAlgorithm := ""
	if cur != nil {
		prevAlgorithm = cur.Algorithm
	}
	if u.Algorithm.Set {
		k.Algorithm = u.Algorithm.Val
	}
	if !slices.Contains(SupportedAlgorithms, k.Algorithm) {
		return core.UserErrorf("unknown signing algorithm %q", k.Algorithm)
	}
	now := s.now()
	if next := now.Add(k.RotationPeriod); k.NextRotation.IsZero() || next.Before(k.NextRotation) {
		k.NextRotation = next
	}
	if k.Algorithm != prevAlgorithm {
		if err := k.generateCurrentAndNext(); err != nil {
			return err
		}
	}
	return s.saveKey(ctx, k)
}

// generateCurrentAndNext makes a new current and next key, as a new key or
// an algorithm change does. Earlier ring entries stay until they expire.
func (k *oidcKey) generateCurrentAndNext() error {
	cur, err := generateJWK(k.Algorithm)
	if err != nil {
		return err
	}
	next, err := generateJWK(k.Algorithm)
	if err != nil {
		return err
	}
	k.private = map[string]*jose.JSONWebKey{cur.KeyID: cur, next.KeyID: next}
	k.SigningKeyID, k.NextSigningKeyID = cur.KeyID, next.KeyID
	k.KeyRing = append(k.KeyRing, RingKey{KeyID: cur.KeyID, Public: cur.Public()}, RingKey{KeyID: next.KeyID, Public: next.Public()})
	return nil
}

// rotate makes the next key current, gives the outgoing key verifyFor more
// time in the ring, and generates a new next key.
func (k *oidcKey) rotate(now time.Time, verifyFor time.Duration) error {
	if k.private[k.SigningKeyID] == nil || k.private[k.NextSigningKeyID] == nil {
		return k.generateCurrentAndNext()
	}
	for i := range k.KeyRing {
		if k.KeyRing[i].KeyID == k.SigningKeyID {
			k.KeyRing[i].ExpireAt = now.Add(verifyFor)
		}
	}
	next, err := generateJWK(k.Algorithm)
	if err != nil {
		return err
	}
	delete(k.private, k.SigningKeyID)
	k.SigningKeyID, k.NextSigningKeyID = k.NextSigningKeyID, next.KeyID
	k.private[next.KeyID] = next
	k.KeyRing = append(k.KeyRing, RingKey{KeyID: next.KeyID, Public: next.Public()})
	k.NextRotation = now.Add(k.RotationPeriod)
	return nil
}

// expire drops ring entries whose verification time has passed and reports
// whether any went.
func (k *oidcKey) expire(now time.Time) bool {
	n := len(k.KeyRing)
	k.KeyRing = slices.DeleteFunc(k.KeyRing, func(r RingKey) bool { return !r.ExpireAt.IsZero() && r.ExpireAt.Before(now) })
	return len(k.KeyRing) != n
}

// RotateKey rotates the named key now. verifyFor, when Set, replaces the
// key's verification_ttl for the outgoing key only.
func (s *Service) RotateKey(ctx context.Context, name string, verifyFor core.Opt[time.Duration]) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	cur := s.state.keys[name]
	if cur == nil {
		return core.UserErrorf("no named key found at %q", name)
	}
	k := cur.clone()
	ttl := k.VerificationTTL
	if verifyFor.Set {
		ttl = verifyFor.Val
	}
	if err := k.rotate(s.now(), ttl); err != nil {
		return err
	}
	return s.saveKey(ctx, k)
}

// Key returns the named key's configuration, or nil.
func (s *Service) Key(ctx context.Context, name string) (*NamedKey, error) {
	return core.Copied(&s.state.mu, func() *NamedKey {
		if k := s.state.keys[name]; k != nil {
			return &k.NamedKey
		}
		return nil
	}), nil
}

// KeyNames returns the names of all keys, sorted.
func (s *Service) KeyNames(ctx context.Context) ([]string, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return core.SortedKeys(s.state.keys), nil
}

// DeleteKey deletes a named key no role uses; the default key stays.
func (s *Service) DeleteKey(ctx context.Context, name string) error {
	if name == DefaultKeyName {
		return core.UserErrorf("deletion of key %q not allowed", DefaultKeyName)
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if users := namesWhere(s.state.roles, func(r *Role) bool { return r.Key == name }); len(users) > 0 {
		return core.UserErrorf("unable to delete key %q because it is currently referenced by these roles: %s", name, strings.Join(users, ", "))
	}
	if clients := namesWhere(s.state.clients, func(c *Client) bool { return c.Key == name }); len(clients) > 0 {
		return core.UserErrorf("unable to delete key %q because it is currently referenced by these clients: %s", name, strings.Join(clients, ", "))
	}
	if err := s.storage.Remove(ctx, oidcKeyPrefix+name); err != nil {
		return err
	}
	if err := s.storage.Remove(ctx, oidcMaterialPrefix+name); err != nil {
		return err
	}
	delete(s.state.keys, name)
	s.state.nextRun = 0
	return nil
}

// JWKS returns the public keys that verify tokens (the rings of the keys
// roles use, rotated keys included until they expire), sorted by key id, and
// how long a client may cache them: until the soonest rotation among those
// keys, after which a new next key is published.
func (s *Service) JWKS(ctx context.Context) ([]jose.JSONWebKey, time.Duration, error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	used := map[string]bool{}
	for _, r := range s.state.roles {
		used[r.Key] = true
	}
	return s.state.jwks(s.now(), used)
}

// jwks returns the public keys of the named keys in used.
func (st *oidcState) jwks(now time.Time, used map[string]bool) ([]jose.JSONWebKey, time.Duration, error) {
	keys := []jose.JSONWebKey{}
	maxAge := time.Duration(-1)
	for _, name := range core.SortedKeys(st.keys) {
		k := st.keys[name]
		if !used[name] || len(k.KeyRing) == 0 {
			continue
		}
		for _, r := range k.KeyRing {
			if r.ExpireAt.IsZero() || !r.ExpireAt.Before(now) {
				keys = append(keys, r.Public)
			}
		}
		if until := max(k.NextRotation.Sub(now), 0); maxAge < 0 || until < maxAge {
			maxAge = until
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].KeyID < keys[j].KeyID })
	return keys, maxAge, nil
}

// generateJWK makes a private key for the algorithm, as Vault does: RSA
// 2048, the NIST curve matching the ES size, or Ed25519.
func generateJWK(alg string) (*jose.JSONWebKey, error) {
	var key any
	var err error
	switch alg {
	case "RS256", "RS384", "RS512":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unknown signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	id, err := core.NewID()
	if err != nil {
		return nil, err
	}
	return &jose.JSONWebKey{Key: key, KeyID: id, Algorithm: alg, Use: "sig"}, nil
}

// validIssuer reports whether s is scheme://host[:port] with http or https
// and nothing else.
func validIssuer(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return *u == url.URL{Scheme: u.Scheme, Host: u.Host} && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
