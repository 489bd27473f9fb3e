// The resolve cache. These tests are white-box on purpose: what the cache
// keeps, its bound and its lock show in no response (a cached and a fresh
// resolve give the same URL), only in the session's memory and contention,
// so they read s.resolved and hold s.resolvedMu.

package reqivo

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache of resolve must give what resolving afresh gives, and hand out
// URLs the caller may change.
func TestResolveCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, raw string
	}{
		{"relative", "https://api.example.com/v1/", "users"},
		{"relative without slash", "https://api.example.com/v1", "users"},
		{"absolute path", "https://api.example.com/v1/", "/users"},
		{"dot segments", "https://api.example.com/v1/a/", "b/./c/../d"},
		{"escaped", "https://api.example.com/v1/", "a%2Fb/c%20d"},
		{"empty", "https://api.example.com/v1/", ""},
		{"absolute URL", "https://api.example.com/", "http://127.0.0.1:8080/x"},
		{"query", "https://api.example.com/", "items?page=2"},
		{"user info", "https://api.example.com/", "https://u:p@127.0.0.1/x"},
		{"fragment", "https://api.example.com/", "doc#part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, WithBaseURL(tt.base))
			want, err := s.resolveURL(tt.raw)
			require.NoError(t, err)
			for i := range 3 {
				got, err := s.resolve(tt.raw)
				require.NoError(t, err)
				assert.Equal(t, want.String(), got.String(), "call %d", i)
				assert.Equal(t, *want, *got, "call %d", i)
				got.Path, got.RawQuery = "/changed", "x=1" // the caller's to change
			}
		})
	}
}

func TestResolveCacheKeepsNoSecretsAndIsBounded(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	for _, raw := range []string{"items?token=secret", "https://u:p@127.0.0.1/x"} {
		_, err := s.resolve(raw)
		require.NoError(t, err)
		if m := s.resolved.Load(); m != nil {
			assert.NotContains(t, *m, raw)
		}
	}
	for i := range maxResolved + 10 {
		_, err := s.resolve("p" + strconv.Itoa(i))
		require.NoError(t, err)
	}
	require.NotNil(t, s.resolved.Load())
	assert.Len(t, *s.resolved.Load(), maxResolved)
	u, err := s.resolve("p" + strconv.Itoa(maxResolved+5)) // not cached, still resolved
	require.NoError(t, err)
	assert.Equal(t, "https://api.example.com/p"+strconv.Itoa(maxResolved+5), u.String())
}

func TestResolveErrorsNotCached(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	for range 2 {
		_, err := s.resolve("//evil.example/x")
		assert.ErrorIs(t, err, ErrInvalidURL)
	}
	if m := s.resolved.Load(); m != nil {
		assert.Empty(t, *m)
	}
}

func TestPathParam(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL+"/v1"))
	tests := []struct {
		name, raw   string
		opts        []RequestOption
		path, query string
		kind        error
	}{
		{name: "filled", raw: "users/{id}", opts: []RequestOption{PathParam("id", "7")}, path: "/v1/users/7"},
		{name: "two", raw: "orgs/{org}/users/{id}?x=1", opts: []RequestOption{PathParam("org", "acme"), PathParam("id", "7")}, path: "/v1/orgs/acme/users/7", query: "x=1"},
		{name: "traversal stays one segment", raw: "users/{id}", opts: []RequestOption{PathParam("id", "../admin")}, path: "/v1/users/../admin"},
		{name: "dot dot escaped", raw: "users/{id}/x", opts: []RequestOption{PathParam("id", "..")}, path: "/v1/users/../x"},
		{name: "query chars escaped", raw: "users/{id}", opts: []RequestOption{PathParam("id", "a?b#c")}, path: "/v1/users/a?b#c"},
		{name: "unfilled", raw: "users/{id}", kind: ErrInvalidURL},
		{name: "other name", raw: "users/{id}", opts: []RequestOption{PathParam("ID", "7")}, kind: ErrInvalidURL},
		{name: "bad name", raw: "users/{id}", opts: []RequestOption{PathParam("", "7")}, kind: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Get(context.Background(), tt.raw, tt.opts...)
			if tt.kind != nil {
				assertRequestKind(t, err, tt.kind)
				return
			}
			require.NoError(t, err)
			e := decodeEcho(t, resp)
			assert.Equal(t, tt.path, e.Path, "the server decodes the escaped segment")
			assert.Equal(t, tt.query, e.Query)
			assert.NotContains(t, resp.URL().EscapedPath(), "/../", "no dot segment on the wire")
		})
	}
}

