package reqivo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
