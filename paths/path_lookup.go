package paths

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

func lookupFields(of string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id":                   {Type: framework.TypeString, Description: "ID of the " + of + "."},
		"name":                 {Type: framework.TypeString, Description: "Name of the " + of + "."},
		"alias_id":             {Type: framework.TypeString, Description: "ID of the alias."},
		"alias_name":           {Type: framework.TypeString, Description: "Name of the alias. This should be supplied in conjunction with 'alias_mount_accessor'."},
		"alias_mount_accessor": {Type: framework.TypeString, Description: "Accessor of the mount to which the alias belongs to. This should be supplied in conjunction with 'alias_name'."},
	}
}

// lookupPaths serves lookup/entity and lookup/group (POST, as in Vault:
// found answers the read format, not found answers 204) and lookup/self.
func lookupPaths(s *identity.Store, callers *callers) []*framework.Path {
	h := &lookupHandler{store: s, callers: callers}
	return []*framework.Path{
		{
			Pattern:      "lookup/entity$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "entity", OperationVerb: "look-up"},
			Fields:       lookupFields("entity"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.entity,
					Summary:   "Look up an entity by id, name, alias id, or alias name and mount accessor.",
					Responses: withNoContent(entityReadResponse, "No entity matched."),
				},
			},
			HelpSynopsis:    "Query entities based on various properties.",
			HelpDescription: lookupHelp,
		},
		{
			Pattern:      "lookup/group$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "group", OperationVerb: "look-up"},
			Fields:       lookupFields("group"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  h.group,
					Summary:   "Look up a group by id, name, alias id, or alias name and mount accessor.",
					Responses: withNoContent(groupReadResponse, "No group matched."),
				},
			},
			HelpSynopsis:    "Query groups based on various properties.",
			HelpDescription: lookupHelp,
		},
		{
			Pattern:      "lookup/self$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "entity", OperationVerb: "look-up", OperationSuffix: "self"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:  h.self,
					Summary:   "Read the entity of this store that the calling token maps to.",
					Responses: selfResponse,
				},
			},
			HelpSynopsis:    "The caller's entity in this store.",
			HelpDescription: selfHelp,
		},
	}
}

type lookupHandler struct {
	store   *identity.Store
	callers *callers
}

// selector reads the lookup fields with Vault's rules: exactly one of id,
// name and alias_id, or both alias_name and alias_mount_accessor.
func selector(d *framework.FieldData) (identity.EntitySelector, *logical.Response) {
	var sel identity.EntitySelector
	count := 0
	for key, dst := range map[string]*string{
		"id": &sel.ID, "name": &sel.Name, "alias_id": &sel.AliasID,
		"alias_name": &sel.AliasName, "alias_mount_accessor": &sel.AliasMountAccessor,
	} {
		if v, ok := d.GetOk(key); ok {
			count++
			*dst = v.(string)
		}
	}
	switch {
	case count == 0:
		return sel, logical.ErrorResponse("query parameter not supplied")
	case count == 2 && sel.AliasName != "" && sel.AliasMountAccessor != "":
	case count != 1:
		return sel, logical.ErrorResponse("query parameter conflict; please supply distinct set of query parameters")
	case sel.AliasName != "" || sel.AliasMountAccessor != "":
		return sel, logical.ErrorResponse("both 'alias_name' and 'alias_mount_accessor' needs to be set")
	}
	return sel, nil
}

func (h *lookupHandler) entity(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	sel, bad := selector(d)
	if bad != nil {
		return bad, nil
	}
	v, err := h.store.Entity(ctx, sel)
	return found(req, v, err, entityData)
}

func (h *lookupHandler) group(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	sel, bad := selector(d)
	if bad != nil {
		return bad, nil
	}
	v, err := h.store.Group(ctx, identity.GroupSelector(sel))
	return found(req, v, err, groupData)
}

func (h *lookupHandler) self(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	v, alias, err := h.callers.entity(ctx, req, h.store)
	if err != nil {
		return respondErr(req, err)
	}
	data := entityData(v)
	data["vault_entity_id"] = req.EntityID
	data["matched_alias_id"] = alias.ID
	return &logical.Response{Data: data}, nil
}

// errNoCallerEntity is Vault's answer when a request's token has no entity.
var errNoCallerEntity = &core.Error{Status: 400, Msg: "no entity associated with the request's token"}

// callerAliasTTL is how long the aliases of a Vault entity are reused
// before Vault is asked again. Asking costs a call back into Vault on every
// request that acts for the caller; the aliases of a Vault entity change
// only when an operator moves or deletes them.
const callerAliasTTL = 30 * time.Second

// callers maps the request's Vault entity to the entity of this store that
// owns one of its aliases (same mount accessor and name), or that is made
// for it on its first request; see identity.Store.CallerEntity. It caches
// each Vault entity's name and aliases for callerAliasTTL; the mapping to
// this store's entities is always current.
type callers struct {
	sys func() logical.SystemView
	mu  sync.Mutex
	m   map[string]cachedCaller
}

