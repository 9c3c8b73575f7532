//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// TestBrowserDeviceFlow: golang.org/x/oauth2's device flow client polls the
// token endpoint while a person, in headless Chromium, opens
// verification_uri_complete, signs in with userpass and allows (or denies)
// the device; the client's ID token verifies with go-oidc.
func TestBrowserDeviceFlow(t *testing.T) {
	b := newBrowser(t)
	s := setupSSO(t)
	// The person may also verify device codes, as the device view does.
	mustWrite(t, "sys/policies/acl/"+ssoPolicy, map[string]any{
		"policy": fmt.Sprintf(`path "%[1]s/oidc/provider/%[2]s/authorize" { capabilities = ["read", "update"] }
path "%[1]s/oidc/provider/%[2]s/device/verify" { capabilities = ["update"] }`, mount, ssoProvider),
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Discovery lists the device grant only once a client has it.
	provider, err := oidc.NewProvider(ctx, s.issuer)
	require.NoError(t, err)
	var before struct {
		Device string   `json:"device_authorization_endpoint"`
		Grants []string `json:"grant_types_supported"`
	}
	require.NoError(t, provider.Claims(&before))
	require.Empty(t, before.Device)
	require.NotContains(t, before.Grants, "urn:ietf:params:oauth:grant-type:device_code")

	mustWrite(t, mount+"/oidc/client/"+ssoClient, map[string]any{"device_grant": true, "refresh_token_ttl": "1h"})
	provider, err = oidc.NewProvider(ctx, s.issuer)
	require.NoError(t, err)
	var disc struct {
		Device string   `json:"device_authorization_endpoint"`
		Grants []string `json:"grant_types_supported"`
	}
	require.NoError(t, provider.Claims(&disc))
	require.Equal(t, s.issuer+"/device", disc.Device)
	require.Contains(t, disc.Grants, "urn:ietf:params:oauth:grant-type:device_code")

	secret := do(t, "GET", mount+"/oidc/client/"+ssoClient, nil).Data["client_secret"].(string)
	cfg := &oauth2.Config{
		ClientID: s.clientID, ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL: provider.Endpoint().AuthURL, TokenURL: provider.Endpoint().TokenURL,
			DeviceAuthURL: disc.Device, AuthStyle: oauth2.AuthStyleInParams,
		},
		Scopes: []string{oidc.ScopeOpenID, ssoScope},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: s.clientID})

	// start begins a device flow and polls in the background.
	type result struct {
		tok *oauth2.Token
		err error
	}
	start := func(t *testing.T) (*oauth2.DeviceAuthResponse, chan result) {
		// x/oauth2 sends no client credentials with the device
		// authorization request: a confidential client adds its secret.
		da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", secret))
		require.NoError(t, err)
		require.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`, da.UserCode)
		require.Equal(t, s.issuer+"/sign-in?device=1", da.VerificationURI)
		require.Equal(t, da.VerificationURI+"&user_code="+da.UserCode, da.VerificationURIComplete)
		require.EqualValues(t, 5, da.Interval)
		require.WithinDuration(t, time.Now().Add(10*time.Minute), da.Expiry, time.Minute)
		out := make(chan result, 1)
		go func() {
			tok, err := cfg.DeviceAccessToken(ctx, da)
			out <- result{tok, err}
		}()
		return da, out
	}
	openDevicePage := func(t *testing.T, da *oauth2.DeviceAuthResponse, shots string) *tab {
		tb := b.tab(t)
		tb.do("open verification_uri_complete", chromedp.Navigate(da.VerificationURIComplete), chromedp.WaitVisible(chromedp.ID("username")))
		if shots != "" {
			tb.shot(shots + "-sign-in")
		}
		tb.signInWithPassword(s.user, s.pass)
		tb.do("wait for the code form", chromedp.WaitVisible(chromedp.ID("device-submit")))
		require.Equal(t, da.UserCode, tb.value("user code", chromedp.Value(chromedp.ID("user-code"))), "the code is filled in")
		require.Equal(t, s.user, tb.value("signed in as", chromedp.Text(chromedp.ID("device-signed-in-as"))))
		if shots != "" {
			tb.shot(shots + "-code")
		}
		tb.do("confirm the code", chromedp.Click(chromedp.ID("device-submit")), chromedp.WaitVisible(chromedp.ID("device-allow")))
		require.Equal(t, ssoClient, tb.value("client", chromedp.Text(chromedp.ID("device-client"))))
		require.Equal(t, da.UserCode, tb.value("code", chromedp.Text(chromedp.ID("device-code"))))
		scopes := tb.value("scopes", chromedp.Text(chromedp.ID("device-scopes")))
		require.Contains(t, scopes, "openid")
		require.Contains(t, scopes, ssoScope)
		require.Equal(t, `[0,0,""]`, tb.eval(`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
		return tb
	}
	wait := func(t *testing.T, out chan result) result {
		select {
		case r := <-out:
			return r
		case <-time.After(90 * time.Second):
			t.Fatal("the device client got no answer")
			return result{}
		}
	}

	t.Run("allow", func(t *testing.T) {
		da, out := start(t)
		tb := openDevicePage(t, da, "20-device")
		tb.shot("21-device-consent")
		tb.do("allow", chromedp.Click(chromedp.ID("device-allow")), chromedp.WaitVisible(chromedp.ID("device-done-title")))
		require.Equal(t, "Device connected", tb.value("done", chromedp.Text(chromedp.ID("device-done-title"))))
		tb.shot("22-device-connected")
		require.Len(t, tb.requestsTo("/auth/token/revoke-self"), 1, "the login's token is revoked")
		for _, r := range tb.requestsTo("/device/verify") {
			require.Empty(t, header(r, "Authorization"), "the token stays with Vault")
		}

		r := wait(t, out)
		require.NoError(t, r.err)
		raw, ok := r.tok.Extra("id_token").(string)
		require.True(t, ok, "an ID token")
		idt, err := verifier.Verify(ctx, raw)
		require.NoError(t, err)
		require.Equal(t, s.entityID, idt.Subject)
		var claims map[string]any
		require.NoError(t, idt.Claims(&claims))
		require.Equal(t, s.entityName, claims["name"])
		require.NotEmpty(t, r.tok.RefreshToken)
		require.Equal(t, s.entityID, rpUserInfo(t, ctx, provider, r.tok)["sub"])
		// The refresh token works like the code flow's.
		fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: r.tok.RefreshToken}).Token()
		require.NoError(t, err)
		require.NotEqual(t, r.tok.AccessToken, fresh.AccessToken)

		// The device code works once.
		again := oauthDo(t, http.MethodPost, mount+"/oidc/provider/"+ssoProvider+"/token", map[string]any{
			"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": da.DeviceCode, "client_id": s.clientID, "client_secret": secret,
		}, nil)
		requireOAuthError(t, again, http.StatusBadRequest, oauthErrBody("invalid_grant", "device code is invalid"))
	})

	t.Run("deny", func(t *testing.T) {
		da, out := start(t)
		tb := openDevicePage(t, da, "")
		tb.do("deny", chromedp.Click(chromedp.ID("device-deny")), chromedp.WaitVisible(chromedp.ID("device-done-title")))
		require.Equal(t, "Request denied", tb.value("done", chromedp.Text(chromedp.ID("device-done-title"))))
		tb.shot("24-device-denied")
		r := wait(t, out)
		var re *oauth2.RetrieveError
		require.True(t, errors.As(r.err, &re), "%v", r.err)
		require.Equal(t, "access_denied", re.ErrorCode)
	})

	t.Run("wrong code typed", func(t *testing.T) {
		da, _ := start(t)
		tb := b.tab(t)
		tb.do("open verification_uri", chromedp.Navigate(da.VerificationURI), chromedp.WaitVisible(chromedp.ID("username")))
		tb.signInWithPassword(s.user, s.pass)
		tb.do("type a wrong code",
			chromedp.WaitVisible(chromedp.ID("user-code")),
			chromedp.SendKeys(chromedp.ID("user-code"), "bcdf-ghjk\r"),
			chromedp.WaitVisible(chromedp.CSS("#device-error:not(:empty)")))
		require.Contains(t, tb.value("error", chromedp.Text(chromedp.ID("device-error"))), "not valid")
		tb.shot("23-device-wrong-code")
		// The right one, typed in lower case without the dash, works.
		tb.do("type the right code",
			chromedp.Evaluate[chromedp.Void](`document.getElementById('user-code').value = ''`),
			chromedp.SendKeys(chromedp.ID("user-code"), strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))+"\r"),
			chromedp.WaitVisible(chromedp.ID("device-allow")))
		require.Equal(t, da.UserCode, tb.value("code", chromedp.Text(chromedp.ID("device-code"))))
	})
}
