package backend

import (
	"context"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// ErrKeyExportDisabled refuses a private key export the mount's settings do
// not allow.
var ErrKeyExportDisabled = core.UserErrorf("private key export is disabled for this mount: set allow_key_export=true in its config to allow it")

// newTransfer gathers every part's record kinds into the engine of imports
// and exports. A batch holds the MFA configuration lock, then the OIDC one,
// for writing when it has records of theirs (the lock order), inside the
// stripes of everything it touches.
func (s *Store) newTransfer(workers int) *transfer.Engine {
	kinds := map[string]transfer.Kind{}
	for _, part := range []map[string]transfer.Kind{s.identity.TransferKinds(), s.mfa.TransferKinds(), s.oidc.TransferKinds()} {
		for k, v := range part {
			kinds[k] = v
		}
	}
	return &transfer.Engine{
		Kinds:   kinds,
		Locks:   s.locks,
		Workers: workers,
		Hold: func(domains map[string]bool, f func() error) error {
			withOIDC := f
			if domains["oidc"] {
				withOIDC = func() error { return s.oidc.HoldForImport(f) }
			}
			if domains["mfa"] {
				return s.mfa.HoldForImport(withOIDC)
			}
			return withOIDC()
		},
		Written: func(b *transfer.Batch) {
			if len(b.Disabled) > 0 {
				s.oidc.EndSignIns(b.Disabled...)
			}
		},
	}
}

// Import creates the objects of a batch of records with their ids; see
// package transfer.
func (s *Store) Import(ctx context.Context, req transfer.ImportRequest) ([]transfer.ImportOutcome, error) {
	return s.transfer.Import(ctx, req)
}

// Export returns a page of the store's records; see package transfer.
func (s *Store) Export(ctx context.Context, req transfer.ExportRequest) (*transfer.ExportPage, error) {
	return s.transfer.Export(ctx, req)
}

// ExportKeys returns every OIDC key with its private keys, when the mount's
// settings allow it (allow_key_export).
func (s *Store) ExportKeys(ctx context.Context) ([]dump.Record, error) {
	if !s.cfg.get().AllowKeyExport {
		return nil, ErrKeyExportDisabled
	}
	return s.oidc.ExportKeys(ctx)
}
