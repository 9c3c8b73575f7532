// Package mounttable reads Vault's auth mount table for the identity store:
// which accessors name auth mounts, and their path, type and locality. A
// plugin sees Vault's mounts only through Vault's API, with a token the
// operator gives the mount (<mount>/config vault_token). Table reads sys/auth
// with that token at Vault's address, caches what it reads, renews the token
// from the plugin's periodic function and records how the token fares.
// Without a token, or while the token fails, it answers an error, and the
// store checks accessors by their form; no request fails because of the
// token.
package mounttable

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
)

// ErrNoToken is the answer of every lookup while the mount has no token.
var ErrNoToken = errors.New("no vault_token is set")

const (
	// UnknownRetry is the least time between two reads of the table for
	// an accessor or a type it lacks: a mount enabled a moment ago is
	// found, and made-up accessors cost Vault at most a read a second.
	UnknownRetry = time.Second
	// FailedRetry is the least time between two reads while they fail.
	FailedRetry = 5 * time.Second
	// MaxAge is the age from which the table is read again before it is
	// used. The periodic function reads it every minute where it runs.
	MaxAge = 2 * time.Minute
	// DefaultTimeout bounds each call to Vault.
	DefaultTimeout = 10 * time.Second
	// RenewMargin is the TTL below which the token is renewed even when
	// more than half of it is left: the periodic function runs about once
	// a minute, so a short period must be renewed at every run or two.
	RenewMargin = 5 * time.Minute
)

// Options configures a Table.
type Options struct {
	// Addr is Vault's API address (VAULT_API_ADDR); without it every read
	// fails, and says so.
	Addr string
	// Token returns the mount's Vault token, "" when none is set. It is
	// asked at every lookup, so a token written on another node (and
	// reloaded by invalidation) takes effect at once.
	Token  func() string
	Logger hclog.Logger
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
	// Timeout bounds each call to Vault (DefaultTimeout when zero).
	Timeout time.Duration
}

// Status is how the mount's token fares, for config and info reads. It
// never holds the token.
type Status struct {
	// TokenSet is whether the mount has a token.
	TokenSet bool
	// Checking is whether mount accessors are checked against Vault's
	// table (false: by their form).
	Checking bool
	// LastUsed is when a call to Vault with the token last succeeded.
	LastUsed time.Time
	// Error is the token's problem: why the table cannot be read, or else
	// why the token could not be looked up or renewed; "" when the last
	// call of each kind succeeded.
	Error string
}

// table is one read of Vault's auth mount table; never modified.
type table struct {
	byAccessor map[string]identity.Mount
	types      map[string]bool
}

// Table is the auth mount table of one mount's Vault, as its token reads it.
type Table struct {
	client    *api.Client // without a token; each call clones it
	clientErr error
	token     func() string
	logger    hclog.Logger
	now       func() time.Time

	// reading lets one read of the table run at a time.
	reading sync.Mutex
	// noTokenLogged is whether the lack of a token has been logged.
	noTokenLogged atomic.Bool

	mu sync.RWMutex
	// tok is the token the fields below are about; they start over when
	// the token changes.
	tok      string
	tab      *table    // nil while there is none to use
	readAt   time.Time // when tab was read
	triedAt  time.Time // when a read of the table last started or ended
	tableErr error     // why the last read of the table failed; nil after a success
	tokenErr string    // why the last lookup or renewal failed; "" after a success
	lastUsed time.Time
	logged   map[string]bool // the problems logged for tok, while they last
}

var _ identity.MountTable = (*Table)(nil)

