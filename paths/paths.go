// Package paths maps the identity engine's HTTP API onto the backend package:
// field schemas, operations, help, response schemas and input decoding. Each
// file serves one URL family.
package paths

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/mounttable"
)

// Config is what the paths need.
type Config struct {
	// Store is the mount's engine: each family of paths gets the part it
	// serves, and every request waits for the store's load first.
	Store *backend.Store
	// Version is the running plugin's version.
	Version string
	// APIAddr is Vault's address as given to the plugin, the issuer's
	// default.
	APIAddr string
	// System gives the system view, through which the caller's entity is
	// resolved.
	System func() logical.SystemView
	// Mounts is Vault's auth mount table as the mount's token reads it,
	// whose status config and info report; nil in tests without one.
	Mounts *mounttable.Table
}

// All returns every path of the engine.
func All(c Config) []*framework.Path {
	ids := c.Store.Identity()
	callers := newCallers(c.System)
	// The console's files are the only paths that need nothing of the store.
	return append(afterLoad(c.Store.Ready, slices.Concat(
		entityPaths(ids),
		entityAliasPaths(ids),
		groupPaths(ids),
		groupAliasPaths(ids),
		lookupPaths(ids, callers),
		oidcPaths(c, callers),
		providerPaths(c, callers),
		devicePaths(c, callers),
		signInPaths(c),
		logoutPaths(c),
		mfaPaths(c, callers),
		infoPaths(c),
		configPaths(c),
		transferPaths(c),
	)), uiPaths(c)...)
}

// afterLoad makes every operation and existence check of paths wait for the
// store's load (ready), in case a request arrives before it has ended: the
// one place readiness is checked.
func afterLoad(ready func(context.Context) error, paths []*framework.Path) []*framework.Path {
	for _, p := range paths {
		for op, h := range p.Operations {
			props := h.Properties()
			next := h.Handler()
			p.Operations[op] = &framework.PathOperation{
				Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
					if err := ready(ctx); err != nil {
						return nil, err
					}
					return next(ctx, req, d)
				},
				Summary: props.Summary, Description: props.Description, Examples: props.Examples,
				Responses: props.Responses, Unpublished: props.Unpublished, Deprecated: props.Deprecated,
				ForwardPerformanceSecondary: props.ForwardPerformanceSecondary,
				ForwardPerformanceStandby:   props.ForwardPerformanceStandby,
				DisplayAttrs:                props.DisplayAttrs,
			}
		}
		if check := p.ExistenceCheck; check != nil {
			p.ExistenceCheck = func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
				if err := ready(ctx); err != nil {
					return false, err
				}
				return check(ctx, req, d)
			}
		}
	}
	return paths
}

// Unauthenticated are the paths Vault serves without a token.
var Unauthenticated = []string{
	"oidc/.well-known/*",
	// Child issuers: refused with Vault's 400, unauthenticated as in Vault.
	"oidc/+/.well-known/*",
	"oidc/provider/+/.well-known/*",
	// The provider's OAuth endpoints authenticate their callers
	// themselves: clients with their secrets, userinfo with an access token.
	"oidc/provider/+/token",
	"oidc/provider/+/userinfo",
	"oidc/provider/+/introspect",
	"oidc/provider/+/revoke",
	// The device authorization endpoint (RFC 8628) authenticates clients
	// as the token endpoint; its device/verify path needs a token.
	"oidc/provider/+/device",
	// The browser sign-in page and its assets.
	"oidc/provider/+/sign-in",
	// The sign-out page (end_session_endpoint): its id_token_hint is the
	// credential.
	"oidc/provider/+/logout",
	"oidc/sign-in/*",
	// The admin console's page and files (path_ui.go).
	"ui",
	"ui/*",
}

// respondErr turns a backend error into Vault's answer: a request error
// becomes an error response with Vault's message and status; anything else
// is an internal error (500).
func respondErr(req *logical.Request, err error) (*logical.Response, error) {
	var clash *identity.MergeConflictError
	if errors.As(err, &clash) {
		return logical.ErrorResponseWithData(clash.Clashes, "%s", clash.Msg), nil
	}
	if e, ok := core.AsError(err); ok {
		resp := logical.ErrorResponse(e.Msg)
		switch e.Status {
		case http.StatusBadRequest:
			return resp, nil
		case http.StatusForbidden:
			return resp, logical.ErrPermissionDenied
		default:
			return logical.RespondWithStatusCode(resp, req, e.Status)
		}
	}
	return nil, err
}

// found answers a read or lookup: the data of the object, or 404 (204 for
// a lookup, which is a write) when there is none.
func found[T any](req *logical.Request, v *T, err error, data func(*T) map[string]any) (*logical.Response, error) {
	if err != nil {
		return respondErr(req, err)
	}
	if v == nil {
		return nil, nil
	}
	return &logical.Response{Data: data(v)}, nil
}

// done answers a write or delete that returns no data: 204, or the error.
func done(req *logical.Request, err error) (*logical.Response, error) {
	if err != nil {
		return respondErr(req, err)
	}
	return nil, nil
}

// idResponse is the answer to an alias write: the alias id and its owner's.
func idResponse(id, canonicalID string) *logical.Response {
	return &logical.Response{Data: map[string]any{"id": id, "canonical_id": canonicalID}}
}

