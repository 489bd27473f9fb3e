package reqivo

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hitServer answers 200 with header h and counts the requests.
func hitServer(t *testing.T, h http.Header) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for k, v := range h {
			w.Header()[k] = v
		}
	})
	return srv.URL, &hits
}

func TestWithRateLimitValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		l    RateLimit
		ok   bool
	}{
		{"rate and burst", RateLimit{Rate: 10, Burst: 5}, true},
		{"burst defaults to 1", RateLimit{Rate: 0.5}, true},
		{"zero rate", RateLimit{}, false},
		{"negative rate", RateLimit{Rate: -1}, false},
		{"NaN rate", RateLimit{Rate: math.NaN()}, false},
		{"infinite rate", RateLimit{Rate: math.Inf(1)}, false},
		{"negative burst", RateLimit{Rate: 1, Burst: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(WithRateLimit(tc.l))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalidOption)
			}
		})
	}
	c := defaultConfig()
	require.NoError(t, WithRateLimit(RateLimit{Rate: 2})(c))
	assert.Equal(t, 1, c.rateLimit.Burst)
}

// TestRateLimitHeldUnderLoad runs 64 goroutines flat out for two seconds
// against a limit of 100 a second, and counts what reaches the server.
func TestRateLimitHeldUnderLoad(t *testing.T) {
	t.Parallel()
	const rps, burst, window = 100, 10, 2 * time.Second
	u, hits := hitServer(t, nil)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: rps, Burst: burst}))
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var limited atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := s.Get(ctx, u)
				switch {
				case err == nil, ctx.Err() != nil:
				case errors.Is(err, ErrRateLimited):
					limited.Add(1) // every later token is past the deadline too
					return
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := float64(burst) + rps*window.Seconds()
	got := float64(hits.Load())
	assert.InEpsilon(t, want, got, 0.2, "requests at the server in %s", window)
	t.Logf("%v requests at the server in %s (want %v); %d refused at once", got, window, want, limited.Load())
	assert.Positive(t, limited.Load(), "waits past the deadline fail at once")
	assert.Positive(t, s.Stats().RateLimitWait)
}

// TestRateLimitRetryAfterPausesEveryone: a 429 with Retry-After pauses the
// host's bucket for every goroutine, and they leave the pause at the rate,
// not all at once.
func TestRateLimitRetryAfterPausesEveryone(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	other, otherHits := hitServer(t, nil)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 10, Burst: 1}))
	clk := newFrozenClock()
	clk.install(s)
	ctx := context.Background()

	resp, err := s.Get(ctx, srv.URL+"/busy")
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Empty(t, clk.Waits())

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.Get(ctx, srv.URL+"/ok")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	sleeps := clk.Waits()
	slices.Sort(sleeps)
	require.Len(t, sleeps, 8)
	for i, d := range sleeps {
		assert.Equal(t, 2*time.Second+time.Duration(i)*100*time.Millisecond, d, "goroutine %d", i)
	}

	// Another host is not paused.
	_, err = s.Get(ctx, other)
	require.NoError(t, err)
	assert.Len(t, clk.Waits(), 8)
	assert.EqualValues(t, 1, otherHits.Load())
}

