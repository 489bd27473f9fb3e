// Tests of Resume and VerifySHA256: parts continued with Range and
// If-Range within a call and across calls (a killed process included),
// restarted when the server ignores the Range or the resource changed,
// and files that fail their checks removed.

package reqivo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileServer serves one resource with http.ServeContent, so that Range,
// If-Range and 416 are answered as net/http answers them, and can cut the
// connection in the middle of a body.
type fileServer struct {
	URL string

	mu      sync.Mutex
	content []byte
	etag    string    // "" : none
	modtime time.Time // zero: no Last-Modified
	noRange bool      // ignore Range: every answer is the whole body
	cuts    []int     // for the next requests in turn, the body bytes sent before the connection is cut
	seen    []seenRequest
	sent    int // bytes of 2xx bodies sent in all
}

// seenRequest is what fileServer recorded of a request, and its answer.
type seenRequest struct {
	Range, IfRange, AcceptEncoding string
	Status                         int
}

func newFileServer(t *testing.T, content []byte, etag string) *fileServer {
	t.Helper()
	f := &fileServer{content: content, etag: etag}
	srv := setupServer(t, f.serve)
	f.URL = srv.URL + "/file.bin"
	return f
}

// set replaces the resource.
func (f *fileServer) set(content []byte, etag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content, f.etag = content, etag
}

func (f *fileServer) cutAfter(n ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cuts = append(f.cuts, n...)
}

func (f *fileServer) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func (f *fileServer) bodyBytes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

func (f *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	content, etag, modtime, noRange := f.content, f.etag, f.modtime, f.noRange
	cut := -1
	if len(f.cuts) > 0 {
		cut, f.cuts = f.cuts[0], f.cuts[1:]
	}
	i := len(f.seen)
	f.seen = append(f.seen, seenRequest{Range: r.Header.Get("Range"), IfRange: r.Header.Get("If-Range"), AcceptEncoding: r.Header.Get("Accept-Encoding")})
	f.mu.Unlock()

	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if noRange {
		r.Header.Del("Range")
	}
	cw := &cutWriter{w: w, f: f, i: i, left: cut}
	http.ServeContent(cw, r, "", modtime, bytes.NewReader(content))
}

// cutWriter records the status, counts the body, and cuts the connection
// once left bytes are sent (left < 0: never).
type cutWriter struct {
	w      http.ResponseWriter
	f      *fileServer
	i      int
	left   int
	status int
}

func (c *cutWriter) Header() http.Header { return c.w.Header() }

func (c *cutWriter) WriteHeader(code int) {
	c.f.mu.Lock()
	c.f.seen[c.i].Status = code
	c.f.mu.Unlock()
	c.status = code
	c.w.WriteHeader(code)
}

