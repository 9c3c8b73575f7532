package mfa

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// testOptions are the settings a test gives a store of its own.
type testOptions struct {
	Storage         logical.Storage
	Now             func() time.Time
	HTTPClient      *http.Client
	MFAPollInterval time.Duration
}

// testStore is MFA over an identity store, wired as the backend package
// wires them: a test reaches both parts' methods on one value.
type testStore struct {
	*identity.Store
	*Service
}

// openStore builds the parts over o.Storage, not loaded.
func openStore(o testOptions) *testStore {
	d := core.Deps{Storage: &core.Storage{Storage: o.Storage, Workers: 8}, Locks: core.NewLocks(), Now: o.Now}
	ids := identity.New(identity.Options{Deps: d})
	svc := New(Options{Deps: d, Identity: ids, HTTPClient: o.HTTPClient, PollInterval: o.MFAPollInterval})
	ids.SetHooks(identity.Hooks{Secrets: svc.EntitySecrets()})
	return &testStore{Store: ids, Service: svc}
}

// Load loads both parts.
func (st *testStore) Load(ctx context.Context) error {
	if err := st.Store.Load(ctx); err != nil {
		return err
	}
	return st.Service.Load(ctx)
}

// Invalidate passes a key to both parts, as the backend does.
func (st *testStore) Invalidate(ctx context.Context, key string) {
	_ = st.Service.Invalidate(ctx, key) || st.Store.Invalidate(ctx, key)
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }
