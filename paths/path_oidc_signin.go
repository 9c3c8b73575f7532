package paths

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/oidc"
)

// The browser sign-in page of the OIDC provider: its discovery document's
// authorization_endpoint, <issuer>/sign-in. Vault serves it without a token
// (the paths are in Unauthenticated); the page signs the user in to Vault
// from the browser, asks for consent and posts the request to the provider's
// authorize endpoint with the token it got, which never leaves the page's
// memory. The token goes to Vault (X-Vault-Token), and to the plugin
// (Authorization: Bearer) only when the request has max_age, which needs
// the token's creation time. The HTML has no inline script or style, so the
// page runs under a strict Content-Security-Policy.

//go:embed signin/head.html signin/page.html signin/app.js signin/style.css
var signInFiles embed.FS

// signInCSP is the page's policy. Vault's raw responses only carry the
// Content-Type, Cache-Control, Pragma and WWW-Authenticate headers, so the
// page states the policy in a <meta> element too, where frame-ancestors is
// not honoured; the page keeps itself hidden when it is framed instead.
const signInCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'"

// signInHeaders are sent as response headers too. Vault passes a plugin's
// response headers on only when the mount is tuned to allow them
// (allowed_response_headers); with them the browser also refuses framing.
var signInHeaders = map[string][]string{
	"Content-Security-Policy": {signInCSP + "; frame-ancestors 'none'"},
	"X-Frame-Options":         {"DENY"},
	"X-Content-Type-Options":  {"nosniff"},
	"Referrer-Policy":         {"no-referrer"},
}

// signInHeaderNames are the names of signInHeaders, for an operator's
// allowed_response_headers.
const signInHeaderNames = "Content-Security-Policy,X-Frame-Options,X-Content-Type-Options,Referrer-Policy"

var signInTemplate = template.Must(template.ParseFS(signInFiles, "signin/page.html", "signin/head.html"))

// signInAsset is a static file of the page, served at oidc/sign-in/<name>.
type signInAsset struct {
	body        []byte
	contentType string
	// version is a hash of the body: the page links the asset with ?v=<it>,
	// which may be cached for good.
	version string
}

var signInAssets = func() map[string]signInAsset {
	out := map[string]signInAsset{}
	for name, ct := range map[string]string{
		"app.js":    "text/javascript; charset=utf-8",
		"style.css": "text/css; charset=utf-8",
	} {
		body, err := signInFiles.ReadFile("signin/" + name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		out[name] = signInAsset{body: body, contentType: ct, version: hex.EncodeToString(sum[:8])}
	}
	return out
}()

// signInParams are the OAuth parameters of an authorization request, which
// the page posts back.
var signInParams = slices.Sorted(maps.Keys(authorizeFields(nil)))

func signInPaths(c Config) []*framework.Path {
	h := &signInHandler{oidc: c.Store.OIDC()}
	str := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeString, Query: true, Description: desc}
	}
	return []*framework.Path{
		{
			Pattern:      "oidc/provider/" + framework.GenericNameRegex("name") + "/sign-in$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "sign-in", OperationSuffix: "provider"},
			// max_age is read as text, so that a bad value gets the error page
			// rather than Vault's JSON error.
			Fields: merge(merge(nameField("provider"), authorizeFields(str(maxAgeDescription))), map[string]*framework.FieldSchema{
				"device":    str("Set, the page is the device grant's verification page (RFC 8628 verification_uri): sign in, enter the device's user code, allow or deny. Not in Vault."),
				"user_code": str("With device, the user code to fill in (verification_uri_complete)."),
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: h.page,
					Summary:  "The provider's sign-in page (its authorization_endpoint).",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "HTML page that signs the user in to Vault, asks for consent and returns to the client with an authorization code.", MediaType: "text/html"}},
					},
				},
			},
			HelpSynopsis: "Browser sign-in page of an OIDC provider.",
			HelpDescription: "The authorization_endpoint of the provider's discovery document. A browser is sent here with an " +
				"authorization request; the page validates it, signs the user in to Vault with one of the provider's sign_in_methods, " +
				"asks for consent and calls oidc/provider/:name/authorize with the resulting token. Served without a Vault token. " +
				"Vault forwards a plugin's response headers only if the mount allows them: tune it with allowed_response_headers=" +
				signInHeaderNames + " to also send the page's Content-Security-Policy (with frame-ancestors) as headers.",
		},
		{
			Pattern:      "oidc/sign-in/(?P<asset>app\\.js|style\\.css)$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: oidcPrefix, OperationVerb: "read", OperationSuffix: "sign-in-asset"},
			Fields: map[string]*framework.FieldSchema{
				"asset": {Type: framework.TypeString, Description: "File name: app.js or style.css."},
				"v":     str("Version of the file the page links to; a matching version may be cached for good."),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: h.asset,
					Summary:  "Script and style sheet of the sign-in page.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "The file."}},
					},
				},
			},
			HelpSynopsis:    "Static files of the OIDC provider's sign-in page.",
			HelpDescription: "The script and style sheet the sign-in page loads. Served without a Vault token.",
		},
	}
}

