package reqivo

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder keeps what an observer is told of, for a test to read.
type recorder[T any] struct {
	mu   sync.Mutex
	seen []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, v)
}

// get returns everything kept so far.
func (r *recorder[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.seen...)
}

// take returns what was kept since the last take.
func (r *recorder[T]) take() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.seen
	r.seen = nil
	return seen
}

// noticeRecorder is an Observer keeping every Notice.
type noticeRecorder struct{ recorder[Notice] }

func (r *noticeRecorder) observer() Observer {
	return Observer{Notice: func(_ context.Context, n Notice) { r.add(n) }}
}

func kinds(ns []Notice) []NoticeKind {
	out := []NoticeKind{}
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

// Each breaker change and refusal is a Notice of the request that met it,
// in the order they happened.
func TestNoticesBreaker(t *testing.T) {
	t.Parallel()
	u, hits, code := statusServer(t)
	rec := &noticeRecorder{}
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: 10 * time.Second}), WithObserver(rec.observer()))
	clk := newFakeClock()
	clk.install(s)
	key := hostKey(mustParse(t, u))
	steps := []struct {
		name    string
		status  int
		advance time.Duration
		want    []NoticeKind
	}{
		{"a first failure", 500, 0, []NoticeKind{}},
		{"the failure that opens it", 500, 0, []NoticeKind{NoticeBreakerOpen}},
		{"refused while open", 200, 0, []NoticeKind{NoticeBreakerRejected}},
		{"a failed probe", 503, 10 * time.Second, []NoticeKind{NoticeBreakerHalfOpen, NoticeBreakerOpen}},
		{"refused again", 200, time.Second, []NoticeKind{NoticeBreakerRejected}},
		{"a probe that closes it", 200, 10 * time.Second, []NoticeKind{NoticeBreakerHalfOpen, NoticeBreakerClosed}},
		{"closed: nothing to say", 200, 0, []NoticeKind{}},
	}
	for i, st := range steps {
		code.Store(int64(st.status))
		clk.advance(st.advance)
		path := "/step" + strconv.Itoa(i) + "?token=secret"
		_, err := s.Get(context.Background(), u+path)
		if len(st.want) == 1 && st.want[0] == NoticeBreakerRejected {
			assert.ErrorIs(t, err, ErrCircuitOpen, st.name)
		}
		ns := rec.take()
		assert.Equal(t, st.want, kinds(ns), st.name)
		for _, n := range ns {
			assert.Equal(t, u+"/step"+strconv.Itoa(i)+"?token=xxxxx", n.URL, "%s: the notice names its request, redacted", st.name)
			assert.Equal(t, http.MethodGet, n.Method)
			assert.Contains(t, n.Detail, key, st.name)
		}
	}
	assert.EqualValues(t, 5, hits.Load())
}

// Session.Breakers reports without changing: the change to half-open is
// the probe's to report.
func TestNoticesBreakersReadsWithoutChanging(t *testing.T) {
	t.Parallel()
	u, _, code := statusServer(t)
	rec := &noticeRecorder{}
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Second}), WithObserver(rec.observer()))
	clk := newFakeClock()
	clk.install(s)
	code.Store(500)
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	assert.Equal(t, []NoticeKind{NoticeBreakerOpen}, kinds(rec.take()))
	clk.advance(time.Second)
	assert.Equal(t, "half-open", s.Breakers()[hostKey(mustParse(t, u))])
	assert.Empty(t, rec.take(), "Breakers reported a change")
	code.Store(200)
	_, err = s.Get(context.Background(), u)
	require.NoError(t, err)
	assert.Equal(t, []NoticeKind{NoticeBreakerHalfOpen, NoticeBreakerClosed}, kinds(rec.take()))
}

// A wait for the host's token is a Notice with its Wait; a failing store
// one with its Err, the request sent all the same.
func TestNoticesRateLimit(t *testing.T) {
	t.Parallel()
	u, hits := hitServer(t, nil)
	t.Run("wait", func(t *testing.T) {
		rec := &noticeRecorder{}
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 2}), WithObserver(rec.observer()))
		newFakeClock().install(s)
		for range 2 {
			_, err := s.Get(context.Background(), u)
			require.NoError(t, err)
		}
		ns := rec.take()
		require.Equal(t, []NoticeKind{NoticeRateLimitWait}, kinds(ns))
		assert.Equal(t, 500*time.Millisecond, ns[0].Wait)
		assert.Equal(t, u, ns[0].URL)
	})
	t.Run("store error", func(t *testing.T) {
		rec := &noticeRecorder{}
		st := &fakeStore{err: errors.New("connection refused")}
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, Store: st}), WithObserver(rec.observer()))
		newFakeClock().install(s)
		before := hits.Load()
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
		assert.EqualValues(t, 1, hits.Load()-before)
		ns := rec.take()
		require.Equal(t, []NoticeKind{NoticeRateStoreError}, kinds(ns))
		assert.ErrorContains(t, ns[0].Err, "connection refused")
		assert.Contains(t, ns[0].Detail, "local bucket")
	})
	t.Run("negative wait from the store", func(t *testing.T) {
		rec := &noticeRecorder{}
		s := newTestSession(t, WithRateLimit(RateLimit{Rate: 100, Store: &fakeStore{wait: -time.Second}}), WithObserver(rec.observer()))
		newFakeClock().install(s)
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
		ns := rec.take()
		require.Equal(t, []NoticeKind{NoticeRateStoreError}, kinds(ns))
		assert.ErrorIs(t, ns[0].Err, errNegativeWait)
	})
}

