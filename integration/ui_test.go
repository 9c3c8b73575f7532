//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The console's tests run on a mount of their own, tuned as scripts/dev.sh
// tunes one, so that the page's security headers reach the browser.
const (
	uiMount    = "identui"
	uiUser     = "ui-admin"
	uiPass     = "console password"
	uiPolicy   = "ui-admin"
	uiReader   = "ui-reader"
	xssName    = `<img src=x onerror=alert(1)>`
	uiGroupsN  = 1000
	uiClientRU = "http://127.0.0.1:9/callback"
)

// unsafeName matches what a screenshot's file name leaves out.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

var uiHeaders = []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}

// uiFixture is what the pages show: objects of every kind.
type uiFixture struct {
	entityID, groupID, childID, externalID, aliasID, groupAliasID, methodID string
}

func setupUI(t *testing.T) *uiFixture {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, server.Enable(ctx, uiMount))
	t.Cleanup(func() { do(t, "DELETE", "sys/mounts/"+uiMount, nil) })
	r := do(t, "POST", "sys/mounts/"+uiMount+"/tune", map[string]any{"allowed_response_headers": uiHeaders})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)

	// An administrator of the mount, who signs in with a password.
	mustWrite(t, "sys/policies/acl/"+uiPolicy, map[string]any{"policy": fmt.Sprintf(`
path "%[1]s/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/auth" { capabilities = ["read"] }`, uiMount)})
	// A reader of entities, who may also edit them but not their policies.
	mustWrite(t, "sys/policies/acl/"+uiReader, map[string]any{"policy": fmt.Sprintf(`
path "%[1]s/entity/id" { capabilities = ["list"] }
path "%[1]s/entity/id/*" {
  capabilities = ["read", "update"]
  denied_parameters = { "policies" = [] }
}
path "%[1]s/entity/name/*" { capabilities = ["read"] }`, uiMount)})
	mustWrite(t, "auth/userpass/users/"+uiUser, map[string]any{"password": uiPass, "token_policies": uiPolicy})
	forgetVaultEntity(t, uiUser, userpassAccessor)
	t.Cleanup(func() {
		do(t, "DELETE", "auth/userpass/users/"+uiUser, nil)
		do(t, "DELETE", "sys/policies/acl/"+uiPolicy, nil)
		do(t, "DELETE", "sys/policies/acl/"+uiReader, nil)
	})

	f := &uiFixture{}
	w := func(path string, body map[string]any) map[string]any {
		t.Helper()
		return mustWrite(t, uiMount+"/"+path, body).Data
	}
	f.entityID = w("entity", map[string]any{"name": "alice", "policies": []string{"default", "dev"}, "metadata": map[string]string{"team": "dev"}})["id"].(string)
	f.aliasID = w("entity-alias", map[string]any{"name": uiUser, "mount_accessor": userpassAccessor, "canonical_id": f.entityID})["id"].(string)
	w("entity", map[string]any{"name": xssName})
	f.childID = w("group", map[string]any{"name": "backend", "member_entity_ids": []string{f.entityID}})["id"].(string)
	f.groupID = w("group", map[string]any{"name": "engineers", "policies": []string{"eng"}, "member_group_ids": []string{f.childID}})["id"].(string)
	f.externalID = w("group", map[string]any{"name": "ldap-admins", "type": "external"})["id"].(string)
	f.groupAliasID = w("group-alias", map[string]any{"name": "admins", "mount_accessor": userpassAccessor, "canonical_id": f.externalID})["id"].(string)
	w("oidc/key/web", map[string]any{"algorithm": "ES256", "allowed_client_ids": "*"})
	w("oidc/role/web", map[string]any{"key": "web", "ttl": "1h", "template": `{"groups": {{identity.entity.groups.names}}}`})
	w("oidc/scope/profile", map[string]any{"template": `{"name": {{identity.entity.name}}}`, "description": "Your name"})
	w("oidc/assignment/devs", map[string]any{"entity_ids": []string{f.entityID}})
	w("oidc/client/portal", map[string]any{"redirect_uris": uiClientRU, "assignments": "allow_all"})
	w("oidc/provider/sso", map[string]any{"scopes_supported": "profile", "allowed_client_ids": "*", "sign_in_methods": "userpass,token"})
	f.methodID = w("mfa/method/totp", map[string]any{"issuer": "Acme", "method_name": "acme-totp"})["method_id"].(string)
	w("mfa/login-enforcement/admins", map[string]any{"mfa_method_ids": []string{f.methodID}, "auth_method_types": []string{"userpass"}})
	return f
}

func consoleURL() string { return server.Addr + "/v1/" + uiMount + "/ui/" }

// axeSource is axe-core's script: AXE_JS, or what scripts/ui-deps.sh
// fetches into the cache.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AXE_JS")
	if path == "" {
		out, err := exec.Command("../scripts/ui-deps.sh").Output()
		require.NoError(t, err, "fetching axe-core (scripts/ui-deps.sh)")
		path = strings.TrimSpace(string(out))
	}
	src, err := os.ReadFile(path)
	require.NoError(t, err, "axe-core at %s", path)
	return string(src)
}

// console is a tab on the console with what the tests check.
type console struct {
	*tab
	axe     string
	dialogs *int
}

func (b *browser) console(t *testing.T, axe string) *console {
	t.Helper()
	tb := b.tab(t)
	dialogs := new(int)
	var mu sync.Mutex
	require.NoError(t, chromedp.Listen(tb.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			*dialogs++
			mu.Unlock()
			go func() {
				_, _ = chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}))
	c := &console{tab: tb, axe: axe, dialogs: dialogs}
	c.do("open the console", chromedp.Navigate(consoleURL()), chromedp.WaitVisible(chromedp.CSS(`select[name="method"]`)))
	return c
}

