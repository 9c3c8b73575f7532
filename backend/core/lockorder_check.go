//go:build lockcheck

package core

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
)

// held is every goroutine's locks, by goroutine id, in the order taken.
var held = struct {
	sync.Mutex
	by map[uint64][]Rank
}{by: map[uint64][]Rank{}}

// goid is the calling goroutine's id, read from its stack header
// ("goroutine 42 [running]:"): slow, and for debug builds only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

func acquire(r Rank) {
	g := goid()
	held.Lock()
	defer held.Unlock()
	for _, h := range held.by[g] {
		if h >= r {
			panic(fmt.Sprintf("lock order broken: taking the %s lock while holding the %s lock (order: load, snapshot run, stripes, MFA configuration, OIDC configuration, snapshot state, identity index)", r, h))
		}
	}
	held.by[g] = append(held.by[g], r)
}

func release(r Rank) {
	g := goid()
	held.Lock()
	defer held.Unlock()
	hs := held.by[g]
	i := slices.Index(hs, r)
	if i < 0 {
		panic(fmt.Sprintf("lock order: releasing the %s lock, which this goroutine does not hold", r))
	}
	hs = slices.Delete(hs, i, i+1)
	if len(hs) == 0 {
		delete(held.by, g)
	} else {
		held.by[g] = hs
	}
}