func (c *cutWriter) Write(p []byte) (int, error) {
	cutNow := c.left >= 0 && len(p) >= c.left
	if cutNow {
		p = p[:c.left]
	}
	n, err := c.w.Write(p)
	if c.status == 0 || c.status/100 == 2 {
		c.f.mu.Lock()
		c.f.sent += n
		c.f.mu.Unlock()
	}
	if c.left >= 0 {
		c.left -= n
	}
	if cutNow {
		rc := http.NewResponseController(c.w)
		_ = rc.Flush()
		if conn, _, herr := rc.Hijack(); herr == nil {
			conn.Close()
		}
		return n, http.ErrAbortHandler
	}
	return n, err
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// testPayload is 100 KB that differ at every offset a test cuts at.
func testPayload(seed byte) []byte {
	b := make([]byte, 100_000)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return b
}

// quickRetry is a policy whose waits are too short to matter.
func quickRetry(n int) Option {
	return WithRetry(RetryPolicy{MaxAttempts: n, MinWait: time.Microsecond, MaxWait: time.Microsecond})
}

func TestResumeAcrossRetries(t *testing.T) {
	t.Parallel()
	payload := testPayload(1)
	for _, tt := range []struct {
		name     string
		etag     string
		modtime  bool
		resume   bool
		noRange  bool
		ranges   []string // the Range of each request
		statuses []int
		sent     int // body bytes the server sent in all
	}{
		{
			name: "ETag", etag: `"v1"`, resume: true,
			ranges: []string{"", "bytes=30000-", "bytes=60000-"}, statuses: []int{200, 206, 206}, sent: 100_000,
		},
		{
			name: "Last-Modified", modtime: true, resume: true,
			ranges: []string{"", "bytes=30000-", "bytes=60000-"}, statuses: []int{200, 206, 206}, sent: 100_000,
		},
		{
			name: "no validator restarts", resume: true,
			ranges: []string{"", "", ""}, statuses: []int{200, 200, 200}, sent: 30_000 + 30_000 + 100_000,
		},
		{
			name: "server without Range support restarts", etag: `"v1"`, resume: true, noRange: true,
			ranges: []string{"", "bytes=30000-", "bytes=30000-"}, statuses: []int{200, 200, 200}, sent: 30_000 + 30_000 + 100_000,
		},
		{
			name: "without Resume the body restarts", etag: `"v1"`,
			ranges: []string{"", "", ""}, statuses: []int{200, 200, 200}, sent: 30_000 + 30_000 + 100_000,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, tt.etag)
			if tt.modtime {
				f.modtime = time.Now().Add(-time.Hour)
			}
			f.noRange = tt.noRange
			f.cutAfter(30_000, 30_000) // at 30%, then at 60% (or 30% again when restarted)
			s, clk := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			opts := []RequestOption{VerifySHA256(sha256Hex(payload))}
			if tt.resume {
				opts = append(opts, Resume())
			}
			var p progressLog
			opts = append(opts, OnDownloadProgress(p.f))
			resp, err := s.Download(context.Background(), f.URL, target, opts...)
			require.NoError(t, err)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got), "the file is the payload")
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir), "no part or meta file left")

			var ranges []string
			var statuses []int
			for _, r := range f.requests() {
				ranges = append(ranges, r.Range)
				statuses = append(statuses, r.Status)
				assert.Equal(t, "identity", r.AcceptEncoding)
				if r.Range != "" {
					want := tt.etag
					if tt.modtime {
						want = f.modtime.UTC().Format(http.TimeFormat)
					}
					assert.Equal(t, want, r.IfRange)
				}
			}
			assert.Equal(t, tt.ranges, ranges)
			assert.Equal(t, tt.statuses, statuses)
			assert.Equal(t, tt.sent, f.bodyBytes())
			assert.Equal(t, tt.statuses[2], resp.StatusCode)
			assert.Equal(t, 3, resp.Attempts())
			for _, a := range resp.Retries() {
				assert.ErrorIs(t, a.Err, ErrNetwork)
			}
			assert.Len(t, clk.Waits(), 2)
			calls := p.get()
			require.NotEmpty(t, calls)
			assert.Equal(t, [2]int64{100_000, 100_000}, calls[len(calls)-1], "progress ends at the whole file")
		})
	}
}

// Without retries, a broken body fails the call; with Resume its part is
// kept for the next call, which continues it, or restarts it when the
// resource changed.
func TestResumeAcrossCalls(t *testing.T) {
	t.Parallel()
	v1, v2 := testPayload(1), testPayload(2)
	for _, tt := range []struct {
		name     string
		change   bool // the resource changes between the calls
		want     []byte
		ranges   []string
		statuses []int
	}{
		{name: "continued", want: v1, ranges: []string{"", "bytes=40000-"}, statuses: []int{200, 206}},
		{name: "ETag change restarts", change: true, want: v2, ranges: []string{"", "bytes=40000-"}, statuses: []int{200, 200}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, v1, `"v1"`)
			f.cutAfter(40_000)
			s := newTestSession(t)
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))

			_, err := s.Download(context.Background(), f.URL, target, Resume())
			require.ErrorIs(t, err, ErrNetwork)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.Equal(t, "old", string(got), "the target is untouched")
			part, err := os.ReadFile(partOf(t, target, f.URL))
			require.NoError(t, err)
			assert.Equal(t, v1[:40_000], part)
			m, ok := readPartMeta(partOf(t, target, f.URL) + ".meta")
			require.True(t, ok)
			assert.Equal(t, partMeta{Version: partMetaVersion, URL: f.URL, ETag: `"v1"`, Size: 100_000}, m)

			if tt.change {
				f.set(v2, `"v2"`)
			}
			resp, err := s.Download(context.Background(), f.URL, target, Resume(), VerifySHA256(sha256Hex(tt.want)))
			require.NoError(t, err)
			assert.Equal(t, tt.statuses[1], resp.StatusCode)
			got, err = os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tt.want, got))
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
			var ranges []string
			var statuses []int
			for _, r := range f.requests() {
				ranges, statuses = append(ranges, r.Range), append(statuses, r.Status)
			}
			assert.Equal(t, tt.ranges, ranges)
			assert.Equal(t, tt.statuses, statuses)
		})
	}
}