// wait polls a JavaScript condition until it holds.
func (c *console) wait(what, cond string) {
	c.t.Helper()
	// A condition on elements that are being redrawn may throw meanwhile.
	safe := fmt.Sprintf("(() => { try { return !!(%s); } catch (e) { return false; } })()", cond)
	ok, err := runIn(c.tab, chromedp.Poll[bool](safe, chromedp.WithPollingTimeout(25*time.Second)))
	if err != nil || !ok {
		c.shot("failed-" + strings.Trim(unsafeName.ReplaceAllString(what, "-"), "-"))
		c.t.Fatalf("waiting for %s (%s): %v; page: %s", what, cond, err, c.eval(`document.getElementById('main').innerText.slice(0, 600)`))
	}
}

// idle waits until the page finished rendering a route.
func (c *console) idle() {
	c.t.Helper()
	c.wait("the page to render", `!document.getElementById('main').hasAttribute('aria-busy') && !document.querySelector('.loading')`)
}

// open goes to a route of the console and waits for it.
func (c *console) open(route, ready string) {
	c.t.Helper()
	c.do("go to "+route, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, route)))
	c.wait(route, fmt.Sprintf(`location.hash === %q`, route))
	c.idle()
	if ready != "" {
		c.wait(route+" shows "+ready, fmt.Sprintf(`!!document.querySelector(%q)`, ready))
	}
}

func (c *console) text(sel string) string {
	c.t.Helper()
	return c.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// exists tells whether an element matches sel.
func (c *console) exists(sel string) bool {
	c.t.Helper()
	return c.eval(fmt.Sprintf(`String(!!document.querySelector(%q))`, sel)) == "true"
}

// searchPages searches a list page (entities or groups) by name prefix and
// follows its "Next page" links to the end: it requires the first page to
// be first and every page to hold at most 50 names, and returns the names
// shown, in order.
func (c *console) searchPages(section, prefix, linkSel string, first []string) []string {
	c.t.Helper()
	c.open("#/"+section+"?q="+url.QueryEscape(prefix), linkSel)
	names := func() []string {
		var out []string
		require.NoError(c.t, json.Unmarshal([]byte(c.eval(fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('.results %s')].map(a => a.textContent))`, linkSel))), &out))
		return out
	}
	var seen []string
	for page := 0; ; page++ {
		got := names()
		require.NotEmpty(c.t, got)
		require.LessOrEqual(c.t, len(got), 50, "a page of names")
		if page == 0 {
			require.Equal(c.t, first, got, "the first page: matching names only, in name order")
			c.checked("search-" + section)
			c.accessible("search-" + section)
		}
		seen = append(seen, got...)
		if !c.exists(`.results a[rel="next"]`) {
			return seen
		}
		require.Less(c.t, page, 10, "the pages end")
		c.do("next page", chromedp.Click(chromedp.CSS(`.results a[rel="next"]`)))
		c.wait("the next page", fmt.Sprintf(`(() => { const a = document.querySelector('.results %s'); return a && a.textContent !== %q; })()`, linkSel, got[0]))
		c.idle()
		require.Equal(c.t, got[len(got)-1], c.eval(`new URLSearchParams(location.hash.split('?')[1]).get('after')`), "the next page starts after the last name")
	}
}

// mfaStatus reads an entity's state in a method through the API.
func mfaStatus(t *testing.T, entityID, methodID string) map[string]any {
	t.Helper()
	r := do(t, "GET", uiMount+"/mfa/entity-status/"+entityID, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	methods, _ := r.Data["methods"].(map[string]any)
	st, _ := methods[methodID].(map[string]any)
	require.NotNil(t, st, "method %s in %v", methodID, r.Data)
	return st
}

// thousands writes a count of info as the console does (1,234).
func thousands(v any) string {
	n, _ := v.(float64)
	s := fmt.Sprintf("%d", int64(n))
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (c *console) signInToken(token string) {
	c.t.Helper()
	c.do("paste the token", chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token+"\r"))
	c.wait("the sections", `!document.getElementById('nav').hidden`)
	c.idle()
}

func (c *console) signInPassword(mountPath, user, pass string) {
	c.t.Helper()
	c.do("choose userpass", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('select[name="method"]'); s.value = 'userpass'; s.dispatchEvent(new Event('change')); })()`))
	c.do("type the credentials",
		chromedp.SetValue(chromedp.CSS(`input[name="path"]`), mountPath),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), pass+"\r"))
	c.wait("the sections", `!document.getElementById('nav').hidden`)
	c.idle()
}

// fill sets a form field by name and submits its form with Enter or a
// click on its submit button.
func (c *console) fill(form string, values map[string]string) {
	c.t.Helper()
	for name, v := range values {
		sel := fmt.Sprintf(`%s [name=%q]`, form, name)
		c.do("fill "+name, chromedp.SetValue(chromedp.CSS(sel), v))
	}
}