type signInHandler struct {
	oidc *oidc.Service
}

// signInPage is what page.html renders.
type signInPage struct {
	Title string
	CSP   string
	// Script and Style are the assets' URLs relative to the page.
	Script, Style string
	// Error, when set, is shown instead of the sign-in form.
	Error *signInPageError
	// Client and Scopes are shown for consent; Methods in the chooser.
	Client  string
	Scopes  []signInScope
	Methods []signInMethod
	// Request is the data app.js reads from the page (as JSON).
	Request *signInRequest
	// Device is the device grant's verification view; UserCode the code
	// to fill in.
	Device   bool
	UserCode string
}

type signInPageError struct {
	Code, Description string
	// Return is the redirect_uri with the error, when the client may be
	// told.
	Return template.URL
}

type signInScope struct {
	Name, Description string
}

// signInMethod is one of Request.Methods, at the same position.
type signInMethod struct {
	// Kind is "token" or "password".
	Kind        string
	Label, Path string
}

// signInRequest is the JSON the page's script reads.
type signInRequest struct {
	// Mount is the mount path ("ident/"); Provider the provider name.
	Mount    string `json:"mount"`
	Provider string `json:"provider"`
	// Client is the client's name.
	Client      string `json:"client"`
	RedirectURI string `json:"redirect_uri"`
	State       string `json:"state"`
	// Methods are the provider's sign-in methods: "token" or an auth mount
	// path.
	Methods []string `json:"methods"`
	// Params are the OAuth parameters as received, for the authorize call.
	Params map[string]string `json:"params"`
	// Device is set on the device grant's verification view.
	Device bool `json:"device,omitempty"`
}

func (h *signInHandler) page(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if v, ok := d.GetOk("device"); ok && v.(string) != "" {
		return h.devicePage(ctx, req, name, d.Get("user_code").(string))
	}
	params := map[string]string{}
	for _, k := range signInParams {
		if v, ok := d.GetOk(k); ok {
			params[k] = v.(string)
		}
	}
	ar := authorizeRequest(d)
	badMaxAge := false
	if v, ok := params["max_age"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			badMaxAge = true
		} else {
			ar.MaxAge = core.Some(n)
		}
	}

	view, err := h.oidc.CheckAuthorize(ctx, ar)
	if err == nil && badMaxAge {
		// The rest of the request is valid, so the client is told.
		err = oidc.AuthzError(ar, "invalid_request", "max_age must be a number of seconds")
	}
	if err == nil && len(view.Methods) == 0 {
		err = oidc.AuthzError(ar, "server_error", "the provider has no sign-in methods configured (sign_in_methods)")
	}
	if err != nil {
		return h.errorPage(req, ar, err)
	}

	page := newSignInPage("Sign in to " + view.ClientName)
	page.Client = view.ClientName
	for _, s := range view.Scopes {
		page.Scopes = append(page.Scopes, signInScope{Name: s, Description: cmp.Or(view.Descriptions[s], scopeDescription(s))})
	}
	// The provider keeps its methods trimmed of slashes.
	for _, m := range view.Methods {
		if m == oidc.TokenSignIn {
			page.Methods = append(page.Methods, signInMethod{Kind: "token", Label: "Vault token"})
			continue
		}
		page.Methods = append(page.Methods, signInMethod{Kind: "password", Label: "Username and password", Path: m})
	}
	page.Request = &signInRequest{
		Mount:       req.MountPoint,
		Provider:    name,
		Client:      view.ClientName,
		RedirectURI: ar.RedirectURI,
		State:       ar.State,
		Methods:     view.Methods,
		Params:      params,
	}
	return renderSignIn(http.StatusOK, page)
}

// errorPage shows why a request cannot be served, with a way back to the
// client when it may be told.
func (h *signInHandler) errorPage(req *logical.Request, ar oidc.AuthorizeRequest, err error) (*logical.Response, error) {
	var oe *oidc.OAuthError
	if !errors.As(err, &oe) {
		status := http.StatusInternalServerError
		desc := "The sign-in page could not be prepared. Try again later."
		if e, ok := core.AsError(err); ok && e.Status != 0 {
			status = e.Status
			if status < http.StatusInternalServerError {
				desc = e.Msg
			}
		}
		oe = &oidc.OAuthError{Status: status, Code: "server_error", Description: desc}
	}
	status := oe.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	page := newSignInPage("Sign-in error")
	page.Error = &signInPageError{Code: oe.Code, Description: oe.Description}
	if oe.Redirect {
		q := map[string]string{"error": oe.Code, "error_description": oe.Description, "state": oe.State}
		if u, ok := redirectWith(ar.RedirectURI, q); ok {
			page.Error.Return = template.URL(u)
		}
	}
	return renderSignIn(status, page)
}

