package mounttable

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
)

const (
	userpass = "auth_userpass_1a2b3c4d"
	local    = "auth_userpass_5e6f7a8b"
	madeUp   = "auth_userpass_12345678"
)

// clock is a settable time, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// safeBuffer collects log lines from concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

type fixture struct {
	vault *testutil.FakeVault
	clock *clock
	token atomic.Pointer[string]
	logs  *safeBuffer
	table *Table
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{vault: testutil.NewFakeVault(t), clock: newClock(), logs: &safeBuffer{}}
	f.vault.SetMount("userpass/", testutil.FakeMount{Type: "userpass", Accessor: userpass})
	f.vault.SetMount("local/", testutil.FakeMount{Type: "userpass", Accessor: local, Local: true})
	f.vault.SetToken("good", testutil.FakeToken{ReadsAuth: true, TTL: 24 * time.Hour, Period: 24 * time.Hour, CreationTTL: 24 * time.Hour, Renewable: true})
	f.setToken("good")
	f.table = New(Options{
		Addr:   f.vault.URL,
		Token:  func() string { return *f.token.Load() },
		Logger: hclog.New(&hclog.LoggerOptions{Output: f.logs, Level: hclog.Debug}),
		Now:    f.clock.now,
	})
	return f
}

func (f *fixture) setToken(tok string) { f.token.Store(&tok) }

func TestMountsComeFromVaultsTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m, ok, err := f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, identity.Mount{Accessor: userpass, Path: "auth/userpass/", Type: "userpass"}, m)
	m, ok, err = f.table.Mount(ctx, local)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, identity.Mount{Accessor: local, Path: "auth/local/", Type: "userpass", Local: true}, m)
	for typ, want := range map[string]bool{"userpass": true, "token": true, "ldap": false} {
		got, err := f.table.HasType(ctx, typ)
		require.NoError(t, err)
		require.Equal(t, want, got, typ)
	}
	require.EqualValues(t, 1, f.vault.AuthReads.Load(), "known accessors and types come from the cached table")

	st := f.table.Status(ctx)
	require.Equal(t, Status{TokenSet: true, Checking: true, LastUsed: f.clock.now()}, st)
}

func TestUnknownAccessorRereadsAtMostOnceASecond(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _, err := f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	require.EqualValues(t, 1, f.vault.AuthReads.Load())

	// Unknown, and the table was read just now: no second read.
	_, ok, err := f.table.Mount(ctx, madeUp)
	require.NoError(t, err)
	require.False(t, ok)
	require.EqualValues(t, 1, f.vault.AuthReads.Load())

	// A mount enabled a moment ago is found once a second has passed.
	f.vault.SetMount("new/", testutil.FakeMount{Type: "approle", Accessor: "auth_approle_99999999"})
	f.clock.advance(UnknownRetry)
	m, ok, err := f.table.Mount(ctx, "auth_approle_99999999")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "auth/new/", m.Path)
	require.EqualValues(t, 2, f.vault.AuthReads.Load())

	// Made-up accessors, at once and many: at most one read a second.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, ok, err := f.table.Mount(ctx, madeUp)
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
	wg.Wait()
	require.EqualValues(t, 2, f.vault.AuthReads.Load())
	f.clock.advance(UnknownRetry)
	for range 50 {
		wg.Go(func() { _, _ = f.table.HasType(ctx, "ldap") })
	}
	wg.Wait()
	require.EqualValues(t, 3, f.vault.AuthReads.Load())

	// A table older than MaxAge is read again even for a known accessor:
	// a mount disabled in Vault is noticed.
	f.vault.DeleteMount("userpass/")
	f.clock.advance(MaxAge)
	_, ok, err = f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	require.False(t, ok)
	require.EqualValues(t, 4, f.vault.AuthReads.Load())
}

func TestTokenFailureIsRecordedAndLoggedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _, err := f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	used := f.clock.now()

	f.vault.Revoke("good")
	for range 5 {
		f.clock.advance(FailedRetry)
		_, _, err = f.table.Mount(ctx, madeUp)
		require.Error(t, err, "a failing token means no table: the store checks by form")
		_, _, err = f.table.Mount(ctx, userpass)
		require.Error(t, err, "nor is the old table used")
	}
	require.EqualValues(t, 6, f.vault.AuthReads.Load(), "while failing, Vault is asked again at most every FailedRetry")
	st := f.table.Status(ctx)
	require.Equal(t, Status{TokenSet: true, LastUsed: used,
		Error: "reading the auth mount table (GET sys/auth): Vault answered 403: permission denied; invalid token"}, st)
	require.Equal(t, 1, f.logs.count("cannot read the auth mount table"), f.logs.b.String())

	// A token whose policy lacks sys/auth: another problem, logged once.
	f.vault.SetToken("weak", testutil.FakeToken{TTL: time.Hour, CreationTTL: time.Hour})
	f.setToken("weak")
	for range 3 {
		_, _, err = f.table.Mount(ctx, userpass)
		require.Error(t, err)
		f.clock.advance(FailedRetry)
	}
	require.Equal(t, "reading the auth mount table (GET sys/auth): Vault answered 403: permission denied", f.table.Status(ctx).Error)
	require.Zero(t, f.table.Status(ctx).LastUsed, "the new token has never worked")
	require.Equal(t, 2, f.logs.count("cannot read the auth mount table"))
	require.NotContains(t, f.logs.b.String(), "weak")
	require.NotContains(t, f.logs.b.String(), "good")

	// A new token that works: the table is back at once.
	f.vault.SetToken("better", testutil.FakeToken{ReadsAuth: true, TTL: time.Hour, CreationTTL: time.Hour})
	f.setToken("better")
	_, ok, err := f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Status{TokenSet: true, Checking: true, LastUsed: f.clock.now()}, f.table.Status(ctx))
}

