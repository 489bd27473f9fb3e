package reqivo

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stageLog records what a session's observers see, by kind.
type stageLog struct {
	mu       sync.Mutex
	notices  []Notice
	requests int
	attempts []AttemptDone
}

func (l *stageLog) observer() Observer {
	return Observer{
		RequestStart: func(ctx context.Context, _ RequestInfo) context.Context {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.requests++
			return ctx
		},
		AttemptEnd: func(_ context.Context, a AttemptDone) {
			l.mu.Lock()
			defer l.mu.Unlock()
			a.RequestHeader, a.ResponseHeader = Headers{}, Headers{}
			l.attempts = append(l.attempts, a)
		},
		Notice: func(_ context.Context, n Notice) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.notices = append(l.notices, n)
		},
	}
}

func (l *stageLog) of(kind NoticeKind) []Notice {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Notice
	for _, n := range l.notices {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

func (l *stageLog) attemptStatuses() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, a := range l.attempts {
		out = append(out, a.StatusCode)
	}
	return out
}

// swrOrigin answers with a response that may be served stale while it is
// revalidated, and confirms it with a 304.
func swrOrigin(w http.ResponseWriter, r *http.Request, n int64) {
	w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
	w.Header().Set("ETag", `"e"`)
	if r.Header.Get("If-None-Match") == `"e"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	io.WriteString(w, "x")
}

// TestCacheBackgroundRevalidationIsObserved: a stale-while-revalidate
// revalidation is an attempt like any other: the observers see it start
// and end, and its outcome as a Notice; it is no request of the caller's.
func TestCacheBackgroundRevalidationIsObserved(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, swrOrigin)
	var log stageLog
	var started sync.Map // attempt number -> If-None-Match sent
	obs := log.observer()
	obs.AttemptStart = func(ctx context.Context, a AttemptInfo, add http.Header) context.Context {
		add.Set("X-Trace", "t"+strconv.Itoa(a.Resends))
		started.Store(a.Resends, true)
		return ctx
	}
	s, clk := newCacheSession(t, nil, WithObserver(obs))
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	r := get(t, s, o.url)
	require.Equal(t, "stale", r.CacheStatus())
	require.Eventually(t, func() bool { return len(log.of(NoticeCacheRevalidated)) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Close()) // waits for the revalidation to end
	assert.Equal(t, []int{http.StatusOK, http.StatusNotModified}, log.attemptStatuses(), "the revalidation's attempt reported")
	assert.Equal(t, "t0", o.lastHeader().Get("X-Trace"), "the observers' headers went on the revalidation")
	assert.Equal(t, 2, log.requests, "the revalidation is not a request of the caller's")
	assert.Equal(t, int64(1), s.Stats().CacheRevalidations)
}

// TestCacheBackgroundRevalidationPassesTheGuards: a revalidation meets the
// host's breaker as any attempt: refused while it is open (nothing sent),
// and the refusal reported.
func TestCacheBackgroundRevalidationPassesTheGuards(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		swrOrigin(w, r, n)
	})
	var log stageLog
	s, clk := newCacheSession(t, nil, WithObserver(log.observer()),
		WithCircuitBreaker(CircuitBreaker{Failures: 2, Cooldown: time.Hour}))
	get(t, s, o.url)
	for range 2 {
		get(t, s, o.url+"/down")
	}
	sent := o.hits.Load()
	clk.elapse(20 * time.Second)
	assert.Equal(t, "stale", get(t, s, o.url).CacheStatus())
	require.Eventually(t, func() bool { return len(log.of(NoticeCacheError)) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Close())
	n := log.of(NoticeCacheError)[0]
	assert.ErrorIs(t, n.Err, ErrCircuitOpen)
	assert.Equal(t, "background revalidation failed", n.Detail)
	assert.Len(t, log.of(NoticeBreakerRejected), 1)
	assert.Equal(t, sent, o.hits.Load(), "nothing sent past the open breaker")
	assert.Equal(t, int64(1), s.Stats().CircuitRejected)
}

// TestCacheBackgroundRevalidationWaitsForTheRateLimit: a revalidation
// takes its token from the host's rate limit as any attempt.
func TestCacheBackgroundRevalidationWaitsForTheRateLimit(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, swrOrigin)
	s, clk := newCacheSession(t, nil, WithRateLimit(RateLimit{Rate: 1, Burst: 1}))
	get(t, s, o.url)
	clk.elapse(20 * time.Second) // the bucket is full again
	get(t, s, o.url+"/other")    // and empty
	assert.Equal(t, "stale", get(t, s, o.url).CacheStatus())
	require.Eventually(t, func() bool { return s.Stats().CacheRevalidations == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, []time.Duration{time.Second}, clk.Waits(), "the revalidation waited for its token")
}

// TestCacheErrorNotices: a store that fails and an entry that does not
// decode are NoticeCacheError with the error, and the logger's warnings;
// the request goes to the network.
func TestCacheErrorNotices(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	})
	t.Run("store down", func(t *testing.T) {
		t.Parallel()
		var log stageLog
		var buf logBuffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
		s, _ := newCacheSession(t, &failingCache{}, WithObserver(log.observer()), WithLogger(logger))
		assert.Equal(t, "ok", get(t, s, o.url).Text())
		var details []string
		for _, n := range log.of(NoticeCacheError) {
			assert.ErrorIs(t, n.Err, errStoreDown)
			details = append(details, n.Detail)
		}
		assert.Equal(t, []string{"get failed", "set failed"}, details)
		assert.Contains(t, buf.String(), `level=WARN msg="reqivo: cache error"`)
		assert.Contains(t, buf.String(), `detail="get failed" error="store down"`)
		assert.NotContains(t, buf.String(), "cache miss", "Debug records stay out at Warn")
	})
	t.Run("corrupt entry", func(t *testing.T) {
		t.Parallel()
		var log stageLog
		store := NewMemoryCache(1 << 20)
		s, _ := newCacheSession(t, store, WithObserver(log.observer()))
		u, err := url.Parse(o.url + "/c")
		require.NoError(t, err)
		key, err := s.cache.baseKey(context.Background(), http.MethodGet, u, u.Host, nil, s.cfg.sensitive, "")
		require.NoError(t, err)
		require.NoError(t, store.Set(context.Background(), key, []byte("RQC1 garbage garbage garbage"), 0))
		assert.Equal(t, "miss", get(t, s, o.url+"/c").CacheStatus())
		errs := log.of(NoticeCacheError)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0].Err, errCorruptEntry)
		assert.Equal(t, o.url+"/c", errs[0].URL)
	})
}

// TestCacheBypassesStreams: an event stream or a JSON Lines stream is never
// stored nor answered from the store, however cacheable the server says it
// is: an Events reconnection is not replayed from the cache.
func TestCacheBypassesStreams(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		switch r.URL.Path {
		case "/lines":
			w.Header().Set("Content-Type", "application/x-ndjson")
			io.WriteString(w, `{"n":1}`+"\n")
			return
		case "/plain":
			// Any request for an event stream, whatever its entry point.
			sseStart(w)
			sseSend(w, "data: p\n\n")
			return
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		switch n {
		case 1:
			sseStart(w)
			sseSend(w, "retry: 1\nid: 1\ndata: a\n\n")
		case 2:
			sseStart(w)
			sseSend(w, "id: 2\ndata: b\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	store := NewMemoryCache(1 << 20)
	s, _ := newCacheSession(t, store)
	useFakeClock(s)
	// Bounded: a stream replayed from the cache would reconnect forever.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, errs := collect(s.Events(ctx, http.MethodGet, srv.URL+"/events"))
	assert.Empty(t, errs)
	assert.Equal(t, []string{"a", "b"}, eventData(evs), "the reconnection went to the server, not the cache")
	assert.Equal(t, []string{"", "1", "2"}, lastIDs)

	for range 2 {
		vals, errs := collect(JSONLines[map[string]int](ctx, s, http.MethodGet, srv.URL+"/lines"))
		assert.Empty(t, errs)
		assert.Equal(t, []map[string]int{{"n": 1}}, vals)
		r, err := s.Get(ctx, srv.URL+"/plain", Stream())
		require.NoError(t, err)
		_, err = io.ReadAll(r.Body)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		assert.Equal(t, "miss", r.CacheStatus())
	}
	assert.Zero(t, s.Stats().CacheHits)
	for _, p := range []string{"/events", "/lines", "/plain"} {
		_, ok, err := store.Get(ctx, "reqivo1:GET "+srv.URL+p)
		require.NoError(t, err)
		assert.False(t, ok, p+" not stored")
	}
}

func eventData(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Data)
	}
	return out
}

// TestCacheFillStopsAtTheStoreLimit: a long streamed body is copied into
// its entry only up to what the store keeps (memory or disk, each saying
// so through CacheEntryLimit); past it the copy is let go at once (not
// held to the end of the stream), nothing is stored, and the caller still
// reads the whole body.
func TestCacheFillStopsAtTheStoreLimit(t *testing.T) {
	t.Parallel()
	const storeMax = 64 << 10
	chunk := strings.Repeat("z", 4<<10)
	const total = 64 * 4 << 10 // 256 KiB, no Content-Length
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		for range total / len(chunk) {
			io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
		}
	})
	tests := []struct {
		name  string
		store func(t *testing.T) Cache
	}{
		{"memory", func(*testing.T) Cache { return NewMemoryCache(storeMax) }},
		{"disk", func(t *testing.T) Cache {
			c, err := NewDiskCache(t.TempDir(), storeMax)
			require.NoError(t, err)
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := tt.store(t)
			l, ok := store.(CacheEntryLimit)
			require.True(t, ok, "the store reports its limit")
			limit := l.MaxEntryBytes()
			assert.Greater(t, limit, int64(storeMax-256))
			assert.LessOrEqual(t, limit, int64(storeMax))

			s, _ := newCacheSession(t, store)
			r, err := s.Get(context.Background(), o.url, Stream())
			require.NoError(t, err)
			fill := fillLayer(t, r.Body)
			assert.Equal(t, limit, fill.limit, "the store's limit, not DefaultMaxCacheEntryBytes")
			buf := make([]byte, 1<<10)
			var read, most int
			for fill.buf != nil || read < storeMax {
				n, err := r.Body.Read(buf)
				require.NoError(t, err)
				read += n
				most = max(most, cap(fill.buf))
			}
			assert.LessOrEqual(t, most, int(limit), "never held more than the store keeps")
			assert.Less(t, read, storeMax+8<<10, "let go as soon as the entry would pass the limit")
			rest, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			require.NoError(t, r.Close())
			assert.Equal(t, total, read+len(rest), "the caller reads the whole body")

			r = get(t, s, o.url)
			assert.Equal(t, "miss", r.CacheStatus(), "not stored")
			assert.Equal(t, strings.Repeat(chunk, total/len(chunk)), r.Text(), "a buffered read is whole too")
			assert.Equal(t, "miss", get(t, s, o.url).CacheStatus(), "not stored either")
		})
	}
}

// fillLayer finds the cache's fill layer under a streamed body.
func fillLayer(t *testing.T, body io.ReadCloser) *fillBody {
	t.Helper()
	lb, ok := body.(*liveBody)
	require.True(t, ok, "a streamed body")
	fill, ok := lb.r.(*fillBody)
	require.True(t, ok, "the fill layer under the stream's")
	return fill
}

// revalidatingOrigin answers "payload" with ETag "v1", and a 304 to a
// request that holds it; fields sets the other fields of either answer.
func revalidatingOrigin(t *testing.T, fields func(h http.Header, notModified bool, n int64)) *originServer {
	t.Helper()
	return setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("ETag", `"v1"`)
		notModified := r.Header.Get("If-None-Match") == `"v1"`
		fields(w.Header(), notModified, n)
		if notModified {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "payload")
	})
}

// TestCacheRevalidationDirectives: the directives of a revalidated entry
// are the 304's when it sends new ones, the stored ones otherwise.
func TestCacheRevalidationDirectives(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		cc304  string // the 304's Cache-Control
		status string // 50 s after the revalidation
	}{
		{"unchanged", "max-age=10", "revalidated"},
		{"longer", "max-age=100", "hit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := revalidatingOrigin(t, func(h http.Header, notModified bool, _ int64) {
				h.Set("Cache-Control", "max-age=10")
				if notModified {
					h.Set("Cache-Control", tt.cc304)
				}
			})
			s, clk := newCacheSession(t, nil)
			get(t, s, o.url)
			clk.elapse(20 * time.Second)
			require.Equal(t, "revalidated", get(t, s, o.url).CacheStatus())
			clk.elapse(50 * time.Second)
			r := get(t, s, o.url)
			assert.Equal(t, tt.status, r.CacheStatus())
			assert.Equal(t, "payload", r.Text())
			assert.Equal(t, tt.cc304, r.Header.Get("Cache-Control"))
		})
	}
}

// TestCacheRefreshedEntryIsStoredDecoded: the entry a revalidation hands
// the memory store is kept decoded, with no bytes made of it until Get
// asks, and counted at the size of those bytes, which decode to it.
func TestCacheRefreshedEntryIsStoredDecoded(t *testing.T) {
	t.Parallel()
	o := revalidatingOrigin(t, func(h http.Header, notModified bool, n int64) {
		h.Set("Cache-Control", "max-age=10")
		h.Set("X-Gen", strconv.FormatInt(n, 10))
		if !notModified {
			h.Set("X-Only-200", "1")
		}
	})
	store := NewMemoryCache(1 << 20).(*memoryCache)
	s, clk := newCacheSession(t, store)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	require.Equal(t, "revalidated", get(t, s, o.url).CacheStatus())

	store.mu.Lock()
	require.Equal(t, 1, store.lru.Len())
	it := store.lru.Front().Value.(*memoryItem)
	key, value, e, size := it.key, it.value, it.decoded, store.size
	store.mu.Unlock()
	require.NotNil(t, e, "handed over decoded")
	assert.Nil(t, value, "not encoded until asked for")
	value, ok, err := store.Get(context.Background(), key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, itemSize(key, value), size, "counted at its encoded size")
	want, err := decodeEntry(value)
	require.NoError(t, err)
	assert.Equal(t, want.Header, e.Header)
	assert.Equal(t, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v1"`}, "X-Gen": {"2"}, "X-Only-200": {"1"},
		"Content-Length": {"7"}, "Content-Type": {"text/plain; charset=utf-8"}}, e.Header)
	assert.Equal(t, want.Status, e.Status)
	assert.Equal(t, want.statusLine, e.statusLine)
	assert.Equal(t, want.CC, e.CC)
	assert.True(t, want.Date.Equal(e.Date))
	assert.True(t, want.ReqTime.Equal(e.ReqTime))
	assert.True(t, want.RespTime.Equal(e.RespTime))
	assert.Equal(t, want.kind, e.kind)
	assert.Equal(t, "payload", string(e.body))
	assert.Equal(t, "payload", string(want.body))
}

