package core

import (
	"hash/maphash"
	"math/bits"
	"sync"
)

// Locks are the store's write locks: 256 stripes onto which every lock key
// hashes. An operation takes the stripes of all its keys at once, in
// ascending order, so two operations never wait for each other in a cycle.
// They come first in the lock order (see RankStripes).
type Locks struct {
	seed maphash.Seed
	mu   [256]sync.Mutex
}

// NewLocks returns the stripes of one mount.
func NewLocks() *Locks { return &Locks{seed: maphash.MakeSeed()} }

// stripeSet is a set of stripe numbers, one bit each.
type stripeSet [4]uint64

func (st *Locks) of(key string) uint8 { return uint8(maphash.String(st.seed, key)) }

// set returns the stripes of keys.
func (st *Locks) set(keys []string) stripeSet {
	var s stripeSet
	for _, k := range keys {
		i := st.of(k)
		s[i/64] |= 1 << (i % 64)
	}
	return s
}

// covers reports whether every stripe of o is in s.
func (s stripeSet) covers(o stripeSet) bool {
	for w := range s {
		if o[w]&^s[w] != 0 {
			return false
		}
	}
	return true
}

// each calls fn for every stripe of s, in ascending order.
func (s stripeSet) each(fn func(i int)) {
	for w, word := range s {
		for ; word != 0; word &= word - 1 {
			fn(w*64 + bits.TrailingZeros64(word))
		}
	}
}

// lock takes the stripes of s in ascending order, so that two callers never
// wait for each other in a cycle; the order of unlocking does not matter.
func (st *Locks) lock(s stripeSet) {
	acquire(RankStripes)
	s.each(func(i int) { st.mu[i].Lock() })
}

func (st *Locks) unlock(s stripeSet) {
	s.each(func(i int) { st.mu[i].Unlock() })
	release(RankStripes)
}

// Locked runs apply while holding the write locks of every key plan names.
//
// This is the one way writes lock: plan runs without locks and returns the
// lock keys of every object and name the write may read or change; their
// stripes are locked all at once in ascending stripe order, so no two
// writes can deadlock. plan then runs again under the locks; if the objects
// moved in between and it now names a stripe not held, everything is
// released and the attempt repeats with both sets. apply must look objects
// up afresh, under the locks. A plan names the key of every lookup it makes,
// found or not: a name that is free must stay free until apply has run.
func (st *Locks) Locked(plan func() []string, apply func() error) error {
	held := st.set(plan())
	for {
		st.lock(held)
		again := st.set(plan())
		covered := held.covers(again)
		var err error
		if covered {
			err = apply()
		}
		st.unlock(held)
		if covered {
			return err
		}
		for w := range held {
			held[w] |= again[w]
		}
	}
}

// All runs f holding every stripe: no write runs meanwhile.
func (st *Locks) All(f func()) {
	var all stripeSet
	for w := range all {
		all[w] = ^uint64(0)
	}
	st.lock(all)
	defer st.unlock(all)
	f()
}