func TestNoTokenIsLoggedOnce(t *testing.T) {
	f := newFixture(t)
	f.setToken("")
	for range 3 {
		_, _, err := f.table.Mount(context.Background(), userpass)
		require.ErrorIs(t, err, ErrNoToken)
	}
	require.Equal(t, 1, f.logs.count("no vault_token"))
	require.Equal(t, Status{}, f.table.Status(context.Background()))
	require.Zero(t, f.vault.AuthReads.Load())
}

func TestNoAddress(t *testing.T) {
	tab := New(Options{Token: func() string { return "t" }})
	_, _, err := tab.Mount(context.Background(), userpass)
	require.ErrorContains(t, err, "VAULT_API_ADDR")
	require.Contains(t, tab.Status(context.Background()).Error, "without VAULT_API_ADDR")
}

func TestTickRenewsWhenHalfTheTokenIsGone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.table.Tick(ctx)
	require.EqualValues(t, 0, f.vault.Renewals.Load(), "a full token is not renewed")
	require.EqualValues(t, 1, f.vault.AuthReads.Load(), "the tick reads the table")

	f.vault.SetToken("good", testutil.FakeToken{ReadsAuth: true, TTL: 11 * time.Hour, Period: 24 * time.Hour, CreationTTL: 24 * time.Hour, Renewable: true})
	f.table.Tick(ctx)
	require.EqualValues(t, 1, f.vault.Renewals.Load())
	tok, _ := f.vault.Token("good")
	require.Equal(t, 24*time.Hour, tok.TTL)
	f.table.Tick(ctx)
	require.EqualValues(t, 1, f.vault.Renewals.Load())
	require.Empty(t, f.table.Status(ctx).Error)

	// A short period is renewed at every tick: the next might come too late.
	f.vault.SetToken("good", testutil.FakeToken{ReadsAuth: true, TTL: 80 * time.Second, Period: 90 * time.Second, CreationTTL: 90 * time.Second, Renewable: true})
	f.table.Tick(ctx)
	require.EqualValues(t, 2, f.vault.Renewals.Load())

	// A non-periodic token is renewed against its TTL at creation.
	f.vault.SetToken("plain", testutil.FakeToken{ReadsAuth: true, TTL: 10 * time.Minute, CreationTTL: time.Hour, Renewable: true})
	f.setToken("plain")
	f.table.Tick(ctx)
	require.EqualValues(t, 3, f.vault.Renewals.Load())

	// A token that cannot be renewed is left alone; one that is refused
	// has its problem recorded, while the table keeps working.
	f.vault.SetToken("fixed", testutil.FakeToken{ReadsAuth: true, TTL: time.Minute, CreationTTL: time.Hour})
	f.setToken("fixed")
	f.table.Tick(ctx)
	require.EqualValues(t, 3, f.vault.Renewals.Load())
	require.Equal(t, Status{TokenSet: true, Checking: true, LastUsed: f.clock.now()}, f.table.Status(ctx))

	f.vault.Revoke("fixed")
	f.table.Tick(ctx)
	st := f.table.Status(ctx)
	require.False(t, st.Checking)
	require.Equal(t, "reading the auth mount table (GET sys/auth): Vault answered 403: permission denied; invalid token", st.Error)
	require.Equal(t, 1, f.logs.count("could not be looked up or renewed"), "the failed lookup after the failed read")
	f.table.Tick(ctx)
	require.Equal(t, 1, f.logs.count("could not be looked up or renewed"), "logged once")
}

func TestCancelledCallerIsNoTokenFailure(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, ok, err := f.table.Mount(ctx, userpass)
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, f.table.Status(context.Background()).Error)
}

func TestCheckReadsAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.table.Check(ctx)
	f.table.Check(ctx)
	require.EqualValues(t, 2, f.vault.AuthReads.Load(), "a config write tries the token whatever was read before")
	var nilTable *Table
	nilTable.Check(ctx)
	nilTable.Tick(ctx)
	require.Equal(t, Status{}, nilTable.Status(ctx))
}
