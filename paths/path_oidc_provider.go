package paths

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// providerHandler serves the OIDC provider: its configuration objects and
// its OAuth endpoints.
type providerHandler struct {
	oidc     *oidc.Service
	identity *identity.Store
	apiAddr  string
	// vault asks Vault about callers' tokens (vaultErr when it could not
	// be made); nil without apiAddr.
	vault    *api.Client
	vaultErr error
	callers  *callers
}

func providerPaths(c Config, callers *callers) []*framework.Path {
	h := &providerHandler{oidc: c.Store.OIDC(), identity: c.Store.Identity(), apiAddr: c.APIAddr, callers: callers}
	if c.APIAddr != "" {
		cfg := api.DefaultConfig()
		cfg.Address = c.APIAddr
		h.vault, h.vaultErr = api.NewClient(cfg)
	}
	name := framework.GenericNameRegex("name")
	provider := "oidc/provider/" + name
	return []*framework.Path{
		h.objectPath(oidc.AssignmentObject, "oidc/assignment/"+name, "assignment", map[string]*framework.FieldSchema{
			"entity_ids": {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of identity entity IDs."},
			"group_ids":  {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of identity group IDs."},
		}, h.writeAssignment, h.readAssignment, "CRUD operations for OIDC assignments.",
			"Assignments name the entities and groups that may use the clients listing them. The built-in allow_all admits every entity and cannot be changed."),
		h.listObjects(oidc.AssignmentObject, "oidc/assignment/?$", "assignments", "List OIDC assignments."),
		h.objectPath(oidc.ScopeObject, "oidc/scope/"+name, "scope", map[string]*framework.FieldSchema{
			"template":    {Type: framework.TypeString, Description: "The template string to use for the scope. This may be in string-ified JSON or base64 format."},
			"description": {Type: framework.TypeString, Description: "The description of the scope."},
		}, h.writeScope, h.readScope, "CRUD operations for OIDC scopes.",
			`Scopes add the claims of their template to ID tokens and userinfo answers when requested. "openid" is reserved.`),
		h.listObjects(oidc.ScopeObject, "oidc/scope/?$", "scopes", "List OIDC scopes."),
		h.objectPath(oidc.ClientObject, "oidc/client/"+name, "client", map[string]*framework.FieldSchema{
			"redirect_uris":                {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of redirect URIs used by the client. One of these values must exactly match the redirect_uri parameter value used in each authentication request."},
			"assignments":                  {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of assignment resources."},
			"key":                          {Type: framework.TypeString, Default: oidc.DefaultKeyName, Description: "A reference to a named key resource. Cannot be modified after creation. Defaults to the 'default' key."},
			"id_token_ttl":                 {Type: framework.TypeDurationSecond, Default: "24h", Description: "The time-to-live for ID tokens obtained by the client."},
			"access_token_ttl":             {Type: framework.TypeDurationSecond, Default: "24h", Description: "The time-to-live for access tokens obtained by the client."},
			"client_type":                  {Type: framework.TypeString, Default: oidc.ClientConfidential, Description: "The client type based on its ability to maintain confidentiality of credentials. The following client types are supported: 'confidential', 'public'. Defaults to 'confidential'."},
			"refresh_token_ttl":            {Type: framework.TypeDurationSecond, Default: 0, Description: "Lifetime of refresh tokens, renewed at each use (they rotate). 0, the default, issues no refresh tokens. Not in Vault's built-in engine."},
			"client_credentials_entity_id": {Type: framework.TypeString, Description: "The entity a confidential client acts as with the client_credentials grant; unset, the grant is refused. Not in Vault's built-in engine."},
			"jwks":                         {Type: framework.TypeString, Description: "A JSON Web Key Set (JSON) of the public keys with which a confidential client signs private_key_jwt client assertions at the token, introspection and revocation endpoints; its secret stays usable. Private keys are refused. \"\" removes it. Read only when set. Not in Vault's built-in engine."},
			"post_logout_redirect_uris":    {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of absolute URLs the provider's end_session_endpoint (<issuer>/logout, OpenID Connect RP-Initiated Logout) may send the browser back to; a post_logout_redirect_uri must match one exactly. Setting it (or backchannel_logout_uri) opts the client in to logout: its ID tokens carry a sid. Read only when set. Not in Vault's built-in engine."},
			"backchannel_logout_uri":       {Type: framework.TypeString, Description: "URL (https, or http on a loopback host) to which the provider posts a logout token (OpenID Connect Back-Channel Logout) when a sign-in of the client ends. \"\" removes it. Read only when set. Not in Vault's built-in engine."},
			"access_token_format":          {Type: framework.TypeString, Description: "The format of the client's access tokens: 'opaque' (the default, hvo_at_ values) or 'jwt' (RFC 9068 JWTs signed with the client's key, typ at+jwt, verifiable with the provider's jwks_uri). Read only when 'jwt'. Not in Vault's built-in engine."},
			"device_grant":                 {Type: framework.TypeBool, Description: "Allows the client the OAuth 2.0 device authorization grant (RFC 8628): the provider's device authorization endpoint and the urn:ietf:params:oauth:grant-type:device_code grant. Defaults to false; read only when true. Not in Vault's built-in engine."},
			"group_filter":                 {Type: framework.TypeCommaStringSlice, Description: "Comma separated string or array of group names, each exact or a prefix ending in \"*\" (case-insensitive): the client's scope templates see only these of the entity's groups (identity.entity.groups.names and .ids), in ID tokens and userinfo. Empty, the default, filters nothing; read only when set. Not in Vault's built-in engine."},
		}, h.writeClient, h.readClient, "CRUD operations for OIDC clients.",
			"Clients are the relying parties of the providers. client_id and, for confidential clients, client_secret are generated."),
		listPath("oidc/client/?$", framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "clients"}, h.listClients,
			"List OIDC clients.", "List OIDC clients.", "Lists client names; key_info holds each client as read, without its secret."),
		h.objectPath(oidc.ProviderObj, provider, "provider", map[string]*framework.FieldSchema{
			"issuer":             {Type: framework.TypeString, Description: "Specifies what will be used for the iss claim of ID tokens: scheme, host and optional port. Defaults to Vault's address given to the plugin; /v1/<mount>/oidc/provider/<name> is appended."},
			"allowed_client_ids": {Type: framework.TypeCommaStringSlice, Description: "The client IDs that are permitted to use the provider. \"*\" allows all."},
			"scopes_supported":   {Type: framework.TypeCommaStringSlice, Description: "The scopes supported for requesting on the provider."},
			"sign_in_methods":    {Type: framework.TypeCommaStringSlice, Description: "What the sign-in page offers: \"token\" (paste a Vault token) and paths of username and password auth methods such as userpass or ldap. Defaults to userpass,token. Not in Vault's built-in engine."},
		}, h.writeProvider, h.readProvider, "CRUD operations for OIDC providers.",
			"Providers are OpenID Connect identity providers served by this mount. The built-in default provider cannot be deleted."),
		withFields(listPath("oidc/provider/?$", framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "providers"}, h.listProviders,
			"List OIDC providers.", "List OIDC providers.", "Lists provider names; key_info holds each provider as read."),
			map[string]*framework.FieldSchema{
				"allowed_client_id": {Type: framework.TypeString, Query: true, Description: "Filters the list of OIDC providers to those that allow the given client ID in their set of allowed_client_ids."},
			}),
		{
			Pattern:      provider + "/\\.well-known/openid-configuration/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "provider-open-id-configuration"},
			Fields:       nameField("provider"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.discovery, Summary: "Query the provider's OpenID configuration.", Responses: rawResponse("Raw JSON discovery document.")},
			},
			HelpSynopsis:    "Query OIDC configurations",
			HelpDescription: "The provider's OpenID Connect discovery document.",
		},
		{
			Pattern:      provider + "/\\.well-known/keys/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "provider-public-keys"},
			Fields:       nameField("provider"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.keys, Summary: "Retrieve the provider's public keys.", Responses: rawResponse("Raw JSON web key set.")},
			},
			HelpSynopsis:    "Retrieve public keys",
			HelpDescription: "The public keys that verify the provider's ID tokens: the keys of the clients it allows.",
		},
		{
			Pattern:      provider + "/authorize/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "provider-authorize"},
			Fields:       merge(nameField("provider"), authorizeFields(&framework.FieldSchema{Type: framework.TypeInt, Description: maxAgeDescription})),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: h.authorize, Summary: "Provides the OIDC Authorization Endpoint.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "authorize"}, Responses: rawResponse(`Raw JSON {"code","state"} or an OAuth error.`)},
				logical.UpdateOperation: &framework.PathOperation{Callback: h.authorize, Summary: "Provides the OIDC Authorization Endpoint.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "authorize2"}, Responses: rawResponse(`Raw JSON {"code","state"} or an OAuth error.`)},
			},
			HelpSynopsis:    "Provides the OIDC Authorization Endpoint.",
			HelpDescription: "Issues an authorization code for the caller's entity. Browsers use the sign-in page (the discovery document's authorization_endpoint), which calls this path.",
		},
		{
			Pattern:      provider + "/token/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "provider-token", OperationSuffix: ""},
			Fields: merge(nameField("provider"), map[string]*framework.FieldSchema{
				"code":                  {Type: framework.TypeString, Description: "The authorization code received from the provider's authorization endpoint."},
				"grant_type":            {Type: framework.TypeString, Description: "The authorization grant type: authorization_code, refresh_token or client_credentials."},
				"redirect_uri":          {Type: framework.TypeString, Description: "The callback location where the authentication response was sent."},
				"code_verifier":         {Type: framework.TypeString, Description: "The code verifier associated with the authorization code."},
				"client_id":             {Type: framework.TypeString, Description: "The ID of the requesting client."},
				"client_secret":         {Type: framework.TypeString, Description: "The secret of the requesting client."},
				"client_assertion_type": {Type: framework.TypeString, Description: clientAssertionTypeDescription},
				"client_assertion":      {Type: framework.TypeString, Description: clientAssertionDescription},
				"refresh_token":         {Type: framework.TypeString, Description: "The refresh token (refresh_token grant)."},
				"device_code":           {Type: framework.TypeString, Description: "The device code (urn:ietf:params:oauth:grant-type:device_code grant, RFC 8628)."},
				"scope":                 {Type: framework.TypeString, Description: "Space-separated scopes (refresh_token: a subset of the granted ones; client_credentials: scopes of the provider)."},
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.token, Summary: "Provides the OIDC Token Endpoint.", Responses: rawResponse("Raw JSON token response or an OAuth error.")},
			},
			HelpSynopsis:    "Provides the OIDC Token Endpoint.",
			HelpDescription: "Exchanges an authorization code or a refresh token, or serves the client_credentials grant. Clients authenticate with HTTP Basic (the mount must pass the Authorization header through) or client_id and client_secret in the body.",
		},
		{
			Pattern:      provider + "/userinfo/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: "provider-user-info"},
			Fields: merge(nameField("provider"), map[string]*framework.FieldSchema{
				"access_token": {Type: framework.TypeString, Description: "The access token in a form-encoded POST body (RFC 6750 section 2.2), instead of the Authorization header, which Vault before 1.21 does not pass to plugins. Not in Vault's built-in engine."},
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: h.userInfo, Summary: "Provides the OIDC UserInfo Endpoint.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "user-info"}, Responses: rawResponse("Raw JSON claims or an OAuth error.")},
				logical.UpdateOperation: &framework.PathOperation{Callback: h.userInfo, Summary: "Provides the OIDC UserInfo Endpoint.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "user-info2"}, Responses: rawResponse("Raw JSON claims or an OAuth error.")},
			},
			HelpSynopsis:    "Provides the OIDC UserInfo Endpoint.",
			HelpDescription: "Returns the claims of the entity an access token was issued for. The token comes as Authorization: Bearer, or as access_token in a form-encoded POST body (RFC 6750 section 2.2), one way only.",
		},
		{
			Pattern:      provider + "/introspect/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "introspect", OperationSuffix: "provider-token"},
			Fields:       merge(nameField("provider"), grantTokenFields),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.introspect, Summary: "RFC 7662 token introspection.", Responses: rawResponse(`Raw JSON {"active": ...}.`)},
			},
			HelpSynopsis:    "RFC 7662 token introspection (not in Vault's built-in engine).",
			HelpDescription: "A client of the provider (authenticated like at the token endpoint) asks whether an access or refresh token is active, and for whom.",
		},
		{
			Pattern:      provider + "/revoke/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "revoke", OperationSuffix: "provider-token"},
			Fields:       merge(nameField("provider"), grantTokenFields),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.revoke, Summary: "RFC 7009 token revocation.", Responses: rawResponse("Empty 200, or an OAuth error.")},
			},
			HelpSynopsis:    "RFC 7009 token revocation (not in Vault's built-in engine).",
			HelpDescription: "A client revokes one of its access tokens, or a refresh token and with it every token of that grant.",
		},
	}
}

