package reqivo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// originServer counts the requests it gets and answers with h.
type originServer struct {
	hits atomic.Int64
	mu   sync.Mutex
	last http.Header // the latest request's header
	url  string
}

func setupOrigin(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int64)) *originServer {
	t.Helper()
	o := &originServer{}
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := o.hits.Add(1)
		o.mu.Lock()
		o.last = r.Header.Clone()
		o.mu.Unlock()
		// No Date unless the handler sets one: the session runs on a fake
		// clock, and a real Date would age the responses against it.
		w.Header()["Date"] = nil
		h(w, r, n)
	})
	o.url = srv.URL
	return o
}

func (o *originServer) lastHeader() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// cacheStores makes an empty store of each kind a session has of its own.
var cacheStores = map[string]func(t *testing.T) Cache{
	"memory": func(*testing.T) Cache { return NewMemoryCache(1 << 20) },
	"disk": func(t *testing.T) Cache {
		c, err := NewDiskCache(t.TempDir(), 1<<20)
		require.NoError(t, err)
		return c
	},
}

// newCacheSession returns a session with a memory cache (or store) and a
// fake clock.
func newCacheSession(t *testing.T, store Cache, opts ...Option) (*Session, *fakeClock) {
	t.Helper()
	if store == nil {
		store = NewMemoryCache(1 << 20)
	}
	s := newTestSession(t, append([]Option{WithCache(store)}, opts...)...)
	c := newFakeClock()
	c.install(s)
	return s, c
}

// elapse moves the fake clock on by d (resilience's breaker tests have the same as advance).
func (c *fakeClock) elapse(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func get(t *testing.T, s *Session, url string, opts ...RequestOption) *Response {
	t.Helper()
	r, err := s.Get(context.Background(), url, opts...)
	require.NoError(t, err)
	return r
}

func TestCacheFreshHit(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "body "+strconv.FormatInt(n, 10))
	})
	s, clk := newCacheSession(t, nil)

	r := get(t, s, o.url+"/x")
	assert.Equal(t, "miss", r.CacheStatus())
	assert.Equal(t, "reqivo; fwd=uri-miss; stored", r.Header.Get("Cache-Status"))
	clk.elapse(10 * time.Second)
	r = get(t, s, o.url+"/x")
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, "body 1", r.Text())
	assert.Equal(t, "10", r.Header.Get("Age"))
	assert.Equal(t, "reqivo; hit; ttl=50", r.Header.Get("Cache-Status"))
	assert.Equal(t, int64(1), o.hits.Load())
	st := s.Stats()
	assert.Equal(t, Stats{Requests: 1, ConnsOpened: 1, CacheHits: 1, CacheMisses: 1}, st)

	clk.elapse(60 * time.Second)
	r = get(t, s, o.url+"/x")
	assert.Equal(t, "miss", r.CacheStatus(), "stale without a validator: fetched again")
	assert.Equal(t, "body 2", r.Text())
}

func TestCacheNoCacheWithoutOption(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
	})
	s := newTestSession(t)
	r := get(t, s, o.url)
	assert.Equal(t, "", r.CacheStatus())
	assert.Empty(t, r.Header.Get("Cache-Status"))
	get(t, s, o.url)
	assert.Equal(t, int64(2), o.hits.Load())
}

func TestCacheRevalidation(t *testing.T) {
	t.Parallel()
	for _, v := range []struct{ name, field, cond string }{
		{"etag", "ETag", "If-None-Match"},
		{"last-modified", "Last-Modified", "If-Modified-Since"},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			value := `"v1"`
			if v.field == "Last-Modified" {
				value = time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
			}
			o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Cache-Control", "max-age=10")
				w.Header().Set(v.field, value)
				w.Header().Set("X-Gen", strconv.FormatInt(n, 10))
				if r.Header.Get(v.cond) == value {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				io.WriteString(w, "payload")
			})
			s, clk := newCacheSession(t, nil)
			get(t, s, o.url)
			clk.elapse(20 * time.Second)
			r := get(t, s, o.url)
			assert.Equal(t, "revalidated", r.CacheStatus())
			assert.Equal(t, "payload", r.Text())
			assert.Equal(t, "2", r.Header.Get("X-Gen"), "the 304's fields replace the stored ones")
			assert.Equal(t, value, o.lastHeader().Get(v.cond))
			assert.Equal(t, "reqivo; fwd=stale; fwd-status=304", r.Header.Get("Cache-Status"))
			assert.Equal(t, int64(1), s.Stats().CacheRevalidations)

			r = get(t, s, o.url)
			assert.Equal(t, "hit", r.CacheStatus(), "fresh again after the 304")
			assert.Equal(t, "2", r.Header.Get("X-Gen"))
			assert.Equal(t, int64(2), o.hits.Load())
		})
	}
}

