// Package relyingparty is a small OpenID Connect relying party for tests: a
// web application on 127.0.0.1 that signs its users in with the
// authorization code flow (state, nonce and PKCE S256) against an issuer,
// verifies the ID token with go-oidc and shows the verified claims.
//
// GET /login starts a sign-in: it redirects to the provider's
// authorization_endpoint (from discovery). Query parameters given to /login
// (max_age, prompt...) are passed on. GET /callback finishes it: an error
// answer is shown as a page with the error code in the element with id
// "error"; a code is exchanged (with the PKCE verifier), the ID token
// verified (nonce included) and its claims shown: the subject in id "sub",
// the name claim in id "name", the claims as JSON in id "claims" and the
// userinfo answer in id "userinfo".
package relyingparty

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is the relying party's registration at the provider.
type Config struct {
	// Issuer is the provider's issuer URL; discovery is read from
	// <Issuer>/.well-known/openid-configuration.
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client
	// Scopes are requested besides openid.
	Scopes []string
	// UsePKCE sends a S256 code challenge and the verifier at the exchange.
	UsePKCE bool
}

// Result is the outcome of one callback.
type Result struct {
	// Error and ErrorDescription are the provider's error answer, or the
	// relying party's own failure (Error "rp_error").
	Error, ErrorDescription string
	// Claims are the verified ID token's claims.
	Claims map[string]any
	// UserInfo is the userinfo endpoint's answer (nil if it failed).
	UserInfo map[string]any
	// IDToken, AccessToken and RefreshToken are the raw tokens of a
	// successful sign-in, for tests that use them (never rendered).
	IDToken, AccessToken, RefreshToken string `json:"-"`
}

// Server is a running relying party.
type Server struct {
	// URL is the server's base address, http://127.0.0.1:<port>.
	URL string
	// RedirectURL is the callback the provider redirects to; register it
	// with the client.
	RedirectURL string

	conf     Config
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	srv      *http.Server
	ln       net.Listener

	mu      sync.Mutex
	pending map[string]pending // by state
	results []Result
}

// pending is a sign-in that went to the provider.
type pending struct {
	nonce, verifier string
}

const stateCookie = "rp_state"

// Start reads the issuer's discovery document and serves the relying party
// on 127.0.0.1 until ctx ends or Close is called. It talks to the provider
// with http.DefaultClient.
func Start(ctx context.Context, c Config) (*Server, error) {
	provider, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", c.Issuer, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:     "http://" + ln.Addr().String(),
		conf:    c,
		ln:      ln,
		pending: map[string]pending{},
	}
	s.RedirectURL = s.URL + "/callback"
	s.provider = provider
	s.oauth = &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  s.RedirectURL,
		Scopes:       append([]string{oidc.ScopeOpenID}, c.Scopes...),
	}
	if c.ClientSecret == "" {
		s.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	s.verifier = provider.Verifier(&oidc.Config{ClientID: c.ClientID})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /callback", s.callback)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, page{Title: "Relying party", Start: true})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	return s.srv.Close()
}

// Results returns the outcomes of the callbacks so far, oldest first.
func (s *Server) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Result(nil), s.results...)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	state, nonce := random(), random()
	p := pending{nonce: nonce}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce)}
	if s.conf.UsePKCE {
		p.verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(p.verifier))
	}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
		}
	}
	s.mu.Lock()
	s.pending[state] = p
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, s.oauth.AuthCodeURL(state, opts...), http.StatusFound)
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	s.mu.Lock()
	p, known := s.pending[state]
	delete(s.pending, state)
	s.mu.Unlock()
	cookie, _ := r.Cookie(stateCookie)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/", MaxAge: -1})

	fail := func(status int, res Result) {
		s.record(res)
		render(w, status, page{Title: "Sign-in failed", Result: &res})
	}
	if !known || cookie == nil || cookie.Value != state {
		fail(http.StatusBadRequest, Result{Error: "rp_error", ErrorDescription: "unknown or mismatched state"})
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusOK, Result{Error: e, ErrorDescription: q.Get("error_description")})
		return
	}
	code := q.Get("code")
	if code == "" {
		fail(http.StatusBadRequest, Result{Error: "rp_error", ErrorDescription: "no code in the callback"})
		return
	}
	ctx := r.Context()
	var opts []oauth2.AuthCodeOption
	if p.verifier != "" {
		opts = append(opts, oauth2.VerifierOption(p.verifier))
	}
	tok, err := s.oauth.Exchange(ctx, code, opts...)
	if err != nil {
		res := Result{Error: "rp_error", ErrorDescription: "code exchange: " + err.Error()}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			res.Error, res.ErrorDescription = re.ErrorCode, "code exchange: "+re.ErrorDescription
		}
		fail(http.StatusBadGateway, res)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusBadGateway, Result{Error: "rp_error", ErrorDescription: "no id_token in the token response"})
		return
	}
	idt, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		fail(http.StatusBadGateway, Result{Error: "rp_error", ErrorDescription: "ID token verification: " + err.Error()})
		return
	}
	if idt.Nonce != p.nonce {
		fail(http.StatusBadGateway, Result{Error: "rp_error", ErrorDescription: "ID token nonce does not match"})
		return
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			fail(http.StatusBadGateway, Result{Error: "rp_error", ErrorDescription: "at_hash: " + err.Error()})
			return
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail(http.StatusBadGateway, Result{Error: "rp_error", ErrorDescription: "claims: " + err.Error()})
		return
	}
	res := Result{Claims: claims, IDToken: raw, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	ui := page{Title: "Signed in", Result: &res}
	if info, err := s.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		ui.UserInfoError = err.Error()
	} else {
		_ = info.Claims(&res.UserInfo)
	}
	s.record(res)
	render(w, http.StatusOK, ui)
}

func (s *Server) record(r Result) {
	s.mu.Lock()
	s.results = append(s.results, r)
	s.mu.Unlock()
}

func random() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

type page struct {
	Title         string
	Start         bool
	Result        *Result
	UserInfoError string
}

func (p page) JSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (p page) Claim(name string) string {
	if p.Result == nil {
		return ""
	}
	switch v := p.Result.Claims[name].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<h1 id="title">{{.Title}}</h1>
{{- if .Start}}
<p><a id="login" href="/login">Sign in with Vault</a></p>
{{- else if .Result.Error}}
<p>Error: <code id="error">{{.Result.Error}}</code></p>
<p id="error_description">{{.Result.ErrorDescription}}</p>
<p><a href="/login">Try again</a></p>
{{- else}}
<dl>
<dt>Subject</dt><dd><code id="sub">{{.Claim "sub"}}</code></dd>
<dt>Name</dt><dd id="name">{{.Claim "name"}}</dd>
</dl>
<h2>ID token claims</h2>
<pre id="claims">{{.JSON .Result.Claims}}</pre>
<h2>UserInfo</h2>
{{- if .UserInfoError}}
<pre id="userinfo-error">{{.UserInfoError}}</pre>
{{- else}}
<pre id="userinfo">{{.JSON .Result.UserInfo}}</pre>
{{- end}}
{{- end}}
</body>
</html>
`))

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}
