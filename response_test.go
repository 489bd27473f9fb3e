package reqivo

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResponseBufferedBeforeReturn(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(payload)
	})
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	// Cut every connection: a body not read yet would fail now.
	srv.CloseClientConnections()
	assert.Equal(t, payload, resp.Bytes())
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, payload, got, "Body reads the buffered bytes again")
	assert.NoError(t, resp.Close())
	assert.NoError(t, resp.Close(), "Close is safe always")
}

func TestResponseConnectionBackInPool(t *testing.T) {
	t.Parallel()
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			t.Parallel()
			srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", "70000")
				}
				_, _ = w.Write(bytes.Repeat([]byte("x"), 70000))
			})
			s := newTestSession(t)
			for i := 0; i < 5; i++ {
				resp, err := s.Get(context.Background(), srv.URL)
				require.NoError(t, err)
				assert.Len(t, resp.Bytes(), 70000)
			}
			assert.EqualValues(t, 1, s.Stats().ConnsOpened)
			assert.EqualValues(t, 1, srv.conns.Load())
		})
	}
}

func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("y"), n)
		switch r.URL.Query().Get("mode") {
		case "chunked":
			w.(http.Flusher).Flush() // headers out without a Content-Length
			_, _ = w.Write(body)
		case "gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write(body)
			_ = zw.Close()
		default:
			w.Header().Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(body)
		}
	})
	tests := []struct {
		name    string
		limit   int64
		n       int
		mode    string
		wantErr bool
	}{
		{name: "length under", limit: 1000, n: 999},
		{name: "length at", limit: 1000, n: 1000},
		{name: "length over", limit: 1000, n: 1001, wantErr: true},
		{name: "chunked at", limit: 1000, n: 1000, mode: "chunked"},
		{name: "chunked over", limit: 1000, n: 1001, mode: "chunked", wantErr: true},
		{name: "gzip counted decoded", limit: 10000, n: 100000, mode: "gzip", wantErr: true},
		{name: "gzip under", limit: 100000, n: 100000, mode: "gzip"},
		{name: "no limit", limit: -1, n: 3 << 20},
		{name: "no limit chunked", limit: -1, n: 3 << 20, mode: "chunked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: tt.limit}))
			resp, err := s.Get(context.Background(), srv.URL+"?n="+strconv.Itoa(tt.n)+"&mode="+tt.mode)
			if tt.wantErr {
				assertRequestKind(t, err, ErrBodyTooLarge)
				return
			}
			require.NoError(t, err)
			assert.Len(t, resp.Bytes(), tt.n)
		})
	}

	// The default is 64 MiB; a Stream()ed body is not bounded.
	s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: 10}))
	resp, err := s.Get(context.Background(), srv.URL+"?n=100", Stream())
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Len(t, b, 100)
	require.NoError(t, resp.Close())
	assert.EqualValues(t, DefaultMaxResponseBytes, DefaultLimits().MaxResponseBytes)
}

func TestStreamLeavesBodyLive(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
	})
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err, "returns while the server still holds the rest")
	assert.Nil(t, resp.Bytes())
	assert.Empty(t, resp.Text())
	close(release)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "first second", string(b))
	require.NoError(t, resp.Close())
	assert.NoError(t, resp.Close(), "a second Close is harmless")

	// The connection went back to the pool.
	resp, err = s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "first second", resp.Text())
	assert.EqualValues(t, 1, srv.conns.Load())
}

