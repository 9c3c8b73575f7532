package testutil

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeVault serves the part of Vault's API that the mount table uses, for
// the tokens it knows: GET sys/auth, auth/token/lookup-self and
// auth/token/renew-self, answering as Vault 1.21 does.
type FakeVault struct {
	*httptest.Server

	mu     sync.Mutex
	mounts map[string]FakeMount // by path, "userpass/"
	tokens map[string]*FakeToken

	// AuthReads counts reads of sys/auth (any answer); Renewals the
	// successful renewals.
	AuthReads, Renewals atomic.Int64
}

// FakeMount is an auth mount of a FakeVault.
type FakeMount struct {
	Type, Accessor string
	Local          bool
}

// FakeToken is a token of a FakeVault.
type FakeToken struct {
	// ReadsAuth is whether its policy allows reading sys/auth.
	ReadsAuth bool
	// TTL is what is left of it; Period, when set, makes it periodic;
	// CreationTTL is its TTL when made.
	TTL, Period, CreationTTL time.Duration
	Renewable                bool
}

// NewFakeVault starts a FakeVault with Vault's token mount, closed when the
// test ends.
func NewFakeVault(t testing.TB) *FakeVault {
	f := &FakeVault{
		mounts: map[string]FakeMount{"token/": {Type: "token", Accessor: "auth_token_0a1b2c3d"}},
		tokens: map[string]*FakeToken{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// SetMount enables (or changes) the auth mount at path.
func (f *FakeVault) SetMount(path string, m FakeMount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mounts[path] = m
}

// DeleteMount disables the auth mount at path.
func (f *FakeVault) DeleteMount(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mounts, path)
}

// SetToken makes (or changes) a token.
func (f *FakeVault) SetToken(tok string, t FakeToken) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[tok] = &t
}

// Revoke revokes a token.
func (f *FakeVault) Revoke(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, tok)
}

// Token returns a copy of a token, and whether it exists.
func (f *FakeVault) Token(tok string) (FakeToken, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[tok]
	if !ok {
		return FakeToken{}, false
	}
	return *t, true
}

func (f *FakeVault) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/sys/auth" {
		f.AuthReads.Add(1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := f.tokens[r.Header.Get("X-Vault-Token")]
	if tok == nil {
		reply(w, http.StatusForbidden, map[string]any{"errors": []string{"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}})
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/sys/auth":
		if !tok.ReadsAuth {
			reply(w, http.StatusForbidden, map[string]any{"errors": []string{"1 error occurred:\n\t* permission denied\n\n"}})
			return
		}
		data := map[string]any{}
		for path, m := range f.mounts {
			data[path] = map[string]any{"type": m.Type, "accessor": m.Accessor, "local": m.Local, "description": "", "config": map[string]any{}}
		}
		reply(w, http.StatusOK, map[string]any{"data": data})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/auth/token/lookup-self":
		data := map[string]any{"ttl": int(tok.TTL / time.Second), "creation_ttl": int(tok.CreationTTL / time.Second), "renewable": tok.Renewable}
		if tok.Period > 0 {
			data["period"] = int(tok.Period / time.Second)
		}
		reply(w, http.StatusOK, map[string]any{"data": data})
	case (r.Method == http.MethodPut || r.Method == http.MethodPost) && r.URL.Path == "/v1/auth/token/renew-self":
		if !tok.Renewable {
			reply(w, http.StatusBadRequest, map[string]any{"errors": []string{"lease is not renewable"}})
			return
		}
		tok.TTL = tok.CreationTTL
		if tok.Period > 0 {
			tok.TTL = tok.Period
		}
		f.Renewals.Add(1)
		reply(w, http.StatusOK, map[string]any{"auth": map[string]any{"lease_duration": int(tok.TTL / time.Second), "renewable": true}})
	default:
		reply(w, http.StatusNotFound, map[string]any{"errors": []string{}})
	}
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
