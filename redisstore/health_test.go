package redisstore

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/reqivo/reqivo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// defaultClient is a client as a user makes one: go-redis's own
// timeouts (3 s reads) and retries, contexts not honoured on reads. It
// counts its dials.
func (r *redisServer) defaultClient(t *testing.T, dials *atomic.Int64) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: r.addr, Protocol: 2, DisableIdentity: true,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// fakeNow is a clock the test moves.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeNow() *fakeNow { return &fakeNow{t: time.Unix(1_700_000_000, 0)} }

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// TestHungRedisBoundHolds: a paused Redis (SIGSTOP) accepts connections
// and answers nothing. Each call still returns within the store's bound
// (250 ms; asserted < 2 s, where it took 10 s and more), and the next
// ones back off at once; the session serves its request from the origin.
func TestHungRedisBoundHolds(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	o, n := origin(t)
	store := Cache(srv.defaultClient(t, nil), "hung:")
	limiter := RateLimiter(srv.defaultClient(t, nil), "hung:")
	s := session(t, store, reqivo.WithBearerToken("tok"), reqivo.WithRateLimit(reqivo.RateLimit{Rate: 1000, Burst: 100, Store: limiter}))
	get(t, s, o.URL)
	require.Equal(t, "hit", get(t, s, o.URL).CacheStatus())

	srv.pause(t)
	ctx := context.Background()
	start := time.Now()
	_, _, err := store.Get(ctx, "k")
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "the cache's bound holds")
	start = time.Now()
	_, err = limiter.Reserve(ctx, "h", 10, 1)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "the rate limiter's bound holds")

	for range 3 {
		start := time.Now()
		r := get(t, s, o.URL)
		assert.Equal(t, "for Bearer tok", r.Text())
		assert.Equal(t, "miss", r.CacheStatus())
		assert.Less(t, time.Since(start), 2*time.Second, "the request is not held by the hung Redis")
	}
	assert.Equal(t, int64(4), n.Load())
	_, _, err = store.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrUnavailable, "backing off")
}

// TestDeadRedisBacksOffThenProbes: with Redis gone (connections
// refused), only the first call reaches for it; the next ones are
// refused at once (no dial) until the back-off ends; then one call
// probes, and once Redis is back, calls go through again.
func TestDeadRedisBacksOffThenProbes(t *testing.T) {
	// Not parallel: the restart reuses the port, which a test starting
	// its own server meanwhile could take.
	srv := startRedis(t)
	var dials atomic.Int64
	clk := newFakeNow()
	store := Cache(srv.defaultClient(t, &dials), "dead:")
	store.health.now = clk.now
	limiter := RateLimiter(srv.defaultClient(t, nil), "dead:")
	limiter.health.now = clk.now
	ctx := context.Background()
	require.NoError(t, store.Set(ctx, "k", []byte("v"), time.Minute))

	srv.stop()
	_, _, err := store.Get(ctx, "k")
	require.Error(t, err)
	_, err = limiter.Reserve(ctx, "h", 10, 1)
	require.Error(t, err)
	before := dials.Load()
	start := time.Now()
	for range 50 {
		_, _, err := store.Get(ctx, "k")
		assert.ErrorIs(t, err, ErrUnavailable)
		_, err = limiter.Reserve(ctx, "h", 10, 1)
		assert.ErrorIs(t, err, ErrUnavailable)
	}
	assert.Equal(t, before, dials.Load(), "no dial while backing off")
	assert.Less(t, time.Since(start), 2*time.Second)

	clk.advance(minBackoff)
	_, _, err = store.Get(ctx, "k")
	require.Error(t, err, "the probe finds Redis still gone")
	assert.NotErrorIs(t, err, ErrUnavailable)
	clk.advance(minBackoff)
	_, _, err = store.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrUnavailable, "the back-off grew")

	srv.restart(t)
	clk.advance(maxBackoff)
	_, ok, err := store.Get(ctx, "k")
	require.NoError(t, err, "the probe finds Redis back")
	assert.False(t, ok, "an empty Redis")
	require.NoError(t, store.Set(ctx, "k", []byte("v"), time.Minute))
	_, ok, err = store.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
}

// TestCacheSecretReestablishedAfterRestart: Redis restarts without
// persistence and loses the secret; the process that holds it puts it
// back (SET NX), so a process joining later keys the same user the same
// and shares the entry.
func TestCacheSecretReestablishedAfterRestart(t *testing.T) {
	// Not parallel: the restart reuses the port, which a test starting
	// its own server meanwhile could take.
	srv := startRedis(t)
	o, n := origin(t)
	clk := newFakeNow()
	rc := srv.client(t)
	storeA := Cache(rc, "restart:", loaded)
	storeA.health.now = clk.now
	a := session(t, storeA, reqivo.WithBearerToken("alice"))
	get(t, a, o.URL)
	secret, err := rc.Get(context.Background(), "restart:secret").Bytes()
	require.NoError(t, err)

	srv.restart(t)
	// A's next requests find Redis empty (the first may find its old
	// connection gone, and back off): they store again, and put the
	// secret back.
	for range 3 {
		clk.advance(time.Minute)
		get(t, a, o.URL)
	}
	got, err := srv.client(t).Get(context.Background(), "restart:secret").Bytes()
	require.NoError(t, err, "the secret is back in Redis")
	assert.Equal(t, secret, got)

	b := session(t, Cache(srv.client(t), "restart:", loaded), reqivo.WithBearerToken("alice"))
	r := get(t, b, o.URL)
	assert.Equal(t, "hit", r.CacheStatus(), "a process joining later shares alice's entry")
	assert.Equal(t, "for Bearer alice", r.Text())
	hits := n.Load()
	get(t, b, o.URL)
	assert.Equal(t, hits, n.Load())
}
