package reqivo

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateClock is a Clock whose sleeps end only when the test lets one go
// (fire), so that a hedge's delay passes when the test says.
type gateClock struct {
	fire chan struct{}
}

func newGateClock() *gateClock { return &gateClock{fire: make(chan struct{})} }

func (g *gateClock) Now() time.Time { return time.Now() }

func (g *gateClock) Sleep(ctx context.Context, _ time.Duration) error {
	select {
	case <-g.fire:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release ends one sleep, waiting for one to begin.
func (g *gateClock) release(t *testing.T) {
	t.Helper()
	select {
	case g.fire <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("no hedge delay was waited")
	}
}

// hedgeServer numbers the copies as they arrive and reports the copies
// whose client went away while they were answered; its countingServer
// counts requests and connections. Copy n runs answer(n, w, r).
type hedgeServer struct {
	*countingServer
	n       atomic.Int64
	arrived chan int // each copy's number as it arrives
	gone    chan int // each copy's number when its client went away
}

func newHedgeServer(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *hedgeServer {
	t.Helper()
	hs := &hedgeServer{arrived: make(chan int, 16), gone: make(chan int, 16)}
	hs.countingServer = setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := int(hs.n.Add(1))
		hs.arrived <- n
		answer(n, w, r)
		if r.Context().Err() != nil {
			hs.gone <- n
		}
	})
	return hs
}

// wait returns the next value of ch, or fails the test.
func wait(t *testing.T, ch <-chan int, what string) int {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for " + what)
		return 0
	}
}

// The first copy is slow: after the delay a second goes, its answer wins,
// and the first is cancelled, its connection closed.
func TestHedgeFirstResponseWins(t *testing.T) {
	t.Parallel()
	hs := newHedgeServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // never answers
			return
		}
		_, _ = io.WriteString(w, "copy "+strconv.Itoa(n))
	})
	clk := newGateClock()
	var log seamLog
	s := newTestSession(t, WithClock(clk), WithHedging(Hedge{Delay: 50 * time.Millisecond, Max: 2}), log.observer())
	type result struct {
		resp *Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.Get(context.Background(), hs.URL)
		done <- result{resp, err}
	}()
	wait(t, hs.arrived, "the first copy")
	clk.release(t)
	wait(t, hs.arrived, "the hedge")
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "copy 2", r.resp.Text())
	assert.Equal(t, 1, wait(t, hs.gone, "the loser's end"), "the slow copy is cancelled")
	require.Eventually(t, func() bool { return hs.closed.Load() >= 1 }, 10*time.Second, 5*time.Millisecond,
		"the loser's connection is closed")

	st := s.Stats()
	assert.Equal(t, int64(2), st.Requests, "each copy counts")
	assert.Equal(t, int64(1), st.Hedges)
	assert.Equal(t, int64(2), st.ConnsOpened)
	assert.Equal(t, 1, r.resp.Attempts(), "copies are one try")

	require.Eventually(t, func() bool { _, ends := log.attempts(); return len(ends) == 2 }, 10*time.Second, 5*time.Millisecond)
	starts, ends := log.attempts()
	require.Len(t, starts, 2)
	assert.False(t, starts[0].Hedge)
	assert.True(t, starts[1].Hedge)
	assert.Equal(t, 1, starts[1].Attempt, "a copy shares its try's number")
	var lost, won int
	for _, e := range ends {
		if e.Hedge {
			assert.Equal(t, 200, e.StatusCode)
			won++
		} else {
			assert.ErrorIs(t, e.Err, ErrCanceled, "the loser ended as cancelled, not as the host's failure")
			lost++
		}
	}
	assert.Equal(t, 1, won)
	assert.Equal(t, 1, lost)

	// The winner's connection is kept and reused.
	resp, err := s.Get(context.Background(), hs.URL, Hedging(Hedge{}))
	require.NoError(t, err)
	assert.Equal(t, "copy 3", resp.Text())
	assert.Equal(t, int64(2), s.Stats().ConnsOpened)
}

