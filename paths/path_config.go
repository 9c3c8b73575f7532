package paths

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/mounttable"
)

// configPaths serves config: the mount's own settings.
func configPaths(c Config) []*framework.Path {
	h := &configHandler{store: c.Store, mounts: c.Mounts}
	return []*framework.Path{{
		Pattern:      "config/?$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "identity-plugin"},
		Fields: map[string]*framework.FieldSchema{
			"caller_entities": {
				Type:        framework.TypeString,
				Description: `How a caller whose Vault aliases match no alias of this store is treated on the paths that act for it: "create" (the default) gives it an entity here, with its Vault entity's aliases, on its first request, as Vault creates an entity at every login; "match" maps only callers an existing alias names.`,
			},
			"allow_key_export": {
				Type:        framework.TypeBool,
				Description: "Whether export/keys may return the mount's OIDC private keys (for a backup that keeps the keys). Off by default.",
			},
			"vault_token": {
				Type:         framework.TypeString,
				Description:  `A Vault token whose policy may read the auth mount table (sys/auth), with which the plugin checks mount accessors as Vault does. Write-only: never returned. "" removes it.`,
				DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: h.read, Summary: "Read the mount's settings.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read", OperationSuffix: "configuration"},
				Responses:    map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: configFields}}},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback: h.write, Summary: "Change the mount's settings.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure"},
				Responses:    map[int][]framework.Response{http.StatusOK: {{Description: "The settings as they now are.", Fields: configFields}}},
			},
		},
		HelpSynopsis:    "The settings of this mount.",
		HelpDescription: configHelp,
	}}
}

var configFields = map[string]*framework.FieldSchema{
	"caller_entities":       {Type: framework.TypeString, Description: `"create" or "match".`},
	"allow_key_export":      {Type: framework.TypeBool, Description: "Whether export/keys may return the OIDC private keys."},
	"vault_token_set":       {Type: framework.TypeBool, Description: "Whether a Vault token is set (the token itself is never returned)."},
	"vault_token_set_at":    {Type: framework.TypeString, Description: "When the Vault token was set (RFC 3339), or empty."},
	"vault_token_last_used": {Type: framework.TypeString, Description: "When this node last used the Vault token successfully (RFC 3339), or empty."},
	"vault_token_error":     {Type: framework.TypeString, Description: "The Vault token's problem on this node: why it cannot read the auth mount table, or else why it could not be looked up or renewed; empty when it works."},
	"mount_accessor_check":  {Type: framework.TypeString, Description: `How this node checks mount accessors: "vault" (against Vault's auth mount table, read with the token) or "form" (without a token, or while it fails).`},
}

type configHandler struct {
	store  *backend.Store
	mounts *mounttable.Table
}

func configData(c backend.MountConfig, st mounttable.Status) map[string]any {
	setAt := ""
	if !c.VaultTokenSetAt.IsZero() {
		setAt = c.VaultTokenSetAt.Format(time.RFC3339Nano)
	}
	return withTokenStatus(map[string]any{
		"caller_entities":    c.Callers(),
		"allow_key_export":   c.AllowKeyExport,
		"vault_token_set":    c.VaultToken != "",
		"vault_token_set_at": setAt,
	}, st)
}

// withTokenStatus adds to m how the mount's Vault token fares on this node,
// as config and info report it.
func withTokenStatus(m map[string]any, st mounttable.Status) map[string]any {
	lastUsed, check := "", "form"
	if !st.LastUsed.IsZero() {
		lastUsed = formatTime(st.LastUsed)
	}
	if st.Checking {
		check = "vault"
	}
	m["vault_token_last_used"], m["vault_token_error"], m["mount_accessor_check"] = lastUsed, st.Error, check
	return m
}

func (h *configHandler) read(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := h.store.MountConfig(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	return &logical.Response{Data: configData(c, h.mounts.Status(ctx))}, nil
}

func (h *configHandler) write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c, err := h.store.WriteMountConfig(ctx, backend.MountConfigInput{
		CallerEntities: optional[string](d, "caller_entities"),
		VaultToken:     optional[string](d, "vault_token"),
		AllowKeyExport: optional[bool](d, "allow_key_export"),
	})
	if err != nil {
		return respondErr(req, err)
	}
	// Try a new token at once, so that the answer says whether it works;
	// it is stored either way.
	if v, ok := d.GetOk("vault_token"); ok && v.(string) != "" {
		h.mounts.Check(ctx)
	}
	return &logical.Response{Data: configData(c, h.mounts.Status(ctx))}, nil
}

var configHelp = strings.TrimSpace(`
caller_entities: with "create" (the default), a caller whose token has a Vault
entity but none of whose Vault aliases is an alias of this store gets, on its
first request to a path that acts for it (lookup/self, oidc/token, provider
authorize, TOTP generate, mfa/validate, recovery codes), an entity here named
after its Vault entity (or a generated name when that one is taken), with an
alias for each of its Vault aliases. With "match", only existing aliases map
callers, and those paths never write.

allow_key_export: with true, export/keys returns every OIDC key with its
private keys, to whoever the ACL lets read that path. Off by default.

vault_token: a token whose policy allows reading sys/auth (and, through the
default policy, looking itself up and renewing itself). With it, mount
accessors are checked against Vault's auth mount table as the built-in engine
checks them, and aliases read with their mount_path and local; without it,
or while it fails, by their form (auth_<type>_<8 hex digits>). The plugin
renews it from its periodic function. Stored seal-wrapped, never returned;
a write tries it at once. vault_token_last_used, vault_token_error and
mount_accessor_check report how it fares on the node that answers.
`)