// optional reads a field that Vault treats differently when absent.
func optional[T any](d *framework.FieldData, key string) core.Opt[T] {
	if v, ok := d.GetOk(key); ok {
		return core.Some(v.(T))
	}
	return core.Opt[T]{}
}

// Shared response declarations.
var (
	idResponseSchema = map[int][]framework.Response{
		http.StatusOK: {{
			Description: "OK",
			Fields: map[string]*framework.FieldSchema{
				"id":           {Type: framework.TypeString, Description: "ID of the alias."},
				"canonical_id": {Type: framework.TypeString, Description: "ID of the entity or group the alias belongs to."},
			},
		}},
		http.StatusNoContent: {{Description: "Nothing changed."}},
	}
	noContent = map[int][]framework.Response{
		http.StatusNoContent: {{Description: "No Content"}},
	}
	listResponse = map[int][]framework.Response{
		http.StatusOK: {{
			Description: "OK",
			Fields: map[string]*framework.FieldSchema{
				"keys":     {Type: framework.TypeStringSlice, Description: "The listed keys."},
				"key_info": {Type: framework.TypeMap, Description: "Details of each listed object, keyed by its id."},
			},
		}},
	}
)

// op is one operation of a path: handler, summary and declared responses.
type op struct {
	fn        framework.OperationFunc
	summary   string
	responses map[int][]framework.Response
}

// verbOps builds the operations of an object path, each named by its verb
// (update, read, delete) for the OpenAPI operation ids. A nil op is left out.
func verbOps(update, read, del *op) map[logical.Operation]framework.OperationHandler {
	out := map[logical.Operation]framework.OperationHandler{}
	for _, o := range []struct {
		kind logical.Operation
		verb string
		op   *op
	}{{logical.UpdateOperation, "update", update}, {logical.ReadOperation, "read", read}, {logical.DeleteOperation, "delete", del}} {
		if o.op != nil {
			out[o.kind] = &framework.PathOperation{
				Callback:     o.op.fn,
				Summary:      o.op.summary,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: o.verb},
				Responses:    o.op.responses,
			}
		}
	}
	return out
}

// listPath is a LIST-only path.
func listPath(pattern string, attrs framework.DisplayAttributes, fn framework.OperationFunc, summary, synopsis, help string) *framework.Path {
	attrs.OperationVerb = "list"
	return &framework.Path{
		Pattern:      pattern,
		DisplayAttrs: &attrs,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: fn, Summary: summary, Responses: listResponse},
		},
		HelpSynopsis:    synopsis,
		HelpDescription: help,
	}
}

// withFields gives p its fields.
func withFields(p *framework.Path, fields map[string]*framework.FieldSchema) *framework.Path {
	p.Fields = fields
	return p
}

// paged lets a list of ids be read in pages.
func paged(p *framework.Path) *framework.Path {
	p.HelpDescription += " Pages: LIST with after=<last id of the previous page> and limit=<n>."
	return withFields(p, pageFields)
}

// pageFields page through a long id list (not in Vault's built-in engine):
// LIST <path>?after=<last id seen>&limit=<n>.
var pageFields = map[string]*framework.FieldSchema{
	"after": {Type: framework.TypeString, Query: true, Description: "List only the ids that sort after this one (the last id of the previous page)."},
	"limit": {Type: framework.TypeInt, Query: true, Description: "List at most this many ids; all when 0."},
}

// pagedByName gives a list by name the fields of a page in name order
// (not in Vault's built-in engine, which lists names in id order):
// LIST <path>?prefix=<start of the names>&after=<last name seen>&limit=<n>.
func pagedByName(p *framework.Path) *framework.Path {
	p.HelpDescription += " With prefix, after or limit, the names are listed in ascending order of their lower-case form: those beginning with prefix (any letter case), after the name after, at most limit of them."
	return withFields(p, namePageFields)
}

var namePageFields = map[string]*framework.FieldSchema{
	"prefix": {Type: framework.TypeString, Query: true, Description: "List only the names that begin with this, in any letter case (in name order)."},
	"after":  {Type: framework.TypeString, Query: true, Description: "List only the names that sort after this one, in any letter case (the last name of the previous page; in name order)."},
	"limit":  {Type: framework.TypeInt, Query: true, Description: "List at most this many names (in name order); all when 0."},
}

// namePageOf reads the page of a list by name, and whether the request asked
// for one (any of its fields set).
func namePageOf(d *framework.FieldData) (identity.NamePage, bool) {
	var p identity.NamePage
	prefix, a := d.GetOk("prefix")
	after, b := d.GetOk("after")
	limit, c := d.GetOk("limit")
	if a {
		p.Prefix = prefix.(string)
	}
	if b {
		p.After = after.(string)
	}
	if c {
		p.Limit = limit.(int)
	}
	return p, a || b || c
}

// pageOf reads the page of a list request.
func pageOf(d *framework.FieldData) identity.Page {
	p := identity.Page{}
	if v, ok := d.GetOk("after"); ok {
		p.After = v.(string)
	}
	if v, ok := d.GetOk("limit"); ok {
		p.Limit = v.(int)
	}
	return p
}
