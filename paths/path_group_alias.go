package paths

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

func groupAliasFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id": {
			Type:        framework.TypeString,
			Description: "ID of the group alias.",
		},
		"name": {
			Type:        framework.TypeString,
			Description: "Alias of the group: the group's name in the auth method.",
		},
		"mount_accessor": {
			Type:        framework.TypeString,
			Description: "Mount accessor (auth_<type>_<8 hex digits>) to which this alias belongs to.",
		},
		"canonical_id": {
			Type:        framework.TypeString,
			Description: "ID of the external group to which this is an alias. Omitted on create: a new external group is made.",
		},
	}
}

func groupAliasPaths(s *identity.Store) []*framework.Path {
	h := &groupAliasHandler{store: s}
	return []*framework.Path{
		{
			Pattern:      "group-alias$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationVerb: "create", OperationSuffix: "alias"},
			Fields:       groupAliasFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.upsert,
					Summary:   "Create a group alias, or update the one with this id.",
					Responses: idResponseSchema,
				},
			},
			HelpSynopsis:    "Creates a new group alias, or updates an existing one.",
			HelpDescription: groupAliasHelp,
		},
		{
			Pattern:      "group-alias/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "alias-by-id"},
			Fields:       groupAliasFields(),
			Operations: verbOps(
				&op{h.update, "Update the group alias with this id.", idResponseSchema},
				&op{h.read, "Read the group alias with this id.", aliasReadResponse},
				&op{h.delete, "Delete the group alias with this id.", noContent},
			),
			HelpSynopsis:    "Update, read or delete a group alias using ID.",
			HelpDescription: groupAliasHelp,
		},
		listPath("group-alias/id/?$", framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "aliases-by-id"}, h.list,
			"List group alias ids.",
			"List all the group alias IDs.", groupAliasHelp),
	}
}

type groupAliasHandler struct {
	store *identity.Store
}

// upsert is POST group-alias: with an "id" key it updates that alias.
func (h *groupAliasHandler) upsert(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if _, ok := d.GetOk("id"); ok {
		return h.update(ctx, req, d)
	}
	return h.write(ctx, req, d, "")
}

func (h *groupAliasHandler) update(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("empty group alias ID"), nil
	}
	return h.write(ctx, req, d, id)
}

func (h *groupAliasHandler) write(ctx context.Context, req *logical.Request, d *framework.FieldData, id string) (*logical.Response, error) {
	a, changed, err := h.store.UpsertGroupAlias(ctx, identity.GroupAliasUpdate{
		ID:            id,
		Name:          d.Get("name").(string),
		MountAccessor: d.Get("mount_accessor").(string),
		CanonicalID:   d.Get("canonical_id").(string),
	})
	if err != nil {
		return respondErr(req, err)
	}
	if !changed {
		return nil, nil
	}
	return idResponse(a.ID, a.CanonicalID), nil
}

func (h *groupAliasHandler) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("empty group alias id"), nil
	}
	a, err := h.store.GroupAliasByID(ctx, id)
	return found(req, a, err, groupAliasData)
}

func (h *groupAliasHandler) delete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("missing group alias ID"), nil
	}
	return done(req, h.store.DeleteGroupAlias(ctx, id))
}

func (h *groupAliasHandler) list(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	aliases, err := h.store.GroupAliases(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	return listOf(aliases, false, func(a *identity.Alias) string { return a.ID }, nil, groupAliasListEntry), nil
}

var groupAliasHelp = strings.TrimSpace(`
A group alias ties an external group to the name of a group in an auth method
(an LDAP group, a JWT groups claim value). Only external groups have one, at
most one each: writing an alias for a group that has one replaces it. Without
"canonical_id" a new external group is made. Name and mount_accessor are
required on every write.
`)
