package reqivo

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo/internal/sse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retryRecorder is an Observer that keeps the retries it is told of.
type retryRecorder struct{ recorder[RetryInfo] }

func (r *retryRecorder) option() Option {
	return WithObserver(Observer{Retry: func(_ context.Context, ri RetryInfo) { r.add(ri) }})
}

// brokenBody answers with a body of size bytes cut off in the middle, with
// the extra headers.
func brokenBody(w http.ResponseWriter, size int, extra http.Header) {
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(make([]byte, size/2))
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// TestDownloadWaitsForRetryAfter: a body that breaks is retried after the
// response's Retry-After, not the backoff, on the session's clock, and the
// retry is reported to Observer.Retry.
func TestDownloadWaitsForRetryAfter(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 1 {
			brokenBody(w, 100, http.Header{"Retry-After": {"7"}})
		}
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write(make([]byte, 100))
	})
	var rec retryRecorder
	s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MinWait: 10 * time.Millisecond, MaxWait: 10 * time.Second}, rec.option())
	resp, err := s.Download(context.Background(), srv.URL, filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 2, hits.Load())
	assert.Equal(t, []time.Duration{7 * time.Second}, clk.Waits())
	infos := rec.get()
	require.Len(t, infos, 1)
	assert.Equal(t, 7*time.Second, infos[0].Wait)
	assert.Equal(t, 1, infos[0].Attempt)
	assert.ErrorIs(t, infos[0].Err, ErrNetwork)

	t.Run("over MaxWait", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			brokenBody(w, 100, http.Header{"Retry-After": {"3600"}})
		})
		s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MaxWait: time.Second})
		_, err := s.Download(context.Background(), srv.URL, filepath.Join(t.TempDir(), "f"))
		assert.ErrorIs(t, err, ErrNetwork)
		assert.EqualValues(t, 1, hits.Load(), "a Retry-After over MaxWait ends the retries")
		assert.Empty(t, clk.Waits())
	})
}

// TestDownloadMaxAttemptsBoundsEveryAttempt: MaxAttempts counts the body
// retries and the retries of each request of the Download together.
func TestDownloadMaxAttemptsBoundsEveryAttempt(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 1 {
			brokenBody(w, 100, nil)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Second})
	_, err := s.Download(context.Background(), srv.URL, filepath.Join(t.TempDir(), "f"))
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
	assert.EqualValues(t, 3, hits.Load(), "one broken body, then two 503s: three attempts in all")
}

// TestEventsReconnectionObserved: each reconnection is reported to
// Observer.Retry, Attempt counting the reconnections in a row from 1, with
// the wait the stream then takes.
func TestEventsReconnectionObserved(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		switch hits.Add(1) {
		case 1:
			sseStart(w)
			sseSend(w, "retry: 100\ndata: a\n\n")
		case 2, 3:
			sseStart(w) // ends with no event
		case 4:
			sseStart(w)
			sseSend(w, "data: b\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	var rec retryRecorder
	s := newTestSession(t, rec.option())
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL))
	assert.Empty(t, errs)
	assert.Len(t, evs, 2)
	infos := rec.get()
	attempts := make([]int, len(infos))
	waits := make([]time.Duration, len(infos))
	for i, ri := range infos {
		attempts[i], waits[i] = ri.Attempt, ri.Wait
		assert.Equal(t, http.MethodGet, ri.Method)
		assert.Equal(t, srv.URL, ri.URL)
		assert.NoError(t, ri.Err, "the stream ended cleanly")
	}
	assert.Equal(t, []int{1, 2, 3, 1}, attempts, "in a row from 1, reset by an event")
	assert.Equal(t, clk.get(), waits)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 100 * time.Millisecond}, waits)
}

// TestEventsRetryFieldClamped: a retry field of centuries, with the
// largest jitter, waits an hour and a half at most: never a negative wait
// (which reconnected thousands of times a second).
func TestEventsRetryFieldClamped(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 1 {
			sseStart(w)
			sseSend(w, "retry: "+strings.Repeat("9", 40)+"\ndata: a\n\n")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := newTestSession(t)
	clk := newFakeClock() // jitter draws the largest value
	clk.install(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL))
	assert.Empty(t, errs)
	require.Len(t, evs, 1)
	assert.Equal(t, maxServerWait, evs[0].Retry)
	waits := clk.Waits()
	require.Len(t, waits, 1)
	assert.Equal(t, maxServerWait+maxServerWait/2-1, waits[0])
}

// reconnectWaitBound is the longest wait reconnectWait may give.
const reconnectWaitBound = maxServerWait + maxServerWait/2

func TestReconnectWaitBounded(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	clk := newFakeClock()
	clk.install(s)
	for _, base := range []time.Duration{math.MinInt64, -1, 0, 1, time.Second, maxServerWait, math.MaxInt64} {
		for _, n := range []int{math.MinInt, 0, 1, 2, 62, 63, 64, math.MaxInt} {
			for _, ra := range []time.Duration{math.MinInt64, 0, time.Hour, math.MaxInt64} {
				w := s.reconnectWait(base, n, ra)
				assert.GreaterOrEqual(t, w, time.Duration(0), "base %v n %d ra %v", base, n, ra)
				assert.LessOrEqual(t, w, reconnectWaitBound, "base %v n %d ra %v", base, n, ra)
			}
		}
	}
}

// FuzzReconnectWait: whatever the server's retry field and Retry-After,
// and whatever the jitter draws, a reconnection waits between zero and an
// hour and a half.
func FuzzReconnectWait(f *testing.F) {
	f.Add([]byte("99999999999999999999999999"), 3, int64(0), uint64(0))
	f.Add([]byte("3000"), 1, int64(math.MaxInt64), uint64(math.MaxUint64))
	f.Add([]byte("x"), -5, int64(-1), uint64(1))
	f.Fuzz(func(t *testing.T, field []byte, n int, ra int64, draw uint64) {
		base := DefaultReconnectWait
		if d, ok := sse.ParseRetry(field, maxServerWait); ok {
			if d < 0 || d > maxServerWait {
				t.Fatalf("retry field %q = %v: out of [0, %v]", field, d, maxServerWait)
			}
			base = d
		}
		s := &Session{clock: clock{jitter: func(m int64) int64 { return int64(draw % uint64(m)) }}}
		if w := s.reconnectWait(base, n, time.Duration(ra)); w < 0 || w > reconnectWaitBound {
			t.Fatalf("reconnectWait(%v, %d, %v) = %v", base, n, time.Duration(ra), w)
		}
	})
}
