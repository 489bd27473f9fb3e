package reqivo

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a retry clock that never sleeps: a wait is recorded and
// moves the clock on. Its jitter draws the largest value allowed, so waits
// are the backoff ceilings.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	frozen bool // a wait is recorded but does not move the clock
	waits  []time.Duration
	draws  []int64 // the bounds jitter was called with
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

// newFrozenClock is a fakeClock that stands still: concurrent requests
// each show the wait they were given.
func newFrozenClock() *fakeClock { return &fakeClock{now: time.Now(), frozen: true} }

func (c *fakeClock) install(s *Session) {
	s.clock = clock{now: c.Now, sleep: c.sleep, jitter: c.jitter}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if !c.frozen {
		c.now = c.now.Add(d)
	}
	return ctx.Err()
}

func (c *fakeClock) jitter(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draws = append(c.draws, n)
	return n - 1
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// newRetrySession is a test session with retries on and a fake clock.
func newRetrySession(t *testing.T, p RetryPolicy, opts ...Option) (*Session, *fakeClock) {
	t.Helper()
	s := newTestSession(t, append([]Option{WithRetry(p)}, opts...)...)
	c := newFakeClock()
	c.install(s)
	return s, c
}

// flakyServer answers with the statuses in order (the last one for ever),
// and counts the requests it got.
func flakyServer(t *testing.T, header http.Header, statuses ...int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := int(hits.Add(1))
		code := statuses[min(n, len(statuses))-1]
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "attempt "+strconv.Itoa(n))
	})
	return srv, &hits
}

func TestRetryRecovers(t *testing.T) {
	t.Parallel()
	srv, hits := flakyServer(t, nil, 503, 502, 504, 200)
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 5, MinWait: 10 * time.Millisecond, MaxWait: time.Second})
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "attempt 4", resp.Text())
	assert.Equal(t, int64(4), hits.Load())
	assert.Equal(t, 4, resp.Attempts())
	assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, clk.Waits())
	assert.Equal(t, []Attempt{
		{StatusCode: 503, Wait: 10 * time.Millisecond},
		{StatusCode: 502, Wait: 20 * time.Millisecond},
		{StatusCode: 504, Wait: 40 * time.Millisecond},
	}, resp.Retries())
	assert.Equal(t, int64(4), s.Stats().Requests, "every attempt counts")
	assert.Equal(t, int64(1), s.Stats().ConnsOpened, "retried responses are drained and their connection reused")
}

func TestRetryGivesUp(t *testing.T) {
	t.Parallel()
	t.Run("status", func(t *testing.T) {
		t.Parallel()
		srv, hits := flakyServer(t, nil, 503)
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
		resp, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err, "the last response is the answer")
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "attempt 3", resp.Text())
		assert.Equal(t, 3, resp.Attempts())
		assert.Len(t, resp.Retries(), 2)
		assert.Equal(t, int64(3), hits.Load())
		assert.Len(t, clk.Waits(), 2)
	})
	t.Run("network", func(t *testing.T) {
		t.Parallel()
		srv := dyingServer(t, 1000)
		s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
		_, err := s.Get(context.Background(), srv.URL())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrNetwork)
		assert.Contains(t, err.Error(), "after 3 attempts")
		assert.Equal(t, int64(3), srv.opened.Load())
		assert.Equal(t, int64(3), s.Stats().Requests)
	})
}

func TestRetryOnlyIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		header string
		want   int64
	}{
		{"GET", http.MethodGet, "", 3},
		{"HEAD", http.MethodHead, "", 3},
		{"OPTIONS", http.MethodOptions, "", 3},
		{"PUT", http.MethodPut, "", 3},
		{"DELETE", http.MethodDelete, "", 3},
		{"POST", http.MethodPost, "", 1},
		{"PATCH", http.MethodPatch, "", 1},
		{"POST with Idempotency-Key", http.MethodPost, "k-1", 3},
		{"PATCH with Idempotency-Key", http.MethodPatch, "k-2", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := flakyServer(t, nil, 503)
			s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
			var opts []RequestOption
			if tt.header != "" {
				opts = append(opts, Header("Idempotency-Key", tt.header))
			}
			opts = append(opts, BodyString(`{"a":1}`))
			resp, err := s.Request(context.Background(), tt.method, srv.URL, opts...)
			require.NoError(t, err)
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, tt.want, hits.Load())
			assert.Equal(t, int(tt.want), resp.Attempts())
		})
	}
}

func TestRetryStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		retry  bool
	}{
		{429, true}, {502, true}, {503, true}, {504, true},
		{500, false}, {501, false}, {400, false}, {404, false}, {408, false}, {200, false}, {304, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			srv, hits := flakyServer(t, nil, tt.status)
			s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 2})
			resp, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			want := int64(1)
			if tt.retry {
				want = 2
			}
			assert.Equal(t, want, hits.Load())
		})
	}
}

func TestRetryNoRetriesByDefault(t *testing.T) {
	t.Parallel()
	srv, hits := flakyServer(t, nil, 503, 200)
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, int64(1), hits.Load())
	assert.Equal(t, 1, resp.Attempts())
	assert.Empty(t, resp.Retries())

	for _, n := range []int{0, 1} {
		s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: n})
		resp, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err)
		assert.Equal(t, 1, resp.Attempts(), "MaxAttempts %d", n)
	}
}

// bodyRecorder is a server that answers 503 until the last attempt and
// keeps every body it got, with its Content-Length.
func bodyRecorder(t *testing.T, failures int) (*httptest.Server, func() ([]string, []int64)) {
	t.Helper()
	var mu sync.Mutex
	var bodies []string
	var lengths []int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		lengths = append(lengths, r.ContentLength)
		n := len(bodies)
		mu.Unlock()
		if n <= failures {
			w.WriteHeader(503)
		}
	})
	return srv, func() ([]string, []int64) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...), append([]int64(nil), lengths...)
	}
}

func TestRetryReplaysBodyByteForByte(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("0123456789abcdef\x00\xff", 5000) // 90 KB, binary
	tests := []struct {
		name string
		do   func(s *Session, url string) (int, error)
	}{
		{"BodyBytes", func(s *Session, url string) (int, error) {
			resp, err := s.Put(context.Background(), url, BodyBytes([]byte(payload)))
			if err != nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}},
		{"Body strings.Reader", func(s *Session, url string) (int, error) {
			resp, err := s.Put(context.Background(), url, Body(strings.NewReader(payload)))
			if err != nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}},
		{"Do with GetBody", func(s *Session, url string) (int, error) {
			req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(payload))
			if err != nil {
				return 0, err
			}
			resp, err := s.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			return resp.StatusCode, nil
		}},
		{"HTTPClient", func(s *Session, url string) (int, error) {
			resp, err := s.HTTPClient().Post(url, "application/octet-stream", strings.NewReader(payload))
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			return resp.StatusCode, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, got := bodyRecorder(t, 2)
			rule := DefaultRetry
			if tt.name == "HTTPClient" {
				// POST: retried here by a custom rule, to show the body is
				// replayed whichever way the request came in.
				rule = func(req *http.Request, resp *http.Response, err error) bool {
					return resp != nil && resp.StatusCode == 503
				}
			}
			s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 4, Retry: rule})
			code, err := tt.do(s, srv.URL)
			require.NoError(t, err)
			assert.Equal(t, 200, code)
			bodies, lengths := got()
			require.Len(t, bodies, 3)
			for i, b := range bodies {
				assert.True(t, b == payload, "attempt %d: body of %d bytes differs", i+1, len(b))
				assert.Equal(t, int64(len(payload)), lengths[i], "attempt %d: Content-Length", i+1)
			}
		})
	}
}

// onceReader is a reader that cannot be rewound.
type onceReader struct{ r io.Reader }