func TestStreamJSON(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"n": 42}`)
	})
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	defer resp.Close()
	var v struct{ N int }
	require.NoError(t, resp.JSON(&v))
	assert.Equal(t, 42, v.N)
}

func TestResponseText(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		_, _ = w.Write([]byte(r.URL.Query().Get("b")))
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	tests := []struct {
		name, ct, body, want string
	}{
		{"utf-8", "text/plain; charset=utf-8", "caf\xc3\xa9", "café"},
		{"UTF-8 upper case", "text/plain; charset=UTF-8", "caf\xc3\xa9", "café"},
		{"no charset is utf-8", "text/plain", "caf\xc3\xa9", "café"},
		{"no content type", "", "caf\xc3\xa9", "café"},
		{"iso-8859-1", "text/plain; charset=ISO-8859-1", "caf\xe9", "café"},
		{"latin1 alias quoted", `text/html; charset="latin1"`, "\xfcber", "über"},
		{"windows-1252", "text/plain; charset=windows-1252", "\x80", "€"},
		{"shift_jis", "text/plain; charset=shift_jis", "\x82\xa0", "あ"},
		{"invalid utf-8", "text/plain; charset=utf-8", "a\xffb", "a\uFFFDb"},
		{"unknown charset", "text/plain; charset=x-unknown", "abc", "abc"},
		{"empty", "text/plain", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Get(context.Background(), "/?"+url.Values{"ct": {tt.ct}, "b": {tt.body}}.Encode())
			require.NoError(t, err)
			assert.Equal(t, tt.want, resp.Text())
			assert.Equal(t, []byte(tt.body), resp.Bytes(), "Bytes is not decoded")
		})
	}
}

func TestResponseJSONAndOK(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	resp, err := s.Get(context.Background(), "/json")
	require.NoError(t, err)
	assert.True(t, resp.OK())
	assert.NoError(t, resp.Err())
	var v map[string]any
	require.NoError(t, resp.JSON(&v))
	assert.Contains(t, v, "slideshow")
	// JSON may be called again: it decodes the buffered bytes.
	var v2 map[string]any
	require.NoError(t, resp.JSON(&v2))
	assert.Equal(t, v, v2)

	resp, err = s.Get(context.Background(), "/html")
	require.NoError(t, err)
	assert.ErrorIs(t, resp.JSON(&v), ErrInvalidResponse)

	for code, ok := range map[int]bool{200: true, 201: true, 204: true, 299: true, 304: false, 400: false, 404: false, 500: false, 503: false} {
		resp, err := s.Get(context.Background(), "/status/"+strconv.Itoa(code), Header("Accept", "*/*"))
		require.NoError(t, err)
		assert.Equal(t, ok, resp.OK(), "status %d", code)
		assert.Equal(t, code >= 400, resp.Err() != nil, "status %d", code)
	}
}

func TestResponseURLAndElapsed(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/slow?x=1", http.StatusFound)
			return
		}
		time.Sleep(30 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	resp, err := s.Get(context.Background(), "/start")
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/slow?x=1", resp.URL().String())
	assert.GreaterOrEqual(t, resp.Elapsed(), 30*time.Millisecond, "covers the whole request")
	assert.Equal(t, 1, resp.Attempts())
}

func TestHeadReusesConnection(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		if r.Method != http.MethodHead {
			_, _ = w.Write(bytes.Repeat([]byte("z"), 1000))
		}
	})
	s := newTestSession(t)
	for i := 0; i < 3; i++ {
		resp, err := s.Head(context.Background(), srv.URL)
		require.NoError(t, err)
		assert.EqualValues(t, 1000, resp.ContentLength)
		assert.Empty(t, resp.Bytes())
	}
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Len(t, resp.Bytes(), 1000)
	assert.EqualValues(t, 1, srv.conns.Load())
}

// TestBufferAllocations checks that a 1 MiB body with a Content-Length
// costs about 1 MiB to buffer, not the doublings of a growing buffer. It
// does not run in parallel: TotalAlloc counts the whole process.
func TestBufferAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement")
	}
	payload := bytes.Repeat([]byte("a"), 1<<20)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		_, _ = w.Write(payload)
	})
	s := newTestSession(t)
	ctx := context.Background()
	_, err := s.Get(ctx, srv.URL) // warm the connection
	require.NoError(t, err)

	const rounds = 8
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < rounds; i++ {
		resp, err := s.Get(ctx, srv.URL)
		require.NoError(t, err)
		require.Len(t, resp.Bytes(), 1<<20)
	}
	runtime.ReadMemStats(&after)
	perRequest := float64(after.TotalAlloc-before.TotalAlloc) / rounds
	t.Logf("%.0f bytes allocated per 1 MiB response", perRequest)
	assert.Less(t, perRequest, 1.5*(1<<20))
}

func TestStreamedJSONRefusesTrailingData(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"a":1} junk`)
	})
	s := newTestSession(t)
	var v map[string]int
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.ErrorIs(t, resp.JSON(&v), ErrInvalidResponse, "buffered")
	resp, err = s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	defer resp.Close()
	assert.ErrorIs(t, resp.JSON(&v), ErrInvalidResponse, "streamed, like buffered")
}

// JSON on a streamed body that fails to arrive reports why it failed (a
// timeout here), not also ErrInvalidResponse: one kind per error.
func TestStreamJSONReadErrorKeepsItsOneKind(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")
	s := newTestSession(t, WithTimeout(200*time.Millisecond))
	resp, err := s.Get(context.Background(), rs.URL(), Stream())
	require.NoError(t, err)
	defer resp.Close()
	var v map[string]any
	err = resp.JSON(&v)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrInvalidResponse)
}
