// The shared rate limit seen from the sessions: 4 sessions (4 processes)
// with one RateLimit whose Store is Redis, and the server sees the combined
// rate held; a Redis outage falls back to the local bucket.

package redisstore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimiterFleetOfSessions(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	var mu sync.Mutex
	var arrivals []time.Time
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	t.Cleanup(origin.Close)

	const rate, perSession = 40.0, 10 // 25 ms apart, 40 requests in all
	var wg sync.WaitGroup
	for range 4 {
		s, err := reqivo.NewSession(reqivo.WithRateLimit(reqivo.RateLimit{
			Rate: rate, Burst: 1, Store: RateLimiter(srv.client(t), "fleet:", loaded),
		}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perSession {
				_, err := s.Get(context.Background(), origin.URL)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, arrivals, 4*perSession)
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	want := time.Duration(float64(len(arrivals)-1) / rate * float64(time.Second))
	assert.GreaterOrEqual(t, span, want*9/10, "the 4 sessions together keep to one rate: %v for %d requests", span, len(arrivals))
}

// TestRateLimiterRedisDownSessionFallsBack stops Redis mid-test: the
// session's requests still succeed, on its local bucket.
func TestRateLimiterRedisDownSessionFallsBack(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(origin.Close)
	s, err := reqivo.NewSession(reqivo.WithRateLimit(reqivo.RateLimit{
		Rate: 100, Burst: 5, Store: RateLimiter(srv.client(t), "down:", Timeout(100*time.Millisecond)),
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	_, err = s.Get(ctx, origin.URL)
	require.NoError(t, err)
	srv.stop()
	for range 5 {
		r, err := s.Get(ctx, origin.URL)
		require.NoError(t, err, "a Redis outage never fails a request")
		assert.Equal(t, http.StatusOK, r.StatusCode)
	}
}