// A first copy that answers within the delay is the only one sent.
func TestHedgeNotNeeded(t *testing.T) {
	t.Parallel()
	hs := newHedgeServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "copy "+strconv.Itoa(n))
	})
	s := newTestSession(t, WithClock(newGateClock()), WithHedging(Hedge{Delay: time.Hour, Max: 3}))
	for range 3 {
		resp, err := s.Get(context.Background(), hs.URL)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
	}
	assert.Equal(t, int64(3), hs.requests.Load())
	assert.Zero(t, s.Stats().Hedges)
}

// Copies whose response headers came after the winner's have their body
// closed unread: their connections are closed, not put back half-read.
func TestHedgeLoserWithHeadersClosed(t *testing.T) {
	t.Parallel()
	var both sync.WaitGroup
	both.Add(2)
	hs := newHedgeServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		both.Done()
		both.Wait() // both copies are in flight before either answers
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	s := newTestSession(t, WithHedging(Hedge{Max: 2})) // no delay: both at once
	resp, err := s.Get(context.Background(), hs.URL, Stream())
	require.NoError(t, err)
	loser := wait(t, hs.gone, "the loser's end")
	select {
	case n := <-hs.gone:
		t.Fatalf("copy %d ended too: the winner's connection must stay open", n)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, resp.Close())
	winner := wait(t, hs.gone, "the winner's end")
	assert.NotEqual(t, loser, winner)
	require.Eventually(t, func() bool { return hs.closed.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
}

// Only idempotent requests are hedged: GET, HEAD, OPTIONS, or a request
// with an Idempotency-Key.
func TestHedgeOnlyIdempotent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		method string
		opts   []RequestOption
		copies int64
	}{
		{name: "GET", method: http.MethodGet, copies: 3},
		{name: "HEAD", method: http.MethodHead, copies: 3},
		{name: "OPTIONS", method: http.MethodOptions, copies: 3},
		{name: "POST", method: http.MethodPost, opts: []RequestOption{BodyString("x")}, copies: 1},
		{name: "PUT", method: http.MethodPut, opts: []RequestOption{BodyString("x")}, copies: 1},
		{name: "DELETE", method: http.MethodDelete, copies: 1},
		{name: "POST with Idempotency-Key", method: http.MethodPost,
			opts: []RequestOption{BodyString("x"), Header("Idempotency-Key", "k1")}, copies: 3},
		{name: "POST with Idempotency-Key, body not replayable", method: http.MethodPost,
			opts: []RequestOption{Body(&onceReader{r: strings.NewReader("x")}), Header("Idempotency-Key", "k1")}, copies: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var all sync.WaitGroup
			all.Add(int(tt.copies))
			var bodies sync.Map
			hs := newHedgeServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies.Store(n, string(b))
				all.Done()
				all.Wait() // answer once every copy expected is in
			})
			s := newTestSession(t, WithHedging(Hedge{Max: 3}))
			_, err := s.Request(context.Background(), tt.method, hs.URL, tt.opts...)
			require.NoError(t, err)
			assert.Equal(t, tt.copies, hs.requests.Load())
			assert.Equal(t, tt.copies-1, s.Stats().Hedges)
			if tt.method == http.MethodPost {
				bodies.Range(func(_, v any) bool {
					assert.Equal(t, "x", v, "each copy carries the whole body")
					return true
				})
			}
		})
	}
}