func TestCacheRequestDirectives(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "x")
	})
	s, clk := newCacheSession(t, nil)
	get(t, s, o.url)

	r := get(t, s, o.url, Header("Cache-Control", "no-cache"))
	assert.Equal(t, "revalidated", r.CacheStatus(), "no-cache: validated though fresh")
	r = get(t, s, o.url, Header("Pragma", "no-cache"))
	assert.Equal(t, "revalidated", r.CacheStatus())

	clk.elapse(15 * time.Second)
	r = get(t, s, o.url, Header("Cache-Control", "max-stale=10"))
	assert.Equal(t, "stale", r.CacheStatus())
	r = get(t, s, o.url, Header("Cache-Control", "max-stale=1"))
	assert.Equal(t, "revalidated", r.CacheStatus())

	r = get(t, s, o.url, Header("Cache-Control", "min-fresh=60"))
	assert.Equal(t, "revalidated", r.CacheStatus())

	before := o.hits.Load()
	r = get(t, s, o.url, Header("If-None-Match", `"e"`))
	assert.Equal(t, http.StatusNotModified, r.StatusCode, "the caller's own conditional gets the origin's 304")
	assert.Equal(t, before+1, o.hits.Load())
}

func TestCacheNoStoreAndUncacheable(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch r.URL.Path {
		case "/nostore":
			w.Header().Set("Cache-Control", "max-age=60, no-store")
		case "/star":
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "*")
		default:
			w.Header().Set("Cache-Control", "max-age=60")
		}
	})
	s, _ := newCacheSession(t, nil)
	for _, p := range []string{"/nostore", "/star"} {
		get(t, s, o.url+p)
		r := get(t, s, o.url+p)
		assert.Equal(t, "miss", r.CacheStatus(), p)
	}
	get(t, s, o.url+"/plain", Header("Cache-Control", "no-store"))
	r := get(t, s, o.url+"/plain")
	assert.Equal(t, "miss", r.CacheStatus(), "request no-store: not stored")
	assert.Equal(t, int64(6), o.hits.Load())
}

func TestCacheVary(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	s, _ := newCacheSession(t, nil)
	for range 2 {
		for _, lang := range []string{"en", "fr", ""} {
			var opts []RequestOption
			if lang != "" {
				opts = append(opts, Header("Accept-Language", lang))
			}
			r := get(t, s, o.url, opts...)
			assert.Equal(t, "lang="+lang, r.Text())
		}
	}
	assert.Equal(t, int64(3), o.hits.Load(), "one fetch per variant")
	assert.Equal(t, int64(3), s.Stats().CacheHits)
}

func TestCacheInvalidationByUnsafeMethods(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/b")
			w.Header().Set("Content-Location", "http://other.test/c")
			w.WriteHeader(http.StatusCreated)
			return
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Path)
	})
	s, _ := newCacheSession(t, nil)
	ctx := context.Background()
	get(t, s, o.url+"/a")
	get(t, s, o.url+"/b")
	get(t, s, o.url+"/c")

	_, err := s.Delete(ctx, o.url+"/a")
	require.NoError(t, err)
	assert.Equal(t, "hit", get(t, s, o.url+"/a").CacheStatus(), "a failed unsafe request invalidates nothing")

	_, err = s.Post(ctx, o.url+"/a")
	require.NoError(t, err)
	assert.Equal(t, "miss", get(t, s, o.url+"/a").CacheStatus(), "the target")
	assert.Equal(t, "miss", get(t, s, o.url+"/b").CacheStatus(), "Location, same origin")
	assert.Equal(t, "hit", get(t, s, o.url+"/c").CacheStatus(), "Content-Location of another origin: untouched")
}

