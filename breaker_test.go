package reqivo

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statusServer answers with the status in code and counts the requests.
func statusServer(t *testing.T) (string, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var hits, code atomic.Int64
	code.Store(http.StatusOK)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(int(code.Load()))
	})
	return srv.URL, &hits, &code
}

// advance moves a fake clock on by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestWithCircuitBreakerValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		b    CircuitBreaker
		want CircuitBreaker
	}{
		{"defaults", CircuitBreaker{}, CircuitBreaker{Failures: 5, Cooldown: 30 * time.Second}},
		{"set", CircuitBreaker{Failures: 2, Cooldown: time.Second}, CircuitBreaker{Failures: 2, Cooldown: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			require.NoError(t, WithCircuitBreaker(tc.b)(c))
			assert.Equal(t, tc.want, *c.breaker)
		})
	}
	for _, b := range []CircuitBreaker{{Failures: -1}, {Cooldown: -time.Second}} {
		_, err := NewSession(WithCircuitBreaker(b))
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

// TestBreakerOpensProbesCloses walks one host's breaker through its states
// on a fake clock, counting at the server what was sent.
func TestBreakerOpensProbesCloses(t *testing.T) {
	t.Parallel()
	u, hits, code := statusServer(t)
	l, buf := newTestLogger(slog.LevelInfo)
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 3, Cooldown: 10 * time.Second}), WithLogger(l))
	clk := newFakeClock()
	clk.install(s)
	key := hostKey(mustParse(t, u))
	ctx := context.Background()
	get := func() (*Response, error) { return s.Get(ctx, u) }
	assert.Empty(t, s.Breakers())

	// 4xx is the host up: it never opens the breaker.
	code.Store(http.StatusNotFound)
	for range 5 {
		resp, err := get()
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	assert.Equal(t, map[string]string{key: "closed"}, s.Breakers())

	// Three 5xx in a row open it; a success between them starts again.
	code.Store(http.StatusInternalServerError)
	for range 2 {
		_, err := get()
		require.NoError(t, err)
	}
	code.Store(http.StatusOK)
	_, err := get()
	require.NoError(t, err)
	code.Store(http.StatusServiceUnavailable)
	for range 3 {
		_, err := get()
		require.NoError(t, err)
	}
	assert.Equal(t, "open", s.Breakers()[key])

	// Open: refused at once, nothing sent.
	sent := hits.Load()
	for range 4 {
		_, err = get()
		assertRequestKind(t, err, ErrCircuitOpen)
		assert.Contains(t, err.Error(), key+" failed 3 times in a row; next probe in 10s")
	}
	assert.Equal(t, sent, hits.Load(), "nothing sent while open")
	assert.EqualValues(t, 4, s.Stats().CircuitRejected)

	// After the cooldown: half-open; a failed probe opens it again.
	clk.advance(9 * time.Second)
	assert.Equal(t, "open", s.Breakers()[key])
	clk.advance(time.Second)
	assert.Equal(t, "half-open", s.Breakers()[key])
	_, err = get()
	require.NoError(t, err, "the probe is sent")
	assert.Equal(t, sent+1, hits.Load())
	assert.Equal(t, "open", s.Breakers()[key])
	_, err = get()
	assert.ErrorIs(t, err, ErrCircuitOpen)

	// A successful probe closes it.
	clk.advance(10 * time.Second)
	code.Store(http.StatusOK)
	_, err = get()
	require.NoError(t, err)
	assert.Equal(t, "closed", s.Breakers()[key])
	_, err = get()
	require.NoError(t, err)
	assert.Equal(t, sent+3, hits.Load())

	var changes []string
	for _, r := range buf.records(t) {
		if r["host"] == key && strings.HasPrefix(r["msg"].(string), "reqivo: breaker") {
			changes = append(changes, r["level"].(string)+" "+r["kind"].(string))
		}
	}
	assert.Equal(t, []string{
		"WARN breaker_open", "INFO breaker_half_open", "WARN breaker_open",
		"INFO breaker_half_open", "INFO breaker_closed",
	}, changes)
}