// writePart leaves a part and its meta file as a Download that crashed
// after n bytes would.
func writePart(t *testing.T, target string, content []byte, n int, u, etag string) {
	t.Helper()
	part := partOf(t, target, u)
	require.NoError(t, os.WriteFile(part, content[:n], 0o600))
	b, err := json.Marshal(partMeta{Version: partMetaVersion, URL: u, ETag: etag, Size: int64(len(content))})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(part+".meta", b, 0o600))
}

// partOf is the part file of a Resume download of rawURL to target.
func partOf(t testing.TB, target, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return partPath(target, u)
}

// A part that is already whole (a crash after its last byte) gets a 416
// and is finished without another byte; if the resource changed, it is
// fetched again.
func TestResumeWholePart(t *testing.T) {
	t.Parallel()
	v1, v2 := testPayload(1), testPayload(2)
	for _, tt := range []struct {
		name   string
		change bool
		want   []byte
		status int
		sent   int
	}{
		{name: "416 finishes it", want: v1, status: http.StatusRequestedRangeNotSatisfiable, sent: 0},
		{name: "a changed resource is fetched again", change: true, want: v2, status: http.StatusOK, sent: len(v2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, v1, `"v1"`)
			if tt.change {
				f.set(v2, `"v2"`)
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			writePart(t, target, v1, len(v1), f.URL, `"v1"`)
			s := newTestSession(t)
			resp, err := s.Download(context.Background(), f.URL, target, Resume(), VerifySHA256(sha256Hex(tt.want)))
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tt.want, got))
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
			reqs := f.requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, "bytes="+strconv.Itoa(len(v1))+"-", reqs[0].Range)
			assert.Equal(t, tt.sent, f.bodyBytes())
		})
	}
}

// A part that cannot be trusted is not continued: it starts again from
// zero with a plain GET.
func TestResumeUntrustedPart(t *testing.T) {
	t.Parallel()
	payload := testPayload(3)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, target, u string)
	}{
		{"no meta file", func(t *testing.T, target, u string) {
			require.NoError(t, os.WriteFile(partOf(t, target, u), []byte("junk"), 0o600))
		}},
		{"meta for another URL", func(t *testing.T, target, u string) {
			writePart(t, target, payload, 1000, u, `"v1"`)
			m, _ := json.Marshal(partMeta{Version: partMetaVersion, URL: u + "x", ETag: `"v1"`, Size: 100_000})
			require.NoError(t, os.WriteFile(partOf(t, target, u)+".meta", m, 0o600))
		}},
		{"meta of another version", func(t *testing.T, target, u string) {
			writePart(t, target, payload, 1000, u, `"v1"`)
			require.NoError(t, os.WriteFile(partOf(t, target, u)+".meta", []byte(`{"v":99,"url":"`+u+`","etag":"\"v1\"","size":100000}`), 0o600))
		}},
		{"garbage meta", func(t *testing.T, target, u string) {
			writePart(t, target, payload, 1000, u, `"v1"`)
			require.NoError(t, os.WriteFile(partOf(t, target, u)+".meta", []byte("{"), 0o600))
		}},
		{"weak ETag", func(t *testing.T, target, u string) {
			writePart(t, target, payload, 1000, u, `W/"v1"`)
		}},
		{"ETag with a line break", func(t *testing.T, target, u string) {
			writePart(t, target, payload, 1000, u, "\"v1\"\r\nX-Evil: 1")
		}},
		{"part longer than the size", func(t *testing.T, target, u string) {
			writePart(t, target, append(payload, payload...), 150_000, u, `"v1"`)
			m, _ := json.Marshal(partMeta{Version: partMetaVersion, URL: u, ETag: `"v1"`, Size: 100_000})
			require.NoError(t, os.WriteFile(partOf(t, target, u)+".meta", m, 0o600))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, `"v1"`)
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			tt.setup(t, target, f.URL)
			s := newTestSession(t)
			_, err := s.Download(context.Background(), f.URL, target, Resume(), VerifySHA256(sha256Hex(payload)))
			require.NoError(t, err)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got))
			reqs := f.requests()
			require.Len(t, reqs, 1)
			assert.Empty(t, reqs[0].Range)
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
		})
	}
}

