package redisstore

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheStore(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx := context.Background()
	rc := srv.client(t)
	c := Cache(rc, "t:", MaxEntryBytes(100), loaded)

	_, ok, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Set(ctx, "k", []byte("v"), time.Minute))
	v, ok, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "v", string(v))
	ttl := rc.PTTL(ctx, "t:k").Val()
	assert.InDelta(t, float64(time.Minute), float64(ttl), float64(5*time.Second), "the entry carries the TTL")

	require.NoError(t, c.Set(ctx, "k", []byte(strings.Repeat("x", 101)), 0))
	_, ok, _ = c.Get(ctx, "k")
	assert.False(t, ok, "over the entry cap: not stored, and the old value is gone")
	require.NoError(t, c.Set(ctx, "forever", []byte("v"), 0))
	assert.Equal(t, time.Duration(-1), rc.PTTL(ctx, "t:forever").Val())
	require.NoError(t, c.Delete(ctx, "forever"))
	require.NoError(t, c.Delete(ctx, "forever"))

	s1, err := c.Secret(ctx)
	require.NoError(t, err)
	other := Cache(srv.client(t), "t:", loaded) // another process
	s2, err := other.Secret(ctx)
	require.NoError(t, err)
	assert.Equal(t, s1, s2, "one secret per prefix, shared through Redis")
	s3, err := Cache(rc, "u:", loaded).Secret(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, s1, s3)
}

// origin counts requests and answers with a fresh response naming the
// caller's credentials.
func origin(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "for "+r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func session(t *testing.T, c reqivo.Cache, opts ...reqivo.Option) *reqivo.Session {
	t.Helper()
	s, err := reqivo.NewSession(append([]reqivo.Option{reqivo.WithCache(c)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func get(t *testing.T, s *reqivo.Session, url string) *reqivo.Response {
	t.Helper()
	r, err := s.Get(context.Background(), url)
	require.NoError(t, err)
	return r
}

// TestCacheCredentialKeyingAcrossProcesses: two users' sessions on one
// Redis never see each other's responses; the same user's do share.
func TestCacheCredentialKeyingAcrossProcesses(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	o, n := origin(t)
	alice := session(t, Cache(srv.client(t), "app:", loaded), reqivo.WithBearerToken("alice"))
	bob := session(t, Cache(srv.client(t), "app:", loaded), reqivo.WithBearerToken("bob"))
	alice2 := session(t, Cache(srv.client(t), "app:", loaded), reqivo.WithBearerToken("alice"))

	assert.Equal(t, "for Bearer alice", get(t, alice, o.URL).Text())
	r := get(t, bob, o.URL)
	assert.Equal(t, "for Bearer bob", r.Text())
	assert.Equal(t, "miss", r.CacheStatus())
	r = get(t, alice2, o.URL)
	assert.Equal(t, "for Bearer alice", r.Text())
	assert.Equal(t, "hit", r.CacheStatus(), "another process with the same credentials shares the entry")
	r = get(t, bob, o.URL)
	assert.Equal(t, "for Bearer bob", r.Text())
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, int64(2), n.Load())
}

// TestCacheFleet: four sessions, standing for four processes, share one
// cache: the origin sees one request.
func TestCacheFleet(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	o, n := origin(t)
	var fleet []*reqivo.Session
	for range 4 {
		fleet = append(fleet, session(t, Cache(srv.client(t), "fleet:", loaded)))
	}
	get(t, fleet[0], o.URL)
	var hits int64
	for _, s := range fleet {
		for range 5 {
			get(t, s, o.URL)
		}
		hits += s.Stats().CacheHits
	}
	assert.Equal(t, int64(1), n.Load())
	assert.Equal(t, int64(20), hits)
}

// TestCacheRedisDownFallsBackToNetwork stops Redis mid-test: every
// request still succeeds, from the network, within the store's timeout.
func TestCacheRedisDownFallsBackToNetwork(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	o, n := origin(t)
	s := session(t, Cache(srv.client(t), "down:", Timeout(200*time.Millisecond)), reqivo.WithBearerToken("tok"))
	get(t, s, o.URL)
	assert.Equal(t, "hit", get(t, s, o.URL).CacheStatus())

	srv.stop()
	for range 3 {
		start := time.Now()
		r := get(t, s, o.URL)
		assert.Equal(t, "for Bearer tok", r.Text())
		assert.Equal(t, "miss", r.CacheStatus())
		assert.Less(t, time.Since(start), 5*time.Second)
	}
	_, err := s.Post(context.Background(), o.URL)
	require.NoError(t, err, "invalidation against a dead store does not fail the request")
	assert.Equal(t, int64(5), n.Load())

	// A new process that never reached Redis cannot get the secret: its
	// credentialed requests bypass the cache and still succeed.
	s2 := session(t, Cache(srv.client2(t), "down:", Timeout(100*time.Millisecond)), reqivo.WithBearerToken("tok"))
	assert.Equal(t, "for Bearer tok", get(t, s2, o.URL).Text())
}

// TestCacheEntryLimit: the store says how large a value it keeps, Redis'
// own limit when MaxEntryBytes gives none.
func TestCacheEntryLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
		want int64
	}{
		{"default", nil, DefaultMaxEntryBytes},
		{"set", []Option{MaxEntryBytes(100)}, 100},
		{"zero", []Option{MaxEntryBytes(0)}, 512 << 20},
		{"negative", []Option{MaxEntryBytes(-1)}, 512 << 20},
		{"over Redis' own", []Option{MaxEntryBytes(1 << 30)}, 512 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c reqivo.Cache = Cache(nil, "t:", tt.opts...)
			l, ok := c.(reqivo.CacheEntryLimit)
			require.True(t, ok)
			assert.Equal(t, tt.want, l.MaxEntryBytes())
		})
	}
}

// setRecorder is a CacheStore that records the largest value a session
// asked it to store.
type setRecorder struct {
	*CacheStore
	largest atomic.Int64
}

func (r *setRecorder) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if n := int64(len(value)); n > r.largest.Load() {
		r.largest.Store(n)
	}
	return r.CacheStore.Set(ctx, key, value, ttl)
}

// TestCacheResponseOverTheEntryLimit: a response longer than the store's
// entry cap reaches the caller whole, streamed or buffered, and is never
// handed to Redis (the session gives up storing it at the cap, rather than
// buffering all of it for a Set that would refuse it); a small one is.
func TestCacheResponseOverTheEntryLimit(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const limit = 64 << 10
	chunk := strings.Repeat("z", 4<<10)
	const total = 256 << 10
	var n atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		for range total / len(chunk) { // no Content-Length
			io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(o.Close)
	rec := &setRecorder{CacheStore: Cache(srv.client(t), "lim:", MaxEntryBytes(limit), loaded)}
	s := session(t, rec)

	r, err := s.Get(context.Background(), o.URL+"/big", reqivo.Stream())
	require.NoError(t, err)
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, total, len(b), "streamed: whole")
	r = get(t, s, o.URL+"/big")
	assert.Equal(t, strings.Repeat(chunk, total/len(chunk)), r.Text(), "buffered: whole")
	assert.Equal(t, "miss", r.CacheStatus(), "not stored")
	assert.Equal(t, int64(2), n.Load())
	assert.Zero(t, rec.largest.Load(), "nothing over the cap was handed to the store")

	get(t, s, o.URL+"/small")
	assert.Equal(t, "hit", get(t, s, o.URL+"/small").CacheStatus())
	assert.Positive(t, rec.largest.Load())
	assert.LessOrEqual(t, rec.largest.Load(), int64(limit))
}
