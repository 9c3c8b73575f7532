//go:build integration

package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deviceStore is a provStore whose clients app, app2 and o have the device
// grant (spa has not), and whose users may call device/verify.
type deviceStore struct {
	*provStore
}

func newDeviceStore(t *testing.T, name string) *deviceStore {
	t.Helper()
	s := &deviceStore{newProvStore(t, name)}
	for _, c := range []string{"app", "app2", "o"} {
		mustWrite(t, s.path("oidc/client/"+c), map[string]any{"device_grant": true})
	}
	// The users' policy also lets them verify device codes, as the sign-in
	// page's device view does.
	r := do(t, "PUT", "sys/policies/acl/"+name+"-self", map[string]any{
		"policy": fmt.Sprintf(selfPolicy, name) + fmt.Sprintf(`path "%s/oidc/provider/+/device/verify" { capabilities = ["update"] }`, name),
	})
	require.Equal(t, http.StatusNoContent, r.Status, r.Errors)
	return s
}

// deviceAuth starts a device flow for a client of provider.
func (s *deviceStore) deviceAuth(t *testing.T, provider, clientID, secret string) (deviceCode, userCode string) {
	t.Helper()
	r := oauthDo(t, http.MethodPost, s.path("oidc/provider/"+provider+"/device"), url.Values{"scope": {"openid"}}, basicAuth(clientID, secret))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	return r.Body["device_code"].(string), r.Body["user_code"].(string)
}

// verify is the device view's call with a user's token.
func (s *deviceStore) verify(t *testing.T, provider, token, userCode, decision string) answer {
	t.Helper()
	body := map[string]any{"user_code": userCode}
	if decision != "" {
		body["decision"] = decision
	}
	var headers map[string]string
	if token != "" {
		headers = vaultToken(token)
	}
	r := oauthDo(t, http.MethodPost, s.path("oidc/provider/"+provider+"/device/verify"), body, headers)
	if st, ok := r.Body["status"].(string); ok && r.Status == http.StatusOK {
		return answer{r.Status, st}
	}
	return replyAnswer(r)
}

// poll is the device's poll of the token endpoint.
func (s *deviceStore) poll(t *testing.T, provider, clientID, secret, deviceCode string) answer {
	t.Helper()
	r := oauthDo(t, http.MethodPost, s.path("oidc/provider/"+provider+"/token"),
		url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}, basicAuth(clientID, secret))
	if _, ok := r.Body["access_token"].(string); ok && r.Status == http.StatusOK {
		return answer{r.Status, "tokens"}
	}
	return replyAnswer(r)
}

// expire moves a device code's expiry into the past in storage, through
// sys/raw: the plugin reads the record on every poll.
func (s *deviceStore) expire(t *testing.T, deviceCode string) {
	t.Helper()
	sum := sha256.Sum256([]byte(deviceCode))
	key := "sys/raw/logical/" + s.uuid + "/oidc/grant/device/" + hex.EncodeToString(sum[:])
	r := do(t, "GET", key, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Errors)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Data["value"].(string)), &rec))
	rec["expire_at"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	raw, err := json.Marshal(rec)
	require.NoError(t, err)
	w := do(t, "PUT", key, map[string]any{"value": string(raw)})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, w.Status, w.Errors)
}