// A file that fails its checks is removed, part and meta included, and the
// target keeps what it held.
func TestDownloadChecks(t *testing.T) {
	t.Parallel()
	payload := testPayload(4)
	wrong := sha256Hex([]byte("something else"))
	for _, tt := range []struct {
		name    string
		resume  bool
		old     bool   // a target exists
		partial bool   // a part from an earlier call is continued
		digest  string // VerifySHA256
		msg     string
	}{
		{name: "digest mismatch leaves no file", digest: wrong, msg: "SHA-256 digest"},
		{name: "digest mismatch with Resume leaves no part", resume: true, digest: wrong, msg: "SHA-256 digest"},
		{name: "digest mismatch keeps the old target", old: true, digest: wrong, msg: "SHA-256 digest"},
		{name: "a continued part with another digest is removed", resume: true, partial: true, digest: wrong, msg: "SHA-256 digest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, `"v1"`)
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			if tt.old {
				require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))
			}
			if tt.partial {
				writePart(t, target, payload, 5000, f.URL, `"v1"`)
			}
			opts := []RequestOption{VerifySHA256(tt.digest)}
			if tt.resume {
				opts = append(opts, Resume())
			}
			s := newTestSession(t)
			resp, err := s.Download(context.Background(), f.URL, target, opts...)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, ErrInvalidResponse)
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Contains(t, err.Error(), sha256Hex(payload), "the error names the digest it got")
			if tt.old {
				got, err := os.ReadFile(target)
				require.NoError(t, err)
				assert.Equal(t, "old", string(got))
				assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
			} else {
				assert.Empty(t, dirEntries(t, dir))
			}
		})
	}
}

// resumeChild is the environment variable that makes
// TestResumeAfterKill run as the child that is killed.
const resumeChild = "REQIVO_TEST_RESUME_CHILD"

// TestResumeAfterKill: a process killed in the middle of a download leaves
// a part that the next call continues.
func TestResumeAfterKill(t *testing.T) {
	if v := os.Getenv(resumeChild); v != "" {
		// The child: download until killed.
		var args struct{ URL, Target string }
		require.NoError(t, json.Unmarshal([]byte(v), &args))
		s := newTestSession(t, WithTimeout(time.Minute))
		_, err := s.Download(context.Background(), args.URL, args.Target, Resume())
		t.Fatalf("the download should have been killed, got %v", err)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	payload := testPayload(5)
	const sentBeforeKill = 40_000
	release := make(chan struct{})
	var mu sync.Mutex
	var ranges []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := len(ranges) == 0
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("ETag", `"v5"`)
		if first {
			// Half a body, then nothing until the client is gone.
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			_, _ = w.Write(payload[:sentBeforeKill])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(payload))
	})
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	target := filepath.Join(dir, "file.bin")
	args, err := json.Marshal(map[string]string{"URL": srv.URL, "Target": target})
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), resumeChild+"="+string(args))
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(partOf(t, target, srv.URL))
		if err == nil && fi.Size() == sentBeforeKill {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("the child did not write its part")
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	s := newTestSession(t)
	resp, err := s.Download(context.Background(), srv.URL, target, Resume(), VerifySHA256(sha256Hex(payload)))
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(payload, got))
	assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"", "bytes=40000-"}, ranges)
}

