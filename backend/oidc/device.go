package oidc

import (
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// The OAuth 2.0 Device Authorization Grant (RFC 8628), not in Vault. A
// client with device_grant set asks the device authorization endpoint for a
// device code and a user code; the person enters the user code on the
// sign-in page's device view (verification_uri), signs in to Vault and
// allows or denies; the client polls the token endpoint with the device
// code until then.
//
// Both codes are stored under the SHA-256 of their value, as other grants:
// the device code's record (oidc/grant/device/) holds the request and its
// state; the user code's (oidc/grant/user_code/) points to it. A user code
// is single use (deleted when decided), a device code too (deleted when
// its tokens are issued); both expire after DeviceCodeTTL and are swept.
const (
	deviceGrant   = "device"
	userCodeGrant = "user_code"
	// deviceTries counts, per entity, the wrong user codes entered.
	deviceTries  = "device_tries"
	devicePrefix = "hvo_dc_"

	// GrantDeviceCode is the device_code grant type.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	// DeviceCodeTTL is how long a device code and its user code live.
	DeviceCodeTTL = 10 * time.Minute
	// DeviceInterval is the polling interval a client is given; slow_down
	// adds deviceSlowDown to it (RFC 8628 section 3.5).
	DeviceInterval = 5 * time.Second
	deviceSlowDown = 5 * time.Second
	// DeviceMaxWrongCodes wrong user codes within DeviceTriesWindow of the
	// first refuse the entity further user codes until the window ends.
	DeviceMaxWrongCodes = 5
	DeviceTriesWindow   = 10 * time.Minute

	// UserCodeAlphabet is RFC 8628 section 6.1's: no vowels, no
	// look-alikes. 8 characters of 20 are 20^8 ≈ 2.56e10 codes (34.5 bits).
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
)

// States of a device code.
const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

// deviceRecord is what a device code stands for. ExpireAt is named as a
// grant's, so SweepGrants reads it.
type deviceRecord struct {
	Provider    string   `json:"provider"`
	ClientID    string   `json:"client_id"`
	Scopes      []string `json:"scopes"`
	UserCodeKey string   `json:"user_code_key"`
	Status      string   `json:"status"`
	EntityID    string   `json:"entity_id,omitempty"`
	AuthTime    int64    `json:"auth_time,omitempty"`
	// IntervalSeconds is the polling interval, grown by slow_down;
	// LastPoll the time of the last poll.
	IntervalSeconds int64     `json:"interval"`
	LastPoll        time.Time `json:"last_poll,omitzero"`
	IssuedAt        time.Time `json:"issued_at"`
	ExpireAt        time.Time `json:"expire_at"`
}

// userCodeRecord is what a user code stands for: its device code's record.
type userCodeRecord struct {
	DeviceKey string    `json:"device_key"`
	Provider  string    `json:"provider"`
	ClientID  string    `json:"client_id"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpireAt  time.Time `json:"expire_at"`
}

// triesRecord counts an entity's wrong user codes in a window.
type triesRecord struct {
	Count    int       `json:"count"`
	IssuedAt time.Time `json:"issued_at"`
	ExpireAt time.Time `json:"expire_at"`
}

// DeviceRequest is a request to the device authorization endpoint.
type DeviceRequest struct {
	Provider string
	Auth     ClientAuth
	Scope    string
	// Issuer turns the provider's configured issuer into its issuer, for
	// the verification URIs.
	Issuer func(configured string) string
}

// DeviceResponse is the device authorization endpoint's answer.
type DeviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceVerificationPath is the sign-in page's device view, relative to
// the issuer; the user code is appended for verification_uri_complete.
const DeviceVerificationPath = "/sign-in?device=1"

// DeviceAuthorization serves the device authorization endpoint: the client
// authenticates as at the token endpoint and must have device_grant set.
func (s *Service) DeviceAuthorization(ctx context.Context, r DeviceRequest) (*DeviceResponse, error) {
	cc, err := s.authenticateClient(ctx, r.Provider, r.Auth)
	if err != nil {
		return nil, err
	}
	if !cc.client.DeviceGrant {
		return nil, deviceNotAllowed()
	}
	iss := r.Issuer(cc.provider.Issuer)
	if iss == "" {
		return nil, oauthError(http.StatusInternalServerError, "server_error", ErrNoIssuer.Msg)
	}
	requested := parseScopes(r.Scope)
	scopes := cc.provider.supported(requested)
	if slices.Contains(requested, OpenIDScope) {
		scopes = supportedScopes(requested, cc.provider)
	}
	deviceCode, err := randomToken(devicePrefix)
	if err != nil {
		return nil, err
	}
	now := s.now()
	devKey := grantKey(deviceGrant, deviceCode)
	// A user code is 34.5 bits: a clash with a live one is unlikely, and
	// retried.
	for range 5 {
		userCode, err := newUserCode()
		if err != nil {
			return nil, err
		}
		ucKey := grantKey(userCodeGrant, userCode)
		stored := false
		err = s.locks.Locked(func() []string { return []string{ucKey, devKey} }, func() error {
			var cur userCodeRecord
			found, err := s.storage.GetJSON(ctx, ucKey, &cur)
			if err != nil || (found && now.Before(cur.ExpireAt)) {
				return err
			}
			rec := &deviceRecord{
				Provider: r.Provider, ClientID: cc.client.ClientID, Scopes: scopes, UserCodeKey: ucKey,
				Status: devicePending, IntervalSeconds: int64(DeviceInterval / time.Second),
				IssuedAt: now, ExpireAt: now.Add(DeviceCodeTTL),
			}
			if err := s.storage.PutJSON(ctx, devKey, rec); err != nil {
				return err
			}
			stored = true
			return s.storage.PutJSON(ctx, ucKey, &userCodeRecord{
				DeviceKey: devKey, Provider: r.Provider, ClientID: cc.client.ClientID, IssuedAt: now, ExpireAt: rec.ExpireAt,
			})
		})
		if err != nil {
			return nil, err
		}
		if !stored {
			continue
		}
		shown := FormatUserCode(userCode)
		return &DeviceResponse{
			DeviceCode:              deviceCode,
			UserCode:                shown,
			VerificationURI:         iss + DeviceVerificationPath,
			VerificationURIComplete: iss + DeviceVerificationPath + "&user_code=" + shown,
			ExpiresIn:               int64(DeviceCodeTTL / time.Second),
			Interval:                int64(DeviceInterval / time.Second),
		}, nil
	}
	return nil, oauthError(http.StatusServiceUnavailable, "temporarily_unavailable", "no free user code: try again")
}

func deviceNotAllowed() *OAuthError {
	return oauthError(http.StatusBadRequest, "unauthorized_client", "the client is not allowed the device_code grant: set its device_grant")
}

// newUserCode returns userCodeLen characters of UserCodeAlphabet, drawn
// uniformly (bytes of 240 and above are rejected: 240 = 12 × 20).
func newUserCode() (string, error) {
	out := make([]byte, 0, userCodeLen)
	buf := make([]byte, 16)
	for len(out) < userCodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 240 && len(out) < userCodeLen {
				out = append(out, UserCodeAlphabet[int(b)%len(UserCodeAlphabet)])
			}
		}
	}
	return string(out), nil
}

// FormatUserCode shows a user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode turns what a person typed into a user code: upper case,
// without dashes and spaces; "" when it cannot be one.
func NormalizeUserCode(typed string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != userCodeLen {
		return ""
	}
	return b.String()
}

// exchangeDeviceCode serves the device_code grant (RFC 8628 section 3.4):
// authorization_pending until the person decides, slow_down when polled
// faster than the interval (which then grows by 5 seconds), expired_token
// after expiry, access_denied after a denial; after an approval, the
// tokens, once: the device code is deleted as they are issued.
func (s *Service) exchangeDeviceCode(ctx context.Context, cc *clientContext, r TokenExchange) (*TokenResponse, error) {
	if r.DeviceCode == "" {
		return nil, invalidRequest("device_code parameter is required")
	}
	if !cc.client.DeviceGrant {
		return nil, deviceNotAllowed()
	}
	key := grantKey(deviceGrant, r.DeviceCode)
	var out *TokenResponse
	err := s.locks.Locked(func() []string { return []string{key} }, func() error {
		var rec deviceRecord
		found, err := s.storage.GetJSON(ctx, key, &rec)
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case !found:
			return invalidGrant("device code is invalid")
		case rec.ClientID != cc.client.ClientID:
			return invalidGrant("device code was not issued to the client")
		case rec.Provider != r.Provider:
			return invalidGrant("device code was not issued by the provider")
		case !now.Before(rec.ExpireAt):
			return oauthError(http.StatusBadRequest, "expired_token", "the device code has expired")
		case rec.Status == deviceDenied:
			return oauthError(http.StatusBadRequest, "access_denied", "the user denied the request")
		case rec.Status == devicePending:
			interval := time.Duration(rec.IntervalSeconds) * time.Second
			tooFast := !rec.LastPoll.IsZero() && now.Sub(rec.LastPoll) < interval
			rec.LastPoll = now
			if tooFast {
				rec.IntervalSeconds += int64(deviceSlowDown / time.Second)
			}
			if err := s.storage.PutJSON(ctx, key, &rec); err != nil {
				return err
			}
			if tooFast {
				return oauthError(http.StatusBadRequest, "slow_down", "polling too fast: wait "+(interval+deviceSlowDown).String()+" between requests")
			}
			return oauthError(http.StatusBadRequest, "authorization_pending", "the user has not yet decided")
		case rec.Status != deviceApproved:
			return invalidGrant("device code is invalid")
		}
		// Approved: the code is spent whatever follows.
		if err := s.storage.Remove(ctx, key); err != nil {
			return err
		}
		v, problem, err := s.assignedEntity(ctx, cc.client, rec.EntityID)
		if err != nil {
			return err
		}
		if problem != "" {
			return invalidGrant(problem)
		}
		g := &grant{Provider: r.Provider, ClientID: rec.ClientID, EntityID: v.ID, Scopes: rec.Scopes, AuthTime: rec.AuthTime}
		out, err = s.issue(ctx, cc, r, v, g, idTokenExtras{skip: !slices.Contains(rec.Scopes, OpenIDScope)})
		if err == nil {
			out.Scope = strings.Join(rec.Scopes, " ")
		}
		return err
	})
	return out, err
}

// DeviceDecision is a person's answer on the device view: Decision "" only
// looks the user code up (to show the client and scopes), "allow" binds the
// device code to the caller's entity, "deny" refuses it.
type DeviceDecision struct {
	Provider string
	UserCode string
	Decision string
	// HasEntity and Caller are as in AuthorizeRequest: the caller's Vault
	// token must have an entity of this store.
	HasEntity bool
	Caller    func() (*identity.EntityView, error)
}

// Device decisions.
const (
	DeviceAllow = "allow"
	DeviceDeny  = "deny"
)

// DeviceView is what the device view shows of a user code.
type DeviceView struct {
	UserCode     string            `json:"user_code"`
	ClientName   string            `json:"client_name"`
	Scopes       []string          `json:"scopes"`
	Descriptions map[string]string `json:"scope_descriptions"`
	// Status is "pending" on a look-up, else "approved" or "denied".
	Status string `json:"status"`
}

// ApproveDevice looks up, allows or denies a user code for the caller, with
// the checks of Authorize: the caller's entity must exist, be enabled and
// be assigned to the client. A user code that is malformed, unknown,
// expired, already decided or of another provider is a wrong try;
// DeviceMaxWrongCodes of them refuse the entity any user code for the rest
// of DeviceTriesWindow.
func (s *Service) ApproveDevice(ctx context.Context, d DeviceDecision) (*DeviceView, error) {
	switch d.Decision {
	case "", DeviceAllow, DeviceDeny:
	default:
		return nil, invalidRequest(`decision must be "allow" or "deny"`)
	}
	denied := func(desc string) error { return oauthError(http.StatusForbidden, "access_denied", desc) }
	if !d.HasEntity {
		return nil, denied("identity entity must be associated with the request")
	}
	v, err := d.Caller()
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, denied(entityNotFound)
	}
	// Every try is counted before the code is looked at, so tries sent at
	// once never exceed the bound; a code that is live for this provider
	// gives its try back.
	triesKey := grantKey(deviceTries, v.ID)
	if err := s.countTry(ctx, triesKey, 1); err != nil {
		return nil, err
	}
	now := s.now()
	wrong := invalidGrant("the code is invalid or expired")
	code := NormalizeUserCode(d.UserCode)
	if code == "" {
		return nil, wrong
	}
	ucKey := grantKey(userCodeGrant, code)
	var uc userCodeRecord
	found, err := s.storage.GetJSON(ctx, ucKey, &uc)
	if err != nil {
		return nil, err
	}
	if !found || !now.Before(uc.ExpireAt) || uc.Provider != d.Provider {
		return nil, wrong
	}
	if err := s.countTry(ctx, triesKey, -1); err != nil {
		return nil, err
	}
	var view *DeviceView
	err = s.locks.Locked(func() []string { return []string{uc.DeviceKey, ucKey} }, func() error {
		var rec deviceRecord
		found, err := s.storage.GetJSON(ctx, uc.DeviceKey, &rec)
		if err != nil {
			return err
		}
		if !found || !now.Before(rec.ExpireAt) || rec.Status != devicePending || rec.UserCodeKey != ucKey || rec.Provider != d.Provider {
			return invalidGrant("the code is invalid or expired")
		}
		s.state.mu.RLock()
		c := s.state.clientIDs[rec.ClientID]
		p := s.state.providers[rec.Provider]
		var client Client
		if c != nil {
			client = *c
		}
		descriptions := map[string]string{}
		for _, name := range rec.Scopes {
			if sc := s.state.scopes[name]; sc != nil && sc.Description != "" {
				descriptions[name] = sc.Description
			}
		}
		s.state.mu.RUnlock()
		if c == nil || p == nil || !p.allows(client.ClientID) || !client.DeviceGrant {
			return invalidGrant("the client may no longer use the device grant")
		}
		if !s.assigned(&client, v) {
			return denied(entityNotAssigned)
		}
		view = &DeviceView{UserCode: FormatUserCode(code), ClientName: client.Name, Scopes: rec.Scopes, Descriptions: descriptions, Status: devicePending}
		if d.Decision == "" {
			return nil
		}
		rec.Status = deviceDenied
		if d.Decision == DeviceAllow {
			rec.Status, rec.EntityID, rec.AuthTime = deviceApproved, v.ID, now.Unix()
		}
		view.Status = rec.Status
		if err := s.storage.PutJSON(ctx, uc.DeviceKey, &rec); err != nil {
			return err
		}
		return s.storage.Remove(ctx, ucKey)
	})
	if err != nil {
		return nil, err
	}
	return view, nil
}

// countTry adds delta to the entity's count of user code tries in the
// current window (a new window starts once the last has ended). Adding one
// when DeviceMaxWrongCodes are counted refuses the try instead (429).
func (s *Service) countTry(ctx context.Context, triesKey string, delta int) error {
	return s.locks.Locked(func() []string { return []string{triesKey} }, func() error {
		var t triesRecord
		if _, err := s.storage.GetJSON(ctx, triesKey, &t); err != nil {
			return err
		}
		now := s.now()
		if !now.Before(t.ExpireAt) {
			if delta < 0 {
				return nil
			}
			t = triesRecord{IssuedAt: now, ExpireAt: now.Add(DeviceTriesWindow)}
		}
		if delta > 0 && t.Count >= DeviceMaxWrongCodes {
			return oauthError(http.StatusTooManyRequests, "access_denied", "too many wrong user codes: try again later")
		}
		t.Count = max(t.Count+delta, 0)
		return s.storage.PutJSON(ctx, triesKey, &t)
	})
}
