package reqivo

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPErrorHeader: a 429's Retry-After and x-ratelimit-* headers are
// readable through errors.As on every path that returns an *HTTPError, and
// the cookies the answer set are not.
func TestHTTPErrorHeader(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Retry-After", "7")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Request-Id", "req-1")
		h.Add("Set-Cookie", "sid=secret")
		h.Set("Set-Cookie2", "old=secret")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"message":"Rate limit reached"}}`))
	})
	s := newTestSession(t, WithBaseURL(srv.URL), WithRetry(RetryPolicy{MaxAttempts: 1}))
	paths := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"buffered", func(ctx context.Context) error {
			resp, err := s.Get(ctx, "/v1")
			if err != nil {
				return err
			}
			return resp.Err()
		}},
		{"Stream", func(ctx context.Context) error {
			resp, err := s.Get(ctx, "/v1", Stream())
			if err != nil {
				return err
			}
			defer resp.Close()
			return resp.Err()
		}},
		{"GetJSON", func(ctx context.Context) error { _, _, err := GetJSON[any](ctx, s, "/v1"); return err }},
		{"Events", func(ctx context.Context) error {
			for _, err := range s.Events(ctx, "POST", "/v1", Reconnect(0)) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"JSONLines", func(ctx context.Context) error {
			for _, err := range JSONLines[any](ctx, s, "GET", "/v1") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"Download", func(ctx context.Context) error {
			_, err := s.Download(ctx, "/v1", filepath.Join(t.TempDir(), "f"))
			return err
		}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			err := p.call(context.Background())
			var he *HTTPError
			require.True(t, errors.As(err, &he), "an *HTTPError, got %v", err)
			assert.Equal(t, http.StatusTooManyRequests, he.StatusCode)
			assert.Equal(t, "7", he.Header.Get("Retry-After"))
			assert.Equal(t, "0", he.Header.Get("X-Ratelimit-Remaining-Requests"))
			assert.Equal(t, "req-1", he.Header.Get("X-Request-Id"))
			assert.NotContains(t, he.Header, "Set-Cookie")
			assert.NotContains(t, he.Header, "Set-Cookie2")
			assert.Contains(t, he.Error(), "Rate limit reached")
		})
	}
}

// TestHTTPErrorHeaderIsACopy: changing an error's Header changes neither
// the Response's nor another error's.
func TestHTTPErrorHeaderIsACopy(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := newTestSession(t, WithBaseURL(srv.URL), WithRetry(RetryPolicy{MaxAttempts: 1}))
	resp, err := s.Get(context.Background(), "/")
	require.NoError(t, err)
	var he *HTTPError
	require.ErrorAs(t, resp.Err(), &he)
	he.Header.Set("Retry-After", "changed")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.ErrorAs(t, resp.Err(), &he)
	assert.Equal(t, "1", he.Header.Get("Retry-After"))
}
