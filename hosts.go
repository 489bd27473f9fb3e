// Per-host state: the table of a session's breakers and rate-limit
// buckets, one entry per host key, from which idle entries are evicted so
// that many hosts (a crawler, a redirect chain someone else chose) do not
// grow it without bound. Idleness runs on the session's clock.

package reqivo

import (
	"sync"
	"sync/atomic"
	"time"
)

// hostIdle is how long a host's entry must go unused before it may be
// evicted. An entry that holds anything a new one would not (an open
// breaker, a paused or slowed bucket, tokens not yet refilled) stays
// until that has run out, and then for hostIdle more.
const hostIdle = 5 * time.Minute

// sweepAtLeast is the size under which the table is swept only once per
// hostIdle; over it, it is swept whenever it has doubled since the last
// sweep, so that sweeping costs a constant per entry added.
const sweepAtLeast = 1024

// hostEntry is what a table holds: an entry that can tell, under its own
// lock, whether it may be evicted at now, and if so marks itself dropped
// so that a request still holding it looks it up again.
type hostEntry interface {
	evict(now time.Time) bool
}

// hostTable maps host keys to entries made on first use. It is safe for
// concurrent use; lookups take no lock.
type hostTable[T hostEntry] struct {
	m     sync.Map // host key -> T
	n     atomic.Int64
	next  atomic.Int64 // the size that triggers a sweep; 0: sweepAtLeast
	swept atomic.Int64 // when the last sweep ran, on the session clock (Unix ns)
	sweep sync.Mutex   // held by the one sweep under way
}

// get sweeps the table when it is due, then returns key's entry, made by
// mk (as used at now) if there is none.
func (t *hostTable[T]) get(key string, now time.Time, mk func() T) T {
	t.maybeSweep(now)
	v, ok := t.m.Load(key)
	if !ok {
		var loaded bool
		v, loaded = t.m.LoadOrStore(key, mk())
		if !loaded {
			t.n.Add(1)
		}
	}
	return v.(T)
}

// maybeSweep evicts what may be evicted once the table has doubled, or
// hostIdle after the last sweep.
func (t *hostTable[T]) maybeSweep(now time.Time) {
	next := t.next.Load()
	if next == 0 {
		next = sweepAtLeast
	}
	last := t.swept.Load()
	if t.n.Load() < next && now.UnixNano()-last < int64(hostIdle) {
		return
	}
	if !t.sweep.TryLock() {
		return
	}
	defer t.sweep.Unlock()
	if last == 0 {
		// The first call starts the clock: nothing can be idle yet.
		t.swept.Store(now.UnixNano())
		if t.n.Load() < next {
			return
		}
	}
	t.m.Range(func(k, v any) bool {
		if v.(T).evict(now) && t.m.CompareAndDelete(k, v) {
			t.n.Add(-1)
		}
		return true
	})
	t.swept.Store(now.UnixNano())
	t.next.Store(max(2*t.n.Load(), sweepAtLeast))
}

// each calls f for every entry.
func (t *hostTable[T]) each(f func(key string, v T)) {
	t.m.Range(func(k, v any) bool {
		f(k.(string), v.(T))
		return true
	})
}

// len is the number of entries.
func (t *hostTable[T]) len() int { return int(t.n.Load()) }

// latest is the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
