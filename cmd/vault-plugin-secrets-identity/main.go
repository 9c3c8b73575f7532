// Command vault-plugin-secrets-identity serves the identity secrets engine
// to Vault over the plugin protocol.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	identity "github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{})

	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		logger.Error("invalid plugin flags", "error", err)
		os.Exit(1)
	}

	// The TLS provider only matters for Vault servers without AutoMTLS.
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: identity.Factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