// A 206 that does not continue the part as asked (a wrong or missing
// Content-Range, another length, another validator) is not written: the
// download restarts from zero without Range.
func TestResumeBadPartialContent(t *testing.T) {
	t.Parallel()
	payload := testPayload(9)
	const cut = 30_000
	for _, tt := range []struct {
		name         string
		contentRange string
		etag         string
	}{
		{name: "no Content-Range", contentRange: ""},
		{name: "another start", contentRange: "bytes 0-99999/100000"},
		{name: "another length", contentRange: "bytes 30000-99999/200000"},
		{name: "not to the end", contentRange: "bytes 30000-49999/100000"},
		{name: "another unit", contentRange: "items 30000-99999/100000"},
		{name: "another ETag", contentRange: "bytes 30000-99999/100000", etag: `"other"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var ranges []string
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := len(ranges)
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				w.Header().Set("ETag", `"v9"`)
				switch {
				case n == 0:
					w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
					_, _ = w.Write(payload[:cut])
					w.(http.Flusher).Flush()
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				case r.Header.Get("Range") != "":
					if tt.etag != "" {
						w.Header().Set("ETag", tt.etag)
					}
					if tt.contentRange != "" {
						w.Header().Set("Content-Range", tt.contentRange)
					}
					w.WriteHeader(http.StatusPartialContent)
					_, _ = w.Write(payload[cut:])
				default:
					_, _ = w.Write(payload)
				}
			})
			s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 2})
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			resp, err := s.Download(context.Background(), srv.URL, target, Resume(), VerifySHA256(sha256Hex(payload)))
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got))
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []string{"", "bytes=30000-", ""}, ranges)
		})
	}
}

// Two Downloads resuming one target at once would write one part: the
// second is refused while the first runs.
func TestResumeOneAtATime(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}, 1), make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", "6")
		_, _ = w.Write([]byte("abc"))
		w.(http.Flusher).Flush()
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("def"))
	})
	s := newTestSession(t)
	target := filepath.Join(t.TempDir(), "file.bin")
	done := make(chan error, 1)
	go func() {
		_, err := s.Download(context.Background(), srv.URL, target, Resume())
		done <- err
	}()
	<-started
	_, err := s.Download(context.Background(), srv.URL, target, Resume())
	assert.ErrorIs(t, err, ErrInvalidOption)
	close(release)
	require.NoError(t, <-done)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "abcdef", string(got))
	_, err = s.Download(context.Background(), srv.URL, target, Resume())
	assert.NoError(t, err, "the claim ends with the call")
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-99/100", contentRange{0, 99, 100}, true},
		{"bytes 30000-99999/100000", contentRange{30000, 99999, 100000}, true},
		{"bytes 5-9/*", contentRange{5, 9, -1}, true},
		{"bytes */100", contentRange{-1, -1, 100}, true},
		{" bytes 0-0/1 ", contentRange{0, 0, 1}, true},
		{"bytes */*", contentRange{-1, -1, -1}, false},
		{"bytes 10-5/100", contentRange{-1, -1, -1}, false},
		{"bytes 0-100/100", contentRange{-1, -1, -1}, false},
		{"bytes -1-5/100", contentRange{-1, -1, -1}, false},
		{"bytes +1-5/100", contentRange{-1, -1, -1}, false},
		{"bytes 1-5/1e3", contentRange{-1, -1, -1}, false},
		{"bytes 1-5", contentRange{-1, -1, -1}, false},
		{"items 1-5/10", contentRange{-1, -1, -1}, false},
		{"bytes 1 -5/10", contentRange{-1, -1, -1}, false},
		{"bytes 0-99999999999999999999/*", contentRange{-1, -1, -1}, false},
		{"", contentRange{-1, -1, -1}, false},
	} {
		got, ok := parseContentRange(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

// FuzzParseContentRange: whatever parses is consistent, and prints back
// to what it parsed from (modulo spaces around it).
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes */100", "bytes 5-9/*", "bytes 10-5/100", "bytes 0-0/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, ok := parseContentRange(s)
		if !ok {
			return
		}
		total := "*"
		if cr.complete >= 0 {
			total = strconv.FormatInt(cr.complete, 10)
		}
		var back string
		if cr.first < 0 {
			if cr.last != -1 || cr.complete < 0 {
				t.Fatalf("%q: %+v", s, cr)
			}
			back = "bytes */" + total
		} else {
			if cr.last < cr.first || cr.complete >= 0 && cr.last >= cr.complete {
				t.Fatalf("%q: inconsistent %+v", s, cr)
			}
			back = "bytes " + strconv.FormatInt(cr.first, 10) + "-" + strconv.FormatInt(cr.last, 10) + "/" + total
		}
		again, ok := parseContentRange(back)
		if !ok || again != cr {
			t.Fatalf("%q -> %+v -> %q -> %+v", s, cr, back, again)
		}
	})
}

// verify checks the length the server announced, and the digest.
func TestPartVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := createTemp(filepath.Join(dir, "x"))
	require.NoError(t, err)
	defer p.discard()
	_, err = p.f.WriteString("hello")
	require.NoError(t, err)
	p.offset = 5
	sum := sha256.Sum256([]byte("hello"))
	assert.NoError(t, p.verify(5, sum[:]))
	assert.NoError(t, p.verify(-1, nil))
	err = p.verify(6, nil)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "5 bytes, the server announced 6")
	other := sha256.Sum256([]byte("hellO"))
	err = p.verify(5, other[:])
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), hex.EncodeToString(sum[:]))
}

// A body that stalls past the read timeout is retried too (the default
// policy retries ErrReadTimeout), and continued from where it stopped.
func TestResumeAfterStall(t *testing.T) {
	t.Parallel()
	payload := testPayload(10)
	var mu sync.Mutex
	var ranges []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := len(ranges) == 0
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("ETag", `"v10"`)
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			_, _ = w.Write(payload[:30_000])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // stalls until the client gives up
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(payload))
	})
	// A loaded machine may stall a later attempt past 100 ms too: the
	// policy allows for it, and the test asks only that the first retry
	// was the stall and continued the part.
	s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 5}, WithTimeouts(Timeouts{Read: 100 * time.Millisecond}))
	target := filepath.Join(t.TempDir(), "file.bin")
	resp, err := s.Download(context.Background(), srv.URL, target, Resume(), VerifySHA256(sha256Hex(payload)))
	require.NoError(t, err)
	require.NotEmpty(t, resp.Retries())
	for _, a := range resp.Retries() {
		assert.ErrorIs(t, a.Err, ErrReadTimeout)
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(ranges), 2)
	assert.Equal(t, []string{"", "bytes=30000-"}, ranges[:2])
}

// TestResumePartPerQuery: two resources that differ only in their query,
// with the same size and Last-Modified, keep separate parts: the second
// download does not continue the first one's part (which would splice the
// two into one file), and the first is still continued afterwards.
func TestResumePartPerQuery(t *testing.T) {
	t.Parallel()
	bodies := map[string][]byte{"1": testPayload(1), "2": testPayload(2)}
	modtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	var seen []string // "id range"
	cut := true
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		mu.Lock()
		seen = append(seen, id+" "+r.Header.Get("Range"))
		cutNow := cut && id == "1"
		cut = cut && !cutNow
		mu.Unlock()
		if cutNow {
			w.Header().Set("Last-Modified", modtime.Format(http.TimeFormat))
			w.Header().Set("Content-Length", strconv.Itoa(len(bodies[id])))
			_, _ = w.Write(bodies[id][:40_000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", modtime, bytes.NewReader(bodies[id]))
	})
	s := newTestSession(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "file.bin")

	_, err := s.Download(context.Background(), srv.URL+"/file", target, Resume(), Query("id", "1"))
	require.ErrorIs(t, err, ErrNetwork)
	part, err := os.ReadFile(partOf(t, target, srv.URL+"/file?id=1"))
	require.NoError(t, err, "the part is named by the whole URL, a Query option included")
	assert.Len(t, part, 40_000)

	_, err = s.Download(context.Background(), srv.URL+"/file?id=2", target, Resume(), VerifySHA256(sha256Hex(bodies["2"])))
	require.NoError(t, err)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bodies["2"], got), "id=2 whole, not spliced onto id=1's part")

	_, err = s.Download(context.Background(), srv.URL+"/file?id=1", target, Resume(), VerifySHA256(sha256Hex(bodies["1"])))
	require.NoError(t, err)
	got, err = os.ReadFile(target)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bodies["1"], got))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"1 ", "2 ", "1 bytes=40000-"}, seen)
	assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
}
