package paths_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/paths"
)

// uiFiles are the console's scripts and style sheet, as in paths/ui.
func uiFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"ui/*.js", "ui/*.css"} {
		m, err := filepath.Glob(pat)
		require.NoError(t, err)
		out = append(out, m...)
	}
	require.Contains(t, out, filepath.Join("ui", "app.js"))
	require.Contains(t, out, filepath.Join("ui", "style.css"))
	return out
}

func TestUIPageHeadersAndPolicy(t *testing.T) {
	b := newBackend(t)
	r := b.Read("ui/")
	body := rawPage(t, r, http.StatusOK)
	strictPage(t, body)
	require.Equal(t, "no-cache", r.Resp.Data[logical.HTTPPragmaHeader])

	// The headers Vault passes on once the mount allows them.
	h := r.Resp.Headers
	require.Equal(t, []string{"nosniff"}, h["X-Content-Type-Options"])
	require.Equal(t, []string{"no-referrer"}, h["Referrer-Policy"])
	require.Equal(t, []string{"DENY"}, h["X-Frame-Options"])
	csp := h["Content-Security-Policy"][0]
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "base-uri 'none'", "frame-ancestors 'none'"} {
		require.Contains(t, csp, d)
	}
	require.NotContains(t, csp, "unsafe")

	// The <meta> policy leaves out frame-ancestors, which browsers ignore
	// (and warn about) there.
	m := cspMeta.FindStringSubmatch(body)
	require.NotContains(t, m[1], "frame-ancestors")

	// The script is a module linked at the assets' version; the page tells
	// it the mount.
	require.Regexp(t, `<script type="module" src="app\.js\?v=[0-9a-f]{16}"></script>`, body)
	require.Regexp(t, `<link rel="stylesheet" href="style\.css\?v=[0-9a-f]{16}">`, body)
	require.Contains(t, body, `<body data-mount="ident/">`)
	require.Contains(t, body, `<main id="main"`)
	require.Contains(t, body, `role="status" aria-live="polite"`)
	require.Contains(t, body, `<html lang="en">`)
}

func TestUIPageWithoutTrailingSlashLinksIntoTheDirectory(t *testing.T) {
	b := newBackend(t)
	body := rawPage(t, b.Read("ui"), http.StatusOK)
	require.Regexp(t, `src="ui/app\.js\?v=`, body)
	require.Regexp(t, `href="ui/style\.css\?v=`, body)
}

func TestUIAssetsContentTypesAndCaching(t *testing.T) {
	b := newBackend(t)
	page := rawPage(t, b.Read("ui/"), http.StatusOK)
	appVersion := regexp.MustCompile(`app\.js\?v=([0-9a-f]+)`).FindStringSubmatch(page)[1]
	for _, f := range uiFiles(t) {
		name := filepath.Base(f)
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		r := b.Read("ui/" + name)
		require.NoError(t, r.Err, name)
		require.Equal(t, http.StatusOK, r.Resp.Data[logical.HTTPStatusCode], name)
		ct := "text/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".css") {
			ct = "text/css; charset=utf-8"
		}
		require.Equal(t, ct, r.Resp.Data[logical.HTTPContentType], name)
		require.Equal(t, want, r.Resp.Data[logical.HTTPRawBody], name)
		require.Equal(t, []string{"nosniff"}, r.Resp.Headers["X-Content-Type-Options"], name)
		require.Equal(t, "no-cache", r.Resp.Data[logical.HTTPCacheControlHeader], "%s without a version is revalidated", name)

		// At the version the page links, the file may be kept for good.
		sum := sha256.Sum256(want)
		v := hex.EncodeToString(sum[:8])
		if name == "app.js" {
			v = appVersion
		}
		r = b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "ui/" + name, Data: map[string]any{"v": v}})
		require.Equal(t, "public, max-age=31536000, immutable", r.Resp.Data[logical.HTTPCacheControlHeader], name)
	}
}

func TestUIUnknownAssetsAreNotFound(t *testing.T) {
	b := newBackend(t)
	for _, p := range []string{"ui/nope.js", "ui/index.html", "ui/APP.JS", "ui/app.js.map", "ui/ui", "ui/../paths.go", "ui/sub/app.js"} {
		r := b.Read(p)
		require.Equal(t, http.StatusNotFound, r.Status, p)
		if r.Resp != nil {
			require.Nil(t, r.Resp.Data[logical.HTTPRawBody], p)
		}
	}
}

func TestUIIsServedWithoutAToken(t *testing.T) {
	require.Contains(t, paths.Unauthenticated, "ui")
	require.Contains(t, paths.Unauthenticated, "ui/*")
}

// TestUIScriptsWriteNoMarkup: values from the store reach the page only as
// text (textContent, setAttribute), never through an HTML parser or eval.
func TestUIScriptsWriteNoMarkup(t *testing.T) {
	forbidden := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser|setHTML|\.srcdoc`)
	inlineStyle := regexp.MustCompile(`setAttribute\(\s*'style'|'style':|\bstyle:`)
	for _, f := range uiFiles(t) {
		if !strings.HasSuffix(f, ".js") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotRegexp(t, forbidden, string(src), f)
		require.NotRegexp(t, inlineStyle, string(src), "%s: no inline style (the policy refuses it)", f)
		require.NotContains(t, string(src), "localStorage", f)
		require.NotContains(t, string(src), "sessionStorage", f)
		require.NotContains(t, string(src), "document.cookie", f)
		// The SVG namespace is a name, not an address.
		require.NotContains(t, strings.ReplaceAll(string(src), "http://www.w3.org/2000/svg", ""), "://", "%s: no remote address (no CDN)", f)
	}
}