// TestBreakerOneProbe: while the half-open probe is in flight, other
// requests to the host are refused without being sent.
func TestBreakerOneProbe(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	var fail atomic.Bool
	fail.Store(true)
	inProbe, release := make(chan struct{}), make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 2 {
			close(inProbe)
			<-release
		}
		if fail.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Minute}))
	clk := newFakeClock()
	clk.install(s)
	ctx := context.Background()
	_, err := s.Get(ctx, srv.URL)
	require.NoError(t, err)
	fail.Store(false)
	clk.advance(time.Minute)

	probe := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, srv.URL)
		probe <- err
	}()
	<-inProbe
	_, err = s.Get(ctx, srv.URL)
	assert.ErrorIs(t, err, ErrCircuitOpen)
	assert.Contains(t, err.Error(), "is being probed")
	close(release)
	require.NoError(t, <-probe)
	assert.EqualValues(t, 2, hits.Load())
	_, err = s.Get(ctx, srv.URL)
	require.NoError(t, err)
}

// TestBreakerHostsIndependent: one host down opens only its own breaker;
// network errors count as failures.
func TestBreakerHostsIndependent(t *testing.T) {
	t.Parallel()
	up, upHits, _ := statusServer(t)
	down, downHits, downCode := statusServer(t)
	downCode.Store(http.StatusInternalServerError)
	refused := "http://" + closedAddr(t)
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: time.Minute}))
	newFakeClock().install(s)
	ctx := context.Background()
	for i := range 4 {
		_, err := s.Get(ctx, up)
		require.NoError(t, err)
		_, _ = s.Get(ctx, down)
		_, err = s.Get(ctx, refused)
		if i < 2 {
			assert.ErrorIs(t, err, ErrNetwork)
		} else {
			assertRequestKind(t, err, ErrCircuitOpen)
		}
	}
	assert.EqualValues(t, 4, upHits.Load())
	assert.EqualValues(t, 2, downHits.Load())
	assert.Equal(t, map[string]string{
		hostKey(mustParse(t, up)):      "closed",
		hostKey(mustParse(t, down)):    "open",
		hostKey(mustParse(t, refused)): "open",
	}, s.Breakers())
}

// TestBreakerOutcomes: timeouts count as failures; a request the caller
// cancelled counts for nothing.
func TestBreakerOutcomes(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(block) })
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: time.Minute}))
	key := hostKey(mustParse(t, srv.URL))
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := s.Get(ctx, srv.URL)
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.Equal(t, "closed", s.Breakers()[key], "cancelled by the caller: not the host's fault")
	for range 2 {
		_, err := s.Get(context.Background(), srv.URL, Timeout(20*time.Millisecond))
		assert.ErrorIs(t, err, ErrTimeout)
	}
	assert.Equal(t, "open", s.Breakers()[key])
}

func TestBreakerWithRetry(t *testing.T) {
	t.Parallel()
	t.Run("a cooldown over MaxWait ends the retries at once", func(t *testing.T) {
		u, hits, code := statusServer(t)
		code.Store(http.StatusServiceUnavailable)
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 5, MaxWait: time.Second},
			WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: time.Minute}))
		_, err := s.Get(context.Background(), u)
		assert.ErrorIs(t, err, ErrCircuitOpen)
		assert.EqualValues(t, 2, hits.Load())
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, clk.Waits(), "no wait for the cooldown")
	})
	t.Run("a retry waits for the probe within MaxWait", func(t *testing.T) {
		u, hits, code := statusServer(t)
		code.Store(http.StatusServiceUnavailable)
		p := RetryPolicy{MaxAttempts: 5, MinWait: time.Millisecond, MaxWait: time.Second,
			Retry: func(req *http.Request, resp *http.Response, err error) bool {
				if hits.Load() == 2 {
					code.Store(http.StatusOK) // back for the probe
				}
				return DefaultRetry(req, resp, err)
			}}
		s, clk := newRetrySession(t, p, WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: 500 * time.Millisecond}))
		resp, err := s.Get(context.Background(), u)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.EqualValues(t, 3, hits.Load())
		// Two backoffs; the third try is refused with 498 ms of cooldown
		// left, and the retry waits that rather than its 4 ms backoff.
		assert.Equal(t, []time.Duration{time.Millisecond, 2 * time.Millisecond, 498 * time.Millisecond}, clk.Waits())
		assert.EqualValues(t, 1, s.Stats().CircuitRejected)
	})
	t.Run("never past the deadline", func(t *testing.T) {
		u, hits, code := statusServer(t)
		code.Store(http.StatusServiceUnavailable)
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 5, MinWait: time.Millisecond, MaxWait: 5 * time.Second},
			WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: 4 * time.Second}))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := s.Get(ctx, u)
		assert.ErrorIs(t, err, ErrCircuitOpen)
		assert.EqualValues(t, 1, hits.Load())
		assert.Equal(t, []time.Duration{time.Millisecond}, clk.Waits(), "no wait for the cooldown")
	})
	t.Run("any method: nothing was sent", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
		assert.True(t, DefaultRetry(req, nil, &circuitOpenError{host: "x:80"}))
	})
}

