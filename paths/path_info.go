package paths

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
)

// infoPaths serves info: what runs in this mount. It reads only memory, so
// it is also the cheapest request the plugin answers, the floor against
// which the load tool measures every other operation.
func infoPaths(c Config) []*framework.Path {
	s, version := c.Store.Identity(), c.Version
	return []*framework.Path{{
		Pattern:      "info$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "identity-plugin", OperationVerb: "read", OperationSuffix: "info"},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Summary: "Report the plugin version, storage schema version, object counts, how the mount loaded, its load snapshot and how its Vault token fares.",
				Callback: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
					load, err := s.LoadInfo(ctx)
					if err != nil {
						return respondErr(req, err)
					}
					n := s.Count()
					lastSnapshot := ""
					if !load.LastSnapshot.IsZero() {
						lastSnapshot = load.LastSnapshot.Format(time.RFC3339)
					}
					return &logical.Response{Data: withTokenStatus(map[string]any{
						"plugin_version":   version,
						"schema_version":   backend.SchemaVersion,
						"entities":         n.Entities,
						"entity_aliases":   n.Aliases,
						"groups":           n.Groups,
						"load_source":      load.Source,
						"load_duration_ms": load.Duration.Milliseconds(),
						"last_snapshot":    lastSnapshot,
						"snapshot_current": load.SnapshotCurrent,
					}, c.Mounts.Status(ctx))}, nil
				},
				Responses: map[int][]framework.Response{http.StatusOK: {{
					Description: "OK",
					Fields: map[string]*framework.FieldSchema{
						"plugin_version":        {Type: framework.TypeString, Description: "Version of the running plugin."},
						"schema_version":        {Type: framework.TypeInt, Description: "Storage layout version of this mount's data."},
						"entities":              {Type: framework.TypeInt, Description: "Number of entities in this mount."},
						"entity_aliases":        {Type: framework.TypeInt, Description: "Number of entity aliases in this mount."},
						"groups":                {Type: framework.TypeInt, Description: "Number of groups in this mount."},
						"last_snapshot":         {Type: framework.TypeString, Description: "When the load snapshot that storage names was taken (RFC 3339), or empty when there is none."},
						"snapshot_current":      {Type: framework.TypeBool, Description: "Whether that snapshot still holds every entity, alias and group as stored (no write since)."},
						"load_source":           {Type: framework.TypeString, Description: `How the indexes were loaded at start: "snapshot" (the load snapshot), "snapshot+objects" (the snapshot's sections that no write has touched since, and the stored objects of the others) or "objects" (every stored object).`},
						"load_duration_ms":      {Type: framework.TypeInt, Description: "How long loading the indexes took at start, in milliseconds."},
						"vault_token_last_used": configFields["vault_token_last_used"],
						"vault_token_error":     configFields["vault_token_error"],
						"mount_accessor_check":  configFields["mount_accessor_check"],
					},
				}}},
			},
		},
		HelpSynopsis:    "Information about this mount's plugin and data.",
		HelpDescription: "Reports the running plugin version, the storage schema version of the mount's data, how many entities, aliases and groups the mount holds, how its indexes were loaded at start, when the load snapshot was last written and how the mount's Vault token fares on this node (as config reports it). Served from memory, but for one read of Vault's auth mount table when no lookup has used a newly set token yet.",
	}}
}
