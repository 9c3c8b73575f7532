package paths

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
)

// The provider's end_session_endpoint (OpenID Connect RP-Initiated Logout
// 1.0), <issuer>/logout, served without a token like the sign-in page and
// under the same Content-Security-Policy. GET (or an RP's form POST) shows
// a confirmation; the page's script posts the request back with
// confirm=yes, and the plugin ends the sign-in the id_token_hint names
// (backend/oidc_logout.go) and answers {"signed_out":true,"redirect_uri"}.
// A request that is not valid gets an error page and never a redirect.

//go:embed signin/head.html signin/logout.html signin/logout.js
var logoutFiles embed.FS

var logoutTemplate = template.Must(template.ParseFS(logoutFiles, "signin/logout.html", "signin/head.html"))

var logoutScript = func() signInAsset {
	body, err := logoutFiles.ReadFile("signin/logout.js")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(body)
	return signInAsset{body: body, contentType: "text/javascript; charset=utf-8", version: hex.EncodeToString(sum[:8])}
}()

// logoutParams are the request parameters the page posts back.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

func logoutPaths(c Config) []*framework.Path {
	h := &logoutHandler{oidc: c.Store.OIDC(), identity: c.Store.Identity(), apiAddr: c.APIAddr}
	str := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
	}
	fields := merge(nameField("provider"), map[string]*framework.FieldSchema{
		"id_token_hint":            str("An ID token the provider issued to the client (an expired one is accepted): it names the client and, by its sid, the sign-in to end."),
		"client_id":                str("The client's id; must match the id_token_hint's audience when both are given."),
		"post_logout_redirect_uri": str("Where to send the browser after sign-out; must exactly match one of the client's post_logout_redirect_uris."),
		"state":                    str("Opaque value echoed to the post_logout_redirect_uri."),
		"ui_locales":               str("Ignored."),
		"logout_hint":              str("Ignored."),
		"confirm":                  str(`"yes" (sent by the sign-out page) ends the sign-in; otherwise the confirmation page is shown.`),
	})
	return []*framework.Path{
		{
			Pattern:      "oidc/provider/" + framework.GenericNameRegex("name") + "/logout$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "logout", OperationSuffix: "provider"},
			Fields:       fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: h.page,
					Summary:  "The provider's sign-out page (its end_session_endpoint).",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "HTML page asking the user to confirm the sign-out.", MediaType: "text/html"}},
					},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback: h.post,
					Summary:  "Shows the sign-out page, or with confirm=yes ends the sign-in.",
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "logout2",
					},
					Responses: rawResponse(`The page, or raw JSON {"signed_out","redirect_uri"} or an OAuth error.`),
				},
			},
			HelpSynopsis: "Sign-out page of an OIDC provider (RP-Initiated Logout).",
			HelpDescription: "The end_session_endpoint of the provider's discovery document, listed once a client of the provider registers " +
				"post_logout_redirect_uris. Served without a Vault token. With a valid id_token_hint, confirming ends that sign-in " +
				"(its refresh and access tokens are revoked) and returns to the post_logout_redirect_uri with state.",
		},
		{
			Pattern:      "oidc/sign-in/logout\\.js$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "logout-script"},
			Fields: map[string]*framework.FieldSchema{
				"v": {Type: framework.TypeString, Query: true, Description: "Version of the file the page links to; a matching version may be cached for good."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:  h.script,
					Summary:   "Script of the sign-out page.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "The file."}}},
				},
			},
			HelpSynopsis:    "Script of the OIDC provider's sign-out page.",
			HelpDescription: "The script the sign-out page loads. Served without a Vault token.",
		},
	}
}

type logoutHandler struct {
	oidc     *oidc.Service
	identity *identity.Store
	apiAddr  string
}

// logoutPage is what logout.html renders.
type logoutPage struct {
	Title, CSP    string
	Script, Style string
	Error         *signInPageError
	Client        string
	Request       *logoutPageRequest
}

// logoutPageRequest is the JSON the page's script reads.
type logoutPageRequest struct {
	Client string            `json:"client"`
	Params map[string]string `json:"params"`
}