// TestSecurityDeviceGrant: the "may not" rows of the device authorization
// grant. Polls and wrong user codes change storage (the poll time, the
// count of wrong codes), so the rows check the answers only.
func TestSecurityDeviceGrant(t *testing.T) {
	s := newDeviceStore(t, "sec-device")
	mustWrite(t, s.path("entity/id/"+s.dora.entityID), map[string]any{"disabled": true})
	poll := func(code string) answer { return s.poll(t, "p", s.app, s.appSecret, code) }
	denied := answer{http.StatusBadRequest, "access_denied: the user denied the request"}
	invalidUser := answer{http.StatusBadRequest, "invalid_grant: the code is invalid or expired"}

	// Codes in their states.
	fast, _ := s.deviceAuth(t, "p", s.app, s.appSecret)
	require.Equal(t, answer{http.StatusBadRequest, "authorization_pending: the user has not yet decided"}.String(), poll(fast).String())

	deniedCode, deniedUser := s.deviceAuth(t, "p", s.app, s.appSecret)
	require.Equal(t, answer{http.StatusOK, "denied"}.String(), s.verify(t, "p", s.alice.token, deniedUser, "deny").String())

	usedCode, usedUser := s.deviceAuth(t, "p", s.app, s.appSecret)
	require.Equal(t, answer{http.StatusOK, "approved"}.String(), s.verify(t, "p", s.alice.token, usedUser, "allow").String())
	require.Equal(t, answer{http.StatusOK, "tokens"}.String(), poll(usedCode).String())

	stolenCode, stolenUser := s.deviceAuth(t, "p", s.app, s.appSecret)
	require.Equal(t, answer{http.StatusOK, "approved"}.String(), s.verify(t, "p", s.alice.token, stolenUser, "allow").String())

	expiredCode, expiredUser := s.deviceAuth(t, "p", s.app, s.appSecret)
	s.expire(t, expiredCode)

	victimCode, victimUser := s.deviceAuth(t, "p", s.app, s.appSecret)
	_, otherUser := s.deviceAuth(t, "other", s.o, s.oSecret)

	attacks := []attack{
		{"a device code may not be polled faster than the interval", func(t *testing.T) answer {
			return poll(fast)
		}, answer{http.StatusBadRequest, "slow_down: polling too fast: wait 10s between requests"}},
		{"a denied device code may not get tokens", func(t *testing.T) answer {
			return poll(deniedCode)
		}, denied},
		{"a denied device code stays denied", func(t *testing.T) answer {
			return poll(deniedCode)
		}, denied},
		{"a denied user code may not be approved after", func(t *testing.T) answer {
			return s.verify(t, "p", s.alice.token, deniedUser, "allow")
		}, invalidUser},
		{"a device code may not be used twice", func(t *testing.T) answer {
			return poll(usedCode)
		}, answer{http.StatusBadRequest, "invalid_grant: device code is invalid"}},
		{"a user code may not be approved twice", func(t *testing.T) answer {
			return s.verify(t, "p", s.alice.token, usedUser, "allow")
		}, invalidUser},
		{"another client may not redeem the victim's device code", func(t *testing.T) answer {
			return s.poll(t, "p", s.app2, s.app2Secret, stolenCode)
		}, answer{http.StatusBadRequest, "invalid_grant: device code was not issued to the client"}},
		{"a client of another provider may not redeem the victim's device code", func(t *testing.T) answer {
			return s.poll(t, "p", s.o, s.oSecret, stolenCode)
		}, answer{http.StatusUnauthorized, "invalid_client: client is not authorized to use the provider"}},
		{"an expired device code may not get tokens", func(t *testing.T) answer {
			return poll(expiredCode)
		}, answer{http.StatusBadRequest, "expired_token: the device code has expired"}},
		{"an expired user code may not be approved", func(t *testing.T) answer {
			return s.verify(t, "p", s.alice.token, expiredUser, "allow")
		}, invalidUser},
		{"a user code of another provider's client may not be approved through this provider", func(t *testing.T) answer {
			return s.verify(t, "p", s.alice.token, otherUser, "allow")
		}, invalidUser},
		{"a user code may not be redeemed as a device code", func(t *testing.T) answer {
			return poll(victimUser)
		}, answer{http.StatusBadRequest, "invalid_grant: device code is invalid"}},
		{"a device code may not be approved as a user code", func(t *testing.T) answer {
			return s.verify(t, "p", s.alice.token, victimCode, "allow")
		}, invalidUser},
		{"a disabled entity may not approve", func(t *testing.T) answer {
			return s.verify(t, "p", s.dora.token, victimUser, "allow")
		}, answer{http.StatusForbidden, "access_denied: identity entity not authorized by client assignment"}},
		{"no entity may not approve", func(t *testing.T) answer {
			return s.verify(t, "p", s.noEntity, victimUser, "allow")
		}, answer{http.StatusForbidden, "access_denied: identity entity must be associated with the request"}},
		{"anonymous may not approve", func(t *testing.T) answer {
			return s.verify(t, "p", "", victimUser, "allow")
		}, permissionDeniedRaw},
		{"a client without device_grant may not start a device flow", func(t *testing.T) answer {
			return oauthCall(t, http.MethodPost, s.path("oidc/provider/p/device"), url.Values{"client_id": {s.spa}}, nil)
		}, answer{http.StatusBadRequest, "unauthorized_client: the client is not allowed the device_code grant: set its device_grant"}},
		{"a client without device_grant may not poll", func(t *testing.T) answer {
			return oauthCall(t, http.MethodPost, s.path("oidc/provider/p/token"), url.Values{"client_id": {s.spa}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {victimCode}}, nil)
		}, answer{http.StatusBadRequest, "unauthorized_client: the client is not allowed the device_code grant: set its device_grant"}},
		{"a confidential client may not start a device flow without its secret", func(t *testing.T) answer {
			return oauthCall(t, http.MethodPost, s.path("oidc/provider/p/device"), url.Values{"client_id": {s.app}}, nil)
		}, answer{http.StatusUnauthorized, "invalid_client: client failed to authenticate"}},
		{"a client of another provider may not start a device flow", func(t *testing.T) answer {
			return oauthCall(t, http.MethodPost, s.path("oidc/provider/p/device"), url.Values{}, basicAuth(s.o, s.oSecret))
		}, answer{http.StatusUnauthorized, "invalid_client: client is not authorized to use the provider"}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			require.Equal(t, a.want.String(), a.try(t).String())
		})
	}

	t.Run("wrong user codes are bounded", func(t *testing.T) {
		for _, wrong := range []string{"BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF", "nope"} {
			require.Equal(t, invalidUser.String(), s.verify(t, "p", s.mallory.token, wrong, "").String())
		}
		// Even the right code is refused now.
		require.Equal(t, answer{http.StatusTooManyRequests, "access_denied: too many wrong user codes: try again later"}.String(),
			s.verify(t, "p", s.mallory.token, victimUser, "allow").String())
	})

	// The victim's own flow still works, once.
	require.Equal(t, answer{http.StatusOK, "approved"}.String(), s.verify(t, "p", s.alice.token, strings.ToLower(victimUser), "allow").String())
	require.Equal(t, answer{http.StatusOK, "tokens"}.String(), poll(stolenCode).String())
	require.Equal(t, answer{http.StatusOK, "tokens"}.String(), poll(victimCode).String())
}
