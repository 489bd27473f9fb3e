// Tests of the retry policy on its own: backoff, Retry-After parsing, the
// default rule, the policy's validation and the context-bound sleep.

package reqivo

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryBackoffExponentialFullJitter(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MinWait: 100 * time.Millisecond, MaxWait: time.Second}
	top := func(n int64) int64 { return n - 1 }
	var bounds []int64
	record := func(n int64) int64 { bounds = append(bounds, n); return 0 }
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		assert.Equal(t, w*time.Millisecond, p.backoff(i+1, top), "ceiling of retry %d", i+1)
		assert.Equal(t, time.Duration(0), p.backoff(i+1, record), "floor of retry %d", i+1)
	}
	// Full jitter: the draw is over [0, ceiling], never a fixed part of it.
	for i, b := range bounds {
		assert.Equal(t, int64(want[i]*time.Millisecond)+1, b)
	}
	// A huge retry count neither overflows nor goes past MaxWait.
	assert.Equal(t, time.Second, p.backoff(1000, top))
	assert.Equal(t, time.Second, p.backoff(63, top))
	assert.Equal(t, 100*time.Millisecond, p.backoff(0, top))

	// With the real random source, every wait stays in its bounds.
	for n := 1; n < 10; n++ {
		for range 50 {
			w := p.backoff(n, realClock.jitter)
			assert.GreaterOrEqual(t, w, time.Duration(0))
			assert.LessOrEqual(t, w, min(p.MaxWait, p.MinWait<<(n-1)))
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{"0", 0, true},
		{"007", 7 * time.Second, true},
		{"Wed, 21 Oct 2015 07:28:10 GMT", 10 * time.Second, true},
		{"Wednesday, 21-Oct-15 07:28:10 GMT", 10 * time.Second, true},
		{"Wed Oct 21 07:28:10 2015", 10 * time.Second, true},
		{"Wed, 21 Oct 2015 07:27:00 GMT", 0, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter, true},
		{"3600000000", maxRetryAfter, true},
		{"99999999999999999999", maxRetryAfter, true},
		{"-5", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{"Wed, 21 Oct 2015", 0, false},
		{"١٢", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tt.in, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSleepCtx(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
	assert.ErrorIs(t, sleepCtx(ctx, 0), context.Canceled)
	assert.NoError(t, sleepCtx(context.Background(), -time.Second))
	assert.NoError(t, sleepCtx(context.Background(), time.Millisecond))
}

func TestDefaultRetryRule(t *testing.T) {
	t.Parallel()
	get, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	post, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	postKey, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	postKey.Header.Set("Idempotency-Key", "1")
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name string
		req  *http.Request
		code int
		err  error
		want bool
	}{
		{"GET network error", get, 0, netErr, true},
		{"GET EOF", get, 0, io.EOF, true},
		{"GET cancelled", get, 0, context.Canceled, false},
		{"GET deadline", get, 0, context.DeadlineExceeded, false},
		{"GET TLS", get, 0, &tls.CertificateVerificationError{Err: errors.New("x")}, false},
		{"GET 503", get, 503, nil, true},
		{"GET 500", get, 500, nil, false},
		{"POST network error", post, 0, netErr, false},
		{"POST 503", post, 503, nil, false},
		{"POST Idempotency-Key 429", postKey, 429, nil, true},
		{"POST Idempotency-Key network error", postKey, 0, netErr, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var resp *http.Response
			if tt.err == nil {
				resp = &http.Response{StatusCode: tt.code}
			}
			assert.Equal(t, tt.want, DefaultRetry(tt.req, resp, tt.err))
		})
	}
}

func TestWithRetryValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    RetryPolicy
		ok   bool
	}{
		{"zero", RetryPolicy{}, true},
		{"defaults filled", RetryPolicy{MaxAttempts: 3}, true},
		{"negative attempts", RetryPolicy{MaxAttempts: -1}, false},
		{"negative MinWait", RetryPolicy{MinWait: -1}, false},
		{"negative MaxWait", RetryPolicy{MaxWait: -1}, false},
		{"MinWait over MaxWait", RetryPolicy{MinWait: 2 * time.Second, MaxWait: time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewSession(WithRetry(tt.p))
			if !tt.ok {
				assert.ErrorIs(t, err, ErrInvalidOption)
				return
			}
			require.NoError(t, err)
			assert.NoError(t, s.Close())
		})
	}
	// Unset waits and rule take their defaults, seen in the waits of a
	// request retried until the cap: the fake clock draws each ceiling.
	srv, hits := flakyServer(t, nil, 503, 503, 503, 503, 503, 503, 503, 200)
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 8})
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "DefaultRetry retried the 503s")
	assert.Equal(t, int64(8), hits.Load())
	m := DefaultRetryMinWait
	assert.Equal(t, []time.Duration{m, 2 * m, 4 * m, 8 * m, 16 * m, 32 * m, DefaultRetryMaxWait}, clk.Waits())
	assert.Equal(t, 100*time.Millisecond, DefaultRetryMinWait)
	assert.Equal(t, 5*time.Second, DefaultRetryMaxWait)
}

// A MaxWait of the largest Duration ("no cap") must not panic the random
// draw: its bound, MaxWait+1, overflowed.
func TestRetryMaxWaitLargestDuration(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MinWait: time.Duration(math.MaxInt64), MaxWait: time.Duration(math.MaxInt64)}
	for range 20 {
		w := p.backoff(1, realClock.jitter)
		assert.GreaterOrEqual(t, w, time.Duration(0))
	}
	srv, hits := flakyServer(t, nil, 503, 200)
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 2, MaxWait: time.Duration(math.MaxInt64)}))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(2), hits.Load())
}