const (
	clientAssertionTypeDescription = "private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer. Not in Vault's built-in engine."
	clientAssertionDescription     = "private_key_jwt: a JWT signed with a key of the client's jwks (iss and sub the client_id, aud the token endpoint URL or the issuer, exp at most 5 minutes ahead, a single-use jti). Not in Vault's built-in engine."
)

var grantTokenFields = map[string]*framework.FieldSchema{
	"token":                 {Type: framework.TypeString, Description: "The access or refresh token."},
	"token_type_hint":       {Type: framework.TypeString, Description: "access_token or refresh_token."},
	"client_id":             {Type: framework.TypeString, Description: "The ID of the client (client_secret_post)."},
	"client_secret":         {Type: framework.TypeString, Description: "The secret of the client (client_secret_post)."},
	"client_assertion_type": {Type: framework.TypeString, Description: clientAssertionTypeDescription},
	"client_assertion":      {Type: framework.TypeString, Description: clientAssertionDescription},
}

func nameField(what string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Name of the " + what + "."}}
}

func merge(a, b map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func rawResponse(desc string) map[int][]framework.Response {
	return map[int][]framework.Response{http.StatusOK: {{Description: desc}}}
}

// objectPath is the CRUD path of a provider object kind.
func (h *providerHandler) objectPath(kind oidc.ProviderObject, pattern, what string, fields map[string]*framework.FieldSchema,
	write, read framework.OperationFunc, synopsis, help string,
) *framework.Path {
	return &framework.Path{
		Pattern:      pattern,
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: what},
		Fields:       merge(nameField(what), fields),
		ExistenceCheck: func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
			return h.oidc.ProviderObjectExists(ctx, kind, d.Get("name").(string))
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{Callback: write, Summary: "Create an " + what + ".", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"}, Responses: noContent},
			logical.UpdateOperation: &framework.PathOperation{Callback: write, Summary: "Update an " + what + ".", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"}, Responses: noContent},
			logical.ReadOperation:   &framework.PathOperation{Callback: read, Summary: "Read an " + what + ".", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"}},
			logical.DeleteOperation: &framework.PathOperation{
				Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
					return done(req, h.oidc.DeleteProviderObject(ctx, kind, d.Get("name").(string)))
				},
				Summary: "Delete an " + what + ".", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"}, Responses: noContent,
			},
		},
		HelpSynopsis:    synopsis,
		HelpDescription: help,
	}
}

func (h *providerHandler) listObjects(kind oidc.ProviderObject, pattern, what, summary string) *framework.Path {
	return listPath(pattern, framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationSuffix: what},
		func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			names, err := h.oidc.ProviderObjectNames(ctx, kind)
			if err != nil {
				return respondErr(req, err)
			}
			return logical.ListResponse(names), nil
		}, summary, summary, summary)
}

