package reqivo

import (
	"context"
	"fmt"
	"io"
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

// eventLog is an Observer that writes each event as one line, and keeps
// the values it was given to check them for secrets.
type eventLog struct {
	mu     sync.Mutex
	lines  []string
	values []string // every string and header value an event carried
}

type ctxMark struct{}

func (l *eventLog) add(line string, values ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.values = append(l.values, line)
	l.values = append(l.values, values...)
}

func (l *eventLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func headerValues(h Headers) []string {
	var out []string
	for _, k := range h.Keys() {
		out = append(out, k+": "+h.Get(k))
	}
	return out
}

func (l *eventLog) observer(srvURL string) Observer {
	path := func(u string) string { return strings.TrimPrefix(u, srvURL) }
	return Observer{
		RequestStart: func(ctx context.Context, r RequestInfo) context.Context {
			l.add(fmt.Sprintf("request %s %s", r.Method, path(r.URL)), r.URL, r.Host)
			return context.WithValue(ctx, ctxMark{}, "request")
		},
		RequestEnd: func(ctx context.Context, r RequestDone) {
			l.add(fmt.Sprintf("end %s %d attempts=%d redirects=%d resends=%d err=%v ctx=%v",
				path(r.URL), r.StatusCode, r.Attempts, r.Redirects, r.Resends, r.Err != nil, ctx.Value(ctxMark{})))
		},
		AttemptStart: func(ctx context.Context, a AttemptInfo, add http.Header) context.Context {
			add.Set("X-Trace", fmt.Sprintf("hop%d-try%d", a.Hop, a.Attempt))
			l.add(fmt.Sprintf("attempt %s hop=%d try=%d resends=%d ctx=%v", path(a.URL), a.Hop, a.Attempt, a.Resends, ctx.Value(ctxMark{})))
			return context.WithValue(ctx, ctxMark{}, "attempt")
		},
		AttemptEnd: func(ctx context.Context, a AttemptDone) {
			l.add(fmt.Sprintf("attempt end %s %d bytes=%d conn=%v err=%v ctx=%v", path(a.URL), a.StatusCode, a.Bytes, a.GotConn, a.Err != nil, ctx.Value(ctxMark{})),
				append(headerValues(a.RequestHeader), headerValues(a.ResponseHeader)...)...)
		},
		Retry: func(ctx context.Context, r RetryInfo) {
			l.add(fmt.Sprintf("retry %s try=%d status=%d given_up=%v", path(r.URL), r.Attempt, r.StatusCode, r.GivenUp), r.Reason)
		},
		Redirect: func(ctx context.Context, r RedirectInfo) {
			l.add(fmt.Sprintf("redirect %s -> %s %d hop=%d dropped=%v", path(r.From.URL), path(r.To.URL), r.StatusCode, r.Hop, r.Dropped),
				r.From.URL, r.To.URL)
		},
		Notice: func(ctx context.Context, n Notice) {
			l.add(fmt.Sprintf("notice %s %s", n.Kind, path(n.URL)), n.Detail)
		},
	}
}

// A redirect to another origin plus two retries: every event in order,
// with its numbers, the added header on the wire, and no secret anywhere.
func TestObserverEvents(t *testing.T) {
	t.Parallel()
	var flaky atomic.Int32
	var seen sync.Map // path+try -> X-Trace
	other := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store("other "+r.Header.Get("X-Trace"), r.Header.Get("Authorization"))
		if flaky.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "hello")
	})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store("first "+r.Header.Get("X-Trace"), r.Header.Get("Authorization"))
		http.Redirect(w, r, other.URL+"/final?sig=S3CRET-SIG&page=2", http.StatusFound)
	})
	var events eventLog
	s := newTestSession(t, WithObserver(events.observer(srv.URL)), WithRetry(RetryPolicy{MaxAttempts: 3}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	resp, err := s.Get(context.Background(), srv.URL+"/start?token=S3CRET-TOKEN",
		Header("Authorization", "Bearer S3CRET-BEARER"), Header("X-Api-Key", "S3CRET-KEY"))
	require.NoError(t, err)
	assert.Equal(t, "hello", resp.Text())

	lines := events.Lines()
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, other.URL, "OTHER")
	}
	assert.Equal(t, []string{
		"request GET /start?token=xxxxx",
		"attempt /start?token=xxxxx hop=0 try=1 resends=0 ctx=request",
		"attempt end /start?token=xxxxx 302 bytes=" + lines[2][len("attempt end /start?token=xxxxx 302 bytes="):strings.Index(lines[2], " conn")] + " conn=true err=false ctx=attempt",
		"redirect /start?token=xxxxx -> OTHER/final?sig=xxxxx&page=2 302 hop=1 dropped=[Authorization X-Api-Key]",
		"attempt OTHER/final?sig=xxxxx&page=2 hop=1 try=1 resends=1 ctx=request",
		"attempt end OTHER/final?sig=xxxxx&page=2 503 bytes=0 conn=true err=false ctx=attempt",
		"retry OTHER/final?sig=xxxxx&page=2 try=1 status=503 given_up=false",
		"attempt OTHER/final?sig=xxxxx&page=2 hop=1 try=2 resends=2 ctx=request",
		"attempt end OTHER/final?sig=xxxxx&page=2 503 bytes=0 conn=true err=false ctx=attempt",
		"retry OTHER/final?sig=xxxxx&page=2 try=2 status=503 given_up=false",
		"attempt OTHER/final?sig=xxxxx&page=2 hop=1 try=3 resends=3 ctx=request",
		"attempt end OTHER/final?sig=xxxxx&page=2 200 bytes=5 conn=true err=false ctx=attempt",
		"end OTHER/final?sig=xxxxx&page=2 200 attempts=3 redirects=1 resends=3 err=false ctx=request",
	}, lines)

	// The header the observer added went out with each attempt; the
	// credentials stayed with the first origin.
	for key, auth := range map[string]string{
		"first hop0-try1": "Bearer S3CRET-BEARER", "other hop1-try1": "", "other hop1-try2": "", "other hop1-try3": "",
	} {
		got, ok := seen.Load(key)
		if assert.True(t, ok, key) {
			assert.Equal(t, auth, got, key)
		}
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	for _, v := range events.values {
		assert.NotContains(t, v, "S3CRET", "an event carried a secret")
	}
	assert.Contains(t, events.values, "Authorization: xxxxx")
}

