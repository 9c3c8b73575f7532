// Package paths maps the identity engine's HTTP API onto the backend package:
// field schemas, operations, help, response schemas and input decoding. Each
// file serves one URL family.
package paths

import (
	"errors"
	"net/http"
	"slices"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
)

// All returns every path of the engine; version is the running plugin's and
// sys gives the system view, through which the caller's entity is resolved.
func All(s *backend.Store, version string, sys func() logical.SystemView) []*framework.Path {
	return slices.Concat(
		entityPaths(s),
		entityAliasPaths(s),
		groupPaths(s),
		groupAliasPaths(s),
		lookupPaths(s, sys),
		infoPaths(s, version),
	)
}

// respondErr turns a backend error into Vault's answer: a request error
// becomes an error response with Vault's message and status; anything else
// is an internal error (500).
func respondErr(req *logical.Request, err error) (*logical.Response, error) {
	var clash *backend.MergeConflictError
	if errors.As(err, &clash) {
		return logical.ErrorResponseWithData(clash.Clashes, "%s", clash.Msg), nil
	}
	if e, ok := backend.AsError(err); ok {
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

// idResponse is the answer to an alias write: the alias id and its owner's.
func idResponse(id, canonicalID string) *logical.Response {
	return &logical.Response{Data: map[string]any{"id": id, "canonical_id": canonicalID}}
}

// optional reads a field that Vault treats differently when absent.
func optional[T any](d *framework.FieldData, key string) backend.Opt[T] {
	if v, ok := d.GetOk(key); ok {
		return backend.Some(v.(T))
	}
	return backend.Opt[T]{}
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
