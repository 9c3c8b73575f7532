package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"

	"github.com/go-jose/go-jose/v4"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of the signing keys: their configuration, and with
// --include-keys their key rings and private keys.

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