// The logger writes every kind of Notice, at its level, with what the
// notice holds.
func TestLogNotices(t *testing.T) {
	t.Parallel()
	ri := RequestInfo{Method: "GET", URL: "https://api.example.com/x?token=xxxxx", Scheme: "https", Host: "api.example.com", Port: 443}
	tests := []struct {
		n     Notice
		level string
		err   string // the error attribute, when not n.Err.Error()
	}{
		{Notice{Kind: NoticeCacheHit}, "DEBUG", ""},
		{Notice{Kind: NoticeCacheMiss}, "DEBUG", ""},
		{Notice{Kind: NoticeCacheRevalidated}, "DEBUG", ""},
		{Notice{Kind: NoticeCacheStale, Detail: "served stale on error"}, "DEBUG", ""},
		{Notice{Kind: NoticeRateLimitWait, Wait: time.Second, Detail: "api.example.com:443"}, "DEBUG", ""},
		{Notice{Kind: NoticeBreakerOpen, Detail: "api.example.com:443: 5 failures in a row"}, "WARN", ""},
		{Notice{Kind: NoticeBreakerHalfOpen}, "INFO", ""},
		{Notice{Kind: NoticeBreakerClosed}, "INFO", ""},
		{Notice{Kind: NoticeBreakerRejected}, "DEBUG", ""},
		{Notice{Kind: NoticeRetryBudget}, "WARN", ""},
		{Notice{Kind: NoticeCacheError, Err: errors.New("disk full")}, "WARN", ""},
		{Notice{Kind: NoticeRateStoreError, Err: errors.New("connection refused")}, "WARN", ""},
		{Notice{Kind: NoticeRateStoreError, Err: &url.Error{Op: "Get", URL: "https://u:pw@store/k?token=t", Err: io.EOF}}, "WARN",
			`Get "https://REDACTED:REDACTED@store/k?token=xxxxx": EOF`},
		{Notice{Kind: NoticeKind(99)}, "INFO", ""},
	}
	for _, tt := range tests {
		t.Run(tt.n.Kind.String(), func(t *testing.T) {
			t.Parallel()
			l, buf := newTestLogger(slog.LevelDebug)
			n := tt.n
			n.RequestInfo = ri
			logObserver(l).Notice(context.Background(), n)
			recs := buf.records(t)
			require.Len(t, recs, 1)
			r := recs[0]
			assert.Equal(t, tt.level, r["level"])
			assert.Equal(t, "reqivo: "+strings.ReplaceAll(n.Kind.String(), "_", " "), r["msg"])
			assert.Equal(t, n.Kind.String(), r["kind"])
			assert.Equal(t, ri.URL, r["url"])
			assert.Equal(t, "api.example.com:443", r["host"])
			if n.Wait > 0 {
				assert.Equal(t, float64(n.Wait), r["wait"])
			}
			if n.Detail != "" {
				assert.Equal(t, n.Detail, r["detail"])
			}
			switch {
			case tt.err != "":
				assert.Equal(t, tt.err, r["error"], "URLs in a store's error redacted")
			case n.Err != nil:
				assert.Equal(t, n.Err.Error(), r["error"])
			}
		})
	}
	assert.Len(t, noticeNames, len(noticeLevels), "a level for every kind")
	assert.Equal(t, "rate_store_error", NoticeRateStoreError.String())
}

// A failing store writes at most one record a second.
func TestLogNoticeStoreErrorsThrottled(t *testing.T) {
	t.Parallel()
	l, buf := newTestLogger(slog.LevelDebug)
	var now atomic.Int64
	now.Store(int64(time.Hour))
	nl := &noticeLog{l: l, now: now.Load}
	for _, step := range []time.Duration{0, time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, time.Millisecond} {
		now.Add(int64(step))
		nl.log(context.Background(), Notice{Kind: NoticeRateStoreError, Err: errors.New("down")})
		nl.log(context.Background(), Notice{Kind: NoticeCacheError, Err: errors.New("down")})
	}
	var got []string
	for _, r := range buf.records(t) {
		got = append(got, r["kind"].(string))
	}
	assert.Equal(t, []string{"rate_store_error", "cache_error", "rate_store_error", "cache_error"}, got)
}

// A session with WithLogger writes the notices of its requests: the
// breaker opening, at Warn.
func TestLogBreakerOpens(t *testing.T) {
	t.Parallel()
	u, _, code := statusServer(t)
	code.Store(500)
	l, buf := newTestLogger(slog.LevelWarn)
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 1}), WithLogger(l))
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	recs := buf.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "reqivo: breaker open", recs[0]["msg"])
	assert.Equal(t, "WARN", recs[0]["level"])
}
