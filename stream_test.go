package reqivo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// sseStart sends the headers of an event stream.
func sseStart(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// sseSend writes s and flushes it; false when the client has gone.
func sseSend(w http.ResponseWriter, s string) bool {
	if _, err := io.WriteString(w, s); err != nil {
		return false
	}
	return http.NewResponseController(w).Flush() == nil
}

// collect ranges seq whole.
func collect[T any](seq iter.Seq2[T, error]) (vals []T, errs []error) {
	for v, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vals = append(vals, v)
	}
	return vals, errs
}

func datas(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Data
	}
	return out
}

// fakeWaits replaces the session's clock: reconnection waits are recorded,
// not slept, and the jitter is 0.
type fakeWaits struct {
	mu    sync.Mutex
	waits []time.Duration
}

func useFakeClock(s *Session) *fakeWaits {
	f := &fakeWaits{}
	s.clock = clock{now: time.Now, jitter: func(int64) int64 { return 0 }, sleep: func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		f.waits = append(f.waits, d)
		f.mu.Unlock()
		return ctx.Err()
	}}
	return f
}

func (f *fakeWaits) get() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// abort ends the handler by dropping the connection mid-stream.
func abort() { panic(http.ErrAbortHandler) }

// TestEventsThroughSession: the LLM case, a POST with a JSON prompt, goes
// the session's whole way, and tokens arrive as they are sent.
func TestEventsThroughSession(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Cookie") != "c=1" || r.Header.Get("X-Hook") != "yes" || r.Header.Get("X-Mw") != "yes" ||
			r.Header.Get("Content-Type") != "application/json" || string(body) != `{"prompt":"hi"}` || r.URL.Path != "/v1/chat" {
			http.Error(w, fmt.Sprintf("bad request: %v %s", r.Header, body), http.StatusBadRequest)
			return
		}
		sseStart(w)
		for _, tok := range []string{"Hel", "lo", "[DONE]"} {
			sseSend(w, "event: token\ndata: "+tok+"\n\n")
			<-next // the client has the token before the next is sent
		}
	})
	var responses atomic.Int32
	s := newTestSession(t, WithBaseURL(srv.URL+"/v1/"), WithBearerToken("tok"),
		WithMiddleware(func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("X-Mw", "yes")
				return next.RoundTrip(r)
			})
		}),
		WithOnRequest(func(r *http.Request) error { r.Header.Set("X-Hook", "yes"); return nil }),
		WithOnResponse(func(*Response) error { responses.Add(1); return nil }))
	s.SetCookie("c", "1")

	var got []string
	for ev, err := range s.Events(context.Background(), http.MethodPost, "chat", JSON(map[string]string{"prompt": "hi"})) {
		require.NoError(t, err)
		assert.Equal(t, "token", ev.Type)
		got = append(got, ev.Data)
		next <- struct{}{}
	}
	assert.Equal(t, []string{"Hel", "lo", "[DONE]"}, got)
	assert.EqualValues(t, 1, responses.Load())
	assert.EqualValues(t, 1, s.Stats().Requests, "a POST that ends cleanly does not reconnect")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestEventsResponses(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10<<10)
	tests := []struct {
		name     string
		h        http.HandlerFunc
		wantErr  error
		wantHTTP int
		wantBody string
		events   int
	}{
		{"4xx with the server's reason", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"message":"bad token"}`)
		}, nil, 401, `{"message":"bad token"}`, 0},
		{"5xx body cut at 4 KiB", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			_, _ = io.WriteString(w, long)
		}, nil, 503, long[:4<<10], 0},
		{"204 ends", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, nil, 0, "", 0},
		{"not an event stream", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "data: x\n\n")
		}, ErrInvalidResponse, 0, "", 0},
		{"no Content-Type", func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			w.WriteHeader(200)
		}, ErrInvalidResponse, 0, "", 0},
		{"Content-Type with parameters", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "Text/Event-Stream; charset=utf-8")
			_, _ = io.WriteString(w, "data: x\n\n")
		}, nil, 0, "", 1},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, ErrInvalidResponse, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) > 1 {
					w.WriteHeader(204) // a reconnection: ends the stream
					return
				}
				tt.h(w, r)
			})
			s := newTestSession(t, WithMaxRedirects(0))
			useFakeClock(s)
			evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL+"/s?token=secret"))
			assert.Len(t, evs, tt.events)
			switch {
			case tt.wantHTTP != 0:
				require.Len(t, errs, 1)
				var he *HTTPError
				require.ErrorAs(t, errs[0], &he)
				assert.Equal(t, tt.wantHTTP, he.StatusCode)
				assert.Equal(t, tt.wantBody, string(he.Body))
				assert.Equal(t, http.MethodGet, he.Method)
				assert.NotContains(t, he.URL, "secret")
				assert.EqualValues(t, 1, hits.Load(), "an HTTP error ends the stream")
				if tt.wantHTTP == 401 {
					assert.Contains(t, he.Error(), "bad token", "the server's reason")
				}
			case tt.wantErr != nil:
				require.Len(t, errs, 1)
				assert.ErrorIs(t, errs[0], tt.wantErr)
				var re *RequestError
				require.ErrorAs(t, errs[0], &re)
				assert.Equal(t, http.MethodGet, re.Method)
				assert.NotContains(t, re.Error(), "secret")
				assert.EqualValues(t, 1, hits.Load(), "no reconnection")
			default:
				assert.Empty(t, errs)
			}
		})
	}
}

// TestEventsReconnect: a GET stream reconnects after a clean end and after
// a drop, sending Last-Event-ID and waiting the server's retry.
func TestEventsReconnect(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		switch n {
		case 1:
			sseStart(w)
			sseSend(w, "retry: 40\nid: 1\ndata: a\n\n")
		case 2:
			sseStart(w)
			sseSend(w, "id: 2\ndata: b\n\ndata: half")
			abort()
		case 3:
			sseStart(w)
			sseSend(w, "data: c\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	s := newTestSession(t)
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL))
	assert.Empty(t, errs)
	assert.Equal(t, []Event{
		{ID: "1", Type: "message", Data: "a", Retry: 40 * time.Millisecond},
		{ID: "2", Type: "message", Data: "b"},
		{ID: "2", Type: "message", Data: "c"},
	}, evs)
	assert.Equal(t, []string{"", "1", "2", "2"}, lastIDs)
	assert.Equal(t, []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}, clk.get(),
		"the server's retry, not doubled after a connection that brought events")
}

// TestEventsReconnectLimit: reconnections in a row without an event back
// off and stop at the limit.
func TestEventsReconnectLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		opts      []RequestOption
		h         func(n int32, w http.ResponseWriter)
		wantConns int32
		wantWaits []time.Duration
		wantErr   error
	}{
		{"GET default, clean ends", http.MethodGet, nil, func(_ int32, w http.ResponseWriter) { sseStart(w) }, 6,
			[]time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 30 * time.Second}, nil},
		{"GET, server retry doubled", http.MethodGet, []RequestOption{Reconnect(3)}, func(n int32, w http.ResponseWriter) {
			sseStart(w)
			if n == 1 {
				sseSend(w, "retry: 100\n\n")
			}
		}, 4, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, nil},
		{"GET, drops give the last error", http.MethodGet, []RequestOption{Reconnect(2)}, func(_ int32, w http.ResponseWriter) {
			sseStart(w)
			sseSend(w, "data: unfinished")
			abort()
		}, 3, []time.Duration{3 * time.Second, 6 * time.Second}, ErrNetwork},
		{"GET, Reconnect(0)", http.MethodGet, []RequestOption{Reconnect(0)}, func(_ int32, w http.ResponseWriter) { sseStart(w) }, 1, nil, nil},
		{"POST default: no reconnection", http.MethodPost, []RequestOption{BodyString("p")}, func(_ int32, w http.ResponseWriter) {
			sseStart(w)
			sseSend(w, "data: unfinished")
			abort()
		}, 1, nil, ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int32
			srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) { tt.h(conns.Add(1), w) })
			s := newTestSession(t)
			clk := useFakeClock(s)
			evs, errs := collect(s.Events(context.Background(), tt.method, srv.URL, tt.opts...))
			assert.Empty(t, evs)
			assert.Equal(t, tt.wantConns, conns.Load())
			assert.Equal(t, tt.wantWaits, clk.get())
			if tt.wantErr == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], tt.wantErr)
		})
	}
}

// TestEventsReplayBody: a POST that opts in reconnects with its body
// replayed byte for byte.
func TestEventsReplayBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 3 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sseStart(w)
		sseSend(w, fmt.Sprintf("data: %d\n\n", n))
		abort()
	})
	s := newTestSession(t)
	useFakeClock(s)
	prompt := `{"prompt":"tell me a story","stream":true}`
	evs, errs := collect(s.Events(context.Background(), http.MethodPost, srv.URL, Body(strings.NewReader(prompt)), Reconnect(1)))
	assert.Empty(t, errs)
	assert.Equal(t, []string{"1", "2"}, datas(evs))
	assert.Equal(t, []string{prompt, prompt, prompt}, bodies)
}

func TestEventsReconnectNeedsReplayableBody(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	s := newTestSession(t)
	closed := &closeRecorder{Reader: strings.NewReader("once")}
	_, errs := collect(s.Events(context.Background(), http.MethodPost, srv.URL, Body(closed), Reconnect(1)))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	assert.Zero(t, hits.Load(), "nothing sent")
	assert.True(t, closed.closed.Load(), "the refused body is closed")

	for _, opt := range []RequestOption{Reconnect(-1), IdleTimeout(-time.Second)} {
		_, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL, opt))
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], ErrInvalidOption)
	}
	assert.Zero(t, hits.Load())
}

// TestEventsTimeouts: the session's total timeout does not cut a stream;
// IdleTimeout and Timeout do; the consumer's time is never silence.
func TestEventsTimeouts(t *testing.T) {
	t.Parallel()
	// paced sends n events gap apart, then ends (or stalls when stall).
	paced := func(n int, gap time.Duration, stall bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			sseStart(w)
			for i := range n {
				if i > 0 {
					time.Sleep(gap)
				}
				if !sseSend(w, fmt.Sprintf("data: %d\n\n", i)) {
					return
				}
			}
			if stall {
				<-r.Context().Done()
			}
		}
	}
	tests := []struct {
		name    string
		session []Option
		opts    []RequestOption
		h       http.HandlerFunc
		consume time.Duration // the loop body's time per event
		events  int
		wantErr error
	}{
		{"outlives the session's total timeout", []Option{WithTimeout(100 * time.Millisecond)}, nil,
			paced(12, 25*time.Millisecond, false), 0, 12, nil},
		{"idle stall", nil, []RequestOption{IdleTimeout(100 * time.Millisecond)},
			paced(2, 0, true), 0, 2, ErrReadTimeout},
		{"idle stall under Timeouts.Read", []Option{WithTimeouts(Timeouts{Read: 100 * time.Millisecond})}, nil,
			paced(1, 0, true), 0, 1, ErrReadTimeout},
		{"headers never come", nil, []RequestOption{IdleTimeout(100 * time.Millisecond)},
			func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, 0, 0, ErrReadTimeout},
		{"heartbeats keep it alive", nil, []RequestOption{IdleTimeout(150 * time.Millisecond)},
			func(w http.ResponseWriter, _ *http.Request) {
				sseStart(w)
				for range 8 {
					time.Sleep(40 * time.Millisecond)
					sseSend(w, ": ping\n\n")
				}
				sseSend(w, "data: done\n\n")
			}, 0, 1, nil},
		{"slow consumer", nil, []RequestOption{IdleTimeout(60 * time.Millisecond)},
			paced(4, 10*time.Millisecond, false), 150 * time.Millisecond, 4, nil},
		{"Timeout bounds the stream", []Option{WithTimeout(0)}, []RequestOption{Timeout(150 * time.Millisecond)},
			paced(1000, 10*time.Millisecond, false), 0, -1, ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupServer(t, tt.h)
			s := newTestSession(t, tt.session...)
			useFakeClock(s)
			start := time.Now()
			var evs []Event
			var errs []error
			for ev, err := range s.Events(context.Background(), http.MethodPost, srv.URL, tt.opts...) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				evs = append(evs, ev)
				time.Sleep(tt.consume)
			}
			assert.Less(t, time.Since(start), 10*time.Second)
			if tt.events >= 0 {
				assert.Len(t, evs, tt.events)
			}
			if tt.wantErr == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], tt.wantErr)
			var re *RequestError
			require.ErrorAs(t, errs[0], &re)
			assert.Equal(t, http.MethodPost, re.Method)
			assert.Equal(t, srv.URL, re.URL)
		})
	}
}

// TestIdleTimeoutPlainRequests: IdleTimeout replaces Timeouts.Read for
// buffered and Stream() requests too.
func TestIdleTimeoutPlainRequests(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			time.Sleep(200 * time.Millisecond)
			_, _ = io.WriteString(w, "late")
			return
		}
		_, _ = io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 50 * time.Millisecond}))
	ctx := context.Background()

	resp, err := s.Get(ctx, srv.URL+"/late", IdleTimeout(5*time.Second))
	require.NoError(t, err, "a longer IdleTimeout lets a slow server answer")
	assert.Equal(t, "late", resp.Text())

	_, err = s.Get(ctx, srv.URL+"/late")
	assert.ErrorIs(t, err, ErrReadTimeout, "without it, Timeouts.Read applies")

	long := newTestSession(t)
	_, err = long.Get(ctx, srv.URL+"/stall", IdleTimeout(80*time.Millisecond))
	assert.ErrorIs(t, err, ErrReadTimeout, "a buffered body stalled")

	resp, err = long.Get(ctx, srv.URL+"/stall", IdleTimeout(80*time.Millisecond), Stream())
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Close()
	assert.ErrorIs(t, err, ErrReadTimeout, "a streamed body stalled")
}

func TestEventsSizeCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"many data lines", strings.Repeat("data: "+strings.Repeat("x", 60)+"\n", 40) + "\n"},
		{"one long line", "data: " + strings.Repeat("x", 4<<10) + "\n\n"},
		{"a line that never ends", "data: " + strings.Repeat("x", 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
				sseStart(w)
				sseSend(w, "data: small\n\n"+tt.body)
			})
			s := newTestSession(t, WithLimits(Limits{MaxEventBytes: 1 << 10}))
			useFakeClock(s)
			evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL))
			assert.Equal(t, []string{"small"}, datas(evs))
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], ErrBodyTooLarge)
			var re *RequestError
			assert.ErrorAs(t, errs[0], &re)
		})
	}
	_, err := NewSession(WithLimits(Limits{MaxEventBytes: -1}))
	assert.ErrorIs(t, err, ErrInvalidOption)
	assert.EqualValues(t, 1<<20, DefaultLimits().MaxEventBytes)
}

// endless serves events every 5 ms until the client goes, then closes
// done.
func endless(done chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		sseStart(w)
		for i := 0; ; i++ {
			if !sseSend(w, fmt.Sprintf("id: %d\ndata: %d\n\n", i, i)) {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// TestEventsBreakClosesConnection: breaking out of the loop closes the
// connection at once and leaves no goroutine. Not parallel: goleak
// compares the whole process.
func TestEventsBreakClosesConnection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	done := make(chan struct{})
	srv := httptest.NewServer(endless(done))
	defer srv.Close()
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()

	n := 0
	for _, err := range s.Events(context.Background(), http.MethodGet, srv.URL) {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server still streams after the loop ended")
	}
}

// TestEventsCancel: cancelling ctx ends the loop promptly with an error
// carrying context.Canceled.
func TestEventsCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	done := make(chan struct{})
	srv := httptest.NewServer(endless(done))
	defer srv.Close()
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errs []error
	n := 0
	for _, err := range s.Events(ctx, http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n++; n == 2 {
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		}
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrCanceled)
	assert.ErrorIs(t, errs[0], context.Canceled)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)
	<-done
}

// TestEventsSessionClose: Close does not cut a running stream; a
// reconnection after it fails with ErrClosed.
func TestEventsSessionClose(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		sseStart(w)
		for i := range 5 {
			sseSend(w, fmt.Sprintf("data: %d\n\n", i))
			time.Sleep(5 * time.Millisecond)
		}
	})
	s := newTestSession(t)
	useFakeClock(s)
	var got []string
	var errs []error
	for ev, err := range s.Events(context.Background(), http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, ev.Data)
		_ = s.Close()
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, got)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrClosed)
}

// TestEventsConcurrent: 64 streams at once on one session (run it under
// -race).
func TestEventsConcurrent(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseStart(w)
		for i := range 20 {
			sseSend(w, fmt.Sprintf("id: %s-%d\nevent: n\ndata: %d\n\n", r.URL.Query().Get("w"), i, i))
		}
	})
	s := newTestSession(t)
	useFakeClock(s)
	var worker atomic.Int32
	hammer(t, 64, 1, func() error {
		w := worker.Add(1)
		n := 0
		for ev, err := range s.Events(context.Background(), http.MethodPost, srv.URL, Query("w", fmt.Sprint(w))) {
			if err != nil {
				return err
			}
			if ev.ID != fmt.Sprintf("%d-%d", w, n) || ev.Data != fmt.Sprint(n) || ev.Type != "n" {
				return fmt.Errorf("worker %d got %+v", w, ev)
			}
			n++
		}
		if n != 20 {
			return fmt.Errorf("worker %d got %d events", w, n)
		}
		return nil
	})
}

type jsonValue struct {
	N int `json:"n"`
}

// TestJSONLines: values arrive as lines do; blank lines are skipped; a bad
// line yields an error with its number and the loop goes on.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != jsonLinesAccept {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		sseSend(w, "{\"n\":1}\n")
		<-next // the client has the first value before the rest is sent
		sseSend(w, "\n{\"n\":2}\r\n{bad\n"+strings.Repeat("7", 2<<10)+"\n  \n{\"n\":4}")
	})
	s := newTestSession(t, WithTimeout(50*time.Millisecond), WithLimits(Limits{MaxEventBytes: 1 << 10}))
	var got []int
	var errs []error
	for v, err := range JSONLines[jsonValue](context.Background(), s, http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v.N)
		if v.N == 1 {
			time.Sleep(100 * time.Millisecond) // past the session's total timeout: streams have none
			next <- struct{}{}
		}
	}
	assert.Equal(t, []int{1, 2, 4}, got)
	require.Len(t, errs, 2)
	var le *LineError
	assert.ErrorIs(t, errs[0], ErrInvalidResponse)
	require.ErrorAs(t, errs[0], &le)
	assert.Equal(t, 4, le.Line)
	assert.ErrorIs(t, errs[1], ErrBodyTooLarge)
	require.ErrorAs(t, errs[1], &le)
	assert.Equal(t, 5, le.Line)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)
	assert.Contains(t, errs[0].Error(), "line 4")
}

func TestJSONLinesEnds(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/err":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		case "/empty":
			w.WriteHeader(204)
		case "/drop":
			sseSend(w, "{\"n\":1}\n{\"n\":")
			abort()
		default:
			for i := range 100 {
				if !sseSend(w, fmt.Sprintf("{\"n\":%d}\n", i)) {
					return
				}
			}
		}
	})
	s := newTestSession(t)
	ctx := context.Background()

	_, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/err"))
	require.Len(t, errs, 1)
	var he *HTTPError
	require.ErrorAs(t, errs[0], &he)
	assert.Equal(t, `{"error":"boom"}`, string(he.Body))

	vals, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/empty"))
	assert.Empty(t, vals)
	assert.Empty(t, errs)

	vals, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/drop"))
	assert.Len(t, vals, 1)
	require.Len(t, errs, 1)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)

	n := 0
	for _, err := range JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/many") {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)

	_, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, "::bad"))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidURL)
	_, errs = collect(JSONLines[jsonValue](ctx, &Session{}, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	_, errs = collect((&Session{}).Events(ctx, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(s.Events(nil, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(JSONLines[jsonValue](nil, s, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	assert.True(t, errors.Is(errs[0], ErrInvalidOption))
}

// TestEventsHTTP2TraceAndLog: a stream over HTTP/2 with TLS, traced, and
// logged with its secrets redacted.
func TestEventsHTTP2TraceAndLog(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(400)
			return
		}
		sseStart(w)
		sseSend(w, "data: a\n\ndata: b\n\n")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	var logs bytes.Buffer
	var mu sync.Mutex
	var resp *Response
	s := newTestSession(t, WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		WithBearerToken("s3cret-bearer"),
		WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithOnResponse(func(r *Response) error { resp = r; return nil }))
	evs, errs := collect(s.Events(context.Background(), http.MethodPost, srv.URL+"/s?api_key=s3cret-key", Trace()))
	require.Empty(t, errs)
	assert.Equal(t, []string{"a", "b"}, datas(evs))
	require.NotNil(t, resp)
	assert.Equal(t, 2, resp.ProtoMajor)
	assert.Positive(t, resp.Timings().TimeToFirstByte)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "/s?api_key=xxxxx")
	assert.NotContains(t, logs.String(), "s3cret")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestEventsSilenceReconnects: a GET stream whose server goes silent is
// cut by the idle timeout and reconnected; when no reconnection is left,
// the loop ends with ErrReadTimeout.
func TestEventsSilenceReconnects(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseStart(w)
		if conns.Add(1) == 1 {
			sseSend(w, "id: 1\ndata: a\n\n")
		}
		<-r.Context().Done()
	})
	s := newTestSession(t)
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL, IdleTimeout(50*time.Millisecond), Reconnect(2)))
	assert.Equal(t, []string{"a"}, datas(evs))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrReadTimeout)
	assert.EqualValues(t, 3, conns.Load(), "the first connection, then the 2 reconnections allowed in a row")
	assert.Equal(t, []time.Duration{3 * time.Second, 6 * time.Second}, clk.get())
}