// New returns a Table that reads nothing until asked.
func New(o Options) *Table {
	t := &Table{token: o.Token, logger: o.Logger, now: o.Now, logged: map[string]bool{}}
	if t.token == nil {
		t.token = func() string { return "" }
	}
	if t.logger == nil {
		t.logger = hclog.NewNullLogger()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if o.Addr == "" {
		t.clientErr = errors.New("the plugin was registered without VAULT_API_ADDR, so it cannot reach Vault's API")
		return t
	}
	cfg := api.DefaultConfig()
	cfg.Address = o.Addr
	cfg.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	cfg.MaxRetries = 0
	t.client, t.clientErr = api.NewClient(cfg)
	if t.client != nil {
		t.client.ClearToken() // NewClient takes VAULT_TOKEN from the environment
	}
	return t
}

// Mount returns the auth mount with this accessor and whether Vault has
// one; an error when the table cannot be read (no token, or it fails).
func (t *Table) Mount(ctx context.Context, accessor string) (identity.Mount, bool, error) {
	tab, err := t.lookup(ctx, func(tab *table) bool { _, ok := tab.byAccessor[accessor]; return ok })
	if err != nil {
		return identity.Mount{}, false, err
	}
	m, ok := tab.byAccessor[accessor]
	return m, ok, nil
}

// HasType reports whether Vault has an auth mount of this type.
func (t *Table) HasType(ctx context.Context, mountType string) (bool, error) {
	tab, err := t.lookup(ctx, func(tab *table) bool { return tab.types[mountType] })
	if err != nil {
		return false, err
	}
	return tab.types[mountType], nil
}

// lookup returns a table in which has holds, or else one read again for it
// unless it was read less than UnknownRetry ago.
func (t *Table) lookup(ctx context.Context, has func(*table) bool) (*table, error) {
	tok := t.token()
	if tok == "" {
		if !t.noTokenLogged.Load() && !t.noTokenLogged.Swap(true) {
			t.logger.Info("no vault_token in the mount's config: mount accessors are checked by their form (auth_<type>_<8 hex digits>)")
		}
		return nil, ErrNoToken
	}
	if t.noTokenLogged.Load() {
		t.noTokenLogged.Store(false)
	}
	t.mu.RLock()
	tab, err, ok := t.cached(tok, has)
	t.mu.RUnlock()
	if ok {
		return tab, err
	}
	return t.refresh(ctx, tok, has, false)
}

// cached is the answer a lookup gets without reading Vault: a table, or the
// failure of the last read; ok false when Vault must be read. The caller
// holds t.mu.
func (t *Table) cached(tok string, has func(*table) bool) (tab *table, err error, ok bool) {
	if t.tok != tok {
		return nil, nil, false
	}
	now := t.now()
	recent := now.Sub(t.triedAt)
	if t.tab != nil {
		fresh := now.Sub(t.readAt) < MaxAge
		if (fresh && (has == nil || has(t.tab))) || recent < UnknownRetry {
			return t.tab, nil, true
		}
		return nil, nil, false
	}
	if t.tableErr != nil && recent < FailedRetry {
		return nil, t.tableErr, true
	}
	return nil, nil, false
}

// refresh reads the table, unless (without force) a read that ran while
// this one waited answers already.
func (t *Table) refresh(ctx context.Context, tok string, has func(*table) bool, force bool) (*table, error) {
	t.reading.Lock()
	defer t.reading.Unlock()
	t.mu.Lock()
	if t.tok != tok {
		t.tok, t.tab, t.readAt, t.triedAt = tok, nil, time.Time{}, time.Time{}
		t.tableErr, t.tokenErr, t.lastUsed, t.logged = nil, "", time.Time{}, map[string]bool{}
	}
	if !force {
		if tab, err, ok := t.cached(tok, has); ok {
			t.mu.Unlock()
			return tab, err
		}
	}
	// Lookups that come meanwhile answer from what there is.
	t.triedAt = t.now()
	t.mu.Unlock()

	// A caller that gives up does not make the token fail: the read runs
	// to its end, bounded by the client's timeout.
	tab, err := t.read(context.WithoutCancel(ctx), tok)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.triedAt = t.now()
	if err != nil {
		t.tab, t.tableErr = nil, err
		t.problem(describe(readWhat, err),
			"the mount's Vault token cannot read the auth mount table; mount accessors are checked by their form until it can")
		return nil, err
	}
	if t.tableErr != nil {
		delete(t.logged, describe(readWhat, t.tableErr)) // a later failure is news again
		t.logger.Info("the mount's Vault token reads the auth mount table again; mount accessors are checked against it")
	}
	t.tab, t.readAt, t.tableErr, t.lastUsed = tab, t.triedAt, nil, t.triedAt
	return tab, nil
}

// read asks Vault for its auth mounts.
func (t *Table) read(ctx context.Context, tok string) (*table, error) {
	c, err := t.clientFor(tok)
	if err != nil {
		return nil, err
	}
	list, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, err
	}
	tab := &table{byAccessor: make(map[string]identity.Mount, len(list)), types: map[string]bool{}}
	for path, m := range list {
		if m == nil || m.Accessor == "" {
			continue
		}
		tab.byAccessor[m.Accessor] = identity.Mount{Accessor: m.Accessor, Path: "auth/" + path, Type: m.Type, Local: m.Local}
		tab.types[m.Type] = true
	}
	return tab, nil
}

func (t *Table) clientFor(tok string) (*api.Client, error) {
	if t.clientErr != nil {
		return nil, t.clientErr
	}
	c, err := t.client.Clone()
	if err != nil {
		return nil, err
	}
	c.SetToken(tok)
	return c, nil
}

// readWhat names a read of the table in the token's problems.
const readWhat = "reading the auth mount table (GET sys/auth)"

// problem logs a problem of the token, once until it goes away. The caller
// holds t.mu.
func (t *Table) problem(msg, logMsg string) {
	if t.logged[msg] {
		return
	}
	t.logged[msg] = true
	t.logger.Warn(logMsg, "error", msg)
}

