//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/relyingparty"
)

// chromiumPath is Debian's Chromium, which scripts/deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// ssoSetup is a provider with a confidential client whose relying party
// runs on loopback, and a userpass user mapped to an entity of the plugin.
type ssoSetup struct {
	rp                   *relyingparty.Server
	issuer, clientID     string
	user, pass, entityID string
	entityName           string
}

const (
	ssoProvider = "sso"
	ssoClient   = "browser-app"
	ssoScope    = "profile"
	ssoPolicy   = "browser-sso"
)

func setupSSO(t *testing.T) *ssoSetup {
	t.Helper()
	s := &ssoSetup{user: "browser-alice", pass: "correct horse battery staple", entityName: "Alice Browser"}
	t.Cleanup(func() {
		do(t, "DELETE", mount+"/oidc/provider/"+ssoProvider, nil)
		do(t, "DELETE", mount+"/oidc/client/"+ssoClient, nil)
		do(t, "DELETE", mount+"/oidc/scope/"+ssoScope, nil)
		if s.entityID != "" {
			do(t, "DELETE", mount+"/entity/id/"+s.entityID, nil)
		}
		do(t, "DELETE", "auth/userpass/users/"+s.user, nil)
		do(t, "DELETE", "sys/policies/acl/"+ssoPolicy, nil)
	})
	// The user's logins make a Vault entity in identity/; the comparisons
	// with the built-in engine expect it gone.
	forgetVaultEntity(t, s.user, userpassAccessor)

	// The user may call the provider's authorize endpoint, as Vault's
	// default policy lets tokens call identity/oidc/provider/+/authorize.
	mustWrite(t, "sys/policies/acl/"+ssoPolicy, map[string]any{
		"policy": fmt.Sprintf(`path "%s/oidc/provider/%s/authorize" { capabilities = ["read", "update"] }`, mount, ssoProvider),
	})
	mustWrite(t, "auth/userpass/users/"+s.user, map[string]any{"password": s.pass, "token_policies": ssoPolicy})
	s.entityID = mustWrite(t, mount+"/entity", map[string]any{"name": s.entityName}).Data["id"].(string)
	mustWrite(t, mount+"/entity-alias", map[string]any{"name": s.user, "mount_accessor": userpassAccessor, "canonical_id": s.entityID})
	mustWrite(t, mount+"/oidc/scope/"+ssoScope, map[string]any{"template": `{"name": {{identity.entity.name}}}`, "description": "The entity's name."})
	mustWrite(t, mount+"/oidc/provider/"+ssoProvider, map[string]any{
		"issuer": server.Addr, "scopes_supported": ssoScope, "allowed_client_ids": "*", "sign_in_methods": "userpass,token",
	})
	// The relying party's address is known once it runs, so the client is
	// registered first and given its redirect URI after.
	mustWrite(t, mount+"/oidc/client/"+ssoClient, map[string]any{
		"redirect_uris": "http://127.0.0.1/placeholder", "assignments": "allow_all", "key": "default",
	})
	client := do(t, "GET", mount+"/oidc/client/"+ssoClient, nil)
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, client.Status, "read client: %v", client.Errors)
	s.clientID = client.Data["client_id"].(string)
	s.issuer = server.Addr + "/v1/" + mount + "/oidc/provider/" + ssoProvider

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rp, err := relyingparty.Start(ctx, relyingparty.Config{
		Issuer: s.issuer, ClientID: s.clientID, ClientSecret: client.Data["client_secret"].(string),
		Scopes: []string{ssoScope}, UsePKCE: true,
	})
	require.NoError(t, err)
	s.rp = rp
	mustWrite(t, mount+"/oidc/client/"+ssoClient, map[string]any{"redirect_uris": rp.RedirectURL})
	return s
}

// browser is a headless Chromium and what it saw.
type browser struct {
	t    *testing.T
	root context.Context
	dir  string // screenshots
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (scripts/deps.sh installs Debian's chromium): %v", chromiumPath, err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		root, err := filepath.Abs("..")
		require.NoError(t, err)
		dir = filepath.Join(root, ".artifacts", "browser")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine's network is closed: Chromium's own traffic would
		// stall or fail, so it is turned off.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser on a context without a deadline: it lives as long
	// as the test.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return &browser{t: t, root: ctx, dir: dir}
}

// tab is one page of a fresh browser context (its own cookies) with the
// events the test checks.
type tab struct {
	b   *browser
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string           // exceptions and policy violations
	requests []*network.Request // every request the page made
}

func (b *browser) tab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "opening a tab")
	tb := &tab{b: b, t: t}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			tb.problems = append(tb.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Content-Security-Policy") {
				tb.problems = append(tb.problems, "policy: "+ev.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, a.Description+string(a.Value))
				}
				tb.problems = append(tb.problems, "console.error: "+strings.Join(parts, " "))
			}
		case *network.EventRequestWillBeSent:
			tb.requests = append(tb.requests, ev.Request)
		}
	}))
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if len(tb.problems) > 0 {
			t.Errorf("the page had problems:\n%s", strings.Join(tb.problems, "\n"))
		}
	})
	// Each step has its own deadline, on a context derived from the open tab.
	tb.ctx = ctx
	return tb
}

