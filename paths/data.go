package paths

import (
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// This file turns backend objects into response data, field for field as the
// built-in engine returns them. An alias's mount_type, mount_path and local
// come from Vault's auth mount table when the mount has a token to read it
// (Alias.Mount); without one, mount_type is the type named in the accessor,
// mount_path is left out and local is false.

// formatTime prints a time as Vault does: RFC 3339 in UTC with nanoseconds.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// withMount adds the alias's mount_type and mount_path, where its mount is
// known, as Vault does; with local, also the alias's locality.
func withMount(m map[string]any, a *identity.Alias, local bool) map[string]any {
	mount := a.Mount()
	if mount.Type != "" {
		m["mount_type"] = mount.Type
	}
	if mount.Path != "" {
		m["mount_path"] = mount.Path
	}
	if local {
		m["local"] = mount.Local
	}
	return m
}

// entityData is an entity as the entity read and lookup answer it.
func entityData(v *identity.EntityView) map[string]any {
	policies := v.Policies
	if policies == nil {
		policies = []string{}
	}
	aliases := make([]any, 0, len(v.Aliases))
	for _, a := range v.Aliases {
		aliases = append(aliases, withMount(map[string]any{
			"id":                        a.ID,
			"canonical_id":              a.CanonicalID,
			"mount_accessor":            a.MountAccessor,
			"metadata":                  a.Metadata,
			"name":                      a.Name,
			"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
			"creation_time":             formatTime(a.CreationTime),
			"last_update_time":          formatTime(a.LastUpdateTime),
			"custom_metadata":           a.CustomMetadata,
		}, a, true))
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

// aliasData is an entity alias as the alias reads answer it.
func aliasData(a *identity.Alias) map[string]any {
	return withMount(aliasFields(a), a, true)
}

// groupAliasData is a group alias as its reads answer it: as an entity
// alias, never local (Vault refuses group aliases on local mounts, and
// reports local false for them).
func groupAliasData(a *identity.Alias) map[string]any {
	m := withMount(aliasFields(a), a, false)
	m["local"] = false
	return m
}

func aliasFields(a *identity.Alias) map[string]any {
	return map[string]any{
		"id":                        a.ID,
		"canonical_id":              a.CanonicalID,
		"mount_accessor":            a.MountAccessor,
		"metadata":                  a.Metadata,
		"custom_metadata":           a.CustomMetadata,
		"name":                      a.Name,
		"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
		"namespace_id":              a.NamespaceID,
		"creation_time":             formatTime(a.CreationTime),
		"last_update_time":          formatTime(a.LastUpdateTime),
	}
}

// The list entries are typed rather than maps: a whole list of a large store
// is encoded as JSON for Vault, and structs encode at half the cost of maps.

// aliasListInfo is an alias's key_info entry in the alias lists.
type aliasListInfo struct {
	Name           string            `json:"name"`
	CanonicalID    string            `json:"canonical_id"`
	MountAccessor  string            `json:"mount_accessor"`
	MountType      string            `json:"mount_type,omitempty"`
	MountPath      string            `json:"mount_path,omitempty"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	Metadata       map[string]string `json:"metadata"`
	Local          bool              `json:"local"`
}

// aliasListEntry is an entity alias's entry; groupAliasListEntry a group
// alias's, never local.
func aliasListEntry(a *identity.Alias) aliasListInfo {
	m := a.Mount()
	return aliasListInfo{Name: a.Name, CanonicalID: a.CanonicalID, MountAccessor: a.MountAccessor, MountType: m.Type,
		MountPath: m.Path, CustomMetadata: a.CustomMetadata, Metadata: a.Metadata, Local: m.Local}
}

func groupAliasListEntry(a *identity.Alias) aliasListInfo {
	e := aliasListEntry(a)
	e.Local = false
	return e
}

// aliasSummary is an alias inside the entity and group lists' key_info.
type aliasSummary struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	MountAccessor string `json:"mount_accessor"`
	MountType     string `json:"mount_type,omitempty"`
	MountPath     string `json:"mount_path,omitempty"`
}

func summarize(a *identity.Alias) aliasSummary {
	m := a.Mount()
	return aliasSummary{ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor, MountType: m.Type, MountPath: m.Path}
}

// entityListInfo is an entity's key_info entry in the entity lists.
type entityListInfo struct {
	Name    string         `json:"name"`
	Aliases []aliasSummary `json:"aliases,omitempty"`
}

func entityListEntry(e *identity.EntityView) entityListInfo {
	entry := entityListInfo{Name: e.Name}
	for _, a := range e.Aliases {
		entry.Aliases = append(entry.Aliases, summarize(a))
	}
	return entry
}

// groupListInfo is a group's key_info entry in the group lists.
type groupListInfo struct {
	Name              string        `json:"name"`
	NumMemberEntities int           `json:"num_member_entities"`
	NumParentGroups   int           `json:"num_parent_groups"`
	Alias             *aliasSummary `json:"alias,omitempty"`
}

func groupListEntry(g *identity.Group) groupListInfo {
	entry := groupListInfo{Name: g.Name, NumMemberEntities: len(g.MemberEntityIDs), NumParentGroups: len(g.ParentGroupIDs)}
	if g.Alias != nil {
		s := summarize(g.Alias)
		entry.Alias = &s
	}
	return entry
}

// listOf is the answer of a list of objs in their order: keys are their
// ids, or their names when byName. key_info holds entry of each object,
// keyed by id, in the id lists only: Vault keys it by id for both and keeps
// only the entries whose key is listed.
func listOf[T, I any](objs []T, byName bool, id, name func(T) string, entry func(T) I) *logical.Response {
	keys := make([]string, 0, len(objs))
	var info map[string]I
	if !byName {
		info = make(map[string]I, len(objs))
	}
	for _, o := range objs {
		if byName {
			keys = append(keys, name(o))
			continue
		}
		keys = append(keys, id(o))
		info[id(o)] = entry(o)
	}
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
func groupData(v *identity.GroupView) map[string]any {
	alias := map[string]any{}
	if a := v.Alias; a != nil {
		alias = withMount(map[string]any{
			"id":                        a.ID,
			"canonical_id":              a.CanonicalID,
			"mount_accessor":            a.MountAccessor,
			"metadata":                  a.Metadata,
			"name":                      a.Name,
			"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
			"creation_time":             formatTime(a.CreationTime),
			"last_update_time":          formatTime(a.LastUpdateTime),
		}, a, false)
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
