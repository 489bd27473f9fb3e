package reqivo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimings(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	localhost := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name    string
		opts    []Option
		reqOpts []RequestOption
		traced  bool
	}{
		{name: "session option", opts: []Option{WithTrace()}, traced: true},
		{name: "request option", reqOpts: []RequestOption{Trace()}, traced: true},
		{name: "streamed", opts: []Option{WithTrace()}, reqOpts: []RequestOption{Stream()}, traced: true},
		{name: "not asked", traced: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, tt.opts...)
			resp, err := s.Get(context.Background(), localhost, tt.reqOpts...)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body) // a streamed body read to the end frees its connection
			require.NoError(t, resp.Close())
			tm := resp.Timings()
			if !tt.traced {
				assert.Equal(t, Timings{}, tm)
				assert.Nil(t, resp.timings, "a request that does not ask builds no tracer")
				return
			}
			assert.False(t, tm.ConnReused)
			assert.Positive(t, tm.Connect)
			assert.Positive(t, tm.TimeToFirstByte)
			assert.GreaterOrEqual(t, tm.TimeToFirstByte, tm.Connect+tm.DNS)
			assert.Zero(t, tm.TLS, "plain HTTP has no handshake")
			assert.Equal(t, resp.Elapsed(), tm.Total)

			resp, err = s.Get(context.Background(), localhost, tt.reqOpts...)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body) // a streamed body read to the end frees its connection
			require.NoError(t, resp.Close())
			tm = resp.Timings()
			assert.True(t, tm.ConnReused)
			assert.Zero(t, tm.DNS)
			assert.Zero(t, tm.Connect)
			assert.Positive(t, tm.TimeToFirstByte)
		})
	}
}

func TestTimingsTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := newTestSession(t, WithTLSConfig(&tls.Config{RootCAs: roots}), WithTrace())
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	tm := resp.Timings()
	assert.Positive(t, tm.TLS)
	assert.Positive(t, tm.Connect)
	assert.GreaterOrEqual(t, tm.TimeToFirstByte, tm.Connect+tm.TLS)
}

// The final attempt's timings are reported: after a retry on a fresh
// connection, the earlier attempt's are gone.
func TestTimingsAfterRetry(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	})
	s := newTestSession(t, WithTrace(), WithRetry(RetryPolicy{MaxAttempts: 2}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 2, resp.Attempts())
	tm := resp.Timings()
	assert.True(t, tm.ConnReused, "the retry reuses the first connection")
	assert.Zero(t, tm.Connect)
}

// A caller's own ClientTrace keeps working alongside ours.
func TestTimingsComposeWithCallerTrace(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newTestSession(t, WithTrace())
	var got atomic.Bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { got.Store(true) },
	})
	resp, err := s.Get(ctx, srv.URL)
	require.NoError(t, err)
	assert.True(t, got.Load())
	assert.Positive(t, resp.Timings().TimeToFirstByte)
}