// TestRateLimitPauseHoldsWaiters: a request already waiting for its token
// when a pause comes waits for the pause too.
func TestRateLimitPauseHoldsWaiters(t *testing.T) {
	t.Parallel()
	u, hits := hitServer(t, nil)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 1, Burst: 1}))
	clk := newFrozenClock()
	clk.install(s)
	b := s.limiters.bucket(hostKey(mustParse(t, u)))
	inner := s.clock.sleep
	var once sync.Once
	s.clock.sleep = func(ctx context.Context, d time.Duration) error {
		// While the first wait runs, another request's 429 pauses the host.
		once.Do(func() { b.pause(clk.Now().Add(5 * time.Second)) })
		return inner(ctx, d)
	}
	for range 2 {
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
	}
	assert.Equal(t, []time.Duration{time.Second, 5 * time.Second}, clk.Waits())
	assert.EqualValues(t, 2, hits.Load())
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h    http.Header
		unix time.Duration // when set, X-RateLimit-Reset is the Unix time this far from now
		want time.Duration // the wait of the next request at 100/s, burst 1
	}{
		{"no fields", nil, 0, 10 * time.Millisecond},
		{"IETF none left", http.Header{"Ratelimit": {`"default";r=0;t=3`}}, 0, 3 * time.Second},
		{"IETF few left", http.Header{"Ratelimit": {`"default";r=2;t=10`}}, 0, 5 * time.Second},
		{"IETF plenty left", http.Header{"Ratelimit": {`"default";r=5000;t=10`}}, 0, 10 * time.Millisecond},
		{"IETF window from the policy", http.Header{
			"Ratelimit":        {`"hour";r=1`},
			"Ratelimit-Policy": {`"hour";q=100;w=20`},
		}, 0, 20 * time.Second},
		{"IETF the tightest policy wins", http.Header{"Ratelimit": {`"a";r=50;t=10, "b";r=1;t=10`}}, 0, 10 * time.Second},
		{"IETF quoted comma", http.Header{"Ratelimit": {`"a,b";r=0;t=4`}}, 0, 4 * time.Second},
		{"draft 07 dictionary", http.Header{"Ratelimit": {`limit=100, remaining=0, reset=4`}}, 0, 4 * time.Second},
		{"draft 06 fields", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"7"}}, 0, 7 * time.Second},
		{"X- fields, seconds", http.Header{"X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {"30"}}, 0, 30 * time.Second},
		{"X- fields, Unix time", http.Header{"X-Ratelimit-Remaining": {"0"}}, 9 * time.Second, 9 * time.Second},
		{"reset in the past", http.Header{"X-Ratelimit-Remaining": {"0"}}, -time.Minute, 10 * time.Millisecond},
		{"garbage", http.Header{"Ratelimit": {`r=;t=x`}, "X-Ratelimit-Remaining": {"-1"}, "X-Ratelimit-Reset": {"5"}}, 0, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			if tc.unix != 0 {
				tc.h.Set("X-Ratelimit-Reset", strconv.FormatInt(clk.Now().Add(tc.unix).Unix(), 10))
			}
			u, _ := hitServer(t, tc.h)
			s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, Burst: 1}))
			clk.install(s)
			for range 2 {
				_, err := s.Get(context.Background(), u)
				require.NoError(t, err)
			}
			waits := clk.Waits()
			require.Len(t, waits, 1)
			assert.InDelta(t, tc.want, waits[0], float64(time.Second), "got %s", waits[0])
			if tc.want < time.Second {
				assert.Equal(t, tc.want, waits[0])
			}
		})
	}
}

// TestRateLimitSlowSpellEnds: once the reset has passed, the bucket runs at
// the configured rate again.
func TestRateLimitSlowSpellEnds(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	slow.Store(true)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			w.Header().Set("RateLimit", `"default";r=1;t=10`)
		}
	})
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, Burst: 1}))
	clk := newFakeClock()
	clk.install(s)
	get := func() {
		_, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err)
	}
	get()
	slow.Store(false)
	get() // waits the slowed 10 s: the reset is then past
	get()
	assert.Equal(t, []time.Duration{10 * time.Second, 10 * time.Millisecond}, clk.Waits())
}

func TestRateLimitDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	u, hits := hitServer(t, nil)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 1, Burst: 1}))
	clk := newFakeClock()
	clk.install(s)
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		opts []RequestOption
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 500*time.Millisecond)
		}, nil},
		{"request timeout", func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, []RequestOption{Timeout(500 * time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := s.Get(ctx, u, tc.opts...)
			assertRequestKind(t, err, ErrRateLimited)
			assert.ErrorIs(t, err, ErrTimeout)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "would pass the deadline")
		})
	}
	assert.Empty(t, clk.Waits(), "no wait was started")
	assert.EqualValues(t, 1, hits.Load(), "nothing was sent")

	// The refused requests gave their tokens back: the next waits one
	// token's time, not three.
	_, err = s.Get(context.Background(), u)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Second}, clk.Waits())
}

// TestRateLimitEveryAttempt: retries and redirect hops each take a token.
func TestRateLimitEveryAttempt(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/start":
			http.Redirect(w, r, "/flaky", http.StatusFound)
		case n.Add(1) == 1:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 1, Burst: 1}), WithRetry(RetryPolicy{MaxAttempts: 2, MinWait: time.Millisecond, MaxWait: time.Millisecond}))
	clk := newFakeClock()
	clk.install(s)
	resp, err := s.Get(context.Background(), srv.URL+"/start")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 3, s.Stats().Requests)
	// The hop waits a second; the retry's backoff (1 ms) counts toward its
	// token, then it waits the rest.
	assert.Equal(t, []time.Duration{time.Second, time.Millisecond, time.Second - time.Millisecond}, clk.Waits())
	assert.Equal(t, 2*time.Second-time.Millisecond, s.Stats().RateLimitWait)
}

// TestRateLimitLogsLongWaits: a wait is a Debug record.
func TestRateLimitLogsLongWaits(t *testing.T) {
	t.Parallel()
	u, _ := hitServer(t, nil)
	l, buf := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 2}), WithLogger(l))
	clk := newFakeClock()
	clk.install(s)
	for range 2 {
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
	}
	var waits []map[string]any
	for _, r := range buf.records(t) {
		if r["msg"] == "reqivo: rate limit wait" {
			waits = append(waits, r)
		}
	}
	require.Len(t, waits, 1)
	assert.Equal(t, "DEBUG", waits[0]["level"])
	assert.Equal(t, hostKey(mustParse(t, u)), waits[0]["host"])
	assert.Equal(t, float64(500*time.Millisecond), waits[0]["wait"])
}

