package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0), opt-in per
// client with backchannel_logout_uri. When a sign-in of such a client ends
// (RP-initiated logout, RFC 7009 revocation of its refresh token, reuse of
// a refresh token), the provider posts a logout token to the URI: a JWT
// signed with the client's key, typ logout+jwt, with iss, aud (the client
// id), iat, exp, jti, sub, sid and the back-channel logout event, and no
// nonce. The sign-in's family span record, written at issue, holds what
// the token needs (provider, client, entity, issuer), so every way a
// family is revoked (revokeFamily) notifies.
//
// Delivery never blocks the request that ended the sign-in: tokens go to a
// bounded in-memory queue served by one goroutine, which tries each up to
// backchannelTries times with backoff. Nothing is stored for delivery: a
// token still queued when the plugin stops, or dropped because the queue
// is full (logged), is lost; the sign-in's tokens are revoked either way.
// Disabling, deleting or merging away an entity ends its sign-ins with
// such clients too: a background scan of the family span records revokes
// each of its families, which notifies.

const (
	backchannelEvent   = "http://schemas.openid.net/event/backchannel-logout"
	logoutTokenType    = "logout+jwt"
	logoutTokenTTL     = 2 * time.Minute
	backchannelQueue   = 256
	backchannelTries   = 3
	backchannelTimeout = 10 * time.Second
)

// backchannelBackoff is the wait before the second try, doubled after
// each; tests shorten it.
var backchannelBackoff = time.Second

// logoutDelivery is one logout token to post.
type logoutDelivery struct {
	uri, token, clientID string
}

// backchannelState is the delivery queue of a Store, started at its first
// use and ended by Close.
type backchannelState struct {
	once  sync.Once
	queue chan logoutDelivery
	stop  chan struct{}
	close sync.Once
}

func (s *Service) backchannel() *backchannelState {
	st := &s.bc
	st.once.Do(func() {
		st.queue = make(chan logoutDelivery, backchannelQueue)
		st.stop = make(chan struct{})
		go s.deliverLogouts(st.queue, st.stop)
	})
	return st
}

// Close ends the store's background work: the back-channel logout sender
// (tokens still queued are dropped, as at any stop).
func (s *Service) Close() {
	st := &s.bc
	st.once.Do(func() {}) // never start it after Close
	st.close.Do(func() {
		if st.stop != nil {
			close(st.stop)
		}
	})
}

// spanFor is the family span record of a grant's family: with the
// sign-in's provider, client, entity and issuer when the client uses
// back-channel logout.
func spanFor(c *Client, g *grant, iss string, now time.Time) *grant {
	span := &grant{IssuedAt: now, ExpireAt: g.FamilyExpireAt}
	if c.BackchannelLogoutURI != "" && iss != "" {
		span.Provider, span.ClientID, span.EntityID, span.Issuer = g.Provider, g.ClientID, g.EntityID, iss
	}
	return span
}

// notifyLogout queues a logout token for the sign-in of family, whose span
// record is span. It never blocks.
func (s *Service) notifyLogout(family string, span *grant) {
	if span == nil || span.ClientID == "" || span.Issuer == "" {
		return
	}
	s.state.mu.RLock()
	c := s.state.clientIDs[span.ClientID]
	var k *oidcKey
	if c != nil {
		k = s.state.keys[c.Key]
	}
	s.state.mu.RUnlock()
	if c == nil || c.BackchannelLogoutURI == "" || k == nil {
		return
	}
	now := s.now()
	jti, err := core.NewID()
	if err != nil {
		s.logger.Error("back-channel logout: no token id", "error", err)
		return
	}
	payload, err := json.Marshal(map[string]any{
		"iss": span.Issuer,
		"aud": c.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(logoutTokenTTL).Unix(),
		"jti": jti,
		"sub": span.EntityID,
		"sid": family,
		"events": map[string]any{
			backchannelEvent: map[string]any{},
		},
	})
	if err != nil {
		return
	}
	token, err := k.signTyped(payload, logoutTokenType)
	if err != nil {
		s.logger.Error("back-channel logout: signing failed", "client_id", c.ClientID, "error", err)
		return
	}
	st := s.backchannel()
	if st.queue == nil {
		return // closed
	}
	select {
	case st.queue <- logoutDelivery{uri: c.BackchannelLogoutURI, token: token, clientID: c.ClientID}:
	default:
		s.logger.Warn("back-channel logout queue full: logout token dropped", "client_id", c.ClientID)
	}
}

func (s *Service) deliverLogouts(queue <-chan logoutDelivery, stop <-chan struct{}) {
	client := &http.Client{Timeout: backchannelTimeout, CheckRedirect: core.RefuseRedirects}
	for {
		var d logoutDelivery
		select {
		case <-stop:
			return
		case d = <-queue:
		}
		wait := backchannelBackoff
		for try := 1; ; try++ {
			err := postLogout(client, d)
			if err == nil {
				break
			}
			if try == backchannelTries {
				s.logger.Warn("back-channel logout failed", "client_id", d.clientID, "uri", d.uri, "tries", try, "error", err)
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
			wait *= 2
		}
	}
}

type backchannelError struct{ status int }

func (e *backchannelError) Error() string { return "answered " + http.StatusText(e.status) }

func postLogout(client *http.Client, d logoutDelivery) error {
	if err := core.CheckSecureURL("backchannel_logout_uri", d.uri); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backchannelTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.uri, strings.NewReader(url.Values{"logout_token": {d.token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &backchannelError{resp.StatusCode}
	}
	return nil
}

// endSignInsOf ends, in the background, the sign-ins of entities that were
// disabled, deleted or merged away, for the clients that use back-channel
// logout: each such family (its span record names the entity) is revoked,
// which posts its logout token. The request that ended them does not wait;
// with no such client nothing is read.
func (s *Service) endSignInsOf(entityIDs ...string) {
	if !s.usesBackchannel() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		keys, err := s.storage.List(ctx, spanPrefix)
		if err != nil {
			s.logger.Warn("back-channel logout: listing sign-ins failed", "error", err)
			return
		}
		for _, family := range keys {
			var span grant
			found, err := s.storage.GetJSON(ctx, spanPrefix+family, &span)
			if err != nil || !found || span.ClientID == "" || !slices.Contains(entityIDs, span.EntityID) || !s.now().Before(span.ExpireAt) {
				continue
			}
			s.state.mu.RLock()
			c := s.state.clientIDs[span.ClientID]
			s.state.mu.RUnlock()
			if c == nil {
				continue
			}
			if err := s.revokeFamily(ctx, &grant{Family: family, FamilyExpireAt: span.ExpireAt}, c); err != nil {
				s.logger.Warn("back-channel logout: ending a sign-in failed", "client_id", c.ClientID, "error", err)
			}
		}
	}()
}

// usesBackchannel reports whether any client registered a
// backchannel_logout_uri.
func (s *Service) usesBackchannel() bool {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	for _, c := range s.state.clients {
		if c.BackchannelLogoutURI != "" {
			return true
		}
	}
	return false
}