// The retry budget refuses a hedge: only the notice is reported.
func TestHedgeBudgetRefuses(t *testing.T) {
	t.Parallel()
	proceed := make(chan struct{})
	hs := newHedgeServer(t, func(int, http.ResponseWriter, *http.Request) { <-proceed })
	var ev seamLog
	clk := newGateClock()
	s := newTestSession(t, WithClock(clk), WithHedging(Hedge{Delay: time.Second, Max: 3}), WithRetryBudget(RetryBudget{}), ev.observer())
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(context.Background(), hs.URL)
		done <- err
	}()
	wait(t, hs.arrived, "the first copy")
	clk.release(t)
	require.Eventually(t, func() bool { return s.Stats().RetryBudgetRefused == 1 }, 10*time.Second, time.Millisecond)
	close(proceed)
	require.NoError(t, <-done)
	assert.Equal(t, int64(1), hs.requests.Load())
	assert.Zero(t, s.Stats().Hedges)
	retries, notices := ev.events()
	assert.Empty(t, retries, "a refused hedge is no Retry event")
	require.Len(t, notices, 1)
	assert.Equal(t, NoticeRetryBudget, notices[0].Kind)
	assert.Contains(t, notices[0].Detail, "not hedging")
}

// Hedges draw on the host's budget: with a reserve of one, one hedge goes.
func TestHedgeDrawsOnBudget(t *testing.T) {
	t.Parallel()
	var all sync.WaitGroup
	all.Add(2)
	var s *Session
	hs := newHedgeServer(t, func(n int, _ http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			all.Done()
			all.Wait() // the first request's two copies
			return
		}
		// The second request's hedge is refused before it answers.
		for deadline := time.Now().Add(10 * time.Second); s.Stats().RetryBudgetRefused == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	})
	s = newTestSession(t, WithHedging(Hedge{Max: 2}), WithRetryBudget(RetryBudget{MinPerSecond: 0.1}))
	for range 2 {
		_, err := s.Get(context.Background(), hs.URL)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), hs.requests.Load())
	assert.Equal(t, int64(1), s.Stats().Hedges)
	assert.Equal(t, int64(1), s.Stats().RetryBudgetRefused)
}

// Hedging on a request replaces the session's; Hedging(Hedge{}) turns it
// off.
func TestHedgingPerRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		session []Option
		request []RequestOption
		copies  int64
	}{
		{name: "session", session: []Option{WithHedging(Hedge{Max: 2})}, copies: 2},
		{name: "request off", session: []Option{WithHedging(Hedge{Max: 2})}, request: []RequestOption{Hedging(Hedge{})}, copies: 1},
		{name: "request on", request: []RequestOption{Hedging(Hedge{Max: 3})}, copies: 3},
		{name: "request replaces", session: []Option{WithHedging(Hedge{Max: 3})}, request: []RequestOption{Hedging(Hedge{Max: 2})}, copies: 2},
		{name: "Max 1", request: []RequestOption{Hedging(Hedge{Max: 1})}, copies: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var all sync.WaitGroup
			all.Add(int(tt.copies))
			hs := newHedgeServer(t, func(int, http.ResponseWriter, *http.Request) {
				all.Done()
				all.Wait()
			})
			s := newTestSession(t, tt.session...)
			_, err := s.Get(context.Background(), hs.URL, tt.request...)
			require.NoError(t, err)
			assert.Equal(t, tt.copies, hs.requests.Load())
		})
	}
}

func TestHedgeValidates(t *testing.T) {
	t.Parallel()
	for _, h := range []Hedge{{Delay: -time.Second, Max: 2}, {Max: -1}} {
		_, err := NewSession(WithHedging(h))
		assert.ErrorIs(t, err, ErrInvalidOption)
		s := newTestSession(t)
		_, err = s.Get(context.Background(), "http://127.0.0.1:1/", Hedging(h))
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

// Every copy failing fails the try, which the retry policy then sees.
func TestHedgeAllCopiesFail(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	s := newTestSession(t, WithHedging(Hedge{Max: 3}))
	_, err := s.Get(context.Background(), "http://"+addr+"/")
	assert.ErrorIs(t, err, ErrNetwork)
	assert.LessOrEqual(t, s.Stats().Requests, int64(3))
}
