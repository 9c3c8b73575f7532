package paths

import (
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
)

// This file turns backend objects into response data, field for field as the
// built-in engine returns them. mount_path is never set: a plugin cannot map
// a mount accessor to its path.

// formatTime prints a time as Vault does: RFC 3339 in UTC with nanoseconds.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// withMountType adds mount_type when the accessor names an auth method type.
func withMountType(m map[string]any, accessor string) map[string]any {
	if t, ok := backend.MountTypeOf(accessor); ok {
		m["mount_type"] = t
	}
	return m
}

// entityData is an entity as the entity read and lookup answer it.
func entityData(v *backend.EntityView) map[string]any {
	policies := v.Policies
	if policies == nil {
		policies = []string{}
	}
	aliases := make([]any, 0, len(v.Aliases))
	for _, a := range v.Aliases {
		aliases = append(aliases, withMountType(map[string]any{
			"id":                        a.ID,
			"canonical_id":              a.CanonicalID,
			"mount_accessor":            a.MountAccessor,
			"metadata":                  a.Metadata,
			"name":                      a.Name,
			"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
			"creation_time":             formatTime(a.CreationTime),
			"last_update_time":          formatTime(a.LastUpdateTime),
			"local":                     false,
			"custom_metadata":           a.CustomMetadata,
		}, a.MountAccessor))
	}
	return map[string]any{
		"id":                  v.ID,
		"name":                v.Name,
		"metadata":            v.Metadata,
		"policies":            policies,
		"disabled":            v.Disabled,
		"namespace_id":        v.NamespaceID,
		"merged_entity_ids":   v.MergedEntityIDs,
		"creation_time":       formatTime(v.CreationTime),
		"last_update_time":    formatTime(v.LastUpdateTime),
		"modify_index":        v.ModifyIndex,
		"aliases":             aliases,
		"direct_group_ids":    v.DirectGroupIDs,
		"inherited_group_ids": v.InheritedGroupIDs,
		"group_ids":           append(append([]string{}, v.DirectGroupIDs...), v.InheritedGroupIDs...),
	}
}

// aliasData is an entity or group alias as the alias reads answer it.
func aliasData(a *backend.Alias) map[string]any {
	return withMountType(map[string]any{
		"id":                        a.ID,
		"canonical_id":              a.CanonicalID,
		"mount_accessor":            a.MountAccessor,
		"metadata":                  a.Metadata,
		"custom_metadata":           a.CustomMetadata,
		"name":                      a.Name,
		"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
		"namespace_id":              a.NamespaceID,
		"local":                     false,
		"creation_time":             formatTime(a.CreationTime),
		"last_update_time":          formatTime(a.LastUpdateTime),
	}, a.MountAccessor)
}

// aliasListInfo is an alias's key_info entry in the alias lists.
type aliasListInfo struct {
	Name           string            `json:"name"`
	CanonicalID    string            `json:"canonical_id"`
	MountAccessor  string            `json:"mount_accessor"`
	MountType      string            `json:"mount_type,omitempty"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	Metadata       map[string]string `json:"metadata"`
	Local          bool              `json:"local"`
}

// aliasSummary is an alias inside the entity and group lists' key_info.
// The list entries are typed rather than maps: a whole list of a large store
// is encoded as JSON for Vault, and structs encode at half the cost of maps.
type aliasSummary struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	MountAccessor string `json:"mount_accessor"`
	MountType     string `json:"mount_type,omitempty"`
}

func summarize(a *backend.Alias) aliasSummary {
	t, _ := backend.MountTypeOf(a.MountAccessor)
	return aliasSummary{ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor, MountType: t}
}

// entityListInfo is an entity's key_info entry in the entity lists.
type entityListInfo struct {
	Name    string         `json:"name"`
	Aliases []aliasSummary `json:"aliases,omitempty"`
}

// groupListInfo is a group's key_info entry in the group lists.
type groupListInfo struct {
	Name              string        `json:"name"`
	NumMemberEntities int           `json:"num_member_entities"`
	NumParentGroups   int           `json:"num_parent_groups"`
	Alias             *aliasSummary `json:"alias,omitempty"`
}

// keyedList is logical.ListResponseWithInfo for typed key_info entries.
// The id lists pass every listed object's entry; the name lists pass none,
// as Vault keys key_info by id and keeps only entries whose key is listed.
func keyedList[T any](keys []string, info map[string]T) *logical.Response {
	resp := &logical.Response{Data: map[string]any{}}
	if len(keys) > 0 {
		resp.Data["keys"] = keys
	}
	if len(info) > 0 {
		resp.Data["key_info"] = info
	}
	return resp
}

// groupData is a group as the group read and lookup answer it.
func groupData(v *backend.GroupView) map[string]any {
	alias := map[string]any{}
	if a := v.Alias; a != nil {
		alias = withMountType(map[string]any{
			"id":                        a.ID,
			"canonical_id":              a.CanonicalID,
			"mount_accessor":            a.MountAccessor,
			"metadata":                  a.Metadata,
			"name":                      a.Name,
			"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
			"creation_time":             formatTime(a.CreationTime),
			"last_update_time":          formatTime(a.LastUpdateTime),
		}, a.MountAccessor)
	}
	var children []string
	if len(v.MemberGroupIDs) > 0 {
		children = v.MemberGroupIDs
	}
	return map[string]any{
		"id":                v.ID,
		"name":              v.Name,
		"policies":          v.Policies,
		"member_entity_ids": v.MemberEntityIDs,
		"parent_group_ids":  v.ParentGroupIDs,
		"metadata":          v.Metadata,
		"creation_time":     formatTime(v.CreationTime),
		"last_update_time":  formatTime(v.LastUpdateTime),
		"modify_index":      v.ModifyIndex,
		"type":              v.Type,
		"namespace_id":      v.NamespaceID,
		"alias":             alias,
		"member_group_ids":  children,
	}
}