// TestCacheCredentialKeying is the promise in SECURITY.md: a response to a
// request with credentials is never served to a request with other
// credentials, or none, even through one store shared by two sessions.
func TestCacheCredentialKeying(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600") // even "private" is fine for a private cache
		io.WriteString(w, "for "+r.Header.Get("Authorization")+r.Header.Get("X-Api-Key")+r.Header.Get("Cookie"))
	})
	for name, mk := range cacheStores {
		t.Run(name, func(t *testing.T) {
			store := mk(t)
			alice, _ := newCacheSession(t, store, WithBearerToken("alice-token"))
			bob, _ := newCacheSession(t, store, WithBearerToken("bob-token"))
			anon, _ := newCacheSession(t, store)
			u := o.url + "/me-" + name

			assert.Equal(t, "for Bearer alice-token", get(t, alice, u).Text())
			r := get(t, bob, u)
			assert.Equal(t, "for Bearer bob-token", r.Text(), "bob never gets alice's response")
			assert.Equal(t, "miss", r.CacheStatus())
			r = get(t, anon, u)
			assert.Equal(t, "for ", r.Text())
			assert.Equal(t, "miss", r.CacheStatus())
			r = get(t, anon, u, Header("X-Api-Key", "k1"))
			assert.Equal(t, "for k1", r.Text(), "a sensitive header keys too")
			r = get(t, anon, u, Header("Cookie", "sid=1"))
			assert.Equal(t, "for sid=1", r.Text())

			r = get(t, alice, u)
			assert.Equal(t, "hit", r.CacheStatus())
			assert.Equal(t, "for Bearer alice-token", r.Text())
			alice2, _ := newCacheSession(t, store, WithBearerToken("alice-token"))
			r = get(t, alice2, u)
			assert.Equal(t, "hit", r.CacheStatus(), "same credentials, same store secret: shared")
			r = get(t, bob, u)
			assert.Equal(t, "for Bearer bob-token", r.Text())
			assert.Equal(t, "hit", r.CacheStatus())
		})
	}
}

func TestCacheKeysHideCredentials(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	s, _ := newCacheSession(t, rec, WithBearerToken("s3cret-token"))
	get(t, s, o.url)
	for _, k := range rec.keys() {
		assert.NotContains(t, k, "s3cret")
		parsed, _, ok := httpcache.ParseKey(k)
		assert.True(t, ok)
		assert.NotEmpty(t, parsed.Cred)
	}
}

// recordingCache records the keys it is given.
type recordingCache struct {
	Cache
	mu   sync.Mutex
	seen []string
}

func (c *recordingCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.mu.Lock()
	c.seen = append(c.seen, key)
	c.mu.Unlock()
	return c.Cache.Set(ctx, key, v, ttl)
}

func (c *recordingCache) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			<-release // hold the background revalidation until the test has sent its stale hits
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("X-Gen", strconv.FormatInt(n, 10))
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "x")
	})
	s, clk := newCacheSession(t, nil)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	hammer(t, 4, 5, func() error {
		r, err := s.Get(context.Background(), o.url)
		if err != nil {
			return err
		}
		if r.CacheStatus() != "stale" || !strings.Contains(r.Header.Get("Cache-Status"), "stale-while-revalidate") {
			return errors.New("not served stale: " + r.CacheStatus())
		}
		return nil
	})
	close(release)
	require.Eventually(t, func() bool { return s.Stats().CacheRevalidations == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(2), o.hits.Load(), "one background revalidation for 20 stale hits")
	r := get(t, s, o.url)
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, "2", r.Header.Get("X-Gen"))
}

func TestCacheStaleIfError(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		io.WriteString(w, "good")
	})
	s, clk := newCacheSession(t, nil)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	fail.Store(true)
	r := get(t, s, o.url)
	assert.Equal(t, "stale", r.CacheStatus())
	assert.Equal(t, "good", r.Text())
	assert.Contains(t, r.Header.Get("Cache-Status"), "stale-if-error")

	clk.elapse(60 * time.Second)
	r = get(t, s, o.url)
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "past the window the error goes through")
}

func TestCacheStaleIfErrorOnNetworkError(t *testing.T) {
	t.Parallel()
	store := NewMemoryCache(1 << 20)
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		io.WriteString(w, "good")
	})
	s, clk := newCacheSession(t, store)
	get(t, s, o.url+"/p")
	// The same entry under another origin's URL: copy it to a closed port.
	dead := "http://" + closedAddr(t)
	ctx := context.Background()
	v, ok, _ := store.Get(ctx, httpcache.Key{Method: "GET", URI: o.url + "/p"}.String())
	require.True(t, ok)
	require.NoError(t, store.Set(ctx, httpcache.Key{Method: "GET", URI: dead + "/p"}.String(), v, 0))
	clk.elapse(20 * time.Second)
	r := get(t, s, dead+"/p")
	assert.Equal(t, "stale", r.CacheStatus())
	assert.Equal(t, "good", r.Text())
}

func TestCacheStreamAndLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("b", 4096)
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "small body")
	})
	s, _ := newCacheSession(t, nil)
	s.cache.maxEntry = 1024
	get(t, s, o.url+"/big")
	assert.Equal(t, "miss", get(t, s, o.url+"/big").CacheStatus(), "over the entry limit: not stored")

	ctx := context.Background()
	r, err := s.Get(ctx, o.url+"/s", Stream())
	require.NoError(t, err)
	buf := make([]byte, 3)
	_, err = io.ReadFull(r.Body, buf)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	r = get(t, s, o.url+"/s")
	assert.Equal(t, "miss", r.CacheStatus(), "a stream read in part is not stored")

	r, err = s.Get(ctx, o.url+"/s2", Stream())
	require.NoError(t, err)
	_, err = io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	r = get(t, s, o.url+"/s2")
	assert.Equal(t, "hit", r.CacheStatus(), "a stream read to the end is stored")
	assert.Equal(t, "small body", r.Text())
}

func TestCacheHeadAndRedirects(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.URL.Path == "/old" {
			w.Header().Set("Cache-Control", "max-age=60")
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "new")
	})
	s, _ := newCacheSession(t, nil)
	r := get(t, s, o.url+"/old")
	assert.Equal(t, "new", r.Text())
	r = get(t, s, o.url+"/old")
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, "new", r.Text())
	require.Len(t, r.History(), 1)
	assert.Equal(t, int64(2), o.hits.Load(), "both hops served from the cache")

	ctx := context.Background()
	h, err := s.Head(ctx, o.url+"/new")
	require.NoError(t, err)
	assert.Equal(t, "miss", h.CacheStatus(), "HEAD has its own entries")
	h, err = s.Head(ctx, o.url+"/new")
	require.NoError(t, err)
	assert.Equal(t, "hit", h.CacheStatus())
	assert.Empty(t, h.Bytes())
}

// failingCache fails every call, as a store that is down.
type failingCache struct{ calls atomic.Int64 }

var errStoreDown = errors.New("store down")

func (f *failingCache) Get(context.Context, string) ([]byte, bool, error) {
	f.calls.Add(1)
	return nil, false, errStoreDown
}
func (f *failingCache) Set(context.Context, string, []byte, time.Duration) error {
	f.calls.Add(1)
	return errStoreDown
}
func (f *failingCache) Delete(context.Context, string) error { f.calls.Add(1); return errStoreDown }
func (f *failingCache) Secret(context.Context) ([]byte, error) {
	f.calls.Add(1)
	return nil, errStoreDown
}

func TestCacheStoreDownFallsBackToNetwork(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	})
	fc := &failingCache{}
	s, _ := newCacheSession(t, fc, WithBearerToken("t"))
	for range 3 {
		r := get(t, s, o.url)
		assert.Equal(t, "ok", r.Text())
		assert.Equal(t, "miss", r.CacheStatus())
	}
	_, err := s.Post(context.Background(), o.url)
	require.NoError(t, err)
	assert.Equal(t, int64(4), o.hits.Load())
	assert.Positive(t, fc.calls.Load())
}

func TestCacheCorruptEntryIsAMiss(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	})
	store := NewMemoryCache(1 << 20)
	s, _ := newCacheSession(t, store)
	key := "reqivo1:GET " + o.url
	require.NoError(t, store.Set(context.Background(), key, []byte("RQC1 garbage garbage garbage"), 0))
	r := get(t, s, o.url)
	assert.Equal(t, "miss", r.CacheStatus())
	assert.Equal(t, "ok", r.Text())
	assert.Equal(t, "hit", get(t, s, o.url).CacheStatus(), "replaced by the good response")
}

func TestWithCacheNil(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithCache(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestCacheLogsAndStreamedHit(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "streamed")
	})
	var buf logBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, _ := newCacheSession(t, nil, WithLogger(logger), WithBearerToken("s3cret"))
	get(t, s, o.url+"/?token=qsecret")
	r, err := s.Get(context.Background(), o.url+"/?token=qsecret", Stream())
	require.NoError(t, err)
	assert.Equal(t, "hit", r.CacheStatus())
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, "streamed", string(b))
	out := buf.String()
	assert.Contains(t, out, `msg="reqivo: cache miss"`)
	assert.Contains(t, out, `msg="reqivo: cache hit"`)
	assert.NotContains(t, out, "s3cret")
	assert.NotContains(t, out, "qsecret")
}

