package paths

import (
	"cmp"
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

func entityAliasFields(withCustomMetadata bool) map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"id": {
			Type:        framework.TypeString,
			Description: "ID of the entity alias. If set, updates the corresponding entity alias.",
		},
		"entity_id": {
			Type:        framework.TypeString,
			Description: "Entity ID to which this alias belongs. This field is deprecated, use canonical_id.",
			Deprecated:  true,
		},
		"canonical_id": {
			Type:        framework.TypeString,
			Description: "Entity ID to which this alias belongs. Omitted on create: a new entity is made.",
		},
		"mount_accessor": {
			Type:        framework.TypeString,
			Description: "Accessor of the auth mount (auth_<type>_<8 hex digits>) the alias belongs to.",
		},
		"name": {
			Type:        framework.TypeString,
			Description: "Name of the alias: the name the auth method knows the user by.",
		},
	}
	if withCustomMetadata {
		f["custom_metadata"] = &framework.FieldSchema{
			Type:        framework.TypeKVPairs,
			Description: "User provided key-value pairs (at most 64; keys up to 128 and values up to 512 characters).",
		}
	}
	return f
}

var aliasReadResponse = map[int][]framework.Response{
	http.StatusOK: {{
		Description: "OK",
		Fields: map[string]*framework.FieldSchema{
			"id":                        {Type: framework.TypeString, Description: "ID of the alias."},
			"canonical_id":              {Type: framework.TypeString, Description: "ID of the entity or group it belongs to."},
			"mount_accessor":            {Type: framework.TypeString, Description: "Accessor of its auth mount."},
			"mount_type":                {Type: framework.TypeString, Description: "Type of its auth mount: from Vault's auth mount table when the mount has a Vault token, else the type named in the accessor. Absent when the mount is unknown."},
			"mount_path":                {Type: framework.TypeString, Description: "Path of its auth mount (auth/<path>/), from Vault's auth mount table; absent without a Vault token."},
			"metadata":                  {Type: framework.TypeKVPairs, Description: "Metadata set by logins (none in this engine)."},
			"custom_metadata":           {Type: framework.TypeKVPairs, Description: "User provided key-value pairs."},
			"name":                      {Type: framework.TypeString, Description: "Name of the alias."},
			"merged_from_canonical_ids": {Type: framework.TypeStringSlice, Description: "Entities it belonged to before merges."},
			"namespace_id":              {Type: framework.TypeString, Description: "Namespace of the alias."},
			"local":                     {Type: framework.TypeBool, Description: "Whether the alias is on a local auth mount (known only with a Vault token)."},
			"creation_time":             {Type: framework.TypeTime, Description: "When the alias was created."},
			"last_update_time":          {Type: framework.TypeTime, Description: "When the alias was last updated."},
		},
	}},
}

// entityAliasPaths serves entity-alias and its legacy spellings alias and
// persona. As in Vault, POST persona writes an entity, not an alias.
func entityAliasPaths(s *identity.Store) []*framework.Path {
	h := &entityAliasHandler{store: s}
	var out []*framework.Path
	for _, p := range []struct {
		prefix, suffix string
		custom         bool
	}{{"entity-alias", "alias", true}, {"alias", "alias2", false}} {
		out = append(out, h.aliasFamily(p.prefix, p.suffix, p.custom)...)
	}
	return append(out, h.personaPaths()...)
}

type entityAliasHandler struct {
	store *identity.Store
}

func (h *entityAliasHandler) aliasFamily(prefix, suffix string, custom bool) []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      prefix + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationVerb: "create", OperationSuffix: suffix},
			Fields:       entityAliasFields(custom),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.upsert,
					Summary:   "Create an entity alias, or update the one with the same id or mount accessor and name.",
					Responses: idResponseSchema,
				},
			},
			HelpSynopsis:    "Create a new alias.",
			HelpDescription: entityAliasHelp,
		},
		{
			Pattern:      prefix + "/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: suffix + "-by-id"},
			Fields:       entityAliasFields(custom),
			Operations: verbOps(
				&op{h.upsert, "Update the entity alias with this id.", idResponseSchema},
				&op{h.read, "Read the entity alias with this id.", aliasReadResponse},
				&op{h.delete, "Delete the entity alias with this id.", noContent},
			),
			HelpSynopsis:    "Update, read or delete an alias ID.",
			HelpDescription: entityAliasIDHelp,
		},
		paged(listPath(prefix+"/id/?$", framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: suffix + "es-by-id"}, h.list,
			"List entity alias ids.",
			"List all the alias IDs.", "Lists entity alias ids in ascending order, with each alias's name, entity, mount and custom metadata in key_info.")),
	}
}