// TestCacheServedHeaderIsTheResponses: a served response's header is its
// own: changing it changes neither the stored response nor the next one.
func TestCacheServedHeaderIsTheResponses(t *testing.T) {
	t.Parallel()
	o := revalidatingOrigin(t, func(h http.Header, notModified bool, _ int64) {
		h.Set("Cache-Control", "max-age=10")
		if !notModified {
			h["X-Two"] = []string{"a", "b"}
		}
	})
	s, clk := newCacheSession(t, nil)
	get(t, s, o.url)
	for _, want := range []string{"hit", "revalidated", "hit"} {
		if want == "revalidated" {
			clk.elapse(20 * time.Second)
		}
		r := get(t, s, o.url)
		require.Equal(t, want, r.CacheStatus())
		assert.Equal(t, []string{"a", "b"}, r.Header["X-Two"], want)
		assert.Len(t, r.Header["Cache-Status"], 1, want)
		assert.Empty(t, r.Request.Header.Get("If-None-Match"), "the caller's request is not the conditional one")
		r.Header["X-Two"][0] = "changed"
		r.Header["X-Two"] = append(r.Header["X-Two"], "more")
		r.Header["Cache-Status"] = append(r.Header["Cache-Status"], "more")
		r.Header.Set("Etag", "changed")
		r.Header.Set("Age", "changed")
	}
	assert.Equal(t, int64(2), o.hits.Load())
}