// otherETagOrigin always needs revalidation and answers any conditional
// request with a 304 for an ETag the cache does not hold.
func otherETagOrigin(w http.ResponseWriter, r *http.Request, n int64) {
	w.Header().Set("Cache-Control", "max-age=0")
	if r.Header.Get("If-None-Match") != "" {
		w.Header().Set("ETag", `"other"`)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", `"v`+strconv.FormatInt(n, 10)+`"`)
	io.WriteString(w, "full "+strconv.FormatInt(n, 10))
}

func TestCacheNotModifiedForAnotherETagRefetches(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, otherETagOrigin)
	s, _ := newCacheSession(t, nil)
	get(t, s, o.url)
	r := get(t, s, o.url)
	assert.Equal(t, http.StatusOK, r.StatusCode, "never a 304 to a caller who did not ask")
	assert.Equal(t, "full 3", r.Text())
	assert.Equal(t, "miss", r.CacheStatus())
}

func TestCacheStreamedRevalidationStores(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("X-Gen", strconv.FormatInt(n, 10))
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	s, clk := newCacheSession(t, rec)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	r, err := s.Get(context.Background(), o.url, Stream())
	require.NoError(t, err)
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, "revalidated", r.CacheStatus())
	assert.Equal(t, "body", string(b))
	assert.Len(t, rec.keys(), 2, "the entry stored, then stored again after the 304")
	r = get(t, s, o.url)
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, "2", r.Header.Get("X-Gen"))
}

// TestCacheKeysPerAttemptCredentials: a token source's token and a Digest
// answer are added on each attempt, after the lookup; the cache keys them
// all the same, so two users on one store never share an entry.
func TestCacheKeysPerAttemptCredentials(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		auth := r.Header.Get("Authorization")
		if strings.HasPrefix(r.URL.Path, "/digest") && !strings.HasPrefix(auth, "Digest ") {
			w.Header().Set("WWW-Authenticate", `Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		user := auth
		if i := strings.Index(auth, `username="`); i >= 0 {
			user = auth[i+10:]
			user = user[:strings.IndexByte(user, '"')]
		}
		io.WriteString(w, "for "+user)
	})
	store := NewMemoryCache(1 << 20)
	alice, _ := newCacheSession(t, store, WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "alice"})))
	bob, _ := newCacheSession(t, store, WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bob"})))
	anon, _ := newCacheSession(t, store)
	assert.Equal(t, "for Bearer alice", get(t, alice, o.url+"/t").Text())
	assert.Equal(t, "for Bearer bob", get(t, bob, o.url+"/t").Text())
	assert.Equal(t, "for ", get(t, anon, o.url+"/t").Text())
	r := get(t, alice, o.url+"/t")
	assert.Equal(t, "hit", r.CacheStatus(), "a session's own token-source entries are reused")
	assert.Equal(t, "for Bearer alice", r.Text())

	dAlice, _ := newCacheSession(t, store, WithDigestAuth("alice", "pw"))
	dBob, _ := newCacheSession(t, store, WithDigestAuth("bob", "pw"))
	assert.Equal(t, "for alice", get(t, dAlice, o.url+"/digest").Text())
	r = get(t, dBob, o.url+"/digest")
	assert.Equal(t, "for bob", r.Text())
	assert.Equal(t, "miss", r.CacheStatus())
	dAlice2, _ := newCacheSession(t, store, WithDigestAuth("alice", "pw"))
	r = get(t, dAlice2, o.url+"/digest")
	assert.Equal(t, "hit", r.CacheStatus(), "Digest entries are keyed by the user and password")
	assert.Equal(t, "for alice", r.Text())
}

func TestCacheNotices(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "x")
	})
	var mu sync.Mutex
	var kinds []string
	s, clk := newCacheSession(t, nil, WithObserver(Observer{Notice: func(_ context.Context, n Notice) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, n.Kind.String()+" "+n.Detail)
	}}))
	get(t, s, o.url)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	get(t, s, o.url, Header("Cache-Control", "max-stale"))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"cache_miss fwd=uri-miss; stored",
		"cache_hit hit; ttl=10",
		"cache_revalidated fwd=stale; fwd-status=304",
		"cache_stale hit; ttl=-10",
	}, kinds)
}

// TestCacheStreamedNotModifiedForAnotherETagRefetches: dropping the
// streamed 304 must not end the call's context before the refetch.
func TestCacheStreamedNotModifiedForAnotherETagRefetches(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, otherETagOrigin)
	s, _ := newCacheSession(t, nil)
	get(t, s, o.url)
	r, err := s.Get(context.Background(), o.url, Stream())
	require.NoError(t, err)
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "full 3", string(b))
}

