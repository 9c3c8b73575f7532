package core

import "sync"

// Rank is a lock's place in the store's one lock order. An operation may take
// a lock only while every lock it already holds has a lower rank: the load
// and the snapshot run (each one at a time) above everything, then the
// stripes (all of an operation's at once, through Locks.Locked or
// Locks.All), then the MFA configuration lock, then the OIDC configuration
// lock, then the leaves (the identity indexes, the snapshot state), which
// are held only for in-memory reads and writes and under which nothing else
// is taken. No lock is taken twice by one operation: a second read of an
// RWMutex behind a waiting writer would deadlock.
//
// Builds with the lockcheck tag check this order on every acquisition and
// panic with both locks named when it is broken; `make test-unit` runs the
// store's tests that way once. Other builds compile the check away.
type Rank int

const (
	RankLoad        Rank = iota + 1 // backend: one load of the store at a time
	RankSnapshotRun                 // identity: one load snapshot at a time
	RankStripes                     // Locks: every write's object and name keys
	RankMFAConfig                   // mfa: methods and login enforcements
	RankOIDCConfig                  // oidc: keys, roles, provider objects
	RankSnapshot                    // identity: snapshot generations and armed sections
	RankIndex                       // identity: the in-memory indexes
)

var rankNames = map[Rank]string{
	RankLoad:        "load",
	RankSnapshotRun: "snapshot run",
	RankStripes:     "stripes",
	RankMFAConfig:   "MFA configuration",
	RankOIDCConfig:  "OIDC configuration",
	RankSnapshot:    "snapshot state",
	RankIndex:       "identity index",
}

func (r Rank) String() string { return rankNames[r] }

// RWMutex is a sync.RWMutex with a rank in the lock order.
type RWMutex struct {
	Rank Rank
	mu   sync.RWMutex
}

func (m *RWMutex) Lock()    { acquire(m.Rank); m.mu.Lock() }
func (m *RWMutex) Unlock()  { m.mu.Unlock(); release(m.Rank) }
func (m *RWMutex) RLock()   { acquire(m.Rank); m.mu.RLock() }
func (m *RWMutex) RUnlock() { m.mu.RUnlock(); release(m.Rank) }

// Copied returns a copy of what get finds while mu is held for reading, or
// nil: configuration held in memory is read this way, so a caller never
// shares a value a writer may replace.
func Copied[T any](mu *RWMutex, get func() *T) *T {
	mu.RLock()
	defer mu.RUnlock()
	if v := get(); v != nil {
		c := *v
		return &c
	}
	return nil
}

// CopiesWhere returns copies of the values of m that keep accepts (all when
// keep is nil), in ascending key order, read while mu is held for reading;
// nil when none.
func CopiesWhere[T any](mu *RWMutex, m map[string]*T, keep func(*T) bool) []*T {
	mu.RLock()
	defer mu.RUnlock()
	var out []*T
	for _, k := range SortedKeys(m) {
		if v := m[k]; keep == nil || keep(v) {
			c := *v
			out = append(out, &c)
		}
	}
	return out
}
