package paths

import (
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

const entityPrefix = "entity"

func entityFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id": {
			Type:        framework.TypeString,
			Description: "ID of the entity. If set, updates the corresponding existing entity.",
		},
		"name": {
			Type:        framework.TypeString,
			Description: "Name of the entity. Generated (entity_ followed by 8 hex digits) when absent on create.",
		},
		"metadata": {
			Type: framework.TypeKVPairs,
			Description: `Metadata to be associated with the entity. Replaces the stored metadata as a whole.
In CLI, this parameter can be repeated multiple times, and it all gets merged together.
For example:
vault <command> <path> metadata=key1=value1 metadata=key2=value2`,
		},
		"policies": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Policies to be tied to the entity.",
		},
		"disabled": {
			Type:        framework.TypeBool,
			Description: "If set true, tokens tied to this identity will not be able to be used (but will not be revoked).",
		},
		"cas": {
			Type:        framework.TypeInt,
			Description: "Check-and-set: the write happens only if the entity's modify_index equals this value (0: only if the entity does not exist yet). Not in Vault's built-in engine.",
		},
	}
}

var entityCreateResponse = map[int][]framework.Response{
	http.StatusOK: {{
		Description: "The entity was created.",
		Fields: map[string]*framework.FieldSchema{
			"id":      {Type: framework.TypeString, Description: "ID of the new entity."},
			"name":    {Type: framework.TypeString, Description: "Name of the new entity."},
			"aliases": {Type: framework.TypeStringSlice, Description: "IDs of the entity's aliases."},
		},
	}},
	http.StatusNoContent: {{Description: "An existing entity was updated."}},
}

var entityReadResponse = map[int][]framework.Response{
	http.StatusOK: {{
		Description: "OK",
		Fields: map[string]*framework.FieldSchema{
			"id":                  {Type: framework.TypeString, Description: "ID of the entity."},
			"name":                {Type: framework.TypeString, Description: "Name of the entity."},
			"metadata":            {Type: framework.TypeKVPairs, Description: "Metadata of the entity."},
			"policies":            {Type: framework.TypeStringSlice, Description: "Policies tied to the entity."},
			"disabled":            {Type: framework.TypeBool, Description: "Whether the entity is disabled."},
			"namespace_id":        {Type: framework.TypeString, Description: "Namespace of the entity."},
			"merged_entity_ids":   {Type: framework.TypeStringSlice, Description: "IDs of the entities merged into this one."},
			"creation_time":       {Type: framework.TypeTime, Description: "When the entity was created (RFC 3339)."},
			"last_update_time":    {Type: framework.TypeTime, Description: "When the entity was last updated (RFC 3339)."},
			"modify_index":        {Type: framework.TypeInt, Description: "Incremented on every write of the entity; the value for cas. Not in Vault's built-in engine."},
			"aliases":             {Type: framework.TypeSlice, Description: "The entity's aliases."},
			"direct_group_ids":    {Type: framework.TypeStringSlice, Description: "Groups that list the entity as a member."},
			"inherited_group_ids": {Type: framework.TypeStringSlice, Description: "Ancestors of the direct groups."},
			"group_ids":           {Type: framework.TypeStringSlice, Description: "Direct and inherited groups."},
		},
	}},
}

func entityPaths(s *identity.Store) []*framework.Path {
	h := &entityHandler{store: s}
	return []*framework.Path{
		{
			Pattern:      "entity$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationVerb: "create"},
			Fields:       entityFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.upsert,
					Summary:   "Create an entity, or update the one selected by id or name.",
					Responses: entityCreateResponse,
				},
			},
			HelpSynopsis:    "Create a new entity, or update an existing one.",
			HelpDescription: entityHelp,
		},
		{
			Pattern:      "entity/name/(?P<name>.+)",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: "by-name"},
			Fields:       entityFields(),
			Operations: verbOps(
				&op{h.upsert, "Create or update the entity with this name.", entityCreateResponse},
				&op{h.readByName, "Read the entity with this name (case-insensitive).", entityReadResponse},
				&op{h.deleteByName, "Delete the entity with this name.", noContent},
			),
			HelpSynopsis:    "Create, read, update or delete an entity by its name.",
			HelpDescription: entityNameHelp,
		},
		{
			Pattern:      "entity/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: "by-id"},
			Fields:       entityFields(),
			Operations: verbOps(
				&op{h.upsert, "Update the entity with this id.", entityCreateResponse},
				&op{h.readByID, "Read the entity with this id.", entityReadResponse},
				&op{h.deleteByID, "Delete the entity with this id.", noContent},
			),
			HelpSynopsis:    "Read, update or delete an entity by its id.",
			HelpDescription: entityIDHelp,
		},
		{
			Pattern:      "entity/batch-delete",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationVerb: "batch-delete"},
			Fields: map[string]*framework.FieldSchema{
				"entity_ids": {
					Type:        framework.TypeCommaStringSlice,
					Description: "Entity IDs to delete. Unknown ids are skipped.",
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.batchDelete,
					Summary:   "Delete several entities at once.",
					Responses: noContent,
				},
			},
			HelpSynopsis:    "Delete several entities by id.",
			HelpDescription: entityBatchDeleteHelp,
		},
		{
			Pattern:      "entity/merge/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationVerb: "merge"},
			Fields: map[string]*framework.FieldSchema{
				"from_entity_ids": {
					Type:        framework.TypeCommaStringSlice,
					Description: "Entity IDs which need to get merged",
				},
				"to_entity_id": {
					Type:        framework.TypeString,
					Description: "Entity ID into which all the other entities need to get merged",
				},
				"conflicting_alias_ids_to_keep": {
					Type:        framework.TypeCommaStringSlice,
					Description: "Alias IDs to keep in case of conflicting aliases. Ignored if no conflicting aliases found",
				},
				"force": {
					Type:        framework.TypeBool,
					Description: "When the target and a merged entity both have a secret for the same MFA method, keep the target's instead of refusing the merge.",
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.merge,
					Summary:   "Merge entities into one.",
					Responses: noContent,
				},
			},
			HelpSynopsis:    "Merge two or more entities together.",
			HelpDescription: entityMergeHelp,
		},
		pagedByName(listPath("entity/name/?$", framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: "by-name"}, h.listByName,
			"List entity names.",
			"List all entity names.", entityListHelp)),
		paged(listPath("entity/id/?$", framework.DisplayAttributes{OperationPrefix: entityPrefix, OperationSuffix: "by-id"}, h.listByID,
			"List entity ids.",
			"List all entity ids.", entityListHelp)),
	}
}

