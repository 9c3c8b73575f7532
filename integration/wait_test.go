//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// waitFor polls cond until it holds, and fails the test, saying what it
// waited for, when it does not within limit. It is how the tests wait for
// something to happen (writes acknowledged, a leader elected, a periodic
// sweep); a time.Sleep is left only where time passing is the point.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := devvault.Poll(context.Background(), limit, 50*time.Millisecond, cond); err != nil {
		t.Fatalf("waited %s for %s: it did not happen", limit, what)
	}
}