// TestCacheBackgroundRevalidationLeavesRequestToCaller: the request of a
// stale-while-revalidate hit is the caller's (Response.Request) as soon as
// the hit is returned; the background revalidation reads its own copy.
func TestCacheBackgroundRevalidationLeavesRequestToCaller(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("X-Gen", strconv.FormatInt(n, 10))
		io.WriteString(w, "x")
	})
	s, clk := newCacheSession(t, nil)
	get(t, s, o.url)
	clk.elapse(20 * time.Second)
	r := get(t, s, o.url)
	require.Equal(t, "stale", r.CacheStatus())
	for i := range 100 {
		r.Request.Header.Set("X-Mine", strconv.Itoa(i))
	}
	require.Eventually(t, func() bool {
		r, err := s.Get(context.Background(), o.url)
		return err == nil && r.Header.Get("X-Gen") == "2"
	}, 10*time.Second, 5*time.Millisecond, "the revalidation stored its answer")
	assert.Equal(t, int64(2), o.hits.Load())
}

// TestCacheHitClosesRequestBody: a request the cache answers is not sent;
// its body is closed all the same.
func TestCacheHitClosesRequestBody(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "x")
	})
	s, _ := newCacheSession(t, nil)
	get(t, s, o.url)
	body := &closeRecorder{Reader: strings.NewReader("q")}
	r := get(t, s, o.url, Body(body))
	require.Equal(t, "hit", r.CacheStatus())
	assert.True(t, body.closed.Load())
}

// TestCacheKeysHideURLCredentials: a password in the URL's userinfo is a
// credential like Authorization: the store's keys never hold it.
func TestCacheKeysHideURLCredentials(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.Header.Get("Authorization"))
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	s, _ := newCacheSession(t, rec)
	u := strings.Replace(o.url, "://", "://alice:pw-s3cret@", 1)
	get(t, s, u)
	require.NotEmpty(t, rec.keys())
	for _, k := range rec.keys() {
		assert.NotContains(t, k, "s3cret")
		assert.NotContains(t, k, "alice")
	}
	r := get(t, s, u)
	assert.Equal(t, "hit", r.CacheStatus())
	r = get(t, s, strings.Replace(o.url, "://", "://alice:other@", 1))
	assert.Equal(t, "miss", r.CacheStatus(), "another password is another user")
}

// TestCacheVaryOnCredentialsKeepsThemKeyed: with "Vary: Authorization" the
// variant key holds no unkeyed hash of the credentials (anyone reading the
// store's keys could test password guesses against one); the cred= HMAC
// keeps the users apart.
func TestCacheVaryOnCredentialsKeepsThemKeyed(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Authorization")
		io.WriteString(w, r.Header.Get("Authorization"))
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	alice, _ := newCacheSession(t, rec, WithBasicAuth("alice", "pw"))
	bob, _ := newCacheSession(t, rec, WithBasicAuth("bob", "pw"))
	a := get(t, alice, o.url).Text()
	b := get(t, bob, o.url).Text()
	require.NotEqual(t, a, b)
	guess := sha256.Sum256([]byte(httpcache.VaryKey([]string{"Authorization"}, http.Header{"Authorization": {a}})))
	for _, k := range rec.keys() {
		assert.NotContains(t, k, hex.EncodeToString(guess[:16]), "an unkeyed hash of alice's password")
	}
	r := get(t, alice, o.url)
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, a, r.Text())
	r = get(t, bob, o.url)
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, b, r.Text())
}

// TestCacheKeysHideSecretQueryValues: a secret query value (?access_token=)
// is a credential, as in logs and errors: the store's keys hold it only
// under the keyed hash.
func TestCacheKeysHideSecretQueryValues(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, r.URL.RawQuery)
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	s, _ := newCacheSession(t, rec)
	get(t, s, o.url+"/p?page=2&access_token=s3cret")
	require.NotEmpty(t, rec.keys())
	for _, k := range rec.keys() {
		assert.NotContains(t, k, "s3cret")
		assert.Contains(t, k, "page=2")
	}
	r := get(t, s, o.url+"/p?page=2&access_token=s3cret")
	assert.Equal(t, "hit", r.CacheStatus())
	r = get(t, s, o.url+"/p?page=2&access_token=other")
	assert.Equal(t, "miss", r.CacheStatus(), "another token is another user")
	assert.Equal(t, "page=2&access_token=other", r.Text())
}
