package oidc

import (
	"context"
	"errors"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of the OIDC configuration: the issuer, keys, scopes,
// assignments, clients (with their client_id and secret), providers,
// roles, and on request the grants of refresh token families. The batch
// holds s.state.mu for writing. This file has the issuer, the shared
// helpers and the kind table; keys are in transfer_keys.go, the provider's
// objects and roles in transfer_provider.go, grants in transfer_grants.go.

// keepNilDedupe is dedupe, keeping a list that was never set (nil) as it
// is, so that an object reads back as it was exported.
func keepNilDedupe(list []string) []string {
	if list == nil {
		return nil
	}
	return dedupe(list)
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func fromSeconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// pageOfNames pages through the sorted names of m under s.state.mu and
// builds their records.
func pageOfNames[V any](s *Service, kind string, m func() map[string]V, after string, limit int, build func(name string, v V) any) ([]dump.Record, []string, error) {
	s.state.mu.RLock()
	objects := m()
	names := transfer.PageAfter(core.SortedKeys(objects), after, limit)
	values := make([]any, len(names))
	for i, n := range names {
		values[i] = build(n, objects[n])
	}
	s.state.mu.RUnlock()
	out := make([]dump.Record, 0, len(names))
	for i, n := range names {
		rec, err := dump.NewRecord(kind, n, values[i])
		if err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
	}
	return out, names, nil
}

// --- the issuer ---

type oidcConfigTransfer struct {
	transfer.NoPrepare
	s *Service
}

func (kt oidcConfigTransfer) Parallel() bool { return false }

func (kt oidcConfigTransfer) Decode(it *transfer.Item) error {
	var d dump.OIDCConfig
	if err := transfer.Decode(it, &d, func() string { return dump.OIDCConfigID }); err != nil {
		return err
	}
	if d.Issuer != "" && !validIssuer(d.Issuer) {
		return errors.New("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)")
	}
	it.Obj = &oidcConfig{Issuer: d.Issuer}
	return nil
}

func (kt oidcConfigTransfer) LockKeys(*transfer.Item) []string { return nil }

// check: an issuer that was never set ("") takes the record's.
func (kt oidcConfigTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	c := it.Obj.(*oidcConfig)
	switch cur := kt.s.state.issuer; {
	case cur == c.Issuer:
		it.Action = transfer.ActionUnchanged
	case cur == "":
		it.Action = transfer.ActionCreated
	default:
		b.Settle(it, false, "the OIDC issuer", []string{"issuer"})
	}
	return nil
}

func (kt oidcConfigTransfer) Refs(*transfer.Batch, *transfer.Item) {}

func (kt oidcConfigTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return kt.s.storage.PutJSON(ctx, oidcConfigKey, it.Obj)
}

func (kt oidcConfigTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		kt.s.state.issuer = it.Obj.(*oidcConfig).Issuer
	}
}

func (kt oidcConfigTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := kt.s
	if len(transfer.PageAfter([]string{dump.OIDCConfigID}, after, limit)) == 0 {
		return nil, nil, nil
	}
	s.state.mu.RLock()
	issuer := s.state.issuer
	s.state.mu.RUnlock()
	rec, err := dump.NewRecord(dump.KindOIDCConfig, dump.OIDCConfigID, dump.OIDCConfig{Issuer: issuer})
	if err != nil {
		return nil, nil, err
	}
	return []dump.Record{rec}, []string{dump.OIDCConfigID}, nil
}

// TransferKinds are OIDC's record kinds for import and export.
func (s *Service) TransferKinds() map[string]transfer.Kind {
	return map[string]transfer.Kind{
		dump.KindOIDCConfig: oidcConfigTransfer{s: s},
		dump.KindOIDCKey:    oidcKeyTransfer{s: s},
		dump.KindOIDCScope: namedKind[Scope]{
			s: s, kind: dump.KindOIDCScope, what: "OIDC scope", prefix: oidcScopePrefix, decode: decodeScope,
			objects: func(st *oidcState) map[string]*Scope { return st.scopes },
			record: func(_ *Service, sc *Scope) any {
				return dump.OIDCScope{Name: sc.Name, Template: sc.Template, Description: sc.Description}
			},
		},
		dump.KindOIDCAssignment: namedKind[Assignment]{
			s: s, kind: dump.KindOIDCAssignment, what: "OIDC assignment", prefix: oidcAssignmentPrefix, decode: decodeAssignment,
			objects: func(st *oidcState) map[string]*Assignment { return st.assignments },
			record: func(_ *Service, a *Assignment) any {
				return dump.OIDCAssignment{Name: a.Name, EntityIDs: a.EntityIDs, GroupIDs: a.GroupIDs}
			},
		},
		dump.KindOIDCClient: oidcClientTransfer{s: s},
		dump.KindOIDCProvider: oidcProviderTransfer{namedKind[Provider]{
			s: s, kind: dump.KindOIDCProvider, what: "OIDC provider", prefix: oidcProviderPrefix, decode: decodeProvider,
			objects: func(st *oidcState) map[string]*Provider { return st.providers }, record: providerRecord,
		}},
		dump.KindOIDCRole: oidcRoleTransfer{namedKind[Role]{
			s: s, kind: dump.KindOIDCRole, what: "OIDC role", prefix: oidcRolePrefix, decode: decodeRole,
			objects: func(st *oidcState) map[string]*Role { return st.roles },
			record: func(_ *Service, r *Role) any {
				return dump.OIDCRole{Name: r.Name, Key: r.Key, Template: r.Template, TTL: seconds(r.TTL), ClientID: r.ClientID, Audiences: r.Audiences}
			},
		}},
		dump.KindOIDCGrant: oidcGrantTransfer{s: s},
	}
}

// HoldForImport runs f holding the configuration lock for writing, as an
// import batch with records of this part does, inside its stripes.
func (s *Service) HoldForImport(f func() error) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return f()
}