func (h *entityAliasHandler) personaPaths() []*framework.Path {
	eh := &entityHandler{store: h.store}
	fields := entityAliasFields(false)
	fields["metadata"] = &framework.FieldSchema{
		Type:        framework.TypeKVPairs,
		Description: "Metadata of the entity this legacy path writes.",
	}
	return []*framework.Path{
		{
			Pattern:      "persona$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "persona", OperationVerb: "create"},
			Fields:       fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  eh.upsert,
					Summary:   "Legacy: create or update an entity (not an alias), as Vault's persona path does.",
					Responses: entityCreateResponse,
				},
			},
			HelpSynopsis:    "Legacy path kept for compatibility; use entity-alias.",
			HelpDescription: personaHelp,
		},
		{
			Pattern:      "persona/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "persona", OperationSuffix: "by-id"},
			Fields:       fields,
			Operations: verbOps(
				&op{eh.upsert, "Legacy: update the entity with this id.", entityCreateResponse},
				&op{h.read, "Legacy: read the entity alias with this id.", aliasReadResponse},
				&op{h.delete, "Legacy: delete the entity alias with this id.", noContent},
			),
			HelpSynopsis:    "Legacy path kept for compatibility; use entity-alias/id.",
			HelpDescription: personaHelp,
		},
		listPath("persona/id/?$", framework.DisplayAttributes{OperationPrefix: "persona", OperationSuffix: "by-id"}, h.list,
			"Legacy: list entity alias ids.",
			"Legacy path kept for compatibility; use entity-alias/id.", personaHelp),
	}
}

func (h *entityAliasHandler) upsert(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	u := identity.AliasUpdate{
		ID:            d.Get("id").(string),
		Name:          d.Get("name").(string),
		MountAccessor: d.Get("mount_accessor").(string),
		CanonicalID:   cmp.Or(d.Get("canonical_id").(string), d.Get("entity_id").(string)),
	}
	if _, ok := d.Schema["custom_metadata"]; ok {
		u.CustomMetadata = optional[map[string]string](d, "custom_metadata")
	}
	a, changed, err := h.store.UpsertAlias(ctx, u)
	if err != nil {
		return respondErr(req, err)
	}
	if !changed {
		return nil, nil
	}
	return idResponse(a.ID, a.CanonicalID), nil
}

func (h *entityAliasHandler) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("missing alias id"), nil
	}
	a, err := h.store.AliasByID(ctx, id)
	return found(req, a, err, aliasData)
}

func (h *entityAliasHandler) delete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("missing alias ID"), nil
	}
	return done(req, h.store.DeleteAlias(ctx, id))
}

func (h *entityAliasHandler) list(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	aliases, err := h.store.Aliases(ctx, pageOf(d))
	if err != nil {
		return respondErr(req, err)
	}
	return aliasList(aliases), nil
}

// aliasList is the list answer for entity or group aliases.
func aliasList(aliases []*identity.Alias) *logical.Response {
	return listOf(aliases, false, func(a *identity.Alias) string { return a.ID }, nil, aliasListEntry)
}

var (
	entityAliasHelp = strings.TrimSpace(`
An entity alias ties an entity to the name an auth mount knows it by. Writing
with "id" updates that alias; otherwise an alias with the same mount accessor
and name (in any letter case) is updated; otherwise a new alias is made, on
"canonical_id" or, without one, on a new entity. One alias per mount per
entity. Answers the alias id and its entity id, or 204 when nothing changed.

The mount accessor must have the form of a Vault auth mount accessor,
auth_<type>_<8 hex digits>; the plugin cannot see Vault's mount table, so it
does not check that the mount exists.
`)
	entityAliasIDHelp = strings.TrimSpace(`
Entity aliases by id. Writing updates only what is given: name, mount
accessor, custom metadata, or canonical_id to move the alias to another entity.
`)
	personaHelp = strings.TrimSpace(`
Legacy paths from before entity aliases. As in Vault, writing to persona or
persona/id/:id creates or updates an entity (name, metadata), while reading,
deleting and listing work on entity aliases.
`)
)