// TestOwnHeader: a 304's header map made the served one holds exactly the
// stored fields and those set, as a copy would, with no value shared with
// the stored header, whatever room it is given.
func TestOwnHeader(t *testing.T) {
	t.Parallel()
	stored := http.Header{"Etag": {`"a"`}, "Content-Type": {"text/plain"}, "X-Two": {"1", "2"},
		"X-Empty": {}, "X-Nil": nil, "Date": {"d2"}}
	for _, tt := range []struct {
		name  string
		h     http.Header
		spare int
	}{
		{"empty", http.Header{}, 0},
		{"the 304's fields", http.Header{"Etag": {`"a"`}, "Date": {"d2"}, "Connection": {"close"}, "X-Hop": {"h"}}, 16},
		{"values that differ", http.Header{"X-Two": {"1"}, "Content-Type": {"text/html"}, "Age": {"99"}}, 1},
		{"empty and nil against missing", http.Header{"X-Empty": nil, "X-Nil": {}}, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := cloneHeader(stored, "Age", "3", "Cache-Status", "reqivo; hit")
			got := ownHeader(tt.h, stored, make([]string, 0, tt.spare), "Age", "3", "Cache-Status", "reqivo; hit")
			assert.Equal(t, want, got)
			for k, vs := range got {
				if len(vs) > 0 && len(stored[k]) > 0 {
					assert.NotSame(t, &stored[k][0], &vs[0], "%s shared with the stored header", k)
				}
			}
		})
	}
}

