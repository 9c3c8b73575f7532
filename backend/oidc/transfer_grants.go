package oidc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of the live grants of refresh token families
// (export with include_grants).

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
	return transfer.PageOfKeys(dump.KindOIDCGrant, keys, after, limit, func(k string) (any, bool, error) {
		g := new(grant)
		found, err := s.storage.GetJSON(ctx, grantPrefix+k, g)
		if err != nil || !found || !now.Before(g.ExpireAt) {
			return nil, false, err
		}
		raw, err := json.Marshal(g)
		if err != nil {
			return nil, false, err
		}
		kind, key, _ := strings.Cut(k, "/")
		return dump.OIDCGrant{Kind: kind, Key: key, Record: raw}, true, nil
	})
}