// do runs steps with a deadline.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		loc, _ := runIn(tb, chromedp.Location())
		tb.t.Fatalf("%s: %v (page: %s)", what, err, loc)
	}
}

// runIn runs one action that returns a value, with a deadline.
func runIn[T any](tb *tab, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

func (tb *tab) value(what string, a chromedp.Action[string]) string {
	tb.t.Helper()
	v, err := runIn(tb, a)
	require.NoError(tb.t, err, what)
	return strings.TrimSpace(v)
}

func (tb *tab) eval(expr string) string {
	tb.t.Helper()
	v, err := runIn(tb, chromedp.Evaluate[string](expr))
	require.NoError(tb.t, err, expr)
	return v
}

// shot saves a full-page PNG of the tab.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	buf, err := runIn(tb, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(tb.b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	tb.t.Logf("screenshot: %s", path)
}

// requestsTo returns the requests whose URL contains part.
func (tb *tab) requestsTo(part string) []*network.Request {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []*network.Request
	for _, r := range tb.requests {
		if strings.Contains(r.URL, part) {
			out = append(out, r)
		}
	}
	return out
}

func header(r *network.Request, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// openSignIn starts a sign-in at the relying party and waits for the
// provider's page.
func (tb *tab) openSignIn(s *ssoSetup) {
	tb.t.Helper()
	tb.openSignInWith(s, nil)
}

// openSignInWith is openSignIn with parameters the relying party adds to
// its authorization request.
func (tb *tab) openSignInWith(s *ssoSetup, params url.Values) {
	tb.t.Helper()
	login := s.rp.URL + "/login"
	if len(params) > 0 {
		login += "?" + params.Encode()
	}
	tb.do("open the relying party's login", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("username")))
	loc := tb.value("location", chromedp.Location())
	require.True(tb.t, strings.HasPrefix(loc, s.issuer+"/sign-in?"), "on the provider's sign-in page: %s", loc)
}

// signInWithPassword types the credentials and presses Enter.
func (tb *tab) signInWithPassword(user, pass string) {
	tb.t.Helper()
	tb.do("type the credentials",
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), pass+"\r"),
	)
}

