// Package fakeproviders has small local fakes of the Duo, Okta and PingID
// APIs that the MFA methods call, for tests only: they answer on loopback
// and never reach the real services.
package fakeproviders

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FakeDuo answers Duo's Auth API preauth and auth calls, checking the
// request signature. Users maps a user name to its answer: "allow",
// "deny", or "push-allow"/"push-deny" (preauth says auth, then the push
// is approved or denied). Passcodes are accepted when they equal Passcode.
type FakeDuo struct {
	*httptest.Server
	IKey, SKey string
	Passcode   string
	// Delay is how long every answer waits (before it is counted), so that
	// tests can make attempts overlap.
	Delay time.Duration

	mu       sync.Mutex
	Users    map[string]string
	Calls    []url.Values
	attempts int
}

// NewFakeDuo starts a fake Duo on loopback.
func NewFakeDuo(ikey, skey string) *FakeDuo {
	d := &FakeDuo{IKey: ikey, SKey: skey, Users: map[string]string{}}
	d.Server = httptest.NewServer(http.HandlerFunc(d.serve))
	return d
}

// Attempts is how many signed preauth calls (one per verification) Duo
// received.
func (d *FakeDuo) Attempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts
}

func (d *FakeDuo) serve(w http.ResponseWriter, r *http.Request) {
	time.Sleep(d.Delay)
	body, _ := io.ReadAll(r.Body)
	params, _ := url.ParseQuery(string(body))
	canon := strings.Join([]string{r.Header.Get("Date"), r.Method, strings.ToLower(r.Host), r.URL.Path, params.Encode()}, "\n")
	mac := hmac.New(sha1.New, []byte(d.SKey))
	mac.Write([]byte(canon))
	user, pass, ok := r.BasicAuth()
	if !ok || user != d.IKey || !hmac.Equal([]byte(pass), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"stat": "FAIL", "code": 40103, "message": "Invalid signature in request credentials"})
		return
	}
	d.mu.Lock()
	d.Calls = append(d.Calls, params)
	if r.URL.Path == "/auth/v2/preauth" {
		d.attempts++
	}
	answer := d.Users[params.Get("username")]
	d.mu.Unlock()
	result := "deny"
	switch r.URL.Path {
	case "/auth/v2/preauth":
		switch answer {
		case "allow":
			result = "allow"
		case "push-allow", "push-deny":
			result = "auth"
		case "":
			result = "enroll"
		}
	case "/auth/v2/auth":
		switch {
		case params.Get("factor") == "passcode" && d.Passcode != "" && params.Get("passcode") == d.Passcode:
			result = "allow"
		case params.Get("factor") == "push" && answer == "push-allow":
			result = "allow"
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"stat": "OK", "response": map[string]any{"result": result, "status_msg": result}})
}

// FakeOkta answers Okta's users and factors API for one API token. Users
// maps a login to its push answer ("SUCCESS" or "REJECTED"); a push is
// WAITING for the first poll. TOTP factors accept Passcode.
type FakeOkta struct {
	*httptest.Server
	Token    string
	Passcode string
	// Delay is how long every answer waits, so that tests can make
	// attempts overlap.
	Delay time.Duration
	// PollBase, when set, replaces the fake's own address in the poll link
	// of a push (_links.poll.href), as a hostile or misconfigured Okta
	// could answer.
	PollBase string

	mu       sync.Mutex
	Users    map[string]string
	polls    int
	attempts int
}

