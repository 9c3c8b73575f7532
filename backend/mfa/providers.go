package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/helper/identitytpl"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// This file verifies MFA with the push providers through their HTTP APIs:
// Duo's Auth API, Okta's factors API, and PingID's online authentication.
// A provider's host may carry a scheme to reach a private or test endpoint;
// without one it is https. Provider credentials are never sent in clear:
// an address must use https, or http only on a loopback host
// (http://127.0.0.1:8080), which method writes check (400) and every use
// checks again, for methods stored before the rule.

// checkHostSetting checks a host setting (Okta's base_url, Duo's
// api_hostname): one without a scheme is reached over https, one with a
// scheme is the whole address and must pass checkProviderURL.
func checkHostSetting(field, value string) error {
	if !strings.Contains(value, "://") {
		return nil
	}
	return core.CheckSecureURL(field, value)
}

// providerEndpoint checks the address a provider method sends its
// credentials to.
func providerEndpoint(m *MFAMethod) error {
	switch {
	case m.Okta != nil:
		return checkHostSetting("base_url", m.Okta.BaseURL)
	case m.Duo != nil:
		return checkHostSetting("api_hostname", m.Duo.APIHostname)
	case m.PingID != nil:
		return core.CheckSecureURL("idp_url", m.PingID.IDPURL)
	}
	return fmt.Errorf("unrecognized type %q", m.Type)
}

// sameOrigin reports whether u has the scheme, host and port of base (a
// missing port being the scheme's default).
func sameOrigin(u, base *url.URL) bool {
	port := func(x *url.URL) string {
		if p := x.Port(); p != "" {
			return p
		}
		if strings.EqualFold(x.Scheme, "http") {
			return "80"
		}
		return "443"
	}
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Hostname(), base.Hostname()) && port(u) == port(base)
}

// verifyWithProvider asks the method's provider to verify the entity's
// user: with the passcode when given, else by push. A provider that cannot
// be reached is an error; one that says no is false.
func (s *Service) verifyWithProvider(ctx context.Context, m *MFAMethod, entityID, passcode string) (bool, error) {
	user, err := s.mfaUsername(m, entityID)
	if err != nil {
		return false, err
	}
	switch m.Type {
	case MFADuo:
		return s.verifyDuo(ctx, m.Duo, user, passcode)
	case MFAOkta:
		return s.verifyOkta(ctx, m.Okta, user, passcode)
	case MFAPingID:
		return s.verifyPingID(ctx, m.PingID, user)
	}
	return false, fmt.Errorf("unrecognized type %q", m.Type)
}

// mfaUsername is the provider's name for the entity: the method's
// username_format rendered for the entity, or the entity's name.
func (s *Service) mfaUsername(m *MFAMethod, entityID string) (string, error) {
	v, err := s.identity.Entity(context.Background(), identity.EntitySelector{ID: entityID})
	if err != nil || v == nil {
		return "", core.UserErrorf("invalid entity ID")
	}
	if m.UsernameFormat == "" {
		return v.Name, nil
	}
	entity, groups := s.identity.TemplateInput(v)
	_, out, err := identitytpl.PopulateString(identitytpl.PopulateStringInput{
		Mode: identitytpl.ACLTemplating, String: m.UsernameFormat, Entity: entity, Groups: groups, NamespaceID: core.NamespaceID,
	})
	if err != nil {
		return "", core.UserErrorf("failed to render username_format: %s", err.Error())
	}
	return out, nil
}

// baseURL is the address of a host setting: as given when it has a scheme,
// else https.
func baseURL(host string) string {
	if strings.Contains(host, "://") {
		return strings.TrimSuffix(host, "/")
	}
	return "https://" + host
}

func (s *Service) do(req *http.Request, into any) (int, error) {
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if into != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, into); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected answer from %s: %w", req.URL.Host, err)
		}
	}
	return resp.StatusCode, nil
}

// --- Duo (Auth API v2: preauth, then auth) ---

type duoResponse struct {
	Stat     string `json:"stat"`
	Response struct {
		Result    string `json:"result"`
		StatusMsg string `json:"status_msg"`
	} `json:"response"`
}

func (s *Service) verifyDuo(ctx context.Context, d *DuoSettings, user, passcode string) (bool, error) {
	pre, err := s.duoCall(ctx, d, "/auth/v2/preauth", url.Values{"username": {user}})
	if err != nil {
		return false, err
	}
	switch pre.Response.Result {
	case "allow":
		return true, nil
	case "auth":
	default:
		return false, nil
	}
	params := url.Values{"username": {user}, "device": {"auto"}, "factor": {"push"}}
	if passcode != "" {
		params = url.Values{"username": {user}, "factor": {"passcode"}, "passcode": {passcode}}
	} else if d.PushInfo != "" {
		params.Set("pushinfo", d.PushInfo)
	}
	res, err := s.duoCall(ctx, d, "/auth/v2/auth", params)
	if err != nil {
		return false, err
	}
	return res.Response.Result == "allow", nil
}