// A failed attempt, a refused one (bad added header) and a Stream request
// end their attempts; the stream's when its body is closed.
func TestObserverAttemptEnds(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "streamed") })

	var events eventLog
	s := newTestSession(t, WithObserver(events.observer(srv.URL)))
	_, err := s.Get(context.Background(), "http://"+closedAddr(t)+"/")
	require.ErrorIs(t, err, ErrNetwork)
	lines := events.Lines()
	require.Len(t, lines, 4)
	assert.Contains(t, lines[2], "attempt end")
	assert.Contains(t, lines[2], " 0 bytes=0 conn=false err=true")
	assert.Contains(t, lines[3], "err=true")

	events = eventLog{}
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	assert.Len(t, events.Lines(), 3, "the stream's attempt has not ended")
	_, _ = io.ReadAll(resp.Body)
	require.NoError(t, resp.Close())
	lines = events.Lines()
	require.Len(t, lines, 4)
	assert.Equal(t, "attempt end  200 bytes=8 conn=true err=false ctx=attempt", lines[3])

	var sent atomic.Int32
	srv2 := setupServer(t, func(w http.ResponseWriter, r *http.Request) { sent.Add(1) })
	bad := newTestSession(t, WithObserver(Observer{
		AttemptStart: func(ctx context.Context, _ AttemptInfo, add http.Header) context.Context {
			add.Set("X-Evil", "a\r\nInjected: yes")
			return ctx
		},
	}), WithObserver(events.observer(srv2.URL)))
	events = eventLog{}
	_, err = bad.Get(context.Background(), srv2.URL)
	require.ErrorIs(t, err, ErrInvalidHeader)
	assert.Zero(t, sent.Load(), "nothing on the wire")
	assert.Equal(t, []string{"request GET ", "attempt  hop=0 try=1 resends=0 ctx=request",
		"attempt end  0 bytes=0 conn=false err=true ctx=attempt", "end  0 attempts=1 redirects=0 resends=0 err=true ctx=request"},
		events.Lines())
	body := &closeRecorder{Reader: strings.NewReader("x")}
	_, err = bad.Post(context.Background(), srv2.URL, Body(body))
	require.ErrorIs(t, err, ErrInvalidHeader)
	assert.True(t, body.closed.Load(), "the body of an attempt not sent is closed")
}

