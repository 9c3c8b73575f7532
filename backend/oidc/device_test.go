package oidc

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// deviceClock is a providerClock whose client "app" has the device grant.
type deviceClock struct {
	*providerClock
}

func newDeviceClock(t *testing.T) *deviceClock {
	t.Helper()
	p := newProviderClock(t)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{DeviceGrant: core.Some(true)}))
	c, err := p.st.OIDCClient(p.ctx, "app")
	require.NoError(t, err)
	require.True(t, c.DeviceGrant)
	p.client = c
	return &deviceClock{p}
}

func (p *deviceClock) authorizeDevice(t *testing.T, scope string) *DeviceResponse {
	t.Helper()
	out, err := p.st.DeviceAuthorization(p.ctx, DeviceRequest{
		Provider: "p", Auth: ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, Scope: scope,
		Issuer: func(configured string) string { return configured + "/v1/ident/oidc/provider/p" },
	})
	require.NoError(t, err)
	return out
}

func (p *deviceClock) poll(code string) (*TokenResponse, error) {
	return p.exchange(TokenExchange{GrantType: GrantDeviceCode, DeviceCode: code})
}

func (p *deviceClock) decide(provider, userCode, decision, entityID string) (*DeviceView, error) {
	return p.st.ApproveDevice(p.ctx, DeviceDecision{
		Provider: provider, UserCode: userCode, Decision: decision, HasEntity: true,
		Caller: func() (*identity.EntityView, error) { return p.st.Entity(p.ctx, identity.EntitySelector{ID: entityID}) },
	})
}

var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func requireOAuthCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	e, ok := AsOAuthError(err)
	require.True(t, ok, "an OAuth error: %v", err)
	require.Equal(t, code, e.Code, e.Description)
	require.Equal(t, status, e.Status)
}

// TestDeviceOffByDefault: without device_grant, the client is refused at
// both endpoints and discovery has nothing to list.
func TestDeviceOffByDefault(t *testing.T) {
	p := newProviderClock(t)
	f, err := p.st.ProviderFeatures(p.ctx, "p")
	require.NoError(t, err)
	require.False(t, f.DeviceGrant)
	_, err = p.st.DeviceAuthorization(p.ctx, DeviceRequest{Provider: "p", Auth: ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, Issuer: func(s string) string { return s }})
	requireOAuthCode(t, err, http.StatusBadRequest, "unauthorized_client")
	_, err = p.exchange(TokenExchange{GrantType: GrantDeviceCode, DeviceCode: "hvo_dc_x"})
	requireOAuthCode(t, err, http.StatusBadRequest, "unauthorized_client")

	d := newDeviceClock(t)
	f, err = d.st.ProviderFeatures(d.ctx, "p")
	require.NoError(t, err)
	require.True(t, f.DeviceGrant)
	// A wrong secret is refused before anything else.
	_, err = d.st.DeviceAuthorization(d.ctx, DeviceRequest{Provider: "p", Auth: ClientAuth{ID: d.client.ClientID, Secret: "wrong"}, Issuer: func(s string) string { return s }})
	requireOAuthCode(t, err, http.StatusUnauthorized, "invalid_client")
}