func (tb *tab) waitConsent(s *ssoSetup) {
	tb.t.Helper()
	tb.do("wait for the consent page", chromedp.WaitVisible(chromedp.ID("allow")))
	require.Equal(tb.t, ssoClient, tb.value("client", chromedp.Text(chromedp.ID("consent-client"))))
	scopes := tb.value("scopes", chromedp.Text(chromedp.ID("scopes")))
	require.Contains(tb.t, scopes, "openid")
	require.Contains(tb.t, scopes, ssoScope)
	// The token is nowhere but in the script's memory.
	require.Equal(tb.t, `[0,0,""]`, tb.eval(`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
	require.NotContains(tb.t, tb.value("location", chromedp.Location()), "hvs.")
}

func TestBrowserSignIn(t *testing.T) {
	b := newBrowser(t)
	s := setupSSO(t)

	t.Run("password sign-in and consent", func(t *testing.T) {
		tb := b.tab(t)
		tb.openSignIn(s)
		require.Equal(t, "username", tb.eval(`document.activeElement.id`), "the username field has the focus")
		tb.shot("01-sign-in")

		tb.signInWithPassword(s.user, s.pass)
		tb.waitConsent(s)
		require.Equal(t, s.user, tb.value("signed in as", chromedp.Text(chromedp.ID("signed-in-as"))))
		tb.shot("03-consent")

		tb.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("sub")))
		tb.shot("04-relying-party-result")
		loc := tb.value("location", chromedp.Location())
		require.True(t, strings.HasPrefix(loc, s.rp.RedirectURL), loc)
		require.Equal(t, s.entityID, tb.value("sub", chromedp.Text(chromedp.ID("sub"))), "sub is the plugin's entity")
		require.Equal(t, s.entityName, tb.value("name", chromedp.Text(chromedp.ID("name"))))
		var claims map[string]any
		require.NoError(t, json.Unmarshal([]byte(tb.value("claims", chromedp.Text(chromedp.ID("claims")))), &claims))
		require.Equal(t, s.issuer, claims["iss"])
		require.Contains(t, fmt.Sprint(claims["aud"]), s.clientID)
		require.Equal(t, s.entityName, claims["name"])
		require.NotEmpty(t, claims["nonce"])
		results := s.rp.Results()
		require.NotEmpty(t, results)
		require.Empty(t, results[len(results)-1].Error)
		require.Equal(t, s.entityID, results[len(results)-1].Claims["sub"])

		// The page sent the token to Vault only in headers, and revoked the
		// token its login created. Without max_age the plugin does not need
		// the token: it is not sent as Authorization, which Vault passes on
		// to the plugin.
		authz := tb.requestsTo("/oidc/provider/" + ssoProvider + "/authorize")
		require.Len(t, authz, 1)
		token := header(authz[0], "X-Vault-Token")
		require.NotEmpty(t, token)
		require.Empty(t, header(authz[0], "Authorization"), "no bearer token without max_age")
		require.NotContains(t, claims, "auth_time")
		for _, r := range tb.requestsTo("") {
			require.NotContains(t, r.URL, token, "the token is never in a URL")
		}
		require.Len(t, tb.requestsTo("/auth/token/revoke-self"), 1)
		require.NotEqual(t, http.StatusOK, do(t, "POST", "auth/token/lookup", map[string]any{"token": token}).Status, "the login's token is revoked")
	})

	t.Run("max_age sends the token to the plugin", func(t *testing.T) {
		tb := b.tab(t)
		tb.openSignInWith(s, url.Values{"max_age": {"3600"}})
		signInAt := time.Now()
		tb.signInWithPassword(s.user, s.pass)
		tb.waitConsent(s)
		tb.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("sub")))
		require.Equal(t, s.entityID, tb.value("sub", chromedp.Text(chromedp.ID("sub"))))

		// The plugin looked the token up for max_age: the ID token says
		// when the user signed in.
		authz := tb.requestsTo("/oidc/provider/" + ssoProvider + "/authorize")
		require.Len(t, authz, 1)
		token := header(authz[0], "X-Vault-Token")
		require.NotEmpty(t, token)
		require.Equal(t, "Bearer "+token, header(authz[0], "Authorization"), "the plugin needs the token for max_age")
		var claims map[string]any
		require.NoError(t, json.Unmarshal([]byte(tb.value("claims", chromedp.Text(chromedp.ID("claims")))), &claims))
		authTime, ok := claims["auth_time"].(float64)
		require.True(t, ok, "auth_time: %v", claims)
		require.InDelta(t, float64(signInAt.Unix()), authTime, 30)
		require.Len(t, tb.requestsTo("/auth/token/revoke-self"), 1, "the login's token is revoked")
	})

	t.Run("wrong password, then deny", func(t *testing.T) {
		tb := b.tab(t)
		tb.openSignIn(s)
		tb.signInWithPassword(s.user, "not the password")
		tb.do("wait for the error", chromedp.WaitVisible(chromedp.CSS("#signin-error:not(:empty)")))
		require.Contains(t, tb.value("error", chromedp.Text(chromedp.ID("signin-error"))), "invalid username or password")
		require.Equal(t, "", tb.value("password", chromedp.Value(chromedp.ID("password"))), "the password field is cleared")
		require.Equal(t, "password", tb.eval(`document.activeElement.id`))
		tb.do("still on the form", chromedp.WaitVisible(chromedp.ID("password-form")))
		require.True(t, strings.HasPrefix(tb.value("location", chromedp.Location()), s.issuer+"/sign-in?"))
		tb.shot("02-wrong-password")

		tb.do("clear the username", chromedp.Evaluate[chromedp.Void](`document.getElementById('username').value = ''`))
		tb.signInWithPassword(s.user, s.pass)
		tb.waitConsent(s)
		tb.do("deny", chromedp.Click(chromedp.ID("deny")), chromedp.WaitVisible(chromedp.ID("error")))
		tb.shot("05-denied")
		require.Equal(t, "access_denied", tb.value("error", chromedp.Text(chromedp.ID("error"))))
		require.Equal(t, "The user denied the request", tb.value("description", chromedp.Text(chromedp.ID("error_description"))))
		require.Len(t, tb.requestsTo("/authorize"), 0, "nothing is authorized")
		require.Len(t, tb.requestsTo("/auth/token/revoke-self"), 1, "the login's token is revoked")
	})

	t.Run("pasted Vault token", func(t *testing.T) {
		login := asToken(t, "", "POST", "auth/userpass/login/"+s.user, map[string]any{"password": s.pass})
		require.Equal(t, http.StatusOK, login.Status, login.Errors)
		token := login.Body["auth"].(map[string]any)["client_token"].(string)

		tb := b.tab(t)
		tb.openSignIn(s)
		tb.do("choose the token method", chromedp.Click(chromedp.CSS(`input[name="method"][value="1"]`)), chromedp.WaitVisible(chromedp.ID("token")))
		tb.do("paste the token", chromedp.SendKeys(chromedp.ID("token"), token+"\r"))
		tb.waitConsent(s)
		tb.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("sub")))
		require.Equal(t, s.entityID, tb.value("sub", chromedp.Text(chromedp.ID("sub"))))
		require.Len(t, tb.requestsTo("/auth/token/revoke-self"), 0)
		require.Equal(t, http.StatusOK, do(t, "POST", "auth/token/lookup", map[string]any{"token": token}).Status, "a pasted token is not revoked")
		do(t, "POST", "auth/token/revoke", map[string]any{"token": token})
	})

	t.Run("invalid request", func(t *testing.T) {
		tb := b.tab(t)
		tb.do("open a login the provider refuses",
			chromedp.Navigate(s.rp.URL+"/login?response_type=token"),
			chromedp.WaitVisible(chromedp.ID("error-code")))
		require.Equal(t, "unsupported_response_type", tb.value("code", chromedp.Text(chromedp.ID("error-code"))))
		tb.shot("06-error-page")
		tb.do("return to the application", chromedp.Click(chromedp.ID("return")), chromedp.WaitVisible(chromedp.ID("error")))
		require.Equal(t, "unsupported_response_type", tb.value("error", chromedp.Text(chromedp.ID("error"))))
	})

	t.Run("framed page shows nothing", func(t *testing.T) {
		// The sign-in URL the relying party would send the browser to.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Get(s.rp.URL + "/login")
		require.NoError(t, err)
		resp.Body.Close()
		signIn := resp.Header.Get("Location")
		require.True(t, strings.HasPrefix(signIn, s.issuer+"/sign-in?"), signIn)
		framer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><title>framer</title><h1>Framing site</h1><iframe id="victim" src="%s" width="700" height="700"></iframe>`, attrEscape(signIn))
		}))
		t.Cleanup(framer.Close)

		tb := b.tab(t)
		tb.do("open the framing page", chromedp.Navigate(framer.URL), chromedp.WaitReady(chromedp.ID("victim")))
		var framed bool
		for i := 0; i < 20 && !framed; i++ {
			nodes, err := runIn(tb, chromedp.Nodes(chromedp.ID("victim")))
			require.NoError(t, err)
			framed, err = runIn(tb, chromedp.Poll[bool](
				`location.pathname.endsWith('/sign-in') && document.readyState === 'complete' && !document.getElementById('app')`,
				chromedp.WithPollingInFrame(nodes[0]), chromedp.WithPollingTimeout(2*time.Second)))
			if err != nil {
				// The frame is not there yet: a pause between the
				// attempts of this bounded wait (20 of them, then the
				// require below fails with what was awaited).
				time.Sleep(250 * time.Millisecond)
			}
		}
		tb.shot("07-framed")
		require.True(t, framed, "the framed sign-in page removed itself")
	})
}

