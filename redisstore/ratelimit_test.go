package redisstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimiterBurstThenSpacing(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l := RateLimiter(srv.client(t), "rl:", loaded)
	ctx := context.Background()
	var waits []time.Duration
	for range 6 {
		w, err := l.Reserve(ctx, "api.test", 10, 3) // 10/s: one slot per 100 ms
		require.NoError(t, err)
		waits = append(waits, w)
	}
	for i, w := range waits[:3] {
		assert.Zero(t, w, "slot %d is in the burst", i)
	}
	for i, w := range waits[3:] {
		want := time.Duration(i+1) * 100 * time.Millisecond
		assert.InDelta(t, float64(want), float64(w), float64(50*time.Millisecond), "slot %d", i+3)
	}
	w, err := l.Reserve(ctx, "other.test", 10, 1)
	require.NoError(t, err)
	assert.Zero(t, w, "each key has its own rate")

	_, err = l.Reserve(ctx, "x", 0, 1)
	assert.Error(t, err)
}

// TestRateLimiterFleet: four limiters on their own clients (four
// processes) reserving for one host together hold the one rate: the
// times they may send at are spaced by the interval.
func TestRateLimiterFleet(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const rate, burst, each = 50.0, 2, 10 // 20 ms per slot
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for range 4 {
		l := RateLimiter(srv.client(t), "fleet:", loaded)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				w, err := l.Reserve(context.Background(), "api.test", rate, burst)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				at = append(at, time.Now().Add(w))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, at, 4*each)
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	interval := time.Duration(float64(time.Second) / rate)
	span := at[len(at)-1].Sub(at[0])
	want := time.Duration(len(at)-burst) * interval
	assert.InDelta(t, float64(want), float64(span), float64(want/4),
		"40 slots at 50/s with a burst of 2 span about 38 intervals; got %v", span)
	// No window of one interval holds more than burst+1 sends (the +1
	// for the skew between reading the clock and the script's TIME).
	for i := burst + 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i].Sub(at[i-burst-1]), interval-5*time.Millisecond, "sends %d..%d", i-burst-1, i)
	}
}

func TestRateLimiterRedisDown(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l := RateLimiter(srv.client(t), "down:", Timeout(100*time.Millisecond))
	_, err := l.Reserve(context.Background(), "h", 10, 1)
	require.NoError(t, err)
	srv.stop()
	start := time.Now()
	_, err = l.Reserve(context.Background(), "h", 10, 1)
	assert.Error(t, err, "the session falls back to its local bucket on this error")
	assert.Less(t, time.Since(start), 5*time.Second)
}