// TestDeviceFlow: pending, slow_down (the interval grows by 5 s), look-up,
// approval, tokens once, and only hashes in storage.
func TestDeviceFlow(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid profile unknown")
	require.Regexp(t, userCodeShape, dev.UserCode)
	require.True(t, strings.HasPrefix(dev.DeviceCode, devicePrefix))
	require.Equal(t, int64(600), dev.ExpiresIn)
	require.Equal(t, int64(5), dev.Interval)
	require.Equal(t, clockIssuer+"/v1/ident/oidc/provider/p/sign-in?device=1", dev.VerificationURI)
	require.Equal(t, dev.VerificationURI+"&user_code="+dev.UserCode, dev.VerificationURIComplete)

	_, err := p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "authorization_pending")
	_, err = p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "slow_down")
	// The interval is 10 s now.
	p.clock.Advance(10 * time.Second)
	_, err = p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "authorization_pending")
	p.clock.Advance(5 * time.Second)
	_, err = p.poll(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "slow_down", "polling too fast: wait 15s between requests")
	p.clock.Advance(15 * time.Second)
	_, err = p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "authorization_pending")

	// The person types the code in lower case, without the dash.
	typed := strings.ToLower(strings.ReplaceAll(dev.UserCode, "-", ""))
	view, err := p.decide("p", typed, "", p.entityID)
	require.NoError(t, err)
	require.Equal(t, &DeviceView{UserCode: dev.UserCode, ClientName: "app", Scopes: []string{"openid", "profile"}, Descriptions: map[string]string{}, Status: "pending"}, view)
	view, err = p.decide("p", typed, DeviceAllow, p.entityID)
	require.NoError(t, err)
	require.Equal(t, "approved", view.Status)
	// The user code is spent.
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")

	// No secret in storage: keys are hashes, values hold none of the codes.
	for _, kind := range []string{deviceGrant, userCodeGrant} {
		keys, err := p.storage.List(p.ctx, grantPrefix+kind+"/")
		require.NoError(t, err)
		for _, k := range keys {
			require.Regexp(t, `^[0-9a-f]{64}$`, k)
			e, err := p.storage.Get(p.ctx, grantPrefix+kind+"/"+k)
			require.NoError(t, err)
			require.NotContains(t, string(e.Value), dev.DeviceCode)
			require.NotContains(t, string(e.Value), strings.ReplaceAll(dev.UserCode, "-", ""))
		}
	}

	p.clock.Advance(15 * time.Second)
	out, err := p.poll(dev.DeviceCode)
	require.NoError(t, err)
	require.NotEmpty(t, out.AccessToken)
	require.NotEmpty(t, out.IDToken)
	require.NotEmpty(t, out.RefreshToken)
	require.Equal(t, "openid profile", out.Scope)
	require.True(t, p.active(t, out.AccessToken))
	// Once.
	p.clock.Advance(15 * time.Second)
	_, err = p.poll(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "device code is invalid")
	// The refresh token works as the code flow's.
	_, err = p.refresh(out.RefreshToken)
	require.NoError(t, err)
}

// TestDeviceWithoutOpenID: no openid scope, no ID token.
func TestDeviceWithoutOpenID(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "profile")
	_, err := p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	out, err := p.poll(dev.DeviceCode)
	require.NoError(t, err)
	require.Empty(t, out.IDToken)
	require.Equal(t, "profile", out.Scope)
}

// TestDeviceDenied: access_denied, on every poll until it expires.
func TestDeviceDenied(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid")
	view, err := p.decide("p", dev.UserCode, DeviceDeny, p.entityID)
	require.NoError(t, err)
	require.Equal(t, "denied", view.Status)
	for range 2 {
		_, err = p.poll(dev.DeviceCode)
		requireOAuthCode(t, err, http.StatusBadRequest, "access_denied")
	}
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
	p.clock.Advance(DeviceCodeTTL)
	_, err = p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "expired_token")
}