// fakeStore is a RateStore answering with a fixed wait or error.
type fakeStore struct {
	mu    sync.Mutex
	calls []string
	wait  time.Duration
	err   error
}

func (f *fakeStore) Reserve(ctx context.Context, key string, rate float64, burst int) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key+" "+strconv.FormatFloat(rate, 'g', -1, 64)+" "+strconv.Itoa(burst))
	return f.wait, f.err
}

func TestRateLimitStore(t *testing.T) {
	t.Parallel()
	u, hits := hitServer(t, nil)
	key := hostKey(mustParse(t, u))

	t.Run("the store decides", func(t *testing.T) {
		st := &fakeStore{wait: 250 * time.Millisecond}
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 5, Burst: 2, Store: st}))
		clk := newFakeClock()
		clk.install(s)
		for range 3 {
			_, err := s.Get(context.Background(), u)
			require.NoError(t, err)
		}
		assert.Equal(t, []string{key + " 5 2", key + " 5 2", key + " 5 2"}, st.calls)
		assert.Equal(t, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}, clk.Waits())
	})
	t.Run("an outage falls back to the local bucket", func(t *testing.T) {
		st := &fakeStore{err: errors.New("connection refused")}
		l, buf := newTestLogger(slog.LevelWarn)
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 4, Store: st}), WithLogger(l))
		clk := newFakeClock()
		clk.install(s)
		before := hits.Load()
		for range 3 {
			_, err := s.Get(context.Background(), u)
			require.NoError(t, err)
		}
		assert.EqualValues(t, 3, hits.Load()-before)
		assert.Equal(t, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}, clk.Waits(), "the local bucket at 4/s")
		recs := buf.records(t)
		require.NotEmpty(t, recs) // at most one a second: see TestLogNoticeStoreErrorsThrottled
		for _, r := range recs {
			assert.Equal(t, "WARN", r["level"])
			assert.Equal(t, "rate_store_error", r["kind"])
			assert.Contains(t, r["error"], "connection refused")
		}
	})
	t.Run("a store is told of a slowed rate", func(t *testing.T) {
		st := &fakeStore{}
		srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("RateLimit", `"default";r=2;t=10`)
		})
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, Store: st}))
		newFakeClock().install(s)
		for range 2 {
			_, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
		}
		k := hostKey(mustParse(t, srv.URL))
		assert.Equal(t, []string{k + " 100 1", k + " 0.2 1"}, st.calls)
	})
}

func TestRateLimitHostKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://Example.COM/x":       "example.com:80",
		"https://example.com/x":      "example.com:443",
		"https://example.com:8443/":  "example.com:8443",
		"http://[::1]/":              "[::1]:80",
		"http://user:pw@host:81/a?b": "host:81",
	} {
		assert.Equal(t, want, hostKey(mustParse(t, in)), in)
	}
}

func TestParseQuota(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name string
		h    http.Header
		want quota
		ok   bool
	}{
		{"none", http.Header{}, quota{}, false},
		{"IETF", http.Header{"Ratelimit": {`"x";r=3;t=9`}}, quota{3, 9 * time.Second}, true},
		{"IETF token name", http.Header{"Ratelimit": {`x;r=3;t=9`}}, quota{3, 9 * time.Second}, true},
		{"IETF without reset", http.Header{"Ratelimit": {`"x";r=3`}}, quota{}, false},
		{"IETF zero reset", http.Header{"Ratelimit": {`"x";r=3;t=0`}}, quota{}, false},
		{"IETF policy of another name", http.Header{"Ratelimit": {`"x";r=3`}, "Ratelimit-Policy": {`"y";q=10;w=60`}}, quota{}, false},
		{"reset capped", http.Header{"Ratelimit": {`"x";r=3;t=999999999`}}, quota{3, maxQuotaReset}, true},
		{"X- Unix time", http.Header{"X-Ratelimit-Remaining": {"7"}, "X-Ratelimit-Reset": {"1800000060"}}, quota{7, time.Minute}, true},
		{"X- without reset", http.Header{"X-Ratelimit-Remaining": {"7"}}, quota{}, false},
		{"X- fraction", http.Header{"X-Ratelimit-Remaining": {"7"}, "X-Ratelimit-Reset": {"1.5"}}, quota{}, false},
		{"IETF over X-", http.Header{"Ratelimit": {`"x";r=3;t=9`}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"5"}}, quota{3, 9 * time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseQuota(tc.h, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseQuota(f *testing.F) {
	for _, s := range []string{`"default";r=2;t=10`, `limit=1, remaining=0, reset=3`, `"a,b";r=1;t=2, b;r=0`, `"\"";r=1;t=1`, `;;,,=`} {
		f.Add(s, `"default";q=10;w=60`, "3", "1800000000")
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, rl, policy, rem, reset string) {
		h := http.Header{"Ratelimit": {rl}, "Ratelimit-Policy": {policy}, "X-Ratelimit-Remaining": {rem}, "X-Ratelimit-Reset": {reset}}
		q, ok := parseQuota(h, now)
		if !ok {
			return
		}
		if q.remaining < 0 || q.reset <= 0 || q.reset > maxQuotaReset {
			t.Fatalf("bad quota %+v from %q %q %q %q", q, rl, policy, rem, reset)
		}
	})
}

// TestRateLimitCancelledWait: a wait the caller cancels ends at once with
// ErrCanceled, nothing is sent, and the token goes back.
func TestRateLimitCancelledWait(t *testing.T) {
	t.Parallel()
	u, hits := hitServer(t, nil)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 0.001}), WithTimeout(0))
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = s.Get(ctx, u)
	assertRequestKind(t, err, ErrCanceled)
	assert.EqualValues(t, 1, hits.Load())
	assert.Positive(t, s.Stats().RateLimitWait)
	b := s.limiters.bucket(hostKey(mustParse(t, u)))
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.InDelta(t, 0, b.lim.TokensAt(b.last), 0.01, "the token went back")
}