// TestCacheConcurrentServedResponsesAreTheirOwn: many goroutines revalidate
// one URL (every request a 304) and hit another, each changing the
// header values it is served in place; under -race, no two responses, and
// no response and the store, share memory.
func TestCacheConcurrentServedResponsesAreTheirOwn(t *testing.T) {
	t.Parallel()
	for name, store := range cacheStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fields := func(maxAge string) func(http.Header, bool, int64) {
				return func(h http.Header, _ bool, _ int64) {
					h.Set("Cache-Control", maxAge)
					h["X-Two"] = []string{"a", "b"}
				}
			}
			revalidated := revalidatingOrigin(t, fields("max-age=0"))
			fresh := revalidatingOrigin(t, fields("max-age=100"))
			s, _ := newCacheSession(t, store(t))
			get(t, s, revalidated.url)
			get(t, s, fresh.url)
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 20 {
						for _, tc := range []struct{ url, status string }{
							{revalidated.url, "revalidated"}, {fresh.url, "hit"},
						} {
							r, err := s.Get(context.Background(), tc.url)
							if !assert.NoError(t, err) {
								return
							}
							assert.Equal(t, tc.status, r.CacheStatus(), i)
							assert.Equal(t, "payload", string(r.Bytes()))
							assert.Equal(t, []string{"a", "b"}, r.Header["X-Two"])
							assert.Len(t, r.Header["Cache-Status"], 1)
							r.Header["X-Two"][0] = "changed"
							r.Header["Etag"][0] = "changed"
							r.Header["Cache-Status"][0] = "changed"
							r.Header["X-Two"] = append(r.Header["X-Two"], "more")
						}
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int64(1), fresh.hits.Load())
			assert.Equal(t, int64(1+8*20), revalidated.hits.Load())
		})
	}
}

// TestCacheNotModifiedToAnUnconditionalRequest: a 304 the cache did not
// ask for (no stored response, or one without validators) is the origin's
// answer, handed to the caller as it is; the stored response is not
// served for it.
func TestCacheNotModifiedToAnUnconditionalRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		stored bool // a first request stores a response without validators
	}{
		{"nothing stored", false},
		{"stored without validators", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
				if tc.stored && n == 1 {
					w.Header().Set("Cache-Control", "max-age=10")
					io.WriteString(w, "payload")
					return
				}
				w.WriteHeader(http.StatusNotModified)
			})
			s, clk := newCacheSession(t, nil)
			if tc.stored {
				require.Equal(t, "payload", string(get(t, s, o.url).Bytes()))
				clk.elapse(20 * time.Second)
			}
			r := get(t, s, o.url)
			assert.Equal(t, http.StatusNotModified, r.StatusCode)
			assert.Empty(t, r.Bytes())
			assert.Empty(t, o.lastHeader().Get("If-None-Match"))
			assert.Empty(t, o.lastHeader().Get("If-Modified-Since"))
			assert.NotEqual(t, "revalidated", r.CacheStatus())
		})
	}
}
