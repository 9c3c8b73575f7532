// Package plugin assembles the Vault backend from the identity store
// (package backend) and its HTTP paths (package paths).
package plugin

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/mounttable"
	"github.com/vault-identity/vault-plugin-secrets-identity/paths"
)

// Version is the plugin's semantic version, set at build time with
// -ldflags "-X github.com/vault-identity/vault-plugin-secrets-identity/plugin.Version=vX.Y.Z".
// Vault records it in the plugin catalog.
var Version = "v0.0.0-dev"

// APIAddrEnv names the environment variable that gives the plugin Vault's
// address, the default issuer of identity tokens
// (vault plugin register -env=VAULT_API_ADDR=https://vault.example.com:8200).
const APIAddrEnv = "VAULT_API_ADDR"

var _ logical.Factory = Factory

// Factory builds and sets up the backend for one mount.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil {
		return nil, errors.New("configuration passed into backend is nil")
	}
	b := New(conf)
	if conf.System != nil {
		withCache := *conf
		withCache.System = &cachedSystemView{SystemView: conf.System, now: time.Now}
		conf = &withCache
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// New returns the backend of one mount over conf's storage. Factory calls it;
// tests may too.
func New(conf *logical.BackendConfig) *framework.Backend {
	logger := conf.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	apiAddr := os.Getenv(APIAddrEnv)
	// Vault's auth mount table, read with the token of the mount's config
	// (asked at every lookup, so the store must exist by then).
	var store *backend.Store
	mounts := mounttable.New(mounttable.Options{
		Addr:   apiAddr,
		Token:  func() string { return store.VaultToken() },
		Logger: logger.Named("mounts"),
	})
	store = backend.New(backend.Options{
		Storage: conf.StorageView,
		Logger:  logger,
		Mounts:  mounts,
	})
	// The indexes load in the background, so that Vault's unseal does not
	// wait for a large store; requests wait for the load (Store.Ready).
	loadCtx, stopLoad := context.WithCancel(context.Background())
	b := &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			Unauthenticated: paths.Unauthenticated,
			SealWrapStorage: backend.SealWrapPrefixes,
		},
		InitializeFunc: func(context.Context, *logical.InitializationRequest) error {
			go func() {
				if err := store.Ready(loadCtx); err != nil && loadCtx.Err() == nil {
					logger.Error("loading the identity store failed; the next request retries", "error", err)
				}
			}()
			return nil
		},
		// Cleanup (seal, reload, step-down, unmount) is when a load
		// snapshot saves the next start the most.
		Clean: func(ctx context.Context) {
			stopLoad()
			defer store.Close()
			if err := store.Snapshot(ctx); err != nil {
				logger.Warn("writing the load snapshot at cleanup failed; the next start reads every object", "error", err)
			}
		},
		Invalidate:     store.Invalidate,
		RunningVersion: Version,
	}
	b.Paths = paths.All(paths.Config{Store: store, Version: Version, APIAddr: apiAddr, System: b.System, Mounts: mounts})
	b.PeriodicFunc = func(ctx context.Context, _ *logical.Request) error {
		// Only the node that owns writes rotates keys (and renews the
		// mount's token; other nodes read the mount table when they use
		// it).
		if b.System().ReplicationState().HasState(consts.ReplicationPerformanceSecondary | consts.ReplicationPerformanceStandby) {
			return nil
		}
		// The token's problems are recorded for config and info reads,
		// never returned: the mount checks accessors by form meanwhile.
		mounts.Tick(ctx)
		return store.Periodic(ctx)
	}
	return b
}

const backendHelp = `
The identity secrets engine keeps entities: the people and services that use
Vault, with their metadata and policies. It serves the same API as Vault's
built-in identity/ engine from an external plugin mount, and can be mounted
several times for independent identity stores.
`
