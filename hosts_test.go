package reqivo

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const manyHosts = 30_000

func hostN(i int) string { return "h" + strconv.Itoa(i) + ".example:443" }

func fakeSessionClock(fc *fakeClock) *clock {
	return &clock{now: fc.Now, sleep: fc.sleep, jitter: fc.jitter}
}

// 30,000 hosts leave 30,000 buckets only while they are in use: once idle,
// they are evicted.
func TestHostsBucketsEvicted(t *testing.T) {
	t.Parallel()
	fc := newFrozenClock()
	var wait atomic.Int64
	ls := newLimiters(RateLimit{Rate: 10, Burst: 5}, fakeSessionClock(fc), &wait)
	for i := range manyHosts / 3 {
		_, _, err := ls.take(context.Background(), hostN(i))
		require.NoError(t, err)
	}
	assert.Equal(t, manyHosts/3, ls.hosts.len(), "none idle yet")
	// A paused host keeps its bucket for its pause.
	ls.observe("paused.example:443", 429, http.Header{"Retry-After": {"3000"}})

	fc.advance(hostIdle + time.Second) // the buckets refill in 0.5 s
	_, _, err := ls.take(context.Background(), "new.example:443")
	require.NoError(t, err)
	assert.Equal(t, 2, ls.hosts.len(), "left: the paused host and the new one")
	_, ok := ls.hosts.m.Load("paused.example:443")
	assert.True(t, ok, "a paused bucket was evicted")

	fc.advance(DefaultRateLimitMaxPause)
	_, _, err = ls.take(context.Background(), "new.example:443")
	require.NoError(t, err)
	assert.Equal(t, 1, ls.hosts.len(), "the pause over and idle: evicted")
}

// Breakers of idle hosts are evicted; an open one is kept for its cooldown
// and hostIdle more, whatever the number of other hosts, and one with an
// attempt in flight until it is reported.
func TestHostsBreakersEvicted(t *testing.T) {
	t.Parallel()
	fc := newFrozenClock()
	bs := newBreakers(CircuitBreaker{Failures: 1, Cooldown: time.Hour}, fakeSessionClock(fc))
	pass := func(key string, outcome error) {
		t.Helper()
		hb, done, _, err := bs.admit(key)
		require.NoError(t, err)
		hb.report(done, outcome)
	}
	pass("victim.example:443", errFailed)
	_, _, _, err := bs.admit("victim.example:443")
	require.ErrorIs(t, err, ErrCircuitOpen)
	inflight, done, _, err := bs.admit("inflight.example:443")
	require.NoError(t, err)

	// An attacker's many hosts, then idle time: they go, the open breaker
	// and the one in flight stay.
	for i := range manyHosts {
		pass(hostN(i), nil)
	}
	fc.advance(hostIdle)
	pass("new.example:443", nil)
	assert.Equal(t, 3, bs.hosts.len())
	_, _, _, err = bs.admit("victim.example:443")
	assert.ErrorIs(t, err, ErrCircuitOpen, "the open breaker was reset")

	inflight.report(done, nil)
	fc.advance(hostIdle)
	pass("new.example:443", nil)
	assert.Equal(t, 2, bs.hosts.len(), "left: the open breaker and the new one")

	// Past its cooldown and idle for hostIdle: it goes too.
	fc.advance(time.Hour)
	pass("new.example:443", nil)
	assert.Equal(t, 1, bs.hosts.len())
}

// Sweeps run as the table grows, not only with time: a burst of new hosts
// in no time at all is swept of the idle ones among them.
func TestHostsSweptAsTheTableGrows(t *testing.T) {
	t.Parallel()
	fc := newFrozenClock()
	bs := newBreakers(CircuitBreaker{Failures: 1}, fakeSessionClock(fc))
	const n = 4 * sweepAtLeast
	for i := range n {
		hb, done, _, err := bs.admit(hostN(i))
		require.NoError(t, err)
		hb.report(done, nil)
	}
	fc.advance(hostIdle)
	bs.hosts.swept.Store(fc.Now().UnixNano()) // no sweep for time: only for size
	for i := range n {
		hb, done, _, err := bs.admit(hostN(n + i))
		require.NoError(t, err)
		hb.report(done, nil)
	}
	assert.Less(t, bs.hosts.len(), 2*n, "the idle half was swept")
}

// Through a session: the breakers of idle hosts leave Session.Breakers.
func TestHostsSessionBreakers(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{}), WithRateLimit(RateLimit{Rate: 1e6}),
		WithTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
		})))
	fc := newFrozenClock()
	fc.install(s)
	for i := range 2000 {
		_, err := s.Get(context.Background(), "http://h"+strconv.Itoa(i)+".example/")
		require.NoError(t, err)
	}
	assert.Len(t, s.Breakers(), 2000)
	fc.advance(hostIdle + time.Second) // the buckets refill in a microsecond
	_, err := s.Get(context.Background(), "http://last.example/")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"last.example:80": "closed"}, s.Breakers())
	assert.Equal(t, 1, s.limiters.hosts.len())
}
