package reqivo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// progressLog records the calls of a progress func.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int64
}

func (p *progressLog) f(done, total int64) {
	p.mu.Lock()
	p.calls = append(p.calls, [2]int64{done, total})
	p.mu.Unlock()
}

func (p *progressLog) get() [][2]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][2]int64(nil), p.calls...)
}

// assertMonotonic checks that done grows, total stays put, and the last
// call has done == wantDone.
func assertMonotonic(t *testing.T, calls [][2]int64, wantDone, wantTotal int64) {
	t.Helper()
	require.NotEmpty(t, calls)
	var prev int64
	for _, c := range calls {
		assert.Greater(t, c[0], prev)
		assert.Equal(t, wantTotal, c[1])
		prev = c[0]
	}
	assert.Equal(t, wantDone, calls[len(calls)-1][0])
}

func TestUploadProgress(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(strconv.FormatInt(n, 10)))
	})
	payload := bytes.Repeat([]byte("x"), 1<<20)
	tests := []struct {
		name  string
		body  RequestOption
		total int64
	}{
		{"bytes", BodyBytes(payload), int64(len(payload))},
		{"chunked reader", Body(io.MultiReader(bytes.NewReader(payload))), -1},
		{"json", JSON(map[string]string{"a": "b"}), int64(len(`{"a":"b"}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			var p progressLog
			resp, err := s.Post(context.Background(), srv.URL, tt.body, OnUploadProgress(p.f))
			require.NoError(t, err)
			sent, _ := strconv.ParseInt(resp.Text(), 10, 64)
			assertMonotonic(t, p.get(), sent, tt.total)
		})
	}
}

// Every attempt counts from zero again.
func TestUploadProgressRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 2}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	var p progressLog
	resp, err := s.Put(context.Background(), srv.URL, BodyString("hello"), OnUploadProgress(p.f))
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts())
	assert.Equal(t, [][2]int64{{5, 5}, {5, 5}}, p.get())
}

func TestDownloadProgress(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("0123456789"), 50_000)
	base := setupCodingServer(t, payload)
	tests := []struct {
		name   string
		coding string
		stream bool
		total  int64
	}{
		{"buffered", "", false, int64(len(payload))},
		{"streamed", "", true, int64(len(payload))},
		{"decoded gzip has no total", "gzip", false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			var p progressLog
			opts := []RequestOption{OnDownloadProgress(p.f)}
			if tt.stream {
				opts = append(opts, Stream())
			}
			resp, err := s.Get(context.Background(), base+"/?coding="+tt.coding, opts...)
			require.NoError(t, err)
			if tt.stream {
				assert.Empty(t, p.get(), "nothing is read before the caller reads")
				_, err := io.Copy(io.Discard, resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Close())
			}
			assertMonotonic(t, p.get(), int64(len(payload)), tt.total)
		})
	}
}

func TestProgressNilFunc(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	for _, o := range []RequestOption{OnUploadProgress(nil), OnDownloadProgress(nil)} {
		_, err := s.Get(context.Background(), "http://127.0.0.1:1/", o)
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