func (h *providerHandler) writeAssignment(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.WriteAssignment(ctx, d.Get("name").(string), oidc.AssignmentUpdate{
		EntityIDs: optional[[]string](d, "entity_ids"),
		GroupIDs:  optional[[]string](d, "group_ids"),
	}))
}

func (h *providerHandler) readAssignment(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, err := h.oidc.Assignment(ctx, d.Get("name").(string))
	return found(req, a, err, func(a *oidc.Assignment) map[string]any {
		return map[string]any{"entity_ids": a.EntityIDs, "group_ids": a.GroupIDs}
	})
}

func (h *providerHandler) writeScope(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.WriteScope(ctx, d.Get("name").(string), oidc.ScopeUpdate{
		Template:    optional[string](d, "template"),
		Description: optional[string](d, "description"),
	}))
}

func (h *providerHandler) readScope(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	sc, err := h.oidc.OIDCScope(ctx, d.Get("name").(string))
	return found(req, sc, err, func(sc *oidc.Scope) map[string]any {
		return map[string]any{"template": sc.Template, "description": sc.Description}
	})
}

func (h *providerHandler) writeClient(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.oidc.WriteClient(ctx, d.Get("name").(string), oidc.ClientUpdate{
		RedirectURIs:              optional[[]string](d, "redirect_uris"),
		Assignments:               optional[[]string](d, "assignments"),
		Key:                       optional[string](d, "key"),
		IDTokenTTL:                optionalDuration(d, "id_token_ttl"),
		AccessTokenTTL:            optionalDuration(d, "access_token_ttl"),
		RefreshTokenTTL:           optionalDuration(d, "refresh_token_ttl"),
		ClientCredentialsEntityID: optional[string](d, "client_credentials_entity_id"),
		ClientType:                optional[string](d, "client_type"),
		GroupFilter:               optional[[]string](d, "group_filter"),
		AccessTokenFormat:         optional[string](d, "access_token_format"),
		JWKS:                      optional[string](d, "jwks"),
		DeviceGrant:               optional[bool](d, "device_grant"),
		PostLogoutRedirectURIs:    optional[[]string](d, "post_logout_redirect_uris"),
		BackchannelLogoutURI:      optional[string](d, "backchannel_logout_uri"),
	}))
}

