package paths

import (
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

const groupPrefix = "group"

func groupFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id": {
			Type:        framework.TypeString,
			Description: "ID of the group. If set, updates the corresponding existing group.",
		},
		"type": {
			Type:        framework.TypeString,
			Description: "Type of the group, 'internal' or 'external'. Defaults to 'internal'",
		},
		"name": {
			Type:        framework.TypeString,
			Description: "Name of the group.",
		},
		"metadata": {
			Type: framework.TypeKVPairs,
			Description: `Metadata to be associated with the group.
In CLI, this parameter can be repeated multiple times, and it all gets merged together.
For example:
vault <command> <path> metadata=key1=value1 metadata=key2=value2`,
		},
		"policies": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Policies to be tied to the group.",
		},
		"member_group_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Group IDs to be assigned as group members: the whole list; groups left out stop being members.",
		},
		"member_entity_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Entity IDs to be assigned as group members: the whole list.",
		},
		"add_member_entity_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Entity IDs to add as members, keeping the others (not in Vault's built-in engine).",
		},
		"remove_member_entity_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Entity IDs to remove from the members, keeping the others (not in Vault's built-in engine).",
		},
		"add_member_group_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Group IDs to add as member groups, keeping the others (not in Vault's built-in engine).",
		},
		"remove_member_group_ids": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Group IDs to remove from the member groups, keeping the others (not in Vault's built-in engine).",
		},
		"cas": {
			Type:        framework.TypeInt,
			Description: "Check-and-set: the write happens only if the group's modify_index equals this value (0: only if the group does not exist yet). Not in Vault's built-in engine.",
		},
	}
}

var groupCreateResponse = map[int][]framework.Response{
	http.StatusOK: {{
		Description: "The group was created.",
		Fields: map[string]*framework.FieldSchema{
			"id":   {Type: framework.TypeString, Description: "ID of the new group."},
			"name": {Type: framework.TypeString, Description: "Name of the new group."},
		},
	}},
	http.StatusNoContent: {{Description: "An existing group was updated."}},
}

var groupReadResponse = map[int][]framework.Response{
	http.StatusOK: {{
		Description: "OK",
		Fields: map[string]*framework.FieldSchema{
			"id":                {Type: framework.TypeString, Description: "ID of the group."},
			"name":              {Type: framework.TypeString, Description: "Name of the group."},
			"type":              {Type: framework.TypeString, Description: "internal or external."},
			"policies":          {Type: framework.TypeStringSlice, Description: "Policies of the group."},
			"metadata":          {Type: framework.TypeKVPairs, Description: "Metadata of the group."},
			"member_entity_ids": {Type: framework.TypeStringSlice, Description: "Member entities."},
			"member_group_ids":  {Type: framework.TypeStringSlice, Description: "Child groups."},
			"parent_group_ids":  {Type: framework.TypeStringSlice, Description: "Parent groups."},
			"alias":             {Type: framework.TypeMap, Description: "The group's alias (external groups), or empty."},
			"modify_index":      {Type: framework.TypeInt, Description: "Incremented on every change; the value for cas."},
			"namespace_id":      {Type: framework.TypeString, Description: "Namespace of the group."},
			"creation_time":     {Type: framework.TypeTime, Description: "When the group was created."},
			"last_update_time":  {Type: framework.TypeTime, Description: "When the group was last updated."},
		},
	}},
}

func groupPaths(s *identity.Store) []*framework.Path {
	h := &groupHandler{store: s}
	return []*framework.Path{
		{
			Pattern:      "group$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationVerb: "create"},
			Fields:       groupFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.register,
					Summary:   "Create a group, or update the one selected by id or name.",
					Responses: groupCreateResponse,
				},
			},
			HelpSynopsis:    "Create a new group.",
			HelpDescription: groupHelp,
		},
		{
			Pattern:      "group/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "by-id"},
			Fields:       groupFields(),
			Operations: verbOps(
				&op{h.updateByID, "Update the group with this id.", groupCreateResponse},
				&op{h.readByID, "Read the group with this id.", groupReadResponse},
				&op{h.deleteByID, "Delete the group with this id.", noContent},
			),
			HelpSynopsis:    "Update or delete an existing group using its ID.",
			HelpDescription: groupHelp,
		},
		paged(listPath("group/id/?$", framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "by-id"}, h.listByID,
			"List group ids.",
			"List all the group IDs.", groupListHelp)),
		{
			Pattern:      "group/name/(?P<name>.+)",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "by-name"},
			Fields:       groupFields(),
			Operations: verbOps(
				&op{h.upsertByName, "Create or update the group with this name.", groupCreateResponse},
				&op{h.readByName, "Read the group with this name (case-insensitive).", groupReadResponse},
				&op{h.deleteByName, "Delete the group with this name.", noContent},
			),
			HelpSynopsis:    "Create, read, update or delete a group by its name.",
			HelpDescription: groupHelp,
		},
		pagedByName(listPath("group/name/?$", framework.DisplayAttributes{OperationPrefix: groupPrefix, OperationSuffix: "by-name"}, h.listByName,
			"List group names.",
			"List all the group names.", groupListHelp)),
	}
}

