package reqivo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

func TestDownload(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("reqivo "), 100_000)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			_, _ = w.Write(payload)
		case "/missing":
			http.Error(w, "no such file", http.StatusNotFound)
		case "/cut":
			// Promise the whole payload, send half, and hang up.
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			_, _ = w.Write(payload[:len(payload)/2])
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	})
	tests := []struct {
		name    string
		path    string
		old     []byte // what the target held before, if anything
		want    []byte // what it holds after
		kind    error
		httpErr int
	}{
		{name: "new file", path: "/file", want: payload},
		{name: "replaces an old file", path: "/file", old: []byte("old"), want: payload},
		{name: "404 writes nothing", path: "/missing", httpErr: 404},
		{name: "404 keeps the old file", path: "/missing", old: []byte("old"), want: []byte("old"), httpErr: 404},
		{name: "cut short writes nothing", path: "/cut", kind: ErrNetwork},
		{name: "cut short keeps the old file", path: "/cut", old: []byte("old"), want: []byte("old"), kind: ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			dir := t.TempDir()
			target := filepath.Join(dir, "out.bin")
			if tt.old != nil {
				require.NoError(t, os.WriteFile(target, tt.old, 0o600))
			}
			var p progressLog
			resp, err := s.Download(context.Background(), srv.URL+tt.path, target, OnDownloadProgress(p.f))
			switch {
			case tt.httpErr != 0:
				var he *HTTPError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tt.httpErr, he.StatusCode)
				assert.Contains(t, string(he.Body), "no such file")
				assert.Nil(t, resp)
			case tt.kind != nil:
				assert.ErrorIs(t, err, tt.kind)
				assert.Nil(t, resp)
			default:
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				assert.Empty(t, resp.Bytes())
				assertMonotonic(t, p.get(), int64(len(payload)), int64(len(payload)))
				fi, err := os.Stat(target)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(downloadFileMode), fi.Mode().Perm())
			}
			got, err := os.ReadFile(target)
			if tt.want == nil {
				assert.ErrorIs(t, err, os.ErrNotExist, "no partial file at the target")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
			if tt.want == nil {
				assert.Empty(t, dirEntries(t, dir), "no temporary file left")
			} else {
				assert.Equal(t, []string{"out.bin"}, dirEntries(t, dir), "no temporary file left")
			}
		})
	}
}

func TestDownloadCanceled(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	s := newTestSession(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := s.Download(ctx, srv.URL, filepath.Join(dir, "out"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, dirEntries(t, dir))
}

func TestDownloadBadPath(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	s := newTestSession(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, path string }{
		{"empty", ""},
		{"a directory", dir},
		{"no such directory", filepath.Join(dir, "nope", "out")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Download(context.Background(), srv.URL, tc.path)
			assert.ErrorIs(t, err, ErrInvalidOption)
		})
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
	assert.Empty(t, dirEntries(t, dir))
}

// A transfer that cannot start leaves no file behind.
func TestDownloadNetworkError(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	dir := t.TempDir()
	_, err := s.Download(context.Background(), "http://"+closedAddr(t)+"/", filepath.Join(dir, "out"))
	assert.ErrorIs(t, err, ErrNetwork)
	assert.False(t, errors.Is(err, ErrInvalidOption))
	assert.Empty(t, dirEntries(t, dir))
}

// The session's total timeout covers a download's transfer; Timeout(0)
// lifts it for one download.
func TestDownloadTotalTimeout(t *testing.T) {
	t.Parallel()
	const pause = 300 * time.Millisecond // well past the session's 50 ms
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		_, _ = io.WriteString(w, "ab")
		w.(http.Flusher).Flush()
		select {
		case <-time.After(pause):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "cd")
	})
	s := newTestSession(t, WithTimeout(50*time.Millisecond))
	dir := t.TempDir()
	target := filepath.Join(dir, "out")

	_, err := s.Download(context.Background(), srv.URL, target)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Empty(t, dirEntries(t, dir))

	_, err = s.Download(context.Background(), srv.URL, target, Timeout(0))
	require.NoError(t, err)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "abcd", string(got))
}