type entityHandler struct {
	store *identity.Store
}

func (h *entityHandler) upsert(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, created, err := h.store.UpsertEntity(ctx, identity.EntityUpdate{
		ID:       d.Get("id").(string),
		Name:     d.Get("name").(string),
		Metadata: optional[map[string]string](d, "metadata"),
		Policies: optional[[]string](d, "policies"),
		Disabled: optional[bool](d, "disabled"),
		CAS:      optional[int](d, "cas"),
	})
	if err != nil {
		return respondErr(req, err)
	}
	if !created {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{
		"id":      e.ID,
		"name":    e.Name,
		"aliases": []string(nil), // a new entity has none yet
	}}, nil
}

func (h *entityHandler) readByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("missing entity id"), nil
	}
	v, err := h.store.Entity(ctx, identity.EntitySelector{ID: id})
	return found(req, v, err, entityData)
}

func (h *entityHandler) readByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("missing entity name"), nil
	}
	v, err := h.store.Entity(ctx, identity.EntitySelector{Name: name})
	return found(req, v, err, entityData)
}

func (h *entityHandler) deleteByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("missing entity id"), nil
	}
	return done(req, h.store.DeleteEntity(ctx, id))
}

func (h *entityHandler) deleteByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("missing entity name"), nil
	}
	return done(req, h.store.DeleteEntityByName(ctx, name))
}

func (h *entityHandler) batchDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ids := d.Get("entity_ids").([]string)
	if len(ids) == 0 {
		return logical.ErrorResponse("missing entity ids to delete"), nil
	}
	return done(req, h.store.DeleteEntities(ctx, ids))
}

func (h *entityHandler) merge(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	to, ok := d.GetOk("to_entity_id")
	if !ok || to.(string) == "" {
		return logical.ErrorResponse("missing entity id to merge to"), nil
	}
	from, ok := d.GetOk("from_entity_ids")
	if !ok || len(from.([]string)) == 0 {
		return logical.ErrorResponse("missing entity ids to merge from"), nil
	}
	err := h.store.MergeEntities(ctx, identity.MergeRequest{
		To:           to.(string),
		From:         from.([]string),
		KeepAliasIDs: d.Get("conflicting_alias_ids_to_keep").([]string),
		Force:        d.Get("force").(bool),
	})
	if err != nil {
		return respondErr(req, err)
	}
	return nil, nil
}

func (h *entityHandler) listByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return h.list(ctx, req, pageOf(d), false)
}

func (h *entityHandler) listByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, ok := namePageOf(d)
	if !ok {
		return h.list(ctx, req, identity.Page{}, true)
	}
	entities, err := h.store.EntitiesByName(ctx, p)
	if err != nil {
		return respondErr(req, err)
	}
	return listOf(entities, true, func(e *identity.EntityView) string { return e.ID },
		func(e *identity.EntityView) string { return e.Name }, entityListEntry), nil
}

// list answers both entity lists, in ascending id order as in Vault.
func (h *entityHandler) list(ctx context.Context, req *logical.Request, p identity.Page, byName bool) (*logical.Response, error) {
	entities, err := h.store.Entities(ctx, p)
	if err != nil {
		return respondErr(req, err)
	}
	return listOf(entities, byName, func(e *identity.EntityView) string { return e.ID },
		func(e *identity.EntityView) string { return e.Name }, entityListEntry), nil
}

var (
	entityHelp = strings.TrimSpace(`
An entity is a person or service known to the identity store. Writing here
creates one, or updates an existing one: the entity with the given "id", or,
when no id is given, the entity whose name matches "name" in any letter case.
A new entity answers with its id and name; an update answers 204.
`)
	entityNameHelp = strings.TrimSpace(`
Entities addressed by name. Names are unique without regard to letter case and
are looked up the same way; the stored spelling is the one last written.
Writing to a name that does not exist creates the entity.
`)
	entityIDHelp = strings.TrimSpace(`
Entities addressed by id. Writing updates only the fields given; metadata is
replaced as a whole. Deleting an unknown id succeeds.
`)
	entityMergeHelp = strings.TrimSpace(`
Moves the aliases of the entities in "from_entity_ids" to "to_entity_id",
records the merged ids in its merged_entity_ids, passes their group
memberships to it and deletes them. When the target and a merged entity have
aliases on the same mount, the merge is refused with the clashes listed,
unless "conflicting_alias_ids_to_keep" names the alias to keep. Policies are
not merged.
`)
	entityBatchDeleteHelp = strings.TrimSpace(`
Deletes every entity whose id is in "entity_ids". Ids that match no entity are
skipped.
`)
	entityListHelp = strings.TrimSpace(`
Lists entities in ascending id order. The id list carries "key_info", keyed by
entity id, with each entity's name and aliases; as in Vault, the name list has
none, because its keys are names.
`)
)