// TestBreakerAndRateLimit: an open breaker refuses before a token is
// spent.
func TestBreakerAndRateLimit(t *testing.T) {
	t.Parallel()
	u, hits, code := statusServer(t)
	code.Store(http.StatusInternalServerError)
	s := newTestSession(t,
		WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Minute}),
		WithRateLimit(RateLimit{Rate: 1}))
	clk := newFakeClock()
	clk.install(s)
	for range 3 {
		_, _ = s.Get(context.Background(), u)
	}
	assert.EqualValues(t, 1, hits.Load())
	assert.Empty(t, clk.Waits(), "no token taken for a refused attempt")
	clk.advance(time.Minute)
	code.Store(http.StatusOK)
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	assert.Empty(t, clk.Waits(), "a minute refilled the bucket")
}

// TestBreakerRefusalClosesBody: an attempt the open breaker refuses is not
// sent, and its body is closed as a sent one's would be (Do is a
// RoundTripper's: it always closes the body).
func TestBreakerRefusalClosesBody(t *testing.T) {
	t.Parallel()
	u, hits, code := statusServer(t)
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Hour}))
	code.Store(http.StatusInternalServerError)
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	require.Equal(t, "open", s.Breakers()[hostKey(mustParse(t, u))])

	body := &closeRecorder{Reader: strings.NewReader("x")}
	_, err = s.Post(context.Background(), u, Body(body))
	assertRequestKind(t, err, ErrCircuitOpen)
	assert.True(t, body.closed.Load(), "Request: the refused body is closed")

	body = &closeRecorder{Reader: strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, u, body)
	require.NoError(t, err)
	_, err = s.Do(req)
	assertRequestKind(t, err, ErrCircuitOpen)
	assert.True(t, body.closed.Load(), "Do: the refused body is closed")
	assert.Equal(t, int64(1), hits.Load(), "nothing sent")
}

// TestBreakerRefusedFirstAttemptObserved: a call whose first attempt an
// open breaker refuses, then retried for its probe, is reported to the
// observers without a panic (no attempt of the call has started yet).
func TestBreakerRefusedFirstAttemptObserved(t *testing.T) {
	t.Parallel()
	u, hits, code := statusServer(t)
	var mu sync.Mutex
	var retries []RetryInfo
	obs := WithObserver(Observer{Retry: func(_ context.Context, ri RetryInfo) {
		mu.Lock()
		retries = append(retries, ri)
		mu.Unlock()
	}})
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Minute},
		WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Second}), obs)
	code.Store(http.StatusInternalServerError)
	_, err := s.Post(context.Background(), u) // a POST's 500 is not retried
	require.NoError(t, err)
	require.Equal(t, "open", s.Breakers()[hostKey(mustParse(t, u))])
	code.Store(http.StatusOK)
	resp, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 2, hits.Load())
	assert.Equal(t, []time.Duration{time.Second}, clk.Waits(), "the retry waited for the probe")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, retries, 1)
	assert.Equal(t, 1, retries[0].Attempt)
	assert.ErrorIs(t, retries[0].Err, ErrCircuitOpen)
	assert.Equal(t, u, retries[0].URL)
}