type cachedCaller struct {
	caller  identity.Caller
	expires time.Time
}

// callerCacheMax bounds the cache; when full it starts over.
const callerCacheMax = 10000

func newCallers(sys func() logical.SystemView) *callers {
	return &callers{sys: sys, m: map[string]cachedCaller{}}
}

// vaultEntity returns the name and aliases of a Vault entity, as Vault
// reports them (an unknown entity has neither).
func (c *callers) vaultEntity(vaultEntityID string) (identity.Caller, error) {
	now := time.Now()
	c.mu.Lock()
	hit, ok := c.m[vaultEntityID]
	c.mu.Unlock()
	if ok && now.Before(hit.expires) {
		return hit.caller, nil
	}
	ent, err := c.sys().EntityInfo(vaultEntityID)
	if err != nil {
		return identity.Caller{}, err
	}
	var caller identity.Caller
	if ent != nil {
		caller.Name = ent.Name
		for _, a := range ent.Aliases {
			caller.Aliases = append(caller.Aliases, identity.AliasRef{MountAccessor: a.MountAccessor, Name: a.Name})
		}
	}
	c.mu.Lock()
	if len(c.m) >= callerCacheMax {
		c.m = map[string]cachedCaller{}
	}
	c.m[vaultEntityID] = cachedCaller{caller: caller, expires: now.Add(callerAliasTTL)}
	c.mu.Unlock()
	return caller, nil
}

// entity resolves the caller's entity in s for a path that acts for it,
// creating it on the caller's first request when the mount's
// caller_entities is "create": errNoCallerEntity when there is none (a
// token without a Vault entity, a Vault entity without aliases, or no
// match with "match"), core.ErrEntityDisabled when it is disabled.
func (c *callers) entity(ctx context.Context, req *logical.Request, s *identity.Store) (*identity.EntityView, *identity.Alias, error) {
	v, alias, err := c.resolve(ctx, req, s)
	if err == nil && v.Disabled {
		return nil, nil, core.ErrEntityDisabled
	}
	return v, alias, err
}

// resolve is entity without the disabled check, for the provider's
// authorization endpoint, which refuses a disabled entity through its
// client assignment check in Vault's words.
func (c *callers) resolve(ctx context.Context, req *logical.Request, s *identity.Store) (*identity.EntityView, *identity.Alias, error) {
	if req.EntityID == "" {
		return nil, nil, errNoCallerEntity
	}
	caller, err := c.vaultEntity(req.EntityID)
	if err != nil {
		return nil, nil, err
	}
	v, alias, err := s.CallerEntity(ctx, caller)
	if err != nil {
		return nil, nil, err
	}
	if v == nil {
		return nil, nil, errNoCallerEntity
	}
	return v, alias, nil
}

// withNoContent adds a 204 answer to a response declaration.
func withNoContent(r map[int][]framework.Response, desc string) map[int][]framework.Response {
	out := map[int][]framework.Response{204: {{Description: desc}}}
	for k, v := range r {
		out[k] = v
	}
	return out
}

var selfResponse = func() map[int][]framework.Response {
	fields := map[string]*framework.FieldSchema{
		"vault_entity_id":  {Type: framework.TypeString, Description: "The calling token's entity in Vault."},
		"matched_alias_id": {Type: framework.TypeString, Description: "The alias of this store that matched one of the caller's Vault aliases, or the first one made for it."},
	}
	for k, v := range entityReadResponse[200][0].Fields {
		fields[k] = v
	}
	return map[int][]framework.Response{200: {{Description: "OK", Fields: fields}}}
}()

var (
	lookupHelp = strings.TrimSpace(`
Distinct query parameters to be set:
- 'id': by id.
- 'name': by name, in any letter case.
- 'alias_id': by the id of one of its aliases.
- 'alias_name' and 'alias_mount_accessor': by the name and mount of one of its aliases.
A match answers in the read format; no match answers 204.
`)
	selfHelp = strings.TrimSpace(`
Shows which entity of this store acts for the calling token: the token's Vault
entity has aliases (mount accessor and name, from its logins); the entity here
that owns an alias with the same mount accessor and name is the caller's
entity (when they name several, the first of the Vault entity's aliases that
matches decides). With caller_entities "create" (the default, see config), a
caller none of whose aliases matches gets an entity here on its first request,
named after its Vault entity, with an alias for each of its Vault aliases.
Endpoints that act for the caller (OIDC tokens, TOTP generation, MFA
validation, recovery codes, authorization) use the same mapping. A token
without a Vault entity, or whose Vault entity has no alias, gets "no entity
associated with the request's token", and so does an unmatched caller with
caller_entities "match".
`)
)
