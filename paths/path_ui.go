package paths

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The admin console: a browser client of the mount's own HTTP API, served
// from embedded files at <mount>/ui/ without a token. The page holds no data
// of the store: it signs in to Vault from the browser and calls the API with
// the token it got, which stays in the page's memory, so Vault's ACL decides
// what it shows. It runs under the sign-in page's strict
// Content-Security-Policy and headers (signInCSP, signInHeaders): scripts
// and style sheets are files of this directory, nothing is inline, and the
// page hides itself when framed.

//go:embed ui
var uiFiles embed.FS

var uiTemplate = template.Must(template.ParseFS(uiFiles, "ui/index.html"))

// uiAssetName is what an asset may be called: a flat name with an extension
// the console uses.
var uiAssetName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.(js|css)$`)

var uiContentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// uiAssets are the console's scripts and style sheet by file name; uiVersion
// is a hash of all of them, which the page links the entry points with.
var uiAssets, uiVersion = func() (map[string]signInAsset, string) {
	out := map[string]signInAsset{}
	entries, err := fs.ReadDir(uiFiles, "ui")
	if err != nil {
		panic(err)
	}
	all := sha256.New()
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if uiAssetName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		all.Write(sum[:])
		out[name] = signInAsset{body: body, contentType: uiContentTypes[path.Ext(name)], version: hex.EncodeToString(sum[:8])}
	}
	return out, hex.EncodeToString(all.Sum(nil)[:8])
}()

// uiPage is what index.html renders.
type uiPage struct {
	CSP string
	// Script and Style are the entry points' URLs relative to the page.
	Script, Style string
	// Mount is the mount path ("ident/"), from which the script finds
	// Vault's API prefix in its own address.
	Mount string
}

func uiPaths(Config) []*framework.Path {
	v := map[string]*framework.FieldSchema{
		"v": {Type: framework.TypeString, Query: true, Description: "Version of the file the page links to; a matching version may be cached for good."},
	}
	return []*framework.Path{
		{
			Pattern:      "ui/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "identity-plugin", OperationVerb: "read", OperationSuffix: "console"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: uiIndex,
					Summary:  "The admin console.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "HTML page of the admin console, a browser client of this mount's API.", MediaType: "text/html"}},
					},
				},
			},
			HelpSynopsis: "Browser admin console of the identity store.",
			HelpDescription: "An admin console for entities, groups, aliases, OIDC and MFA that calls this mount's API from the browser " +
				"with the token of the person signed in. Served without a Vault token. Tune the mount with allowed_response_headers=" +
				signInHeaderNames + " to also send the page's Content-Security-Policy (with frame-ancestors) as headers.",
		},
		{
			Pattern:      "ui/(?P<asset>[^/]+)$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "identity-plugin", OperationVerb: "read", OperationSuffix: "console-asset"},
			Fields: merge(v, map[string]*framework.FieldSchema{
				"asset": {Type: framework.TypeString, Description: "File name of a script or style sheet of the console."},
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: uiAsset,
					Summary:  "A script or style sheet of the admin console.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "The file."}},
					},
				},
			},
			HelpSynopsis:    "Static files of the admin console.",
			HelpDescription: "The scripts and style sheet the admin console loads. Served without a Vault token; unknown names are 404.",
		},
	}
}

func uiIndex(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	// The page links its files relative to itself: at "ui/" they are
	// siblings, at "ui" (no slash) they are under "ui/".
	dir := ""
	if !strings.HasSuffix(req.Path, "/") {
		dir = "ui/"
	}
	page := uiPage{
		CSP:    signInCSP,
		Script: dir + "app.js?v=" + uiVersion,
		Style:  dir + "style.css?v=" + uiAssets["style.css"].version,
		Mount:  req.MountPoint,
	}
	var b bytes.Buffer
	if err := uiTemplate.Execute(&b, page); err != nil {
		return nil, err
	}
	return &logical.Response{
		Data: map[string]any{
			logical.HTTPStatusCode:         http.StatusOK,
			logical.HTTPRawBody:            b.Bytes(),
			logical.HTTPContentType:        "text/html; charset=utf-8",
			logical.HTTPCacheControlHeader: "no-store",
			logical.HTTPPragmaHeader:       "no-cache",
		},
		Headers: copyHeaders(signInHeaders),
	}, nil
}

func uiAsset(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, ok := uiAssets[d.Get("asset").(string)]
	if !ok {
		return nil, logical.ErrUnsupportedPath
	}
	// app.js is linked at the version of the whole set, as the modules it
	// imports are not versioned; the others at their own.
	want := a.version
	if d.Get("asset").(string) == "app.js" {
		want = uiVersion
	}
	cache := "no-cache"
	if v, _ := d.GetOk("v"); v == want {
		cache = "public, max-age=31536000, immutable"
	}
	return &logical.Response{
		Data: map[string]any{
			logical.HTTPStatusCode:         http.StatusOK,
			logical.HTTPRawBody:            a.body,
			logical.HTTPContentType:        a.contentType,
			logical.HTTPCacheControlHeader: cache,
		},
		Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}, "Referrer-Policy": {"no-referrer"}},
	}, nil
}