// TestRateLimitRefusalClosesBody: a request whose wait for a token would
// pass its deadline is not sent, and its body is closed.
func TestRateLimitRefusalClosesBody(t *testing.T) {
	t.Parallel()
	u, hits, _ := statusServer(t)
	s := newTestSession(t, WithRateLimit(RateLimit{Rate: 0.001}))
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	body := &closeRecorder{Reader: strings.NewReader("x")}
	_, err = s.Post(context.Background(), u, Body(body))
	assertRequestKind(t, err, ErrRateLimited)
	assert.True(t, body.closed.Load(), "the refused body is closed")
	assert.Equal(t, int64(1), hits.Load(), "nothing sent")
}

// A server's pause is cut to MaxPause: one Retry-After of 1,000 hours, or
// a quota reset days away, does not stop the host for longer; a request
// that would wait past its deadline fails at once with ErrRateLimited,
// saying how long the host is still paused.
func TestRateLimitServerPauseCapped(t *testing.T) {
	t.Parallel()
	days := func(now time.Time) string { return strconv.FormatInt(now.Add(72*time.Hour).Unix(), 10) }
	tests := []struct {
		name     string
		maxPause time.Duration
		header   func(now time.Time) http.Header
		status   int
		want     time.Duration // the next request's wait
	}{
		{"Retry-After", 0, func(time.Time) http.Header { return http.Header{"Retry-After": {"3600000"}} }, 429, DefaultRateLimitMaxPause},
		{"Retry-After under MaxPause", time.Hour, func(time.Time) http.Header { return http.Header{"Retry-After": {"120"}} }, 503, 2 * time.Minute},
		{"Retry-After set MaxPause", time.Minute, func(time.Time) http.Header { return http.Header{"Retry-After": {"3600000"}} }, 429, time.Minute},
		{"spent quota reset days away", 0, func(now time.Time) http.Header {
			return http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {days(now)}}
		}, 200, DefaultRateLimitMaxPause},
		{"one left, reset days away", time.Minute, func(now time.Time) http.Header {
			return http.Header{"X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {days(now)}}
		}, 200, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			var first atomic.Bool
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				if first.CompareAndSwap(false, true) {
					for k, v := range tt.header(clk.Now()) {
						w.Header()[k] = v
					}
					w.WriteHeader(tt.status)
				}
			})
			s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, MaxPause: tt.maxPause}), WithTimeout(0))
			clk.install(s)
			_, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)

			// A deadline before the end of the pause: refused, the wait told.
			ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(tt.want/2))
			defer cancel()
			_, err = s.Get(ctx, srv.URL)
			assertRequestKind(t, err, ErrRateLimited)
			if tt.status != 200 || tt.header(clk.Now()).Get("X-Ratelimit-Remaining") == "0" {
				assert.Contains(t, err.Error(), "paused by the server for "+tt.want.String()+" more")
			} else {
				assert.Contains(t, err.Error(), "waiting "+tt.want.String())
			}

			_, err = s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{tt.want}, clk.Waits())
		})
	}
}

func TestWithRateLimitMaxPause(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithRateLimit(RateLimit{Rate: 1, MaxPause: -time.Second}))
	assert.ErrorIs(t, err, ErrInvalidOption)
	c := defaultConfig()
	require.NoError(t, WithRateLimit(RateLimit{Rate: 1})(c))
	assert.Equal(t, DefaultRateLimitMaxPause, c.rateLimit.MaxPause)
}
