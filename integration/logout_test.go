//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
)

// TestBrowserLogout: a person signs in at the relying party, which then
// sends the browser to the provider's end_session_endpoint with the ID
// token as hint; the page asks, and on Yes the sign-in ends (its refresh
// token no longer works) and the browser lands on the registered
// post_logout_redirect_uri with the state.
func TestBrowserLogout(t *testing.T) {
	b := newBrowser(t)
	s := setupSSO(t)
	back := s.rp.URL + "/"
	mustWrite(t, mount+"/oidc/client/"+ssoClient, map[string]any{"post_logout_redirect_uris": back, "refresh_token_ttl": "1h"})
	client := do(t, "GET", mount+"/oidc/client/"+ssoClient, nil)
	secret := client.Data["client_secret"].(string)

	disc := oauthDo(t, http.MethodGet, mount+"/oidc/provider/"+ssoProvider+"/.well-known/openid-configuration", nil, nil)
	require.Equal(t, s.issuer+"/logout", disc.Body["end_session_endpoint"])

	tb := b.tab(t)
	tb.openSignIn(s)
	tb.signInWithPassword(s.user, s.pass)
	tb.waitConsent(s)
	tb.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("sub")))
	results := s.rp.Results()
	require.NotEmpty(t, results)
	res := results[len(results)-1]
	require.Empty(t, res.Error, res.ErrorDescription)
	require.NotEmpty(t, res.Claims["sid"], "the ID token names its session")
	require.NotEmpty(t, res.RefreshToken)

	refresh := func(token string) oauthReply {
		return oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+ssoProvider+"/token",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, basicAuth(s.clientID, secret))
	}
	// A refresh before the sign-out works, and keeps the session.
	r := refresh(res.RefreshToken)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	rotated := r.Body["refresh_token"].(string)

	logout := s.issuer + "/logout?" + url.Values{
		"id_token_hint": {res.IDToken}, "post_logout_redirect_uri": {back}, "state": {"bye-42"},
	}.Encode()
	tb.do("open the sign-out page", chromedp.Navigate(logout), chromedp.WaitVisible(chromedp.ID("logout-yes")))
	require.Equal(t, "Sign out of "+ssoClient+"?", tb.value("title", chromedp.Text(chromedp.ID("confirm-title"))))
	require.Equal(t, "logout-yes", tb.eval(`document.activeElement.id`))
	tb.shot("10-sign-out-confirmation")

	tb.do("confirm", chromedp.Click(chromedp.ID("logout-yes")), chromedp.WaitVisible(chromedp.ID("login")))
	loc := tb.value("location", chromedp.Location())
	require.Equal(t, back+"?state=bye-42", loc)
	tb.shot("11-signed-out-at-the-relying-party")

	gone := refresh(rotated)
	require.Equal(t, http.StatusBadRequest, gone.Status, gone.Raw)
	require.Equal(t, "refresh token is invalid or expired", gone.Body["error_description"])
	ui := userinfoDo(t, mount+"/oidc/provider/"+ssoProvider+"/userinfo", res.AccessToken)
	require.Equal(t, http.StatusUnauthorized, ui.Status, ui.Raw)

	// A second visit with the same hint: No keeps everything as it is.
	tb.do("open the sign-out page again", chromedp.Navigate(logout), chromedp.WaitVisible(chromedp.ID("logout-no")))
	tb.do("decline", chromedp.Click(chromedp.ID("logout-no")), chromedp.WaitVisible(chromedp.ID("kept-title")))
	require.True(t, strings.HasPrefix(tb.value("location", chromedp.Location()), s.issuer+"/logout?"))

	// An unregistered return address: an error page, no way on.
	bad := s.issuer + "/logout?" + url.Values{"id_token_hint": {res.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()
	tb.do("open a bad sign-out request", chromedp.Navigate(bad), chromedp.WaitVisible(chromedp.ID("error-description")))
	require.Equal(t, "post_logout_redirect_uri is not registered for the client", tb.value("error", chromedp.Text(chromedp.ID("error-description"))))
	tb.shot("12-sign-out-refused")
}

// TestProviderBackchannelLogout: a relying party registered with a
// backchannel_logout_uri receives a logout token when one of its sign-ins
// ends (RP-initiated logout, RFC 7009 revocation), and verifies it with
// go-oidc against the provider's JWKS.
func TestProviderBackchannelLogout(t *testing.T) {
	got := make(chan string, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			got <- r.PostForm.Get("logout_token")
		}
	}))
	defer rp.Close()
	s := newProvStore(t, "bc-logout")
	mustWrite(t, s.path("oidc/client/app"), map[string]any{"backchannel_logout_uri": rp.URL + "/backchannel"})
	issuer := server.Addr + "/v1/" + s.path("oidc/provider/p")
	disc := oauthDo(t, http.MethodGet, s.path("oidc/provider/p/.well-known/openid-configuration"), nil, nil)
	require.Equal(t, true, disc.Body["backchannel_logout_supported"])
	require.Equal(t, true, disc.Body["backchannel_logout_session_supported"])

	ctx := context.Background()
	keys := oidc.NewRemoteKeySet(ctx, issuer+"/.well-known/keys")
	receive := func(idToken string) {
		t.Helper()
		var tok string
		select {
		case tok = <-got:
		case <-time.After(15 * time.Second):
			t.Fatal("no logout token")
		}
		payload, err := keys.VerifySignature(ctx, tok)
		require.NoError(t, err)
		parsed, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		require.NoError(t, err)
		require.Equal(t, "logout+jwt", parsed.Signatures[0].Protected.ExtraHeaders[jose.HeaderType])
		var claims, id map[string]any
		require.NoError(t, json.Unmarshal(payload, &claims))
		idPayload, err := keys.VerifySignature(ctx, idToken)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(idPayload, &id))
		require.Equal(t, issuer, claims["iss"])
		require.Equal(t, s.app, claims["aud"])
		require.Equal(t, id["sub"], claims["sub"])
		require.Equal(t, id["sid"], claims["sid"])
		require.NotEmpty(t, claims["jti"])
		require.NotContains(t, claims, "nonce")
		require.Contains(t, claims["events"], "http://schemas.openid.net/event/backchannel-logout")
		require.InDelta(t, time.Now().Unix(), claims["iat"], 30)
	}

	// RFC 7009 revocation of the sign-in's refresh token.
	tok := s.signInAt(t, "p", s.alice, s.app, s.appSecret)
	rev := s.endpoint(t, "p", "revoke", s.app, s.appSecret, url.Values{"token": {tok["refresh_token"].(string)}})
	require.Equal(t, http.StatusOK, rev.status, rev.text)
	receive(tok["id_token"].(string))

	// RP-initiated logout.
	tok = s.signInAt(t, "p", s.alice, s.app, s.appSecret)
	out := oauthDo(t, http.MethodPost, s.path("oidc/provider/p/logout"), url.Values{"confirm": {"yes"}, "id_token_hint": {tok["id_token"].(string)}}, nil)
	require.Equal(t, http.StatusOK, out.Status, out.Raw)
	require.Equal(t, true, out.Body["session_ended"])
	receive(tok["id_token"].(string))
}
