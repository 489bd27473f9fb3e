// Tests of Download: the file written whole or not at all, its checks,
// retries of a body that breaks, and the options refused.

package reqivo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
			_, err = s.Download(context.Background(), srv.URL, tc.path, Resume())
			assert.ErrorIs(t, err, ErrInvalidOption, "with Resume")
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

// What Download cannot do right is refused before anything is sent.
func TestDownloadRefusedOptions(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	dir := t.TempDir()
	target := filepath.Join(dir, "out")
	for _, tt := range []struct {
		name    string
		session func(s *Session)
		opts    []RequestOption
		msg     string
	}{
		{name: "a Range header", opts: []RequestOption{Header("Range", "bytes=10-")}, msg: "Range"},
		{name: "a session Range header", session: func(s *Session) { s.SetHeader("range", "bytes=10-") }, msg: "Range"},
		{name: "a request body", opts: []RequestOption{BodyString("x")}, msg: "body"},
		{name: "a malformed digest", opts: []RequestOption{VerifySHA256("abc")}, msg: "64 hexadecimal"},
		{name: "a digest too long", opts: []RequestOption{VerifySHA256(sha256Hex(nil) + "00")}, msg: "64 hexadecimal"},
		{name: "a bad option among them", opts: []RequestOption{Resume(), Timeout(-1)}, msg: "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t)
			if tt.session != nil {
				tt.session(s)
			}
			resp, err := s.Download(context.Background(), srv.URL, target, tt.opts...)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, ErrInvalidOption)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
	assert.Empty(t, dirEntries(t, dir))
}

// Resume and VerifySHA256 belong to Download: another request refuses
// them rather than leave the caller believing a body was checked.
func TestDownloadOptionsOnOtherRequests(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	s := newTestSession(t)
	for _, o := range []RequestOption{Resume(), VerifySHA256(sha256Hex(nil)), NoSync()} {
		_, err := s.Get(context.Background(), srv.URL, o)
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
	assert.Zero(t, hits.Load())
}

// A Range added behind Download's back (here by a hook) gets a 206 that
// Download did not ask for: an error, not a file holding the tail.
func TestDownloadUnaskedPartialContent(t *testing.T) {
	t.Parallel()
	f := newFileServer(t, testPayload(6), `"v6"`)
	s := newTestSession(t, WithOnRequest(func(r *http.Request) error {
		r.Header.Set("Range", "bytes=50000-")
		return nil
	}))
	dir := t.TempDir()
	_, err := s.Download(context.Background(), f.URL, filepath.Join(dir, "out"))
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "206")
	assert.Empty(t, dirEntries(t, dir))
}

// The body is saved as the server sends it: Download asks for identity,
// and a server that compresses anyway gets its bytes written undecoded,
// so that the length and digest are those it announced.
func TestDownloadSavesTheBodyAsSent(t *testing.T) {
	t.Parallel()
	var ae atomic.Value
	body := []byte("\x1f\x8b not really gzip, but a .gz file")
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		ae.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	s := newTestSession(t)
	target := filepath.Join(t.TempDir(), "file.gz")
	_, err := s.Download(context.Background(), srv.URL, target, VerifySHA256(sha256Hex(body)))
	require.NoError(t, err)
	assert.Equal(t, "identity", ae.Load())
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, body, got)
}

// A broken body is retried only while the policy allows: not without
// WithRetry, not past MaxAttempts, not when its Retry says no. With
// Resume the part stays for the next call.
func TestDownloadRetryLimits(t *testing.T) {
	t.Parallel()
	payload := testPayload(7)
	never := func(*http.Request, *http.Response, error) bool { return false }
	for _, tt := range []struct {
		name     string
		policy   *RetryPolicy
		requests int
	}{
		{name: "no policy", requests: 1},
		{name: "two attempts", policy: &RetryPolicy{MaxAttempts: 2}, requests: 2},
		{name: "Retry says no", policy: &RetryPolicy{MaxAttempts: 5, Retry: never}, requests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, `"v7"`)
			f.cutAfter(30_000, 30_000, 30_000)
			var s *Session
			if tt.policy != nil {
				s, _ = newRetrySession(t, *tt.policy)
			} else {
				s = newTestSession(t)
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			_, err := s.Download(context.Background(), f.URL, target, Resume())
			assert.ErrorIs(t, err, ErrNetwork)
			assert.Len(t, f.requests(), tt.requests)
			part, err := os.ReadFile(partOf(t, target, f.URL))
			require.NoError(t, err)
			assert.Len(t, part, 30_000*tt.requests, "the part holds what came")
			name := filepath.Base(partOf(t, target, f.URL))
			assert.ElementsMatch(t, []string{name, name + ".meta"}, dirEntries(t, dir))
		})
	}
}

// A retry's wait ends with the caller's context.
func TestDownloadRetryWaitCanceled(t *testing.T) {
	t.Parallel()
	f := newFileServer(t, testPayload(8), `"v8"`)
	f.cutAfter(30_000)
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3, MinWait: time.Hour, MaxWait: time.Hour}))
	s.clock.jitter = func(n int64) int64 { return n - 1 } // the whole hour
	ctx, cancel := context.WithCancel(context.Background())
	s.clock.sleep = func(sctx context.Context, d time.Duration) error {
		cancel()
		return sleepCtx(sctx, d)
	}
	dir := t.TempDir()
	_, err := s.Download(ctx, f.URL, filepath.Join(dir, "file.bin"))
	assert.ErrorIs(t, err, ErrNetwork, "the error is the broken body's")
	assert.Len(t, f.requests(), 1)
	assert.Empty(t, dirEntries(t, dir))
}

// TestDownloadNoSync: with NoSync the file is complete and in place (the
// sync it skips cannot be seen from here; Get refusing it is tested with
// the other Download options).
func TestDownloadNoSync(t *testing.T) {
	t.Parallel()
	payload := testPayload(7)
	for _, resume := range []bool{false, true} {
		t.Run(fmt.Sprint("resume=", resume), func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, `"v7"`)
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			opts := []RequestOption{NoSync(), VerifySHA256(sha256Hex(payload))}
			if resume {
				opts = append(opts, Resume())
			}
			s := newTestSession(t)
			_, err := s.Download(context.Background(), f.URL, target, opts...)
			require.NoError(t, err)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got))
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
		})
	}
}