// Retry-After over MaxWait: the policy gives up, and says why.
func TestObserverGiveUp(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var got []RetryInfo
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3, MaxWait: time.Second}),
		WithObserver(Observer{Retry: func(_ context.Context, r RetryInfo) { got = append(got, r) }}))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	require.Len(t, got, 1)
	assert.True(t, got[0].GivenUp)
	assert.Equal(t, 503, got[0].StatusCode)
	assert.Contains(t, got[0].Reason, "over MaxWait")
}

// The WebSocket handshake is observed as one attempt, and the connection
// still works with an observer wrapping the attempt.
func TestObserverWebSocketHandshake(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, nil, serveEcho)
	var events eventLog
	s := newTestSession(t, WithObserver(events.observer(srv.URL)), WithObserver(Observer{
		AttemptStart: func(ctx context.Context, _ AttemptInfo, add http.Header) context.Context {
			add.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			return ctx
		},
	}), WithLogger(slog.New(slog.DiscardHandler)))
	ctx := wsContext(t)
	ws, err := s.WebSocket(ctx, srv.URL)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.SendText(ctx, "hi"))
	_, msg, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(msg))
	assert.Equal(t, []string{"attempt  hop=0 try=1 resends=0 ctx=<nil>", "attempt end  101 bytes=0 conn=true err=false ctx=attempt"}, events.Lines())
}

func TestNoticeKindString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "cache_hit", NoticeCacheHit.String())
	assert.Equal(t, "breaker_rejected", NoticeBreakerRejected.String())
	assert.Equal(t, "notice_99", NoticeKind(99).String())
	assert.Equal(t, "notice_0", NoticeKind(0).String())
}

// notify reaches the observers with the request filled in, and is a no-op
// on an unobserved call.
func TestNotify(t *testing.T) {
	t.Parallel()
	var got []Notice
	s := newTestSession(t, WithObserver(Observer{Notice: func(_ context.Context, n Notice) { got = append(got, n) }}))
	c := &call{s: s, rc: &noRequestOptions, start: time.Now()}
	c.deadlines(context.Background())
	req, err := http.NewRequest(http.MethodGet, "https://example.com/x?api_key=k3y", nil)
	require.NoError(t, err)
	c.notify(req, Notice{Kind: NoticeRateLimitWait, Wait: time.Second})
	c.release(nil)
	require.Len(t, got, 1)
	assert.Equal(t, RequestInfo{Method: "GET", URL: "https://example.com/x?api_key=xxxxx", Scheme: "https", Host: "example.com", Port: 443}, got[0].RequestInfo)
	assert.Equal(t, time.Second, got[0].Wait)

	plain := newTestSession(t)
	c = &call{s: plain, rc: &noRequestOptions, start: time.Now()}
	c.deadlines(context.Background())
	assert.Nil(t, c.obs)
	c.notify(req, Notice{Kind: NoticeCacheHit}) // nothing to report to
	c.release(nil)
}

func TestWithObserverEmpty(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithObserver(Observer{}))
	assert.Empty(t, s.cfg.observers)
}

// A second WithLogger replaces the first, in its place among the
// observers.
func TestWithLoggerTwice(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	l1, b1 := newTestLogger(slog.LevelDebug)
	l2, b2 := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(l1), WithObserver(Observer{Notice: func(context.Context, Notice) {}}), WithLogger(l2))
	assert.Len(t, s.cfg.observers, 2)
	_, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Empty(t, b1.String())
	assert.Len(t, b2.records(t), 1)
}