func (o *onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestRetryNotWithoutReplayableBody(t *testing.T) {
	t.Parallel()
	always := func(*http.Request, *http.Response, error) bool { return true }
	tests := []struct {
		name string
		do   func(s *Session, url string) (*http.Response, error)
	}{
		{"Body reader", func(s *Session, url string) (*http.Response, error) {
			resp, err := s.Put(context.Background(), url, Body(&onceReader{strings.NewReader("once")}))
			if err != nil {
				return nil, err
			}
			return resp.Response, nil
		}},
		{"Do without GetBody", func(s *Session, url string) (*http.Response, error) {
			req, err := http.NewRequest(http.MethodPut, url, &onceReader{strings.NewReader("once")})
			if err != nil {
				return nil, err
			}
			return s.Do(req)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, got := bodyRecorder(t, 5)
			s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 4, Retry: always})
			resp, err := tt.do(s, srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, 503, resp.StatusCode, "the first answer is returned")
			bodies, _ := got()
			assert.Equal(t, []string{"once"}, bodies, "sent once, even though Retry says yes")
			assert.Empty(t, clk.Waits())
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	clockStart := time.Now()
	date := func(d time.Duration) string { return clockStart.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name       string
		value      func() string
		wantWaits  []time.Duration // nil: the retries end with the first response
		wantStatus int
	}{
		{"seconds", func() string { return "2" }, []time.Duration{2 * time.Second}, 200},
		{"zero", func() string { return "0" }, []time.Duration{0}, 200},
		{"at MaxWait", func() string { return "5" }, []time.Duration{5 * time.Second}, 200},
		{"padded", func() string { return " 3 " }, []time.Duration{3 * time.Second}, 200},
		{"date", func() string { return date(3 * time.Second) }, []time.Duration{3 * time.Second}, 200},
		{"date in the past", func() string { return date(-time.Hour) }, []time.Duration{0}, 200},
		{"over MaxWait", func() string { return "6" }, nil, 503},
		{"date over MaxWait", func() string { return date(time.Hour) }, nil, 503},
		{"484289 hours", func() string { return "1743440400" }, nil, 503},
		{"overflowing", func() string { return "99999999999999999999999999" }, nil, 503},
		{"max int64", func() string { return "9223372036854775807" }, nil, 503},
		// Values that are not Retry-After fall back to the backoff (100 ms
		// at most for the first retry).
		{"negative", func() string { return "-1" }, []time.Duration{100 * time.Millisecond}, 200},
		{"plus sign", func() string { return "+1" }, []time.Duration{100 * time.Millisecond}, 200},
		{"fraction", func() string { return "1.5" }, []time.Duration{100 * time.Millisecond}, 200},
		{"garbage", func() string { return "soon" }, []time.Duration{100 * time.Millisecond}, 200},
		{"hex", func() string { return "0x10" }, []time.Duration{100 * time.Millisecond}, 200},
		{"empty", func() string { return "" }, []time.Duration{100 * time.Millisecond}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := flakyServer(t, http.Header{"Retry-After": {tt.value()}}, 503, 200)
			s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MaxWait: 5 * time.Second})
			clk.now = clockStart
			resp, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			waits := clk.Waits()
			if tt.wantWaits == nil {
				assert.Empty(t, waits)
				assert.Equal(t, int64(1), hits.Load())
				return
			}
			require.Len(t, waits, 1)
			if strings.HasPrefix(tt.name, "date") {
				// HTTP dates have whole seconds.
				assert.InDelta(t, float64(tt.wantWaits[0]), float64(waits[0]), float64(time.Second))
			} else {
				assert.Equal(t, tt.wantWaits, waits)
			}
			for _, w := range waits {
				assert.GreaterOrEqual(t, w, time.Duration(0))
				assert.LessOrEqual(t, w, 5*time.Second)
			}
		})
	}
}