// NewFakeOkta starts a fake Okta on loopback.
func NewFakeOkta(token string) *FakeOkta {
	o := &FakeOkta{Token: token, Users: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	return o
}

func (o *FakeOkta) serve(w http.ResponseWriter, r *http.Request) {
	time.Sleep(o.Delay)
	if r.Header.Get("Authorization") != "SSWS "+o.Token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/users/"), "/")
	o.mu.Lock()
	defer o.mu.Unlock()
	login, _ := url.PathUnescape(parts[0])
	if _, ok := o.Users[login]; !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	if len(parts) == 4 && parts[3] == "verify" {
		o.attempts++
	}
	switch {
	case len(parts) == 1:
		reply(map[string]any{"id": login})
	case len(parts) == 2 && parts[1] == "factors":
		reply([]map[string]any{{"id": "push-1", "factorType": "push"}, {"id": "totp-1", "factorType": "token:software:totp"}})
	case len(parts) == 4 && parts[2] == "totp-1" && parts[3] == "verify":
		var body struct {
			PassCode string `json:"passCode"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		result := "REJECTED"
		if o.Passcode != "" && body.PassCode == o.Passcode {
			result = "SUCCESS"
		}
		reply(map[string]any{"factorResult": result})
	case len(parts) == 4 && parts[2] == "push-1" && parts[3] == "verify":
		base := o.URL
		if o.PollBase != "" {
			base = o.PollBase
		}
		reply(map[string]any{"factorResult": "WAITING", "_links": map[string]any{"poll": map[string]any{"href": base + "/api/v1/users/" + parts[0] + "/factors/push-1/transactions/t1"}}})
	case len(parts) == 5 && parts[3] == "transactions":
		o.polls++
		reply(map[string]any{"factorResult": o.Users[login]})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Polls is how many times a push was polled.
func (o *FakeOkta) Polls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.polls
}

// Attempts is how many factor verifications (passcode or push) Okta
// received.
func (o *FakeOkta) Attempts() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.attempts
}

// FakePingID answers PingID's online authentication, checking the signed
// request and signing its answer with the same key. Users maps a user name
// to errorId 200 (approved) or another code.
type FakePingID struct {
	*httptest.Server
	Key      []byte
	OrgAlias string
	Token    string
	// Delay is how long every answer waits (before it is counted), so that
	// tests can make attempts overlap.
	Delay time.Duration

	mu       sync.Mutex
	Users    map[string]int
	attempts int
}

// NewFakePingID starts a fake PingID on loopback.
func NewFakePingID(key []byte, orgAlias, token string) *FakePingID {
	p := &FakePingID{Key: key, OrgAlias: orgAlias, Token: token, Users: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// SettingsFile is the base64 settings file a PingID method is configured
// with to reach this fake.
func (p *FakePingID) SettingsFile() string {
	file := strings.Join([]string{
		"#Auto-Generated from PingOne, downloaded by id=[SSO] email=[admin@example.com]",
		"#" + time.Now().Format(time.RFC1123),
		"use_base64_key=" + base64.StdEncoding.EncodeToString(p.Key),
		"use_signature=true",
		"token=" + p.Token,
		"idp_url=" + p.URL + "/pingid",
		"org_alias=" + p.OrgAlias,
		"admin_url=" + p.URL + "/pingid",
		"authenticator_url=" + p.URL + "/pingid/ppm",
	}, "\n")
	return base64.StdEncoding.EncodeToString([]byte(file))
}

// Attempts is how many authentication requests PingID received.
func (p *FakePingID) Attempts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

func (p *FakePingID) serve(w http.ResponseWriter, r *http.Request) {
	time.Sleep(p.Delay)
	raw, _ := io.ReadAll(r.Body)
	jws, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.HS256})
	if r.URL.Path != "/pingid/rest/4/authonline/do" || err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	payload, err := jws.Verify(p.Key)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		ReqHeader struct {
			OrgAlias  string `json:"orgAlias"`
			SecretKey string `json:"secretKey"`
		} `json:"reqHeader"`
		ReqBody struct {
			UserName string `json:"userName"`
		} `json:"reqBody"`
	}
	json.Unmarshal(payload, &req)
	p.mu.Lock()
	p.attempts++
	code, ok := p.Users[req.ReqBody.UserName]
	p.mu.Unlock()
	if !ok || req.ReqHeader.OrgAlias != p.OrgAlias || req.ReqHeader.SecretKey != p.Token {
		code = 10564 // user not found
	}
	answer, _ := json.Marshal(map[string]any{"responseBody": map[string]any{"errorId": code, "errorMsg": "fake"}})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: p.Key}, nil)
	signed, _ := signer.Sign(answer)
	compact, _ := signed.CompactSerialize()
	io.WriteString(w, compact)
}
