// Package core holds what every part of the identity store shares and
// nothing of any one domain: the mount's storage with JSON encoding and a
// write hook (Storage), the striped write locks and the one way writes take
// them (Locks.Locked), the lock order and its debug-build check (Rank,
// RWMutex) with the copying reads under it (Copied, CopiesWhere), what each
// part is built with (Deps), request errors (Error), optional inputs (Opt)
// and ids.
//
// It imports no other package of this module.
package core

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
)

// NamespaceID is the namespace every object belongs to. A plugin mount lives
// in one namespace and sees only its own storage, so ids are those of the
// root namespace, as on Vault Community Edition.
const NamespaceID = "root"

// SortedKeys returns the keys of m in ascending order.
func SortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// IsLoopback reports whether host (without port) is localhost or a loopback
// address: the hosts to which plain http is allowed.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RefuseRedirects is the CheckRedirect of every HTTP client the store sends
// credentials or tokens with (MFA providers, back-channel logout): their
// peers do not redirect, and following one would send what the request
// carries (Go's client keeps the Authorization header for the same host
// name, even on another port or over plain http) wherever the answer points.
func RefuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// CheckSecureURL refuses an address that credentials or tokens would be
// sent to in clear (or that is no absolute URL): it must use https, or http
// on a loopback host. field names the setting in the error.
func CheckSecureURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" {
		switch {
		case u.Scheme == "https":
			return nil
		case u.Scheme == "http" && IsLoopback(u.Hostname()):
			return nil
		}
	}
	return fmt.Errorf("%s must use https unless its host is a loopback address", field)
}

// Deps are what every part of a mount's store is built with: the one
// storage and the one set of stripes they share, the logger and the clock.
type Deps struct {
	Storage *Storage
	Locks   *Locks
	Logger  hclog.Logger
	// Now returns the current time; tests inject a clock.
	Now func() time.Time
}

// WithDefaults fills an unset logger (discard) and clock (time.Now).
func (d Deps) WithDefaults() Deps {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}
