package paths

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

const oidcPrefix = "oidc"

func oidcPaths(c Config, callers *callers) []*framework.Path {
	h := &oidcHandler{oidc: c.Store.OIDC(), identity: c.Store.Identity(), apiAddr: c.APIAddr, callers: callers}
	return []*framework.Path{
		{
			Pattern:      "oidc/config/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix},
			Fields: map[string]*framework.FieldSchema{
				"issuer": {
					Type:        framework.TypeString,
					Description: "Issuer address: scheme, host and optional port (e.g. https://vault.example.com:8200). Tokens carry it followed by /v1/<mount>/oidc.",
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: h.readConfig, Summary: "Read the OIDC issuer configuration.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read", OperationSuffix: "configuration"},
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"issuer": {Type: framework.TypeString, Description: "The configured issuer address."},
					}}}},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback: h.writeConfig, Summary: "Set the OIDC issuer address.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure"},
					Responses:    map[int][]framework.Response{http.StatusOK: {{Description: "Set, with a warning."}}, http.StatusNoContent: {{Description: "Reset or unchanged."}}},
				},
			},
			HelpSynopsis:    "OIDC configuration for the identity token oidc.",
			HelpDescription: oidcConfigHelp,
		},
		{
			Pattern:      "oidc/key/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "key"},
			Fields: map[string]*framework.FieldSchema{
				"name":               {Type: framework.TypeString, Description: "Name of the key."},
				"rotation_period":    {Type: framework.TypeDurationSecond, Default: "24h", Description: "How often to generate a new keypair."},
				"verification_ttl":   {Type: framework.TypeDurationSecond, Default: "24h", Description: "Controls how long the public portion of a key will be available for verification after being rotated."},
				"algorithm":          {Type: framework.TypeString, Default: "RS256", Description: "Signature algorithm: RS256, RS384, RS512, ES256, ES384, ES512 or EdDSA."},
				"allowed_client_ids": {Type: framework.TypeCommaStringSlice, Description: "Client ids (of roles) that may sign with this key; \"*\" allows all. None by default."},
			},
			ExistenceCheck: h.keyExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: h.writeKey, Summary: "Create a named key.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "create"}, Responses: noContent},
				logical.UpdateOperation: &framework.PathOperation{Callback: h.writeKey, Summary: "Update a named key.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "update"}, Responses: noContent},
				logical.ReadOperation:   &framework.PathOperation{Callback: h.readKey, Summary: "Read a named key.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"}, Responses: keyReadResponse},
				logical.DeleteOperation: &framework.PathOperation{Callback: h.deleteKey, Summary: "Delete a named key.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"}, Responses: noContent},
			},
			HelpSynopsis:    "CRUD operations for OIDC keys.",
			HelpDescription: oidcKeyHelp,
		},
		{
			Pattern:      "oidc/key/" + framework.GenericNameRegex("name") + "/rotate/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "rotate", OperationSuffix: "key"},
			Fields: map[string]*framework.FieldSchema{
				"name":             {Type: framework.TypeString, Description: "Name of the key."},
				"verification_ttl": {Type: framework.TypeDurationSecond, Description: "Controls how long the public portion of the outgoing key will be available for verification."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.rotateKey, Summary: "Rotate a named key now.", Responses: noContent},
			},
			HelpSynopsis:    "Rotate a named OIDC key.",
			HelpDescription: "Makes the next key current, keeps the outgoing public key for verification_ttl (or the given override) and publishes a new next key.",
		},
		listPath("oidc/key/?$", framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "keys"}, h.listKeys,
			"List OIDC keys.", "List OIDC keys.", "Lists the named keys, the built-in default key included."),
		{
			Pattern:      "oidc/role/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "role"},
			Fields: map[string]*framework.FieldSchema{
				"name":      {Type: framework.TypeString, Description: "Name of the role."},
				"key":       {Type: framework.TypeString, Required: true, Description: "The OIDC key to use for generating tokens. The specified key must already exist."},
				"template":  {Type: framework.TypeString, Description: "The template string to use for generating tokens. This may be in string-ified JSON or base64 format."},
				"ttl":       {Type: framework.TypeDurationSecond, Default: "24h", Description: "TTL of the tokens generated against the role."},
				"client_id": {Type: framework.TypeString, Description: "Optional client_id; generated when unset."},
				"audiences": {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of extra audiences of the role's tokens: with any, aud is an array, the client_id first, then these without repeats. Empty, the default, keeps aud the client_id string; read only when set. Not in Vault's built-in engine."},
			},
			ExistenceCheck: h.roleExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: h.writeRole, Summary: "Create a role.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "create"}, Responses: noContent},
				logical.UpdateOperation: &framework.PathOperation{Callback: h.writeRole, Summary: "Update a role.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "update"}, Responses: noContent},
				logical.ReadOperation:   &framework.PathOperation{Callback: h.readRole, Summary: "Read a role.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"}, Responses: roleReadResponse},
				logical.DeleteOperation: &framework.PathOperation{Callback: h.deleteRole, Summary: "Delete a role.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"}, Responses: noContent},
			},
			HelpSynopsis:    "CRUD operations on OIDC Roles",
			HelpDescription: "Create, Read, Update, and Delete OIDC Roles. OIDC tokens are generated against roles which can be configured to determine how OIDC tokens are generated.",
		},
		listPath("oidc/role/?$", framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "roles"}, h.listRoles,
			"List OIDC roles.", "List configured OIDC roles", "List all configured OIDC roles in the identity oidc."),
		{
			Pattern:      "oidc/token/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "generate", OperationSuffix: "token"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Description: "Name of the role."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.token, Summary: "Generate an identity token for the caller's entity.", Responses: tokenResponse},
			},
			HelpSynopsis:    "Generate an OIDC token",
			HelpDescription: "Generate an identity token for the entity of this mount that the calling token maps to (see lookup/self) using the role's key and template.",
		},
		{
			Pattern:      "oidc/introspect/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "introspect"},
			Fields: map[string]*framework.FieldSchema{
				"token":     {Type: framework.TypeString, Description: "Token to verify"},
				"client_id": {Type: framework.TypeString, Description: "Optional client_id to verify"},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.introspect, Summary: "Verify the authenticity of an OIDC token.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: `Raw JSON: {"active": true} or {"active": false, "error": "..."}.`}}}},
			},
			HelpSynopsis:    "Verify the authenticity of an OIDC token",
			HelpDescription: "Use this path to verify the authenticity of an OIDC token and whether the associated entity is active and enabled.",
		},
		{
			Pattern:      "oidc" + childIssuer + "/\\.well-known/openid-configuration/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "open-id-configuration"},
			Fields:       childIssuerField,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.discovery, Summary: "Query OIDC configurations.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "Raw JSON discovery document."}}}},
			},
			HelpSynopsis:    "Query OIDC configurations",
			HelpDescription: "Query this path to retrieve the configured OIDC Issuer and Keys endpoints, response types, subject types, and signing algorithms used by the OIDC oidc.",
		},
		{
			Pattern:      "oidc" + childIssuer + "/\\.well-known/keys/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "public-keys"},
			Fields:       childIssuerField,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.keys, Summary: "Retrieve public keys.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "Raw JSON web key set."}}}},
			},
			HelpSynopsis:    "Retrieve public keys",
			HelpDescription: "Query this path to retrieve the public portion of keys used to sign OIDC tokens. Clients can use this to validate the authenticity of the OIDC token claims.",
		},
	}
}

var keyReadResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"rotation_period":    {Type: framework.TypeInt, Description: "Rotation period in seconds."},
	"verification_ttl":   {Type: framework.TypeInt, Description: "Verification TTL in seconds."},
	"algorithm":          {Type: framework.TypeString, Description: "Signature algorithm."},
	"allowed_client_ids": {Type: framework.TypeStringSlice, Description: "Client ids allowed to use the key."},
}}}}

var roleReadResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"client_id": {Type: framework.TypeString, Description: "The role's client id (the tokens' aud)."},
	"audiences": {Type: framework.TypeStringSlice, Description: "Extra audiences of the role's tokens; only when set."},
	"key":       {Type: framework.TypeString, Description: "The key the role signs with."},
	"template":  {Type: framework.TypeString, Description: "The claims template."},
	"ttl":       {Type: framework.TypeInt, Description: "Token TTL in seconds."},
}}}}

var tokenResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"token":     {Type: framework.TypeString, Description: "The signed identity token (JWT)."},
	"client_id": {Type: framework.TypeString, Description: "The role's client id."},
	"ttl":       {Type: framework.TypeInt, Description: "The role's TTL in seconds."},
}}}}

type oidcHandler struct {
	oidc     *oidc.Service
	identity *identity.Store
	apiAddr  string
	callers  *callers
}