// clientData is a client as read; the secret only when asked.
func clientData(c *oidc.Client, secret bool) map[string]any {
	m := map[string]any{
		"redirect_uris":                c.RedirectURIs,
		"assignments":                  c.Assignments,
		"key":                          c.Key,
		"id_token_ttl":                 int64(c.IDTokenTTL / time.Second),
		"access_token_ttl":             int64(c.AccessTokenTTL / time.Second),
		"refresh_token_ttl":            int64(c.RefreshTokenTTL / time.Second),
		"client_credentials_entity_id": c.ClientCredentialsEntityID,
		"client_id":                    c.ClientID,
		"client_type":                  c.ClientType,
	}
	if secret && c.ClientType == oidc.ClientConfidential {
		m["client_secret"] = c.ClientSecret
	}
	// Only a client that opted in reads differently from Vault's.
	if c.DeviceGrant {
		m["device_grant"] = true
	}
	if c.AccessTokenFormat != "" {
		m["access_token_format"] = c.AccessTokenFormat
	}
	var jwks map[string]any
	if c.JWKS != "" && json.Unmarshal([]byte(c.JWKS), &jwks) == nil {
		m["jwks"] = jwks
	}
	if len(c.GroupFilter) > 0 {
		m["group_filter"] = c.GroupFilter
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		m["post_logout_redirect_uris"] = c.PostLogoutRedirectURIs
	}
	if c.BackchannelLogoutURI != "" {
		m["backchannel_logout_uri"] = c.BackchannelLogoutURI
	}
	return m
}