// Once the cache of resolve is full, a URL not in it is resolved without
// the writers' lock (every request to a new path serialised on it), and a
// long URL is never kept (256 of them would pin their bytes for the
// session's life).
func TestResolveCacheFullTakesNoLockAndKeepsNoLongURL(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	long := "p/" + strings.Repeat("a", 64<<10)
	_, err := s.resolve(long)
	require.NoError(t, err)
	if m := s.resolved.Load(); m != nil {
		_, kept := (*m)[long]
		assert.False(t, kept, "a 64 KiB URL was cached")
	}
	for i := range maxResolved {
		_, err := s.resolve("p" + strconv.Itoa(i))
		require.NoError(t, err)
	}
	s.resolvedMu.Lock()
	defer s.resolvedMu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := s.resolve("not-cached")
		done <- err
	}()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		s.resolvedMu.Unlock() // let the goroutine end before failing
		<-done
		s.resolvedMu.Lock()
		t.Fatal("resolve of a new URL waited for the cache's lock with the cache full")
	}
}

// A template filled by PathParam resolves as filling it first and then
// resolving would, and is cached under the template: a session calling
// one template with many values keeps one entry for it, and goes on
// caching.
func TestResolveCacheKeyedByTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, raw string
		params          []string
	}{
		{"relative", "https://api.example.com/v1/", "users/{id}", []string{"id", "7"}},
		{"two slots", "https://api.example.com/v1", "orgs/{org}/users/{id}.json", []string{"org", "a b", "id", "7"}},
		{"escaped value", "https://api.example.com/", "/files/{name}", []string{"name", "../admin?x#y"}},
		{"dot values", "https://api.example.com/v1/", "a/{x}/{y}", []string{"x", ".", "y", ".."}},
		{"slot twice", "https://api.example.com/", "{x}/{x}", []string{"x", "é/%"}},
		{"odd name", "https://api.example.com/", "p/{a b/c}", []string{"a b/c", "v"}},
		{"absolute", "", "http://127.0.0.1:8080/u/{id}?q={keep}", []string{"id", "9"}},
		{"empty value", "https://api.example.com/", "a/{x}/b", []string{"x", ""}},
		{"dot segments around", "https://api.example.com/v1/", "a/{x}/../b", []string{"x", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tt.base != "" {
				opts = append(opts, WithBaseURL(tt.base))
			}
			s := newTestSession(t, opts...)
			filled, err := fillPath(tt.raw, tt.params)
			require.NoError(t, err)
			want, err := s.resolveURL(filled)
			require.NoError(t, err)
			for i := range 2 {
				got, err := s.resolvePath(tt.raw, tt.params)
				require.NoError(t, err)
				assert.Equal(t, want.String(), got.String(), "call %d", i)
				assert.Equal(t, want.Path, got.Path, "call %d", i)
				assert.Equal(t, want.EscapedPath(), got.EscapedPath(), "call %d", i)
			}
		})
	}

	t.Run("many values", func(t *testing.T) {
		t.Parallel()
		var paths []string
		srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
			paths = append(paths, r.URL.EscapedPath())
		})
		s := newTestSession(t, WithBaseURL(srv.URL+"/v1"))
		for i := range maxResolved + 10 {
			_, err := s.Get(context.Background(), "users/{id}", PathParam("id", strconv.Itoa(i)))
			require.NoError(t, err)
		}
		_, err := s.resolve("other") // the cache still has room
		require.NoError(t, err)
		m := s.resolved.Load()
		require.NotNil(t, m)
		assert.Len(t, *m, 2)
		assert.Contains(t, *m, "users/{id}")
		assert.Contains(t, *m, "other")
		require.Len(t, paths, maxResolved+10)
		assert.Equal(t, "/v1/users/0", paths[0])
		assert.Equal(t, "/v1/users/"+strconv.Itoa(maxResolved+9), paths[len(paths)-1])
	})

	t.Run("unfilled slot", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t, WithBaseURL("https://api.example.com/"))
		_, err := s.resolvePath("users/{id}/{other}", []string{"id", "1"})
		assert.ErrorIs(t, err, ErrInvalidURL)
	})
}