// issuer is the issuer of this mount's identity tokens: the configured
// address, else the address given to the plugin, followed by the mount's
// API path. "" when neither is known.
func (h *oidcHandler) issuer(ctx context.Context, req *logical.Request) (string, error) {
	configured, err := h.oidc.OIDCIssuer(ctx)
	if err != nil {
		return "", err
	}
	return issuerURL(configured, h.apiAddr, req.MountPoint, "oidc"), nil
}

// issuerURL is an issuer at path under the mount: at the configured
// address, else at Vault's address given to the plugin; "" when neither is
// known.
func issuerURL(configured, apiAddr, mount, path string) string {
	base := cmp.Or(configured, apiAddr)
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/v1/" + mount + path
}

func (h *oidcHandler) readConfig(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	issuer, err := h.oidc.OIDCIssuer(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	resp := &logical.Response{Data: map[string]any{"issuer": issuer}}
	if issuer == "" && h.apiAddr == "" {
		resp.AddWarning(`Both "issuer" and Vault's "api_addr" are empty. The issuer claim in generated tokens will not be network reachable.`)
	}
	return resp, nil
}

func (h *oidcHandler) writeConfig(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	raw, ok := d.GetOk("issuer")
	if !ok {
		return nil, nil
	}
	issuer := raw.(string)
	if err := h.oidc.SetOIDCIssuer(ctx, issuer); err != nil {
		return respondErr(req, err)
	}
	if issuer == "" {
		return nil, nil
	}
	return &logical.Response{Warnings: []string{`If "issuer" is set explicitly, all tokens must be validated against that address, including those issued by secondary clusters. Setting issuer to "" will restore the default behavior of using the cluster's api_addr as the issuer.`}}, nil
}

func (h *oidcHandler) keyExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	return h.oidc.KeyExists(ctx, d.Get("name").(string))
}

func (h *oidcHandler) writeKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.WriteKey(ctx, d.Get("name").(string), oidc.KeyUpdate{
		RotationPeriod:   optionalDuration(d, "rotation_period"),
		VerificationTTL:  optionalDuration(d, "verification_ttl"),
		Algorithm:        optional[string](d, "algorithm"),
		AllowedClientIDs: optional[[]string](d, "allowed_client_ids"),
	}))
}

func (h *oidcHandler) readKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, err := h.oidc.Key(ctx, d.Get("name").(string))
	return found(req, k, err, func(k *oidc.NamedKey) map[string]any {
		return map[string]any{
			"rotation_period":    int64(k.RotationPeriod.Seconds()),
			"verification_ttl":   int64(k.VerificationTTL.Seconds()),
			"algorithm":          k.Algorithm,
			"allowed_client_ids": k.AllowedClientIDs,
		}
	})
}

func (h *oidcHandler) deleteKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.DeleteKey(ctx, d.Get("name").(string)))
}

func (h *oidcHandler) rotateKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.RotateKey(ctx, d.Get("name").(string), optionalDuration(d, "verification_ttl")))
}

func (h *oidcHandler) listKeys(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := h.oidc.KeyNames(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	return logical.ListResponse(names), nil
}

func (h *oidcHandler) roleExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	return h.oidc.RoleExists(ctx, d.Get("name").(string))
}

func (h *oidcHandler) writeRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.WriteRole(ctx, d.Get("name").(string), oidc.RoleUpdate{
		Key:       optional[string](d, "key"),
		Template:  optional[string](d, "template"),
		TTL:       optionalDuration(d, "ttl"),
		ClientID:  optional[string](d, "client_id"),
		Audiences: optional[[]string](d, "audiences"),
	}))
}

func (h *oidcHandler) readRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := h.oidc.OIDCRole(ctx, d.Get("name").(string))
	return found(req, r, err, func(r *oidc.Role) map[string]any {
		m := map[string]any{"client_id": r.ClientID, "key": r.Key, "template": r.Template, "ttl": int64(r.TTL.Seconds())}
		// Only a role that opted in reads differently from Vault's.
		if len(r.Audiences) > 0 {
			m["audiences"] = r.Audiences
		}
		return m
	})
}

func (h *oidcHandler) deleteRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.DeleteOIDCRole(ctx, d.Get("name").(string)))
}