// TestDeviceExpiry: expired_token after 10 minutes, the user code refused,
// and the sweep removes both.
func TestDeviceExpiry(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid")
	p.clock.Advance(DeviceCodeTTL)
	_, err := p.poll(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "expired_token", "the device code has expired")
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
	p.clock.Advance(sweepInterval)
	require.NoError(t, p.st.SweepGrants(p.ctx))
	for _, kind := range []string{deviceGrant, userCodeGrant, deviceTries} {
		keys, err := p.storage.List(p.ctx, grantPrefix+kind+"/")
		require.NoError(t, err)
		require.Empty(t, keys, kind)
	}
	_, err = p.poll(dev.DeviceCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
}

// TestDeviceOtherClient: another client's poll fails and leaves the code
// alone; a public client authenticates by its id.
func TestDeviceOtherClient(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid")
	require.NoError(t, p.st.WriteClient(p.ctx, "tv", ClientUpdate{ClientType: core.Some(ClientPublic), Assignments: core.Some([]string{AllowAllAssignment}), DeviceGrant: core.Some(true)}))
	tv, err := p.st.OIDCClient(p.ctx, "tv")
	require.NoError(t, err)
	pollAs := func(code string) (*TokenResponse, error) {
		return p.st.ExchangeToken(p.ctx, TokenExchange{Provider: "p", Auth: ClientAuth{ID: tv.ClientID}, GrantType: GrantDeviceCode, DeviceCode: code,
			Issuer: func(s string) string { return s + "/v1/ident/oidc/provider/p" }})
	}
	_, err = pollAs(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "device code was not issued to the client")
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	_, err = pollAs(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "device code was not issued to the client")
	out, err := p.poll(dev.DeviceCode)
	require.NoError(t, err)
	require.NotEmpty(t, out.IDToken)

	// The public client's own flow.
	own, err := p.st.DeviceAuthorization(p.ctx, DeviceRequest{Provider: "p", Auth: ClientAuth{ID: tv.ClientID}, Scope: "openid", Issuer: func(s string) string { return s }})
	require.NoError(t, err)
	_, err = p.decide("p", own.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	out, err = pollAs(own.DeviceCode)
	require.NoError(t, err)
	require.NotEmpty(t, out.AccessToken)
	// Codes are not interchangeable: a user code is no device code, nor a
	// device code a user code.
	_, err = pollAs(own.UserCode)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
	_, err = p.decide("p", own.DeviceCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
}

// TestDeviceWrongProvider: a user code of provider p entered on provider
// q's page is a wrong code; after a device code is approved, polling it at
// q fails.
func TestDeviceWrongProvider(t *testing.T) {
	p := newDeviceClock(t)
	_, err := p.st.WriteProvider(p.ctx, "q", ProviderUpdate{Issuer: core.Some(clockIssuer), AllowedClientIDs: core.Some([]string{"*"})})
	require.NoError(t, err)
	dev := p.authorizeDevice(t, "openid")
	_, err = p.decide("q", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	_, err = p.st.ExchangeToken(p.ctx, TokenExchange{Provider: "q", Auth: ClientAuth{ID: p.client.ClientID, Secret: p.client.ClientSecret}, GrantType: GrantDeviceCode, DeviceCode: dev.DeviceCode,
		Issuer: func(s string) string { return s }})
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "device code was not issued by the provider")
}

// TestDeviceEntityChecks: no entity, an unassigned one or a disabled one
// cannot approve; an entity disabled after approving gets no tokens.
func TestDeviceEntityChecks(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid")
	_, err := p.st.ApproveDevice(p.ctx, DeviceDecision{Provider: "p", UserCode: dev.UserCode, Decision: DeviceAllow})
	requireOAuthCode(t, err, http.StatusForbidden, "access_denied")
	_, err = p.st.ApproveDevice(p.ctx, DeviceDecision{Provider: "p", UserCode: dev.UserCode, Decision: DeviceAllow, HasEntity: true,
		Caller: func() (*identity.EntityView, error) { return nil, nil }})
	requireOAuth(t, err, http.StatusForbidden, "access_denied", entityNotFound)

	_, _, err = p.st.UpsertEntity(p.ctx, identity.EntityUpdate{ID: p.entityID, Disabled: core.Some(true)})
	require.NoError(t, err)
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuth(t, err, http.StatusForbidden, "access_denied", entityNotAssigned)
	_, _, err = p.st.UpsertEntity(p.ctx, identity.EntityUpdate{ID: p.entityID, Disabled: core.Some(false)})
	require.NoError(t, err)

	// Unassigned: the client names an assignment without the entity.
	require.NoError(t, p.st.WriteAssignment(p.ctx, "nobody", AssignmentUpdate{}))
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{Assignments: core.Some([]string{"nobody"})}))
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuth(t, err, http.StatusForbidden, "access_denied", entityNotAssigned)
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{Assignments: core.Some([]string{AllowAllAssignment})}))

	// Approved, then disabled: the poll spends the code and gets nothing.
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	_, _, err = p.st.UpsertEntity(p.ctx, identity.EntityUpdate{ID: p.entityID, Disabled: core.Some(true)})
	require.NoError(t, err)
	_, err = p.poll(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", entityNotAssigned)
	_, _, err = p.st.UpsertEntity(p.ctx, identity.EntityUpdate{ID: p.entityID, Disabled: core.Some(false)})
	require.NoError(t, err)
	_, err = p.poll(dev.DeviceCode)
	requireOAuth(t, err, http.StatusBadRequest, "invalid_grant", "device code is invalid")

	// A client that loses device_grant can no longer poll nor be approved.
	dev = p.authorizeDevice(t, "openid")
	require.NoError(t, p.st.WriteClient(p.ctx, "app", ClientUpdate{DeviceGrant: core.Some(false)}))
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
}

