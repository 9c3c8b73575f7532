package backend

import (
	"hash/maphash"
	"math/bits"
	"sync"
)

// stripes are the store's write locks: every lock key hashes onto one of
// them, and an operation takes the stripes of all its keys in ascending
// order, so two operations never wait for each other in a cycle.
type stripes struct {
	seed maphash.Seed
	mu   [256]sync.Mutex
}

func newStripes() *stripes { return &stripes{seed: maphash.MakeSeed()} }

// stripeSet is a set of stripe numbers, one bit each.
type stripeSet [4]uint64

func (st *stripes) of(key string) uint8 { return uint8(maphash.String(st.seed, key)) }

// set returns the stripes of keys.
func (st *stripes) set(keys []string) stripeSet {
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
func (st *stripes) lock(s stripeSet)   { s.each(func(i int) { st.mu[i].Lock() }) }
func (st *stripes) unlock(s stripeSet) { s.each(func(i int) { st.mu[i].Unlock() }) }
