// Tests of Download: the file written whole or not at all, its checks,
// retries of a body that breaks, and the options refused.

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