// Check reads the table now, whatever was read before: the config write
// reports at once whether a new token works.
func (t *Table) Check(ctx context.Context) {
	if t == nil {
		return
	}
	if tok := t.token(); tok != "" {
		_, _ = t.refresh(ctx, tok, nil, true)
	}
}

// Status reports how the token fares. The first time it is asked about a
// token no lookup has used yet, it reads the table, so that a read of the
// config after a restart tells the truth.
func (t *Table) Status(ctx context.Context) Status {
	if t == nil {
		return Status{}
	}
	tok := t.token()
	if tok == "" {
		return Status{}
	}
	t.mu.RLock()
	untried := t.tok != tok || t.triedAt.IsZero()
	t.mu.RUnlock()
	if untried {
		_, _ = t.lookup(ctx, nil)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	st := Status{TokenSet: true}
	if t.tok != tok {
		return st
	}
	st.Checking, st.LastUsed = t.tab != nil, t.lastUsed
	if t.tableErr != nil {
		st.Error = describe(readWhat, t.tableErr)
	} else {
		st.Error = t.tokenErr
	}
	return st
}

// Tick is the periodic work: read the table again (so that a revoked
// token, or a mount disabled in Vault, is noticed without a request), and
// renew the token once less than half of its period (or of its TTL at
// creation), or less than RenewMargin, is left. Problems are recorded, not returned: the mount goes
// on checking accessors by form.
func (t *Table) Tick(ctx context.Context) {
	if t == nil {
		return
	}
	tok := t.token()
	if tok == "" {
		return
	}
	_, _ = t.refresh(ctx, tok, nil, true)
	t.renew(ctx, tok)
}

// renew looks the token up and renews it when it runs low.
func (t *Table) renew(ctx context.Context, tok string) {
	c, err := t.clientFor(tok)
	if err != nil {
		t.tokenResult(tok, "looking up the token (auth/token/lookup-self)", err)
		return
	}
	self, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil && self == nil {
		err = errors.New("empty answer")
	}
	t.tokenResult(tok, "looking up the token (auth/token/lookup-self)", err)
	if err != nil {
		return
	}
	ttl, _ := self.TokenTTL()
	renewable, _ := self.TokenIsRenewable()
	full := seconds(self.Data["period"])
	if full <= 0 {
		full = seconds(self.Data["creation_ttl"])
	}
	if !renewable || ttl <= 0 || full <= 0 || (ttl >= full/2 && ttl >= RenewMargin) {
		return
	}
	_, err = c.Auth().Token().RenewSelfWithContext(ctx, int(full/time.Second))
	t.tokenResult(tok, "renewing the token (auth/token/renew-self)", err)
	if err == nil {
		t.logger.Debug("renewed the mount's Vault token", "ttl_before", ttl.String(), "renewed_for", full.String())
	}
}

// tokenResult records the outcome of a lookup or renewal of tok.
func (t *Table) tokenResult(tok, what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != tok {
		return // the token changed meanwhile; the next tick will see
	}
	if err != nil {
		t.tokenErr = describe(what, err)
		t.problem(t.tokenErr, "the mount's Vault token could not be looked up or renewed")
		return
	}
	delete(t.logged, t.tokenErr)
	t.tokenErr, t.lastUsed = "", t.now()
}

// describe says what failed, without the token: Vault's answer for an
// error response (its errors flattened), else the error.
func describe(what string, err error) string {
	var re *api.ResponseError
	if errors.As(err, &re) {
		var msgs []string
		for _, e := range re.Errors {
			msgs = append(msgs, flatten(e)...)
		}
		return fmt.Sprintf("%s: Vault answered %d: %s", what, re.StatusCode, strings.Join(msgs, "; "))
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// flatten splits Vault's multierror text ("2 errors occurred:\n\t* a\n\t* b\n\n")
// into its messages.
func flatten(e string) []string {
	if !strings.Contains(e, "\n\t* ") {
		return []string{strings.TrimSpace(e)}
	}
	var out []string
	for _, line := range strings.Split(e, "\n") {
		if m, ok := strings.CutPrefix(line, "\t* "); ok {
			out = append(out, strings.TrimSpace(m))
		}
	}
	return out
}

// seconds reads a duration in seconds from a token lookup's data.
func seconds(v any) time.Duration {
	var n int64
	switch x := v.(type) {
	case json.Number:
		n, _ = x.Int64()
	case float64:
		n = int64(x)
	case int64:
		n = x
	case int:
		n = int64(x)
	case string:
		n, _ = strconv.ParseInt(x, 10, 64)
	}
	return time.Duration(n) * time.Second
}