func (c *console) submit(form string) {
	c.t.Helper()
	c.do("submit "+form, chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
}

// checked saves a screenshot and requires it to show a real page: many
// colours, and a good share of pixels unlike the background.
func (c *console) checked(name string) {
	c.t.Helper()
	buf, err := runIn(c.tab, chromedp.FullScreenshot(100))
	require.NoError(c.t, err, "screenshot %s", name)
	require.NoError(c.t, os.WriteFile(filepath.Join(c.b.dir, "ui-"+name+".png"), buf, 0o644))
	img, err := png.Decode(bytes.NewReader(buf))
	require.NoError(c.t, err, "screenshot %s is a PNG", name)
	colours, share := pixelStats(img)
	require.GreaterOrEqual(c.t, colours, 24, "%s: the page renders more than a few colours", name)
	require.Greater(c.t, share, 0.02, "%s: the page is not blank", name)
}

// pixelStats counts distinct colours and the share of pixels that differ
// from the most common one.
func pixelStats(img image.Image) (int, float64) {
	counts := map[uint32]int{}
	bounds := img.Bounds()
	total := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			counts[(r>>8)<<16|(g>>8)<<8|b>>8]++
			total++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	return len(counts), float64(total-most) / float64(total)
}

// accessible runs axe-core on the page and requires no serious or
// critical violation of WCAG 2.1 A and AA.
func (c *console) accessible(name string) {
	c.t.Helper()
	if c.eval(`typeof window.axe`) != "object" {
		_, err := runIn(c.tab, chromedp.Evaluate[chromedp.Void](c.axe))
		require.NoError(c.t, err, "injecting axe-core")
	}
	out, err := runIn(c.tab, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
		.then(r => JSON.stringify(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise))
	require.NoError(c.t, err, "axe on %s", name)
	require.Equal(c.t, "[]", out, "%s: accessibility violations", name)
}

func (c *console) page(name, route, ready string) {
	c.t.Helper()
	c.open(route, ready)
	c.checked(name)
	c.accessible(name)
}

func TestUIConsole(t *testing.T) {
	f := setupUI(t)
	axe := axeSource(t)
	b := newBrowser(t)

	t.Run("headers", func(t *testing.T) {
		resp, body := rawDo(t, http.MethodGet, uiMount+"/ui/", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "served without a token")
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "frame-ancestors 'none'")
		require.Contains(t, csp, "script-src 'self'")
		require.NotContains(t, csp, "unsafe-inline")
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
		require.Contains(t, string(body), `<meta http-equiv="Content-Security-Policy"`)

		for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "graph.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"} {
			resp, body := rawDo(t, http.MethodGet, uiMount+"/ui/"+name, nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, name)
			require.Equal(t, ct, resp.Header.Get("Content-Type"), name)
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), name)
			require.NotEmpty(t, body, name)
		}
		resp, _ = rawDo(t, http.MethodGet, uiMount+"/ui/nope.js", nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, body = rawDo(t, http.MethodGet, uiMount+"/ui", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), `src="ui/app.js?v=`)
	})

	t.Run("every page renders and is accessible", func(t *testing.T) {
		c := b.console(t, axe)
		c.checked("sign-in")
		c.accessible("sign-in")
		c.signInPassword("userpass", uiUser, uiPass)
		require.Equal(t, uiUser, strings.TrimSpace(c.text("#who")))
		require.Equal(t, `[0,0,""]`, c.eval(`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`), "the token is in memory only")

		c.page("health", "#/health", "dl.props")
		require.Contains(t, c.text("main"), "Plugin version")
		require.Contains(t, c.text("main"), pluginVersion)
		info := do(t, "GET", uiMount+"/info", nil).Data
		require.Equal(t, thousands(info["groups"]), c.text("#info-groups"), "the group count, from info")
		require.Equal(t, thousands(info["entity_aliases"]), c.text("#info-entity-aliases"))
		require.NotEmpty(t, c.text("#info-last-snapshot"))
		require.NotEmpty(t, c.text("#info-snapshot-current"))
		require.NotContains(t, c.text("main"), "not reported")
		c.page("entities", "#/entities", ".entity-link")
		require.Contains(t, c.text("main"), "alice")
		c.page("entity", "#/entities/"+f.entityID, "#entity-name")
		main := c.text("main")
		require.Contains(t, main, uiUser, "the alias")
		require.Contains(t, main, "userpass/ (userpass)", "the alias's mount")
		require.Contains(t, main, "backend", "the direct group")
		require.Contains(t, main, "engineers", "the inherited group")
		require.Contains(t, main, "team")
		c.page("entity-create", "#/entities/new", `form[aria-label="Create entity"]`)
		c.page("groups", "#/groups", "table")
		c.page("group", "#/groups/"+f.groupID, "svg.graph")
		c.page("hierarchy", "#/hierarchy", `#hierarchy[data-ready]`)
		c.page("aliases", "#/aliases", "table")
		c.page("alias", "#/aliases/"+f.aliasID, "#alias-owner")
		c.page("group-aliases", "#/group-aliases", "table")
		c.page("group-alias", "#/group-aliases/"+f.groupAliasID, "#alias-owner")
		for _, kind := range []string{"keys", "roles", "providers", "clients", "assignments", "scopes"} {
			c.page("oidc-"+kind, "#/oidc/"+kind, "table")
		}
		c.page("oidc-key", "#/oidc/keys/web", "#key-rotate")
		c.page("oidc-role", "#/oidc/roles/web", "#sign-token")
		c.page("oidc-provider", "#/oidc/providers/sso", "#test-sign-in")
		var disco map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.text("#discovery")), &disco))
		require.True(t, strings.HasSuffix(disco["issuer"].(string), "/v1/"+uiMount+"/oidc/provider/sso"), disco["issuer"])
		require.Contains(t, c.eval(`document.getElementById('test-sign-in').href`), "/oidc/provider/sso/sign-in?client_id=")
		c.page("oidc-client", "#/oidc/clients/portal", "#secret-hidden")
		c.page("mfa-methods", "#/mfa/methods", "table")
		c.page("mfa-method", "#/mfa/methods/"+f.methodID, "dl.props")
		c.page("mfa-enforcements", "#/mfa/enforcements", "table")
		c.page("mfa-entity", "#/mfa/entity?id="+f.entityID, "table")
		c.page("mfa-self", "#/mfa/self", `form[aria-label="Enroll in a TOTP method"]`)

		// Signing out revokes the token this console's login made.
		logins := c.requestsTo("/auth/userpass/login/")
		require.Len(t, logins, 1)
		authz := c.requestsTo("/v1/" + uiMount + "/info")
		require.NotEmpty(t, authz)
		token := header(authz[0], "X-Vault-Token")
		require.NotEmpty(t, token)
		for _, r := range c.requestsTo("") {
			require.NotContains(t, r.URL, token, "the token is never in a URL")
		}
		c.do("sign out", chromedp.Click(chromedp.ID("sign-out")))
		c.wait("the sign-in form", `!!document.querySelector('select[name="method"]')`)
		waitFor(t, 10*time.Second, "the login's token to be revoked", func() bool {
			return do(t, "POST", "auth/token/lookup", map[string]any{"token": token}).Status != http.StatusOK
		})
	})

	t.Run("sign a token and enroll yourself", func(t *testing.T) {
		c := b.console(t, axe)
		c.signInPassword("userpass", uiUser, uiPass)
		c.open("#/oidc/roles/web", "#sign-token")
		c.do("sign a token", chromedp.Click(chromedp.ID("sign-token")))
		c.wait("the claims", `!!document.getElementById('token-claims')`)
		var claims map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.text("#token-claims")), &claims))
		require.Equal(t, f.entityID, claims["sub"], "signed for the user's entity here")
		require.ElementsMatch(t, []any{"backend", "engineers"}, claims["groups"])
		c.checked("oidc-role-token")

		c.open("#/mfa/self", `form[aria-label="Enroll in a TOTP method"]`)
		c.submit(`form[aria-label="Enroll in a TOTP method"]`)
		c.wait("the QR code", `!!document.getElementById('qr-code') && document.getElementById('qr-code').complete && document.getElementById('qr-code').naturalWidth > 0`)
		c.checked("mfa-self-qr")
		c.accessible("mfa-self-qr")
		// The entity is enrolled now: the administrator's page reads it from
		// mfa/entity-status.
		route := "#/mfa/entity?id=" + f.entityID
		c.open(route, "#state-"+f.methodID)
		require.Equal(t, "enrolled", c.text("#state-"+f.methodID))
		require.Equal(t, "not locked out", c.text("#lockout-"+f.methodID))
		require.Equal(t, "0 of 5", c.text("#attempts-"+f.methodID))
		require.False(t, c.exists(`button[aria-label="Enroll in acme-totp"]`), "no enrollment offered to an enrolled entity")
		require.True(t, c.exists(`button[aria-label="Destroy enrollment in acme-totp"]`))
		require.False(t, c.exists(`button[aria-label="Reset lockout in acme-totp"]`), "nothing to reset")

		// Refused codes lock it out: the page shows it, and resets it.
		for range 5 {
			r := do(t, "POST", uiMount+"/mfa/admin-validate", map[string]any{"method_id": f.methodID, "entity_id": f.entityID, "passcode": "000000"})
			require.Equal(t, http.StatusForbidden, r.Status, r.Errors)
		}
		require.Equal(t, true, mfaStatus(t, f.entityID, f.methodID)["locked_out"])
		c.open("#/mfa/methods", "table")
		c.open(route, "#state-"+f.methodID)
		require.Equal(t, "locked out", c.text("#lockout-"+f.methodID))
		require.Equal(t, "5 of 5", c.text("#attempts-"+f.methodID))
		c.checked("mfa-entity-locked-out")
		c.accessible("mfa-entity-locked-out")
		c.do("reset the lockout", chromedp.Click(chromedp.CSS(`button[aria-label="Reset lockout in acme-totp"]`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the reset", `document.querySelector('main').textContent.includes('Refused attempts cleared.')`)
		c.wait("the state read again", fmt.Sprintf(`document.getElementById('lockout-%s').textContent === 'not locked out'`, f.methodID))
		require.Equal(t, "0 of 5", c.text("#attempts-"+f.methodID))
		require.False(t, c.exists(`button[aria-label="Reset lockout in acme-totp"]`))
		st := mfaStatus(t, f.entityID, f.methodID)
		require.Equal(t, false, st["locked_out"])
		require.EqualValues(t, 0, st["failed_attempts"])
		require.Equal(t, true, st["enrolled"], "still enrolled")
	})

	t.Run("an entity's MFA state is read, and enrollment is asked for", func(t *testing.T) {
		id := mustWrite(t, uiMount+"/entity", map[string]any{"name": "mfa-newcomer"}).Data["id"].(string)
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/mfa/entity?id="+id, "#state-"+f.methodID)
		require.Equal(t, "not enrolled", c.text("#state-"+f.methodID))
		require.Equal(t, "not locked out", c.text("#lockout-"+f.methodID))
		require.NotEmpty(t, c.requestsTo("/"+uiMount+"/mfa/entity-status/"+id))
		require.Empty(t, c.requestsTo("admin-generate"), "viewing calls no admin path")
		require.Equal(t, false, mfaStatus(t, id, f.methodID)["enrolled"], "viewing does not enroll")
		c.checked("mfa-entity-unenrolled")
		c.accessible("mfa-entity-unenrolled")

		// Enrolling is an action, confirmed.
		c.do("enroll", chromedp.Click(chromedp.CSS(`button[aria-label="Enroll in acme-totp"]`)))
		require.Equal(t, false, mfaStatus(t, id, f.methodID)["enrolled"], "not before the confirmation")
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the QR code", `!!document.getElementById('qr-code') && document.getElementById('qr-code').complete && document.getElementById('qr-code').naturalWidth > 0`)
		c.wait("the state read again", fmt.Sprintf(`document.getElementById('state-%s').textContent === 'enrolled'`, f.methodID))
		require.Equal(t, true, mfaStatus(t, id, f.methodID)["enrolled"])
		require.Len(t, c.requestsTo("admin-generate"), 1)

		// So is destroying the enrollment.
		c.do("destroy", chromedp.Click(chromedp.CSS(`button[aria-label="Destroy enrollment in acme-totp"]`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the state read again", fmt.Sprintf(`document.getElementById('state-%s').textContent === 'not enrolled'`, f.methodID))
		require.Equal(t, false, mfaStatus(t, id, f.methodID)["enrolled"])
	})

	t.Run("entity journey", func(t *testing.T) {
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/entities/new", `form[aria-label="Create entity"]`)
		c.fill(`form[aria-label="Create entity"]`, map[string]string{"name": "journey-entity", "policies": "p1, p2", "metadata": "team=ops"})
		c.submit(`form[aria-label="Create entity"]`)
		c.wait("the new entity", `(document.getElementById('entity-name') || {}).textContent === 'journey-entity'`)
		e := do(t, "GET", uiMount+"/entity/name/journey-entity", nil)
		require.Equal(t, http.StatusOK, e.Status)
		require.Equal(t, []any{"p1", "p2"}, e.Data["policies"])
		require.Equal(t, map[string]any{"team": "ops"}, e.Data["metadata"])
		id := e.Data["id"].(string)

		// Edit.
		c.idle()
		c.fill(`form[aria-label="Edit entity"]`, map[string]string{"policies": "p3"})
		c.submit(`form[aria-label="Edit entity"]`)
		c.wait("the saved entity", `document.getElementById('entity-modify-index').textContent === '2'`)
		require.Equal(t, []any{"p3"}, do(t, "GET", uiMount+"/entity/id/"+id, nil).Data["policies"])

		// Someone else writes meanwhile: the edit is refused, and says so.
		c.idle()
		mustWrite(t, uiMount+"/entity/id/"+id, map[string]any{"metadata": map[string]string{"team": "sre"}})
		c.fill(`form[aria-label="Edit entity"]`, map[string]string{"policies": "p4"})
		c.submit(`form[aria-label="Edit entity"]`)
		c.wait("the conflict", `!!document.getElementById('conflict')`)
		conflict := c.text("#conflict")
		require.Contains(t, conflict, "changed since you opened it")
		require.Contains(t, conflict, "check-and-set parameter did not match the current version")
		require.Contains(t, conflict, "metadata")
		c.checked("entity-conflict")
		require.Equal(t, []any{"p3"}, do(t, "GET", uiMount+"/entity/id/"+id, nil).Data["policies"], "not written")

		// Merge another entity into it.
		other := mustWrite(t, uiMount+"/entity", map[string]any{"name": "journey-other"}).Data["id"].(string)
		c.do("reload", chromedp.Click(chromedp.CSS(`#conflict button`)))
		c.idle()
		c.fill(`form[aria-label="Merge entities"]`, map[string]string{"from": other})
		c.submit(`form[aria-label="Merge entities"]`)
		waitFor(t, 10*time.Second, "the merge", func() bool {
			return do(t, "GET", uiMount+"/entity/id/"+other, nil).Status == http.StatusNotFound
		})
		c.idle()

		// Delete.
		c.do("delete", chromedp.Click(chromedp.CSS(`#entity-delete button`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the list", `location.hash === '#/entities'`)
		require.Equal(t, http.StatusNotFound, do(t, "GET", uiMount+"/entity/id/"+id, nil).Status)

		// Search by name prefix finds through the paged list.
		c.open("#/entities?q=ali", ".entity-link")
		require.Contains(t, c.text(".results"), "alice")
		require.NotContains(t, c.text(".results"), "journey")
	})

	t.Run("group journey", func(t *testing.T) {
		m1 := mustWrite(t, uiMount+"/entity", map[string]any{"name": "member-one"}).Data["id"].(string)
		m2 := mustWrite(t, uiMount+"/entity", map[string]any{"name": "member-two"}).Data["id"].(string)
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/groups/new", `form[aria-label="Create group"]`)
		c.fill(`form[aria-label="Create group"]`, map[string]string{"name": "journey-group", "policies": "ops", "members": "member-one"})
		c.submit(`form[aria-label="Create group"]`)
		c.wait("the new group", `(document.getElementById('group-name') || {}).textContent === 'journey-group'`)
		c.idle()
		g := do(t, "GET", uiMount+"/group/name/journey-group", nil)
		require.Equal(t, http.StatusOK, g.Status)
		require.Equal(t, []any{m1}, g.Data["member_entity_ids"])
		gid := g.Data["id"].(string)

		c.fill(`form[aria-label="Add an entity"]`, map[string]string{"who": "member-two"})
		c.submit(`form[aria-label="Add an entity"]`)
		waitFor(t, 10*time.Second, "the second member", func() bool {
			return len(do(t, "GET", uiMount+"/group/id/"+gid, nil).Data["member_entity_ids"].([]any)) == 2
		})
		c.wait("the members", `document.querySelectorAll('button[aria-label^="Remove entity"]').length === 2`)
		c.idle()
		c.do("remove member-one", chromedp.Click(chromedp.CSS(`button[aria-label="Remove entity member-one"]`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		waitFor(t, 10*time.Second, "member-one removed", func() bool {
			ids := do(t, "GET", uiMount+"/group/id/"+gid, nil).Data["member_entity_ids"].([]any)
			return len(ids) == 1 && ids[0] == m2
		})
		c.wait("one member", `document.querySelectorAll('button[aria-label^="Remove entity"]').length === 1`)
		c.idle()
		c.fill(`form[aria-label="Add a group"]`, map[string]string{"who": "backend"})
		c.submit(`form[aria-label="Add a group"]`)
		waitFor(t, 10*time.Second, "the child group", func() bool {
			kids, _ := do(t, "GET", uiMount+"/group/id/"+gid, nil).Data["member_group_ids"].([]any)
			return len(kids) == 1 && kids[0] == f.childID
		})
		c.wait("the drawing with the child", fmt.Sprintf(`!!document.querySelector('svg.graph [data-id=%q]')`, f.childID))
		c.idle()
		c.fill(`form[aria-label="Edit group"]`, map[string]string{"policies": "ops, audit"})
		c.submit(`form[aria-label="Edit group"]`)
		waitFor(t, 10*time.Second, "the edit", func() bool {
			p, _ := do(t, "GET", uiMount+"/group/id/"+gid, nil).Data["policies"].([]any)
			return len(p) == 2
		})
		c.wait("the saved group", `location.hash.startsWith('#/groups/') && !!document.getElementById('group-delete')`)
		c.idle()
		c.do("delete", chromedp.Click(chromedp.CSS(`#group-delete button`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the list", `location.hash === '#/groups'`)
		require.Equal(t, http.StatusNotFound, do(t, "GET", uiMount+"/group/id/"+gid, nil).Status)
	})

	t.Run("alias journey", func(t *testing.T) {
		bob := mustWrite(t, uiMount+"/entity", map[string]any{"name": "bob"}).Data["id"].(string)
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/aliases?canonical_id="+f.entityID, `form[aria-label="Create entity alias"]`)
		c.fill(`form[aria-label="Create entity alias"]`, map[string]string{"name": "alice-two", "mount_accessor": approleAccessor})
		c.submit(`form[aria-label="Create entity alias"]`)
		c.wait("the alias", `!!document.getElementById('alias-owner')`)
		c.idle()
		require.Equal(t, "alice", c.text("#alias-owner"))
		aid := strings.TrimPrefix(c.eval(`location.hash`), "#/aliases/")
		c.fill(`form[aria-label="Move alias"]`, map[string]string{"canonical_id": "bob"})
		c.submit(`form[aria-label="Move alias"]`)
		c.wait("the moved alias", `(document.getElementById('alias-owner') || {}).textContent === 'bob'`)
		require.Equal(t, bob, do(t, "GET", uiMount+"/entity-alias/id/"+aid, nil).Data["canonical_id"])
		c.idle()
		c.do("delete", chromedp.Click(chromedp.CSS(`#alias-delete button`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the list", `location.hash === '#/aliases'`)
		require.Equal(t, http.StatusNotFound, do(t, "GET", uiMount+"/entity-alias/id/"+aid, nil).Status)
	})

	t.Run("client journey", func(t *testing.T) {
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/oidc/clients", `form[aria-label="Create client"]`)
		c.fill(`form[aria-label="Create client"]`, map[string]string{"name": "journey-app", "redirect_uris": "http://127.0.0.1:9/a", "assignments": "allow_all"})
		c.submit(`form[aria-label="Create client"]`)
		c.wait("the secret", `!!document.getElementById('new-client-secret')`)
		cl := do(t, "GET", uiMount+"/oidc/client/journey-app", nil)
		require.Equal(t, http.StatusOK, cl.Status)
		secret := cl.Data["client_secret"].(string)
		require.Equal(t, secret, c.text("#new-client-secret"), "the secret, once")
		require.Equal(t, cl.Data["client_id"], c.text("#new-client-id"))
		c.checked("oidc-client-created")
		c.accessible("oidc-client-created")

		c.do("done", chromedp.Click(chromedp.ID("client-done")))
		c.wait("the client", `(document.getElementById('object-name') || {}).textContent === 'journey-app'`)
		c.idle()
		require.NotContains(t, c.eval(`document.body.textContent`), secret, "hidden afterwards")
		require.Contains(t, c.text("#secret-hidden"), "shown once")
		c.fill(`form[aria-label="Edit client"]`, map[string]string{"redirect_uris": "http://127.0.0.1:9/a, http://127.0.0.1:9/b"})
		c.submit(`form[aria-label="Edit client"]`)
		waitFor(t, 10*time.Second, "the edit", func() bool {
			u, _ := do(t, "GET", uiMount+"/oidc/client/journey-app", nil).Data["redirect_uris"].([]any)
			return len(u) == 2
		})
		c.wait("the page again", `!!document.getElementById('object-delete')`)
		c.idle()
		require.NotContains(t, c.eval(`document.body.textContent`), secret)
		c.do("delete", chromedp.Click(chromedp.CSS(`#object-delete button`)))
		c.do("confirm", chromedp.Click(chromedp.CSS(`.confirm-yes`)))
		c.wait("the list", `location.hash === '#/oidc/clients'`)
		require.Equal(t, http.StatusNotFound, do(t, "GET", uiMount+"/oidc/client/journey-app", nil).Status)
	})

	t.Run("an ACL-limited token sees what it may touch", func(t *testing.T) {
		tok := do(t, "POST", "auth/token/create", map[string]any{"policies": []string{"default", uiReader}, "ttl": "10m"})
		require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
		token := tok.Body["auth"].(map[string]any)["client_token"].(string)
		c := b.console(t, axe)
		c.signInToken(token)
		require.Equal(t, `["Entities"]`, c.eval(`JSON.stringify([...document.querySelectorAll('#nav-list a')].map(a => a.textContent))`))
		c.open("#/entities", ".entity-link")
		require.Equal(t, "false", c.eval(`String(!!document.querySelector('a[href="#/entities/new"]'))`), "no create")
		// It may not list names: a search finds an exact name only.
		c.open("#/entities?q=ALICE", ".entity-link")
		require.Equal(t, "alice", c.text(".results .entity-link"))
		require.Contains(t, c.text(".results"), "may not list entity names")
		require.Empty(t, c.requestsTo("/"+uiMount+"/entity/name?"), "no list refused")
		c.open("#/entities/"+f.entityID, "#entity-name")
		require.Equal(t, "false", c.eval(`String(!!document.getElementById('entity-delete'))`), "no delete")
		require.Equal(t, "false", c.eval(`String(!!document.querySelector('form[aria-label="Merge entities"]'))`), "no merge")
		require.Equal(t, "true", c.eval(`String(!!document.querySelector('form[aria-label="Edit entity"]'))`), "may update")
		c.checked("acl-entity")
		c.accessible("acl-entity")

		// The policy forbids writing policies: Vault's refusal is shown.
		c.fill(`form[aria-label="Edit entity"]`, map[string]string{"policies": "root"})
		c.submit(`form[aria-label="Edit entity"]`)
		c.wait("the refusal", `!!document.querySelector('form[aria-label="Edit entity"] .error')`)
		require.Contains(t, c.text(`form[aria-label="Edit entity"] .error`), "permission denied")
		require.Contains(t, c.text("#status"), "permission denied")
		c.checked("acl-refused")
		require.Equal(t, []any{"default", "dev"}, do(t, "GET", uiMount+"/entity/id/"+f.entityID, nil).Data["policies"])

		// A page it may not read shows Vault's message.
		c.open("#/groups", ".error")
		require.Contains(t, c.text("main .error"), "permission denied")

		// Signing out forgets a pasted token without revoking it.
		c.do("sign out", chromedp.Click(chromedp.ID("sign-out")))
		c.wait("the sign-in form", `!!document.querySelector('select[name="method"]')`)
		require.Empty(t, c.requestsTo("/auth/token/revoke-self"))
		require.Equal(t, http.StatusOK, do(t, "POST", "auth/token/lookup", map[string]any{"token": token}).Status)
	})

	t.Run("values of the store are text", func(t *testing.T) {
		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.open("#/entities?q="+url.QueryEscape(xssName), ".entity-link")
		require.Equal(t, xssName, c.text(".entity-link"))
		c.do("open it", chromedp.Click(chromedp.CSS(".entity-link")))
		c.wait("the entity", fmt.Sprintf(`(document.getElementById('entity-name') || {}).textContent === %q`, xssName))
		c.idle()
		require.Equal(t, "0", c.eval(`String(document.querySelectorAll('img').length)`))
		require.Contains(t, c.eval(`document.title`), xssName)
		c.checked("xss-entity")
		require.Zero(t, *c.dialogs, "no script ran")
	})

	t.Run("phone width and keyboard", func(t *testing.T) {
		c := b.console(t, axe)
		c.do("phone screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		c.signInToken(server.Token)
		for _, p := range []struct{ name, route, ready string }{
			{"phone-entities", "#/entities", ".entity-link"},
			{"phone-entity", "#/entities/" + f.entityID, "#entity-name"},
			{"phone-group", "#/groups/" + f.groupID, "svg.graph"},
			{"phone-oidc", "#/oidc/clients/portal", "#secret-hidden"},
			{"phone-mfa-entity", "#/mfa/entity?id=" + f.entityID, "#state-" + f.methodID},
			{"phone-search", "#/entities?q=ali", ".entity-link"},
		} {
			c.page(p.name, p.route, p.ready)
			require.Equal(t, "true", c.eval(`String(document.documentElement.scrollWidth <= window.innerWidth + 1)`), "%s: no sideways scrolling", p.name)
		}

		// Keyboard: the skip link comes first (just before the sign-out
		// button) and leads to the page; a section link opens with Enter.
		c.do("tab back to the skip link", chromedp.Focus(chromedp.ID("sign-out")), chromedp.KeyEvent("\t", chromedp.KeyModifiers(chromedp.ModifierShift)))
		require.Equal(t, "skip", c.eval(`document.activeElement.id`))
		c.do("skip", chromedp.KeyEvent("\r"))
		require.Equal(t, "main", c.eval(`document.activeElement.id`))
		c.do("focus the groups link", chromedp.Focus(chromedp.CSS(`#nav-list a[href="#/groups"]`)), chromedp.KeyEvent("\r"))
		c.wait("the groups", `location.hash === '#/groups'`)
		c.idle()
	})

	t.Run("search by name prefix", func(t *testing.T) {
		// 120 entities whose names begin with "pager" in three letter
		// cases, and a few whose names do not.
		cases := []string{"pager", "Pager", "PAGER"}
		var want []string
		for i := range 120 {
			want = append(want, fmt.Sprintf("%s-%03d", cases[i%3], i))
		}
		others := []string{"page", "pagoda", "xpager", "pag"}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(want); i += 4 {
					mustWrite(t, uiMount+"/entity", map[string]any{"name": want[i]})
				}
			}()
		}
		wg.Wait()
		for _, n := range others {
			mustWrite(t, uiMount+"/entity", map[string]any{"name": n})
		}
		sort.Slice(want, func(i, j int) bool { return strings.ToLower(want[i]) < strings.ToLower(want[j]) })

		c := b.console(t, axe)
		c.signInToken(server.Token)
		seen := c.searchPages("entities", "pager", ".entity-link", want[:50])
		require.Equal(t, want, seen, "every match once, in name order, over three pages")

		// Only the name index was listed, a page at a time; only the
		// entities shown were read.
		lists := 0
		for _, r := range c.requestsTo("/v1/" + uiMount + "/entity") {
			u, err := url.Parse(r.URL)
			require.NoError(t, err)
			q := u.Query()
			if q.Get("list") != "true" {
				continue
			}
			lists++
			require.True(t, strings.HasSuffix(u.Path, "/entity/name"), "nothing but the name list is listed: %s", r.URL)
			require.Equal(t, "pager", q.Get("prefix"), r.URL)
			require.Equal(t, "51", q.Get("limit"), r.URL)
		}
		require.Equal(t, 3, lists, "one list request a page")
		require.Len(t, c.requestsTo("/v1/"+uiMount+"/entity/name/"), len(want), "each entity shown read once")

		// Any letter case; and a whole id opens that entity.
		c.open("#/entities?q="+url.QueryEscape("PAGER-11"), ".entity-link")
		var eleven []string
		for _, n := range want {
			if strings.HasPrefix(strings.ToLower(n), "pager-11") {
				eleven = append(eleven, n)
			}
		}
		got, err := json.Marshal(eleven)
		require.NoError(t, err)
		require.Len(t, eleven, 10)
		require.Equal(t, string(got), c.eval(`JSON.stringify([...document.querySelectorAll('.results .entity-link')].map(a => a.textContent))`))
		require.False(t, c.exists(`.results a[rel="next"]`))
		c.open("#/entities?q="+f.entityID, ".entity-link")
		require.Equal(t, "alice", c.text(".results .entity-link"))

		// Groups alike: 55 squads, two pages.
		var squads []string
		for i := range 55 {
			squads = append(squads, fmt.Sprintf("%s-%02d", []string{"squad", "SQUAD"}[i%2], i))
		}
		for _, n := range append([]string{"squid", "xsquad"}, squads...) {
			mustWrite(t, uiMount+"/group", map[string]any{"name": n})
		}
		gseen := c.searchPages("groups", "squad", ".group-link", squads[:50])
		require.Equal(t, squads, gseen)
		for _, r := range c.requestsTo("/v1/" + uiMount + "/group") {
			u, err := url.Parse(r.URL)
			require.NoError(t, err)
			if q := u.Query(); q.Get("list") == "true" {
				require.True(t, strings.HasSuffix(u.Path, "/group/name"), "nothing but the name list is listed: %s", r.URL)
				require.Equal(t, "squad", q.Get("prefix"), r.URL)
				require.Equal(t, "51", q.Get("limit"), r.URL)
			}
		}
		c.open("#/groups?q="+f.groupID, ".group-link")
		require.Equal(t, "engineers", c.text(".results .group-link"))
	})

	t.Run("hierarchy of a thousand groups", func(t *testing.T) {
		// 9 trees of 10 children with 10 leaves each (999 groups), and a
		// diamond: top over left and right, both over bottom.
		var mu sync.Mutex
		var made []string
		write := func(name string, kids []string) string {
			body := map[string]any{"name": name}
			if len(kids) > 0 {
				body["member_group_ids"] = kids
			}
			id := mustWrite(t, uiMount+"/group", body).Data["id"].(string)
			mu.Lock()
			made = append(made, id)
			mu.Unlock()
			return id
		}
		// The mount goes at the end of TestUIConsole, with its groups.
		var wg sync.WaitGroup
		for r := 0; r < 9; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mids []string
				for c := 0; c < 10; c++ {
					var leaves []string
					for l := 0; l < 10; l++ {
						leaves = append(leaves, write(fmt.Sprintf("t%d-c%d-l%d", r, c, l), nil))
					}
					mids = append(mids, write(fmt.Sprintf("t%d-c%d", r, c), leaves))
				}
				write(fmt.Sprintf("t%d", r), mids)
			}()
		}
		wg.Wait()
		bottom := write("diamond-bottom", nil)
		left := write("diamond-left", []string{bottom})
		right := write("diamond-right", []string{bottom})
		top := write("diamond-top", []string{left, right})
		require.GreaterOrEqual(t, len(made), uiGroupsN)

		c := b.console(t, axe)
		c.signInToken(server.Token)
		all := do(t, "LIST", uiMount+"/group/id", nil).Data["keys"].([]any)
		c.open("#/hierarchy?limit=2000", `#hierarchy[data-ready]`)
		progress := c.text("#hierarchy-progress")
		require.Contains(t, progress, fmt.Sprintf("%d,%03d groups read", len(all)/1000, len(all)%1000), "every group of the mount, the fixture's too")
		c.checked("hierarchy-1000")
		c.accessible("hierarchy-1000")

		// Parents above children on every edge drawn; the diamond's bottom
		// two layers below its top.
		require.Equal(t, "[]", c.eval(`JSON.stringify([...document.querySelectorAll('svg.graph .edge')].filter(e => {
			const a = document.querySelector('svg.graph .node[data-id="' + e.dataset.from + '"]');
			const b = document.querySelector('svg.graph .node[data-id="' + e.dataset.to + '"]');
			return !a || !b || Number(a.dataset.y) >= Number(b.dataset.y);
		}).map(e => e.dataset.from + '>' + e.dataset.to))`))
		layer := func(id string) string {
			return c.eval(fmt.Sprintf(`document.querySelector('svg.graph .node[data-id=%q]').dataset.layer`, id))
		}
		require.Equal(t, "0", layer(top))
		require.Equal(t, "1", layer(left))
		require.Equal(t, "1", layer(right))
		require.Equal(t, "2", layer(bottom))
		require.Equal(t, "2", c.eval(fmt.Sprintf(`String(document.querySelectorAll('svg.graph .edge[data-to=%q]').length)`, bottom)))
		// Drawn nodes and folded leaves account for every related group.
		drawn := c.eval(`String(document.querySelectorAll('svg.graph .node:not(.collapsed):not(.stub)').length)`)
		folded := c.eval(`String([...document.querySelectorAll('svg.graph .node.collapsed')].reduce((n, e) => n + Number(/\+(\d+)/.exec(e.getAttribute('aria-label'))[1]), 0))`)
		var d, fo int
		fmt.Sscan(drawn, &d)
		fmt.Sscan(folded, &fo)
		require.Equal(t, 999+4+2, d+fo, "the trees, the diamond and the fixture's engineers > backend")

		// A folded node opens with the keyboard.
		if fo > 0 {
			before := d
			c.do("expand", chromedp.Focus(chromedp.CSS(`svg.graph .node.collapsed`)), chromedp.KeyEvent(" "))
			c.wait("more nodes", fmt.Sprintf(`document.querySelectorAll('svg.graph .node:not(.collapsed):not(.stub)').length > %d`, before))
		}
	})

	t.Run("health shows the counts and the load snapshot", func(t *testing.T) {
		// A reload's cleanup writes a load snapshot of a store of 1,000
		// objects or more (the thousand groups above, when they ran).
		info := do(t, "GET", uiMount+"/info", nil).Data
		have := int(info["entities"].(float64) + info["entity_aliases"].(float64) + info["groups"].(float64))
		for i := have; i < 1000; i++ {
			mustWrite(t, uiMount+"/entity", map[string]any{"name": fmt.Sprintf("snapshot-filler-%d", i)})
		}
		r := do(t, "PUT", "sys/plugins/reload/backend", map[string]any{"mounts": []string{uiMount}})
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, r.Errors)
		waitFor(t, 30*time.Second, "the mount after the reload", func() bool {
			rep := do(t, "GET", uiMount+"/info", nil)
			info = rep.Data
			return rep.Status == http.StatusOK
		})
		last, _ := info["last_snapshot"].(string)
		require.NotEmpty(t, last, "the reload wrote a snapshot")
		require.Equal(t, true, info["snapshot_current"])

		c := b.console(t, axe)
		c.signInToken(server.Token)
		c.page("health-snapshot", "#/health", "#info-last-snapshot")
		require.Equal(t, last, c.text("#info-last-snapshot"))
		require.True(t, strings.HasPrefix(c.text("#info-snapshot-current"), "yes"), c.text("#info-snapshot-current"))
		require.Equal(t, thousands(info["groups"]), c.text("#info-groups"))
		require.Equal(t, thousands(info["entities"]), c.text("#info-entities"))
		require.Equal(t, thousands(info["entity_aliases"]), c.text("#info-entity-aliases"))

		// A write outdates the snapshot.
		mustWrite(t, uiMount+"/group", map[string]any{"name": "after-the-snapshot"})
		c.open("#/entities", "")
		c.open("#/health", "#info-snapshot-current")
		require.True(t, strings.HasPrefix(c.text("#info-snapshot-current"), "no"), c.text("#info-snapshot-current"))
		require.Equal(t, thousands(do(t, "GET", uiMount+"/info", nil).Data["groups"]), c.text("#info-groups"))
		require.Equal(t, last, c.text("#info-last-snapshot"))
	})
}