func (h *logoutHandler) request(req *logical.Request, d *framework.FieldData) oidc.LogoutRequest {
	name := d.Get("name").(string)
	return oidc.LogoutRequest{
		Provider:              name,
		IDTokenHint:           d.Get("id_token_hint").(string),
		ClientID:              d.Get("client_id").(string),
		PostLogoutRedirectURI: d.Get("post_logout_redirect_uri").(string),
		State:                 d.Get("state").(string),
		Issuer: func(configured string) string {
			return issuerURL(configured, h.apiAddr, req.MountPoint, "oidc/provider/"+name)
		},
	}
}

// enabled checks that the provider serves logout: otherwise the path is
// as absent as before the feature.
func (h *logoutHandler) enabled(ctx context.Context, name string) (bool, error) {
	f, err := h.oidc.ProviderFeatures(ctx, name)
	return f.Logout(), err
}

func (h *logoutHandler) page(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ok, err := h.enabled(ctx, d.Get("name").(string))
	if err != nil {
		return h.errorPage(err)
	}
	if !ok {
		return h.errorPage(&oidc.OAuthError{Status: http.StatusNotFound, Code: "invalid_request", Description: "the provider does not serve logout: no client of it registered post_logout_redirect_uris"})
	}
	r := h.request(req, d)
	v, err := h.oidc.CheckLogout(ctx, r)
	if err != nil {
		return h.errorPage(err)
	}
	page := h.newPage("Sign out")
	page.Client = v.ClientName
	params := map[string]string{}
	for _, k := range logoutParams {
		if s := d.Get(k).(string); s != "" {
			params[k] = s
		}
	}
	page.Request = &logoutPageRequest{Client: v.ClientName, Params: params}
	return renderLogout(http.StatusOK, page)
}

func (h *logoutHandler) post(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if d.Get("confirm").(string) != "yes" {
		return h.page(ctx, req, d)
	}
	fail := func(err error) (*logical.Response, error) {
		var oe *oidc.OAuthError
		if !errors.As(err, &oe) {
			return nil, err
		}
		return rawJSON(oe.Status, map[string]any{"error": oe.Code, "error_description": oe.Description}, "no-store")
	}
	ok, err := h.enabled(ctx, d.Get("name").(string))
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(&oidc.OAuthError{Status: http.StatusNotFound, Code: "invalid_request", Description: "the provider does not serve logout"})
	}
	v, revoked, err := h.oidc.Logout(ctx, h.request(req, d))
	if err != nil {
		return fail(err)
	}
	out := map[string]any{"signed_out": true, "session_ended": revoked}
	if v.RedirectURI != "" {
		u, ok := redirectWith(v.RedirectURI, map[string]string{"state": v.State})
		if !ok {
			return fail(&oidc.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "post_logout_redirect_uri cannot be used"})
		}
		out["redirect_uri"] = u
	}
	return rawJSON(http.StatusOK, out, "no-store")
}

func (h *logoutHandler) errorPage(err error) (*logical.Response, error) {
	var oe *oidc.OAuthError
	if !errors.As(err, &oe) {
		status, desc := http.StatusInternalServerError, "The sign-out page could not be prepared. Try again later."
		if e, ok := core.AsError(err); ok && e.Status != 0 {
			status = e.Status
			if status < http.StatusInternalServerError {
				desc = e.Msg
			}
		}
		oe = &oidc.OAuthError{Status: status, Code: "server_error", Description: desc}
	}
	page := h.newPage("Sign-out error")
	page.Error = &signInPageError{Code: oe.Code, Description: oe.Description}
	status := oe.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	return renderLogout(status, page)
}

func (h *logoutHandler) newPage(title string) *logoutPage {
	return &logoutPage{
		Title:  title,
		CSP:    signInCSP,
		Script: "../../sign-in/logout.js?v=" + logoutScript.version,
		Style:  "../../sign-in/style.css?v=" + signInAssets["style.css"].version,
	}
}

func renderLogout(status int, page *logoutPage) (*logical.Response, error) {
	return renderPage(logoutTemplate, status, page)
}

func (h *logoutHandler) script(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return serveAsset(logoutScript, d)
}