func (h *oidcHandler) listRoles(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := h.oidc.OIDCRoleNames(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	return logical.ListResponse(names), nil
}

func (h *oidcHandler) token(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	issuer, err := h.issuer(ctx, req)
	if err != nil {
		return respondErr(req, err)
	}
	tok, err := h.oidc.IssueToken(ctx, oidc.TokenRequest{
		Role:   d.Get("name").(string),
		Issuer: issuer,
		Caller: func() (*identity.EntityView, error) {
			v, _, err := h.callers.entity(ctx, req, h.identity)
			return v, err
		},
	})
	if err != nil {
		return respondErr(req, err)
	}
	resp := &logical.Response{Data: map[string]any{
		"token":     tok.Token,
		"client_id": tok.ClientID,
		"ttl":       int64(tok.TTL.Seconds()),
	}}
	if tok.Warning != "" {
		resp.AddWarning(tok.Warning)
	}
	return resp, nil
}

func (h *oidcHandler) introspect(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	issuer, err := h.issuer(ctx, req)
	if err != nil {
		return respondErr(req, err)
	}
	problem, err := h.oidc.Introspect(ctx, d.Get("token").(string), d.Get("client_id").(string), issuer)
	if err != nil {
		return respondErr(req, err)
	}
	body := map[string]any{"active": problem == ""}
	if problem != "" {
		body["error"] = problem
	}
	return rawJSON(http.StatusOK, body, "")
}

// discovery mirrors Vault's field order.
type discovery struct {
	Issuer        string   `json:"issuer"`
	Keys          string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	Subjects      []string `json:"subject_types_supported"`
	IDTokenAlgs   []string `json:"id_token_signing_alg_values_supported"`
}

// childIssuer is Vault's optional path segment naming a child issuer
// (plugin identity tokens, Vault Enterprise): one segment, no slash.
const childIssuer = `(/(?P<child>[^/]+))?`

var childIssuerField = map[string]*framework.FieldSchema{
	"child": {Type: framework.TypeString, Description: "Name of the child issuer"},
}

// checkChildIssuer answers Vault Community's refusal of a child issuer:
// only the base issuer (no child) exists.
func checkChildIssuer(d *framework.FieldData) *logical.Response {
	if child := d.Get("child").(string); child != "" {
		return logical.ErrorResponse("invalid child issuer %q", child)
	}
	return nil
}

func (h *oidcHandler) discovery(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if bad := checkChildIssuer(d); bad != nil {
		return bad, nil
	}
	issuer, err := h.issuer(ctx, req)
	if err != nil {
		return respondErr(req, err)
	}
	if issuer == "" {
		return respondErr(req, oidc.ErrNoIssuer)
	}
	return rawJSON(http.StatusOK, discovery{
		Issuer:        issuer,
		Keys:          issuer + "/.well-known/keys",
		ResponseTypes: []string{"id_token"},
		Subjects:      []string{"public"},
		IDTokenAlgs:   oidc.SupportedAlgorithms,
	}, "max-age=3600")
}

func (h *oidcHandler) keys(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if bad := checkChildIssuer(d); bad != nil {
		return bad, nil
	}
	keys, maxAge, err := h.oidc.JWKS(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	cache := ""
	if len(keys) > 0 && maxAge >= 0 {
		cache = fmt.Sprintf("max-age=%d", int64(maxAge/time.Second))
	}
	return rawJSON(http.StatusOK, jose.JSONWebKeySet{Keys: keys}, cache)
}

// rawJSON is a response Vault writes as is: status, JSON body, and the
// Cache-Control header when given.
func rawJSON(status int, body any, cacheControl string) (*logical.Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	data := map[string]any{
		logical.HTTPStatusCode:  status,
		logical.HTTPRawBody:     raw,
		logical.HTTPContentType: "application/json",
	}
	if cacheControl != "" {
		data[logical.HTTPCacheControlHeader] = cacheControl
	}
	return &logical.Response{Data: data}, nil
}

// optionalDuration reads a TypeDurationSecond field that may be absent.
func optionalDuration(d *framework.FieldData, key string) core.Opt[time.Duration] {
	if v, ok := d.GetOk(key); ok {
		return core.Some(time.Duration(v.(int)) * time.Second)
	}
	return core.Opt[time.Duration]{}
}

var (
	oidcConfigHelp = strings.TrimSpace(`
The issuer of identity tokens is this address followed by /v1/<mount>/oidc.
When it is not set, the address given to the plugin in its VAULT_API_ADDR
environment variable (vault plugin register -env=VAULT_API_ADDR=...) is used.
`)
	oidcKeyHelp = strings.TrimSpace(`
Named keys sign identity tokens. Each has a current key, a next key published
ahead of use, and rotated keys kept for verification_ttl; keys rotate every
rotation_period. A role can only use a key whose allowed_client_ids lists the
role's client_id or "*". The default key exists always and cannot be deleted.
`)
)