func (h *providerHandler) readClient(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c, err := h.oidc.OIDCClient(ctx, d.Get("name").(string))
	return found(req, c, err, func(c *oidc.Client) map[string]any { return clientData(c, true) })
}

func (h *providerHandler) listClients(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	clients, err := h.oidc.OIDCClients(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	keys := make([]string, 0, len(clients))
	info := map[string]any{}
	for _, c := range clients {
		keys = append(keys, c.Name)
		info[c.Name] = clientData(c, false)
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

func (h *providerHandler) writeProvider(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	warnings, err := h.oidc.WriteProvider(ctx, d.Get("name").(string), oidc.ProviderUpdate{
		Issuer:           optional[string](d, "issuer"),
		AllowedClientIDs: optional[[]string](d, "allowed_client_ids"),
		ScopesSupported:  optional[[]string](d, "scopes_supported"),
		SignInMethods:    optional[[]string](d, "sign_in_methods"),
	})
	if err != nil || len(warnings) == 0 {
		return done(req, err)
	}
	return &logical.Response{Warnings: warnings}, nil
}

// issuer is a provider's issuer: its configured address, else the address
// given to the plugin, followed by the provider's API path.
func (h *providerHandler) issuer(req *logical.Request, name, configured string) string {
	return issuerURL(configured, h.apiAddr, req.MountPoint, "oidc/provider/"+name)
}

func (h *providerHandler) providerData(req *logical.Request, p *oidc.Provider) map[string]any {
	return map[string]any{
		"issuer":             h.issuer(req, p.Name, p.Issuer),
		"allowed_client_ids": p.AllowedClientIDs,
		"scopes_supported":   p.ScopesSupported,
		"sign_in_methods":    p.SignInMethods,
	}
}

func (h *providerHandler) readProvider(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := h.oidc.OIDCProvider(ctx, d.Get("name").(string))
	return found(req, p, err, func(p *oidc.Provider) map[string]any { return h.providerData(req, p) })
}

func (h *providerHandler) listProviders(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	providers, err := h.oidc.OIDCProviders(ctx, d.Get("allowed_client_id").(string))
	if err != nil {
		return respondErr(req, err)
	}
	keys := make([]string, 0, len(providers))
	info := map[string]any{}
	for _, p := range providers {
		keys = append(keys, p.Name)
		info[p.Name] = h.providerData(req, p)
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// providerDiscovery is the provider's discovery document: Vault's fields in
// Vault's order, then what this engine adds.
type providerDiscovery struct {
	Issuer                 string   `json:"issuer"`
	Keys                   string   `json:"jwks_uri"`
	Authorization          string   `json:"authorization_endpoint"`
	Token                  string   `json:"token_endpoint"`
	UserInfo               string   `json:"userinfo_endpoint"`
	RequestParameter       bool     `json:"request_parameter_supported"`
	RequestURIParameter    bool     `json:"request_uri_parameter_supported"`
	IDTokenAlgs            []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes          []string `json:"response_types_supported"`
	Scopes                 []string `json:"scopes_supported"`
	Claims                 []string `json:"claims_supported"`
	Subjects               []string `json:"subject_types_supported"`
	GrantTypes             []string `json:"grant_types_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthAlgs          []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	Introspection          string   `json:"introspection_endpoint"`
	IntrospectionAuth      []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionAuthAlgs  []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	Revocation             string   `json:"revocation_endpoint"`
	RevocationAuthMethods  []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationAuthAlgs     []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	ResponseModesSupported []string `json:"response_modes_supported"`
	// DeviceAuthorization is RFC 8628's, listed only once a client of the
	// provider has device_grant set.
	DeviceAuthorization string `json:"device_authorization_endpoint,omitempty"`
	// The logout fields are listed only once a client of the provider
	// registered post_logout_redirect_uris (RP-Initiated Logout) or a
	// backchannel_logout_uri (Back-Channel Logout).
	EndSession         string `json:"end_session_endpoint,omitempty"`
	BackchannelLogout  bool   `json:"backchannel_logout_supported,omitempty"`
	BackchannelSession bool   `json:"backchannel_logout_session_supported,omitempty"`
}

// rawNotFound is Vault's 404 for a missing provider, as a raw answer.
func rawNotFound() (*logical.Response, error) {
	return rawJSON(http.StatusNotFound, map[string]any{"errors": []string{}}, "")
}

func (h *providerHandler) discovery(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := h.oidc.OIDCProvider(ctx, d.Get("name").(string))
	if err != nil {
		return respondErr(req, err)
	}
	if p == nil {
		return rawNotFound()
	}
	issuer := h.issuer(req, p.Name, p.Issuer)
	if issuer == "" {
		return respondErr(req, oidc.ErrNoIssuer)
	}
	clientAuth := []string{"client_secret_basic", "client_secret_post"}
	tokenAuth := []string{"none", "client_secret_basic", "client_secret_post"}
	// The opt-in features are listed only once a client of the provider
	// uses them; until then the document is as before.
	features, err := h.oidc.ProviderFeatures(ctx, p.Name)
	if err != nil {
		return respondErr(req, err)
	}
	var keyAlgs []string
	if features.PrivateKeyJWT {
		clientAuth = append(clientAuth, oidc.PrivateKeyJWT)
		tokenAuth = append(tokenAuth, oidc.PrivateKeyJWT)
		keyAlgs = oidc.SupportedAlgorithms
	}
	grantTypes := oidc.GrantTypes
	var deviceEndpoint string
	if features.DeviceGrant {
		grantTypes = append(slices.Clone(grantTypes), oidc.GrantDeviceCode)
		deviceEndpoint = issuer + "/device"
	}
	var endSessionEndpoint string
	if features.EndSession {
		endSessionEndpoint = issuer + "/logout"
	}
	return rawJSON(http.StatusOK, providerDiscovery{
		Issuer:                 issuer,
		Keys:                   issuer + "/.well-known/keys",
		Authorization:          issuer + "/sign-in",
		Token:                  issuer + "/token",
		UserInfo:               issuer + "/userinfo",
		IDTokenAlgs:            oidc.SupportedAlgorithms,
		ResponseTypes:          []string{"code"},
		Scopes:                 append(append([]string{}, p.ScopesSupported...), oidc.OpenIDScope),
		Claims:                 []string{},
		Subjects:               []string{"public"},
		GrantTypes:             grantTypes,
		DeviceAuthorization:    deviceEndpoint,
		EndSession:             endSessionEndpoint,
		BackchannelLogout:      features.Backchannel,
		BackchannelSession:     features.Backchannel,
		TokenAuthMethods:       tokenAuth,
		TokenAuthAlgs:          keyAlgs,
		IntrospectionAuthAlgs:  keyAlgs,
		RevocationAuthAlgs:     keyAlgs,
		CodeChallengeMethods:   []string{"plain", "S256"},
		Introspection:          issuer + "/introspect",
		IntrospectionAuth:      clientAuth,
		Revocation:             issuer + "/revoke",
		RevocationAuthMethods:  clientAuth,
		ResponseModesSupported: []string{"query"},
	}, "max-age=3600")
}

func (h *providerHandler) keys(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	keys, ok, err := h.oidc.ProviderKeys(ctx, d.Get("name").(string))
	if err != nil {
		return respondErr(req, err)
	}
	if !ok {
		return rawNotFound()
	}
	return rawJSON(http.StatusOK, map[string]any{"keys": keys}, "")
}

const maxAgeDescription = "The allowable elapsed time in seconds since the last time the end-user was actively authenticated."

// authorizeFields are the parameters of an authentication request, shared
// by the authorize endpoint and the sign-in page; they differ in how they
// take max_age.
func authorizeFields(maxAge *framework.FieldSchema) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"client_id":             {Type: framework.TypeString, Description: "The ID of the requesting client."},
		"scope":                 {Type: framework.TypeString, Description: "A space-delimited, case-sensitive list of scopes to be requested. The 'openid' scope is required."},
		"redirect_uri":          {Type: framework.TypeString, Description: "The redirection URI to which the response will be sent."},
		"response_type":         {Type: framework.TypeString, Description: "The OIDC authentication flow to be used. The following response types are supported: 'code'"},
		"state":                 {Type: framework.TypeString, Description: "The value used to maintain state between the authentication request and client."},
		"nonce":                 {Type: framework.TypeString, Description: "The value that will be returned in the ID token nonce claim after a token exchange."},
		"max_age":               maxAge,
		"code_challenge":        {Type: framework.TypeString, Description: "The code challenge derived from the code verifier."},
		"code_challenge_method": {Type: framework.TypeString, Default: "plain", Description: "The method that was used to derive the code challenge. The following methods are supported: 'S256', 'plain'. Defaults to 'plain'. Public clients must use 'S256' (not so in Vault's built-in engine)."},
		"request":               {Type: framework.TypeString, Description: "Request objects are not supported; present, the request is refused (request_not_supported)."},
		"request_uri":           {Type: framework.TypeString, Description: "Request objects are not supported; present, the request is refused (request_uri_not_supported)."},
	}
}

// authorizeRequest reads an authentication request's parameters, all but
// max_age, which the two paths read differently.
func authorizeRequest(d *framework.FieldData) oidc.AuthorizeRequest {
	_, request := d.GetOk("request")
	_, requestURI := d.GetOk("request_uri")
	return oidc.AuthorizeRequest{
		Provider:            d.Get("name").(string),
		ClientID:            d.Get("client_id").(string),
		RedirectURI:         d.Get("redirect_uri").(string),
		Scope:               d.Get("scope").(string),
		ResponseType:        d.Get("response_type").(string),
		State:               d.Get("state").(string),
		Nonce:               d.Get("nonce").(string),
		CodeChallenge:       optional[string](d, "code_challenge"),
		CodeChallengeMethod: d.Get("code_challenge_method").(string),
		Request:             request,
		RequestURI:          requestURI,
	}
}

func (h *providerHandler) authorize(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r := authorizeRequest(d)
	r.MaxAge = optional[int](d, "max_age")
	r.HasEntity = req.EntityID != ""
	r.Caller = func() (*identity.EntityView, error) {
		v, _, err := h.callers.resolve(ctx, req, h.identity)
		if errors.Is(err, errNoCallerEntity) {
			return nil, nil
		}
		return v, err
	}
	r.TokenCreated = func() (time.Time, error) { return h.tokenCreated(ctx, req) }
	code, err := h.oidc.Authorize(ctx, r)
	if e, ok := oidc.AsOAuthError(err); ok {
		body := oauthErrorBody(e)
		body["state"] = e.State
		return rawJSON(e.Status, body, "")
	}
	if err != nil {
		return nil, err
	}
	return rawJSON(http.StatusOK, map[string]any{"code": code, "state": r.State}, "")
}

// tokenCreated looks up when the caller's Vault token was made, for
// max_age only. Vault gives a plugin no token details, so the token must
// reach the plugin in the Authorization header (Bearer), which the mount
// passes through (the sign-in page sends it only with max_age); the plugin
// asks Vault about it at the address it was given. The token is used for
// that one lookup: never logged, stored or put in an error.
func (h *providerHandler) tokenCreated(ctx context.Context, req *logical.Request) (time.Time, error) {
	token, ok := bearer(req)
	if !ok || h.apiAddr == "" {
		return time.Time{}, errors.New("the caller's token is not known to the plugin: send it as Authorization: Bearer")
	}
	if h.vaultErr != nil {
		return time.Time{}, h.vaultErr
	}
	// Clones share the connection pool.
	client, err := h.vault.Clone()
	if err != nil {
		return time.Time{}, err
	}
	client.SetToken(token)
	secret, err := client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if secret == nil || secret.Data == nil {
		return time.Time{}, errors.New("token lookup returned nothing")
	}
	if id, _ := secret.Data["entity_id"].(string); id != req.EntityID {
		return time.Time{}, errors.New("the bearer token is not the request's token")
	}
	created, ok := secret.Data["creation_time"].(json.Number)
	if !ok {
		return time.Time{}, errors.New("token lookup returned no creation_time")
	}
	unix, err := created.Int64()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(unix, 0), nil
}

// header returns a request header passed through by Vault.
func header(req *logical.Request, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// bearer returns the Authorization header's bearer token.
func bearer(req *logical.Request) (string, bool) {
	v := header(req, "Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// clientAuth reads a client's credentials: HTTP Basic, else the body; or a
// private_key_jwt client assertion, whose aud is checked against the
// provider's issuer.
func (h *providerHandler) clientAuth(req *logical.Request, d *framework.FieldData) oidc.ClientAuth {
	a := oidc.ClientAuth{
		ID: d.Get("client_id").(string), Secret: d.Get("client_secret").(string),
		AssertionType: d.Get("client_assertion_type").(string), Assertion: d.Get("client_assertion").(string),
		Issuer: h.issuerFunc(req, d.Get("name").(string)),
	}
	if v := header(req, "Authorization"); v != "" {
		hr := http.Request{Header: http.Header{"Authorization": {v}}}
		if id, secret, ok := hr.BasicAuth(); ok {
			a.Basic = true
			a.BasicID, a.BasicSecret = unescape(id), unescape(secret)
		}
	}
	return a
}

// unescape undoes the form encoding RFC 6749 asks of Basic credentials.
func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// oauthErrorBody is the JSON body of an OAuth error answer.
func oauthErrorBody(e *oidc.OAuthError) map[string]any {
	return map[string]any{"error": e.Code, "error_description": e.Description}
}

// oauthResponse answers a token, introspection or revocation request:
// never cached, and an invalid_client with a Basic challenge.
func oauthResponse(err error, body any) (*logical.Response, error) {
	status := http.StatusOK
	if err != nil {
		e, ok := oidc.AsOAuthError(err)
		if !ok {
			return nil, err
		}
		status, body = e.Status, oauthErrorBody(e)
	}
	resp, rerr := rawJSON(status, body, "no-store")
	if rerr != nil {
		return nil, rerr
	}
	resp.Data[logical.HTTPPragmaHeader] = "no-cache"
	if status == http.StatusUnauthorized {
		resp.Data[logical.HTTPWWWAuthenticateHeader] = "Basic"
	}
	return resp, nil
}

func (h *providerHandler) issuerFunc(req *logical.Request, name string) func(string) string {
	return func(configured string) string { return h.issuer(req, name, configured) }
}

func (h *providerHandler) token(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	out, err := h.oidc.ExchangeToken(ctx, oidc.TokenExchange{
		Provider:     name,
		Auth:         h.clientAuth(req, d),
		GrantType:    d.Get("grant_type").(string),
		Code:         d.Get("code").(string),
		RedirectURI:  d.Get("redirect_uri").(string),
		CodeVerifier: d.Get("code_verifier").(string),
		RefreshToken: d.Get("refresh_token").(string),
		DeviceCode:   d.Get("device_code").(string),
		Scope:        d.Get("scope").(string),
		Issuer:       h.issuerFunc(req, name),
	})
	return oauthResponse(err, out)
}

func (h *providerHandler) userInfo(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	header, hasHeader := bearer(req)
	body := ""
	if req.Operation == logical.UpdateOperation {
		body = d.Get("access_token").(string)
	}
	token, presented, err := oidc.PresentedAccessToken(header, hasHeader, body)
	var claims map[string]any
	if err == nil {
		claims, err = h.oidc.UserInfo(ctx, d.Get("name").(string), token, presented)
	}
	if err == nil {
		return rawJSON(http.StatusOK, claims, "")
	}
	e, isOAuth := oidc.AsOAuthError(err)
	if !isOAuth {
		return nil, err
	}
	resp, err := rawJSON(e.Status, oauthErrorBody(e), "")
	if err != nil {
		return nil, err
	}
	if e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized {
		resp.Data[logical.HTTPWWWAuthenticateHeader] = fmt.Sprintf("Bearer error=%q,error_description=%q", e.Code, e.Description)
	}
	return resp, nil
}

func (h *providerHandler) introspect(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	out, err := h.oidc.IntrospectGrant(ctx, name, h.clientAuth(req, d), d.Get("token").(string), d.Get("token_type_hint").(string), h.issuerFunc(req, name))
	return oauthResponse(err, out)
}

func (h *providerHandler) revoke(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	err := h.oidc.RevokeGrant(ctx, d.Get("name").(string), h.clientAuth(req, d), d.Get("token").(string), d.Get("token_type_hint").(string))
	return oauthResponse(err, map[string]any{})
}
