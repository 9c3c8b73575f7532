package paths_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func (p *providerSetup) device(t *testing.T, data map[string]any) rawReply {
	return raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/device", Data: data}))
}

func (p *providerSetup) verify(t *testing.T, data map[string]any) rawReply {
	return raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/device/verify", Data: data, EntityID: "vault-entity"}))
}

// TestDeviceGrantPaths: discovery is unchanged until a client has
// device_grant; then the device endpoint, the verification call, the
// device view of the sign-in page and the token endpoint serve the grant.
func TestDeviceGrantPaths(t *testing.T) {
	p := newProviderSetup(t)
	iss := providerIssuer + "/v1/ident/oidc/provider/p"
	d := raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration"))
	require.NotContains(t, d.body, "device_authorization_endpoint")
	require.NotContains(t, d.body["grant_types_supported"], "urn:ietf:params:oauth:grant-type:device_code")
	require.NotContains(t, p.b.Read("oidc/client/spa").Data(), "device_grant")
	off := p.device(t, map[string]any{"client_id": p.publicID})
	require.Equal(t, http.StatusBadRequest, off.status)
	require.Equal(t, "unauthorized_client", off.body["error"])
	page := p.b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/provider/p/sign-in", Data: map[string]any{"device": "1"}})
	require.NoError(t, page.Err)
	require.Equal(t, http.StatusBadRequest, page.Resp.Data[logical.HTTPStatusCode])

	require.Equal(t, http.StatusNoContent, p.b.Write("oidc/client/spa", map[string]any{"device_grant": true}).Status)
	require.Equal(t, true, p.b.Read("oidc/client/spa").Data()["device_grant"])
	d = raw(t, p.b.Read("oidc/provider/p/.well-known/openid-configuration"))
	require.Equal(t, iss+"/device", d.body["device_authorization_endpoint"])
	require.Contains(t, d.body["grant_types_supported"], "urn:ietf:params:oauth:grant-type:device_code")

	// The confidential client has no device grant; the public one does.
	require.Equal(t, "unauthorized_client", p.device(t, map[string]any{"client_id": p.clientID, "client_secret": p.secret}).body["error"])
	dev := p.device(t, map[string]any{"client_id": p.publicID, "scope": "openid profile"})
	require.Equal(t, http.StatusOK, dev.status, dev.body)
	require.Equal(t, "no-store", dev.headers[logical.HTTPCacheControlHeader])
	userCode := dev.body["user_code"].(string)
	require.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`, userCode)
	require.Equal(t, iss+"/sign-in?device=1", dev.body["verification_uri"])
	require.Equal(t, iss+"/sign-in?device=1&user_code="+userCode, dev.body["verification_uri_complete"])
	require.EqualValues(t, 600, dev.body["expires_in"])
	require.EqualValues(t, 5, dev.body["interval"])
	deviceCode := dev.body["device_code"].(string)

	poll := func() rawReply {
		return raw(t, p.token(map[string]any{"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": deviceCode, "client_id": p.publicID}, nil))
	}
	pending := poll()
	require.Equal(t, http.StatusBadRequest, pending.status)
	require.Equal(t, "authorization_pending", pending.body["error"])
	require.Equal(t, "slow_down", poll().body["error"])

	// The device view of the sign-in page, with the code filled in.
	page = p.b.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/provider/p/sign-in", Data: map[string]any{"device": "1", "user_code": userCode}})
	require.NoError(t, page.Err)
	require.Equal(t, http.StatusOK, page.Resp.Data[logical.HTTPStatusCode])
	html := string(page.Resp.Data[logical.HTTPRawBody].([]byte))
	require.Contains(t, html, `id="device-view"`)
	require.Contains(t, html, `value="`+userCode+`"`)
	require.Contains(t, html, `"device":true`)
	require.NotContains(t, html, "<script>")

	look := p.verify(t, map[string]any{"user_code": strings.ToLower(userCode)})
	require.Equal(t, http.StatusOK, look.status, look.body)
	require.Equal(t, "spa", look.body["client_name"])
	require.Equal(t, []any{"openid", "profile"}, look.body["scopes"])
	require.Equal(t, "Profile", look.body["scope_descriptions"].(map[string]any)["profile"])
	require.Equal(t, "pending", look.body["status"])
	bad := p.verify(t, map[string]any{"user_code": "BBBB-BBBB"})
	require.Equal(t, http.StatusBadRequest, bad.status)
	require.Equal(t, "invalid_grant", bad.body["error"])
	ok := p.verify(t, map[string]any{"user_code": userCode, "decision": "allow"})
	require.Equal(t, "approved", ok.body["status"], ok.body)

	// A verification without an entity is refused.
	anon := raw(t, p.b.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "oidc/provider/p/device/verify", Data: map[string]any{"user_code": userCode}}))
	require.Equal(t, http.StatusForbidden, anon.status)

	tokens := poll()
	require.Equal(t, http.StatusOK, tokens.status, tokens.body)
	require.NotEmpty(t, tokens.body["id_token"])
	require.NotEmpty(t, tokens.body["access_token"])
	require.Equal(t, "invalid_grant", poll().body["error"])
}