// TestDeviceWrongCodes: five wrong user codes refuse the entity even the
// right one until the window ends; another entity is not affected.
func TestDeviceWrongCodes(t *testing.T) {
	p := newDeviceClock(t)
	dev := p.authorizeDevice(t, "openid")
	bob, _, err := p.st.UpsertEntity(p.ctx, identity.EntityUpdate{Name: "bob"})
	require.NoError(t, err)
	for i, wrong := range []string{"BBBB-BBBB", "not a code", "", "AAAA-AAAA", "ZZZZ-ZZZZ"} {
		_, err := p.decide("p", wrong, "", p.entityID)
		requireOAuthCode(t, err, http.StatusBadRequest, "invalid_grant")
		_ = i
	}
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	requireOAuth(t, err, http.StatusTooManyRequests, "access_denied", "too many wrong user codes: try again later")
	view, err := p.decide("p", dev.UserCode, "", bob.ID)
	require.NoError(t, err)
	require.Equal(t, "pending", view.Status)
	p.clock.Advance(DeviceTriesWindow)
	dev = p.authorizeDevice(t, "openid")
	_, err = p.decide("p", dev.UserCode, DeviceAllow, p.entityID)
	require.NoError(t, err)
	_, err = p.decide("p", dev.UserCode, "maybe", p.entityID)
	requireOAuthCode(t, err, http.StatusBadRequest, "invalid_request")
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newUserCode()
		require.NoError(t, err)
		require.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{8}$`, c)
		seen[c] = true
	}
	require.Greater(t, len(seen), 195)
	require.Equal(t, "BCDF-GHJK", FormatUserCode("BCDFGHJK"))
	for typed, want := range map[string]string{
		"bcdf-ghjk": "BCDFGHJK", " BCDF GHJK ": "BCDFGHJK", "BCDFGHJK": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJKL": "", "ABCD-EFGH": "", "BCD0-GHJK": "", "BCDF_GHJK": "",
	} {
		require.Equal(t, want, NormalizeUserCode(typed), typed)
	}
}

// TestDeviceWrongCodesAtOnce: tries sent at once are counted before the
// codes are looked at, so no more than DeviceMaxWrongCodes get an answer.
func TestDeviceWrongCodesAtOnce(t *testing.T) {
	p := newDeviceClock(t)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := p.decide("p", FormatUserCode(strings.Repeat(string(UserCodeAlphabet[i%20]), 8)), "", p.entityID)
			errs <- err
		}()
	}
	wrong, refused := 0, 0
	for range n {
		e, ok := AsOAuthError(<-errs)
		require.True(t, ok)
		switch e.Status {
		case http.StatusBadRequest:
			wrong++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	require.Equal(t, DeviceMaxWrongCodes, wrong)
	require.Equal(t, n-DeviceMaxWrongCodes, refused)
}