func newSignInPage(title string) *signInPage {
	return &signInPage{
		Title: title,
		CSP:   signInCSP,
		// The page is at oidc/provider/<name>/sign-in, the assets at
		// oidc/sign-in/: relative links work behind a path prefix too.
		Script: "../../sign-in/app.js?v=" + signInAssets["app.js"].version,
		Style:  "../../sign-in/style.css?v=" + signInAssets["style.css"].version,
	}
}

func renderSignIn(status int, page *signInPage) (*logical.Response, error) {
	return renderPage(signInTemplate, status, page)
}

// renderPage answers an HTML page of the provider (sign-in, sign-out) with
// its security headers, never cached.
func renderPage(tmpl *template.Template, status int, page any) (*logical.Response, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, page); err != nil {
		return nil, err
	}
	return &logical.Response{
		Data: map[string]any{
			logical.HTTPStatusCode:         status,
			logical.HTTPRawBody:            b.Bytes(),
			logical.HTTPContentType:        "text/html; charset=utf-8",
			logical.HTTPCacheControlHeader: "no-store",
			logical.HTTPPragmaHeader:       "no-cache",
		},
		Headers: copyHeaders(signInHeaders),
	}, nil
}

func (h *signInHandler) asset(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, ok := signInAssets[d.Get("asset").(string)]
	if !ok {
		return nil, logical.ErrUnsupportedPath
	}
	return serveAsset(a, d)
}

// serveAsset answers a page asset; asked for at its current version (the
// v parameter the pages link with) it may be cached for good.
func serveAsset(a signInAsset, d *framework.FieldData) (*logical.Response, error) {
	cache := "no-cache"
	if v, _ := d.GetOk("v"); v == a.version {
		cache = "public, max-age=31536000, immutable"
	}
	return &logical.Response{
		Data: map[string]any{
			logical.HTTPStatusCode:         http.StatusOK,
			logical.HTTPRawBody:            a.body,
			logical.HTTPContentType:        a.contentType,
			logical.HTTPCacheControlHeader: cache,
		},
		Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}},
	}, nil
}

func copyHeaders(h map[string][]string) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// redirectWith adds params to a redirect URI, keeping its own query; empty
// values are left out. It refuses URIs a browser would run as script.
func redirectWith(uri string, params map[string]string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "blob", "file":
		return "", false
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// scopeDescription explains, on the consent screen, a scope that has no
// description of its own.
func scopeDescription(scope string) string {
	if scope == oidc.OpenIDScope {
		return "Sign you in with your Vault identity (your entity ID)."
	}
	return "Your identity's \u201c" + scope + "\u201d information."
}

// devicePage is the device grant's verification view: served only when a
// client of the provider has device_grant set.
func (h *signInHandler) devicePage(ctx context.Context, req *logical.Request, name, userCode string) (*logical.Response, error) {
	fail := func(status int, desc string) (*logical.Response, error) {
		return h.errorPage(req, oidc.AuthorizeRequest{}, &oidc.OAuthError{Status: status, Code: "invalid_request", Description: desc})
	}
	features, err := h.oidc.ProviderFeatures(ctx, name)
	if err != nil {
		return h.errorPage(req, oidc.AuthorizeRequest{}, err)
	}
	if !features.DeviceGrant {
		return fail(http.StatusBadRequest, "the provider has no client allowed the device grant")
	}
	p, err := h.oidc.OIDCProvider(ctx, name)
	if err != nil {
		return h.errorPage(req, oidc.AuthorizeRequest{}, err)
	}
	if p == nil || len(p.SignInMethods) == 0 {
		return fail(http.StatusBadRequest, "the provider has no sign-in methods configured (sign_in_methods)")
	}
	page := newSignInPage("Connect a device")
	page.Device = true
	if len(userCode) <= 16 {
		page.UserCode = userCode
	}
	for _, m := range p.SignInMethods {
		if m == oidc.TokenSignIn {
			page.Methods = append(page.Methods, signInMethod{Kind: "token", Label: "Vault token"})
			continue
		}
		page.Methods = append(page.Methods, signInMethod{Kind: "password", Label: "Username and password", Path: m})
	}
	page.Request = &signInRequest{
		Mount: req.MountPoint, Provider: name, Methods: slices.Clone(p.SignInMethods), Params: map[string]string{}, Device: true,
	}
	return renderSignIn(http.StatusOK, page)
}