func TestRetryWaitNeverOutlivesContext(t *testing.T) {
	t.Parallel()
	t.Run("deadline shorter than the wait", func(t *testing.T) {
		t.Parallel()
		srv, hits := flakyServer(t, http.Header{"Retry-After": {"4"}}, 503, 200)
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MaxWait: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := s.Get(ctx, srv.URL)
		require.NoError(t, err)
		assert.Equal(t, 503, resp.StatusCode, "the response is returned rather than waiting past the deadline")
		assert.Empty(t, clk.Waits())
		assert.Equal(t, int64(1), hits.Load())
	})
	t.Run("cancelled during the wait", func(t *testing.T) {
		t.Parallel()
		// The real clock, with an hour's wait: only ctx.Done can end it.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var hits atomic.Int64
		srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		})
		s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3, MinWait: time.Hour, MaxWait: 2 * time.Hour}), WithTimeout(0))
		done := make(chan error, 1)
		go func() {
			_, err := s.Get(ctx, srv.URL)
			done <- err
		}()
		select {
		case err := <-done:
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, int64(1), hits.Load())
		case <-time.After(30 * time.Second):
			t.Fatal("the retry wait did not end with the context")
		}
	})
	t.Run("total timeout during the wait", func(t *testing.T) {
		t.Parallel()
		srv, _ := flakyServer(t, nil, 503)
		s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3, MinWait: time.Hour, MaxWait: time.Hour}),
			WithTimeout(200*time.Millisecond))
		s.clock.jitter = func(n int64) int64 { return 0 } // a zero wait passes the deadline check ...
		s.clock.sleep = func(ctx context.Context, d time.Duration) error {
			<-ctx.Done() // ... and then the wait is as long as the context allows
			return ctx.Err()
		}
		_, err := s.Get(context.Background(), srv.URL)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// dyingServer closes the first `dying` connections as soon as their
// request has arrived, before any response; the later ones get a 200. Its
// opened count is the connections accepted.
func dyingServer(t *testing.T, dying int64) *rawServer {
	t.Helper()
	var n atomic.Int64
	return setupRawServer(t, afterRequest(func(c net.Conn, _ *http.Request) bool {
		if n.Add(1) <= dying {
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		return false
	}))
}

func TestRetryConnectionDiesBeforeResponse(t *testing.T) {
	t.Parallel()
	t.Run("idempotent", func(t *testing.T) {
		t.Parallel()
		srv := dyingServer(t, 2)
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
		resp, err := s.Get(context.Background(), srv.URL())
		require.NoError(t, err)
		assert.Equal(t, "ok", resp.Text())
		assert.Equal(t, int64(3), srv.opened.Load())
		assert.Equal(t, 3, resp.Attempts())
		require.Len(t, resp.Retries(), 2)
		for _, a := range resp.Retries() {
			assert.Equal(t, 0, a.StatusCode)
			assert.ErrorIs(t, a.Err, ErrNetwork)
		}
		assert.Len(t, clk.Waits(), 2)
	})
	t.Run("POST is not", func(t *testing.T) {
		t.Parallel()
		srv := dyingServer(t, 2)
		s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
		_, err := s.Post(context.Background(), srv.URL(), BodyString("x"))
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrNetwork)
		assert.Equal(t, int64(1), srv.opened.Load())
	})
}

func TestRetryNotOnTLSFailure(t *testing.T) {
	t.Parallel()
	var handshakes atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			handshakes.Add(1)
		}
	}
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3}) // the test cert is not trusted
	_, err := s.Get(context.Background(), srv.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTLS)
	assert.Empty(t, clk.Waits())
	assert.Equal(t, int64(1), s.Stats().Requests)
}

func TestRetryEachRedirectHop(t *testing.T) {
	t.Parallel()
	var hitsA, hitsB atomic.Int64
	var b *httptest.Server
	b = setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hitsB.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, "b")
	})
	a := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hitsA.Add(1) < 2 {
			w.WriteHeader(502)
			return
		}
		http.Redirect(w, r, b.URL+"/final", http.StatusFound)
	})
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
	resp, err := s.Get(context.Background(), a.URL)
	require.NoError(t, err)
	assert.Equal(t, "b", resp.Text())
	assert.Equal(t, 3, resp.Attempts(), "attempts of the final hop")
	assert.Len(t, resp.History(), 1)
	assert.Equal(t, int64(2), hitsA.Load())
	assert.Equal(t, int64(3), hitsB.Load())
	assert.Len(t, clk.Waits(), 3)
	assert.Equal(t, int64(5), s.Stats().Requests)
}
