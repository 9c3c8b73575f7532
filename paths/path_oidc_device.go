package paths

import (
	"context"
	"errors"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"net/http"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The OAuth 2.0 Device Authorization Grant (RFC 8628), not in Vault: the
// device authorization endpoint (unauthenticated, clients authenticate as
// at the token endpoint) and the verification call of the sign-in page's
// device view (authenticated with the person's Vault token, like
// authorize).
func devicePaths(c Config, callers *callers) []*framework.Path {
	h := &providerHandler{oidc: c.Store.OIDC(), identity: c.Store.Identity(), apiAddr: c.APIAddr, callers: callers}
	provider := "oidc/provider/" + framework.GenericNameRegex("name")
	return []*framework.Path{
		{
			Pattern:      provider + "/device/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "device-authorization", OperationSuffix: "provider"},
			Fields: merge(nameField("provider"), map[string]*framework.FieldSchema{
				"client_id":             {Type: framework.TypeString, Description: "The ID of the requesting client."},
				"client_secret":         {Type: framework.TypeString, Description: "The secret of the requesting client."},
				"client_assertion_type": {Type: framework.TypeString, Description: clientAssertionTypeDescription},
				"client_assertion":      {Type: framework.TypeString, Description: clientAssertionDescription},
				"scope":                 {Type: framework.TypeString, Description: "Space-separated scopes; with openid, the tokens include an ID token."},
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.deviceAuthorization, Summary: "RFC 8628 device authorization endpoint.", Responses: rawResponse("Raw JSON device authorization response or an OAuth error.")},
			},
			HelpSynopsis: "RFC 8628 device authorization endpoint (not in Vault's built-in engine).",
			HelpDescription: "A client with device_grant set gets a device code, which it polls the token endpoint with " +
				"(grant_type urn:ietf:params:oauth:grant-type:device_code), and a user code, which a person enters on the " +
				"sign-in page's device view (verification_uri) to allow or deny the client. Clients authenticate as at the token endpoint.",
		},
		{
			Pattern:      provider + "/device/verify/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "device-verify", OperationSuffix: "provider"},
			Fields: merge(nameField("provider"), map[string]*framework.FieldSchema{
				"user_code": {Type: framework.TypeString, Description: "The user code shown by the device, XXXX-XXXX (case and dash do not matter)."},
				"decision":  {Type: framework.TypeString, Description: `"allow" or "deny"; empty, the code is only looked up (client and scopes).`},
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.deviceVerify, Summary: "Looks up, allows or denies a device's user code for the caller's entity.", Responses: rawResponse("Raw JSON {user_code, client_name, scopes, status} or an OAuth error.")},
			},
			HelpSynopsis: "Device grant verification for the caller (not in Vault's built-in engine).",
			HelpDescription: "The sign-in page's device view calls this with the signed-in person's Vault token. The caller's entity " +
				"must be enabled and assigned to the client, as for authorize. Five wrong user codes within ten minutes refuse the entity further codes until then.",
		},
	}
}

func (h *providerHandler) deviceAuthorization(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	out, err := h.oidc.DeviceAuthorization(ctx, oidc.DeviceRequest{
		Provider: name,
		Auth:     h.clientAuth(req, d),
		Scope:    d.Get("scope").(string),
		Issuer:   h.issuerFunc(req, name),
	})
	return oauthResponse(err, out)
}

func (h *providerHandler) deviceVerify(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	view, err := h.oidc.ApproveDevice(ctx, oidc.DeviceDecision{
		Provider:  d.Get("name").(string),
		UserCode:  d.Get("user_code").(string),
		Decision:  d.Get("decision").(string),
		HasEntity: req.EntityID != "",
		Caller: func() (*identity.EntityView, error) {
			v, _, err := h.callers.resolve(ctx, req, h.identity)
			if errors.Is(err, errNoCallerEntity) {
				return nil, nil
			}
			return v, err
		},
	})
	if e, ok := oidc.AsOAuthError(err); ok {
		return rawJSON(e.Status, oauthErrorBody(e), "no-store")
	}
	if err != nil {
		return nil, err
	}
	for _, sc := range view.Scopes {
		if view.Descriptions[sc] == "" {
			view.Descriptions[sc] = scopeDescription(sc)
		}
	}
	return rawJSON(http.StatusOK, view, "no-store")
}