type groupHandler struct {
	store *identity.Store
}

// register is POST group: an "id" key selects by id, else a "name" key
// selects by name, else a new group is made.
func (h *groupHandler) register(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if _, ok := d.GetOk("id"); ok {
		return h.updateByID(ctx, req, d)
	}
	if _, ok := d.GetOk("name"); ok {
		return h.upsertByName(ctx, req, d)
	}
	return h.write(ctx, req, d, groupUpdate(d))
}

func (h *groupHandler) updateByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	u := groupUpdate(d)
	if u.ID == "" {
		return logical.ErrorResponse("empty group ID"), nil
	}
	return h.write(ctx, req, d, u)
}

func (h *groupHandler) upsertByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	u := groupUpdate(d)
	if u.Name == "" {
		return logical.ErrorResponse("empty group name"), nil
	}
	u.ID, u.ByName = "", true
	return h.write(ctx, req, d, u)
}

func groupUpdate(d *framework.FieldData) identity.GroupUpdate {
	return identity.GroupUpdate{
		ID:                    d.Get("id").(string),
		Name:                  d.Get("name").(string),
		Type:                  optional[string](d, "type"),
		Metadata:              optional[map[string]string](d, "metadata"),
		Policies:              optional[[]string](d, "policies"),
		MemberEntityIDs:       optional[[]string](d, "member_entity_ids"),
		MemberGroupIDs:        optional[[]string](d, "member_group_ids"),
		AddMemberEntityIDs:    d.Get("add_member_entity_ids").([]string),
		RemoveMemberEntityIDs: d.Get("remove_member_entity_ids").([]string),
		AddMemberGroupIDs:     d.Get("add_member_group_ids").([]string),
		RemoveMemberGroupIDs:  d.Get("remove_member_group_ids").([]string),
		CAS:                   optional[int](d, "cas"),
	}
}

func (h *groupHandler) write(ctx context.Context, req *logical.Request, _ *framework.FieldData, u identity.GroupUpdate) (*logical.Response, error) {
	g, created, err := h.store.UpsertGroup(ctx, u)
	if err != nil {
		return respondErr(req, err)
	}
	if !created {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"id": g.ID, "name": g.Name}}, nil
}

func (h *groupHandler) readByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("empty group id"), nil
	}
	return h.read(ctx, req, identity.GroupSelector{ID: id})
}

func (h *groupHandler) readByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("empty group name"), nil
	}
	return h.read(ctx, req, identity.GroupSelector{Name: name})
}

func (h *groupHandler) read(ctx context.Context, req *logical.Request, sel identity.GroupSelector) (*logical.Response, error) {
	v, err := h.store.Group(ctx, sel)
	return found(req, v, err, groupData)
}

func (h *groupHandler) deleteByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if id == "" {
		return logical.ErrorResponse("empty group ID"), nil
	}
	return done(req, h.store.DeleteGroup(ctx, id, false))
}

func (h *groupHandler) deleteByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("empty group name"), nil
	}
	return done(req, h.store.DeleteGroup(ctx, name, true))
}

func (h *groupHandler) listByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return h.list(ctx, req, pageOf(d), false)
}

func (h *groupHandler) listByName(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, ok := namePageOf(d)
	if !ok {
		return h.list(ctx, req, identity.Page{}, true)
	}
	groups, err := h.store.GroupsByName(ctx, p)
	if err != nil {
		return respondErr(req, err)
	}
	return listOf(groups, true, func(g *identity.Group) string { return g.ID },
		func(g *identity.Group) string { return g.Name }, groupListEntry), nil
}

// list answers both group lists, in ascending id order as in Vault.
func (h *groupHandler) list(ctx context.Context, req *logical.Request, p identity.Page, byName bool) (*logical.Response, error) {
	groups, err := h.store.Groups(ctx, p)
	if err != nil {
		return respondErr(req, err)
	}
	return listOf(groups, byName, func(g *identity.Group) string { return g.ID },
		func(g *identity.Group) string { return g.Name }, groupListEntry), nil
}

var (
	groupHelp = strings.TrimSpace(`
A group gathers entities (member_entity_ids) and child groups
(member_group_ids); its policies apply to all of them and to the members of
its descendants. Internal groups are managed here; external groups get their
members from an auth method through their group alias and reject explicit
members. Writing to "group" with an "id" updates that group, with a "name"
creates or updates the group of that name (any letter case), and otherwise
creates a group with a generated name.

Beyond the built-in engine: add_/remove_member_entity_ids and
add_/remove_member_group_ids edit membership without resending the whole list,
and "cas" makes a write conditional on the group's modify_index.
`)
	groupListHelp = strings.TrimSpace(`
Lists groups in ascending id order. The id list carries key_info, keyed by
group id, with each group's name, member and parent counts and alias.
`)
)