// duoCall sends a request signed as Duo's API requires: HMAC-SHA1 over the
// date, method, host, path and sorted parameters, with the integration key
// as user name.
func (s *Service) duoCall(ctx context.Context, d *DuoSettings, path string, params url.Values) (*duoResponse, error) {
	base := baseURL(d.APIHostname)
	if err := checkHostSetting("api_hostname", d.APIHostname); err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	date := s.now().UTC().Format(time.RFC1123Z)
	canon := strings.Join([]string{date, http.MethodPost, strings.ToLower(u.Host), path, params.Encode()}, "\n")
	mac := hmac.New(sha1.New, []byte(d.SecretKey))
	mac.Write([]byte(canon))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Date", date)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(d.IntegrationKey, hex.EncodeToString(mac.Sum(nil)))
	var out duoResponse
	status, err := s.do(req, &out)
	if err != nil {
		return nil, fmt.Errorf("failed to reach Duo: %w", err)
	}
	if status >= 300 || out.Stat != "OK" {
		return nil, fmt.Errorf("duo refused the request: status %d", status)
	}
	return &out, nil
}

// --- Okta (users and factors API, push polled until answered) ---

type oktaFactor struct {
	ID         string `json:"id"`
	FactorType string `json:"factorType"`
}

type oktaVerify struct {
	FactorResult string `json:"factorResult"`
	Links        struct {
		Poll struct {
			Href string `json:"href"`
		} `json:"poll"`
	} `json:"_links"`
}

func oktaBase(o *OktaSettings) string {
	if strings.Contains(o.BaseURL, "://") {
		return strings.TrimSuffix(o.BaseURL, "/")
	}
	domain := o.BaseURL
	if domain == "" {
		domain = "okta.com"
		if !o.Production {
			domain = "oktapreview.com"
		}
	}
	return "https://" + o.OrgName + "." + domain
}

// verifyOkta verifies the user's TOTP factor with the passcode, or sends a
// push and polls it. The poll link comes from Okta's answer: it is followed
// (with the API token) only on the configured base URL's scheme, host and
// port, else the attempt fails without sending the token.
func (s *Service) verifyOkta(ctx context.Context, o *OktaSettings, user, passcode string) (bool, error) {
	base := oktaBase(o)
	if err := checkHostSetting("base_url", o.BaseURL); err != nil {
		return false, err
	}
	baseU, err := url.Parse(base)
	if err != nil {
		return false, err
	}
	call := func(method, u string, body any, into any) (int, error) {
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = strings.NewReader(string(raw))
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "SSWS "+o.APIToken)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		status, err := s.do(req, into)
		if err != nil {
			return status, fmt.Errorf("failed to reach Okta: %w", err)
		}
		return status, nil
	}
	var found struct {
		ID string `json:"id"`
	}
	status, err := call(http.MethodGet, base+"/api/v1/users/"+url.PathEscape(user), nil, &found)
	if err != nil {
		return false, err
	}
	if status == http.StatusNotFound {
		return false, nil
	}
	var factors []oktaFactor
	if _, err := call(http.MethodGet, base+"/api/v1/users/"+found.ID+"/factors", nil, &factors); err != nil {
		return false, err
	}
	want := "push"
	var body any
	if passcode != "" {
		want, body = "token:software:totp", map[string]string{"passCode": passcode}
	}
	for _, f := range factors {
		if f.FactorType != want {
			continue
		}
		var v oktaVerify
		if _, err := call(http.MethodPost, base+"/api/v1/users/"+found.ID+"/factors/"+f.ID+"/verify", body, &v); err != nil {
			return false, err
		}
		for v.FactorResult == "WAITING" && v.Links.Poll.Href != "" {
			poll, err := url.Parse(v.Links.Poll.Href)
			if err != nil || !sameOrigin(poll, baseU) {
				return false, fmt.Errorf("refusing Okta's poll link %q: it is not on the configured base URL %s", v.Links.Poll.Href, base)
			}
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(s.pollInterval):
			}
			if _, err := call(http.MethodGet, poll.String(), nil, &v); err != nil {
				return false, err
			}
		}
		return v.FactorResult == "SUCCESS", nil
	}
	return false, nil
}

// --- PingID (online authentication, requests and answers signed HS256) ---

func (s *Service) verifyPingID(ctx context.Context, p *PingSettings, user string) (bool, error) {
	if err := core.CheckSecureURL("idp_url", p.IDPURL); err != nil {
		return false, err
	}
	key, err := base64.StdEncoding.DecodeString(p.UseBase64Key)
	if err != nil {
		return false, fmt.Errorf("invalid use_base64_key in the PingID settings: %w", err)
	}
	payload, _ := json.Marshal(map[string]any{
		"reqHeader": map[string]any{
			"locale": "en", "orgAlias": p.OrgAlias, "secretKey": p.Token,
			"timestamp": s.now().UTC().Format("2006-01-02 15:04:05.000"), "version": "4.9",
		},
		"reqBody": map[string]any{"spAlias": "web", "userName": user},
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key},
		(&jose.SignerOptions{}).WithHeader("org_alias", p.OrgAlias).WithHeader("token", p.Token))
	if err != nil {
		return false, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return false, err
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.IDPURL, "/")+"/rest/4/authonline/do", strings.NewReader(compact))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("failed to reach PingID: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, err
	}
	answer, err := jose.ParseSigned(strings.TrimSpace(string(raw)), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return false, fmt.Errorf("unexpected answer from PingID: %w", err)
	}
	body, err := answer.Verify(key)
	if err != nil {
		return false, fmt.Errorf("PingID answer has a bad signature: %w", err)
	}
	var out struct {
		ResponseBody struct {
			ErrorID int `json:"errorId"`
		} `json:"responseBody"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return false, fmt.Errorf("unexpected answer from PingID: %w", err)
	}
	return out.ResponseBody.ErrorID == 200, nil
}