// attrEscape escapes s for an HTML attribute.
func attrEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestBrowserSignInPageHeaders checks what Vault sends with the page: the
// plugin's security headers only reach the browser once the mount allows
// them (allowed_response_headers); the policy is in the page either way.
func TestBrowserSignInPageHeaders(t *testing.T) {
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, body := rawDo(t, http.MethodGet, mount2+"/"+path, nil, nil)
		return resp, string(body)
	}
	page := "oidc/provider/default/sign-in?" + url.Values{"client_id": {"nope"}, "redirect_uri": {"https://app.test/cb"}}.Encode()

	resp, body := get(page)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "served without a token")
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Contains(t, body, `<meta http-equiv="Content-Security-Policy"`)
	require.Contains(t, body, "invalid_client_id")
	require.Empty(t, resp.Header.Get("Content-Security-Policy"), "Vault drops a plugin's headers by default")
	require.Empty(t, resp.Header.Get("X-Frame-Options"))

	for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"} {
		resp, body := get("oidc/sign-in/" + name)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.Equal(t, ct, resp.Header.Get("Content-Type"), name)
		require.NotEmpty(t, body, name)
	}

	headers := []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}
	r := do(t, "POST", "sys/mounts/"+mount2+"/tune", map[string]any{"allowed_response_headers": headers})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	t.Cleanup(func() {
		do(t, "POST", "sys/mounts/"+mount2+"/tune", map[string]any{"allowed_response_headers": []string{}})
		tune := do(t, "GET", "sys/mounts/"+mount2+"/tune", nil)
		require.Empty(t, tune.Data["allowed_response_headers"], "the mount is back as it was")
	})
	resp, _ = get(page)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
}
