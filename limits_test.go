package reqivo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badServer is a misbehaving server on a raw listener: each connection's
// request head is read, then serve writes whatever it likes. It counts the
// connections opened and closed (closed: the server saw EOF or an error
// reading after serve returned, or serve closed it), and waits for its
// goroutines at cleanup.
type badServer struct {
	ln     net.Listener
	addr   string
	opened atomic.Int64
	closed atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (s *badServer) URL() string { return "http://" + s.addr }

// newBadServer starts serve for every connection. When serve returns
// true, the connection is kept open until the client closes it (or the
// test ends); otherwise it is closed.
func newBadServer(t *testing.T, serve func(c net.Conn, req *http.Request) (keep bool)) *badServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &badServer{ln: ln, addr: ln.Addr().String(), stop: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		close(s.stop)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.opened.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.closed.Add(1)
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if !serve(c, req) {
						return
					}
					// Kept: wait for the client to close (or send another
					// request, which this server does not answer).
					_, _ = io.Copy(io.Discard, br)
					return
				}
			}()
		}
	}()
	return s
}

// waitClosed waits (generously) until the server has seen n connections
// closed.
func (s *badServer) waitClosed(t *testing.T, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.closed.Load() >= n }, 10*time.Second, 5*time.Millisecond,
		"connections closed: %d of %d", s.closed.Load(), n)
}

var gzipBomb = sync.OnceValue(func() []byte {
	// 256 MiB of zeros in a few hundred KiB: one gzip member of 8 MiB of
	// zeros, repeated 32 times (a gzip stream may hold many members, and
	// readers, net/http's included, inflate them all). Compressing 256 MiB
	// at once would take most of a minute under -race.
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 8<<20))
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), 32)
})

// TestGzipBombStopsAtTheCap is not parallel: it measures the process's
// allocations.
func TestGzipBombStopsAtTheCap(t *testing.T) {
	bomb := gzipBomb()
	require.Less(t, len(bomb), 1<<20, "the bomb is small on the wire")
	tests := []struct {
		name    string
		limit   int64
		withLen bool // send the compressed Content-Length
	}{
		{"1 MiB cap, chunked", 1 << 20, false},
		{"1 MiB cap, Content-Length of the compressed body", 1 << 20, true},
		{"8 MiB cap", 8 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Type", "application/octet-stream")
				if tt.withLen {
					w.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
				}
				_, _ = w.Write(bomb)
			})
			s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: tt.limit}))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := s.Get(context.Background(), srv.URL)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBodyTooLarge)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB for a cap of %d KiB (the bomb inflates to 256 MiB)", alloc>>10, tt.limit>>10)
			// The buffer doubles up to cap+1: about 2x the cap, plus the
			// inflater's and the connection's buffers. 4x + 8 MiB is
			// generous, and far below the bomb.
			assert.Less(t, alloc, uint64(4*tt.limit+8<<20))
		})
	}
}

func TestBodyCapExact(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	for _, chunked := range []bool{false, true} {
		for _, size := range []int{limit - 1, limit, limit + 1} {
			name := strconv.Itoa(size) + " bytes"
			if chunked {
				name += " chunked"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				body := bytes.Repeat([]byte("x"), size)
				srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
					if !chunked {
						w.Header().Set("Content-Length", strconv.Itoa(size))
					} else {
						w.(http.Flusher).Flush()
					}
					_, _ = w.Write(body)
				})
				s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: limit}))
				resp, err := s.Get(context.Background(), srv.URL)
				if size > limit {
					assert.ErrorIs(t, err, ErrBodyTooLarge)
					var re *RequestError
					assert.ErrorAs(t, err, &re)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, body, resp.Bytes())
			})
		}
	}
}

func TestNoBodyLimit(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("y"), 3<<20)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: -1}))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Len(t, resp.Bytes(), len(body))
}

// TestDeclaredLengthOverCapFailsBeforeReading is not parallel: it measures the process's allocations.
func TestDeclaredLengthOverCapFailsBeforeReading(t *testing.T) {
	srv := newBadServer(t, func(c net.Conn, req *http.Request) bool {
		// A promise of 1 GiB, then nothing: a client that read it would
		// wait for its read timeout.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
		return true
	})
	s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: 1 << 20}))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Get(context.Background(), srv.URL())
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrBodyTooLarge)
	assert.NotErrorIs(t, err, ErrTimeout)
	srv.waitClosed(t, 1) // the unread connection is closed, not pooled
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "nothing like the declared length was allocated")
}

// TestDeclaredLengthUnderCapAllocatesWhatArrives is not parallel: it measures the process's allocations.
func TestDeclaredLengthUnderCapAllocatesWhatArrives(t *testing.T) {
	// 60 MiB declared (under the default cap), 10 bytes sent, then the
	// connection is closed: a short body, and no 60 MiB buffer for it.
	srv := newBadServer(t, func(c net.Conn, req *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 62914560\r\n\r\n0123456789")
		return false
	})
	s := newTestSession(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Get(context.Background(), srv.URL())
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(40<<20))
}

func TestHeadIgnoresContentLength(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(10<<20))
	})
	s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: 1 << 20}))
	for range 3 {
		resp, err := s.Head(context.Background(), srv.URL)
		require.NoError(t, err, "a HEAD response has no body, whatever its Content-Length")
		assert.Equal(t, int64(10<<20), resp.ContentLength)
		assert.Empty(t, resp.Bytes())
	}
	assert.Equal(t, int64(1), s.Stats().ConnsOpened, "HEAD responses leave their connection reusable")
}

func TestTruncatedBodies(t *testing.T) {
	t.Parallel()
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.String()
	}
	full := gz(strings.Repeat("compressible ", 1000))
	tests := []struct {
		name     string
		response string
	}{
		{"shorter than Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"empty, Content-Length 5", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{"chunked cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-half"},
		{"chunked cut between chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
		{"chunked without the last chunk's CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"},
		{"chunked bad size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"gzip cut short", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(full)/2) + "\r\n\r\n" + full[:len(full)/2]},
		{"gzip corrupt", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip at!"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += " streamed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := newBadServer(t, func(c net.Conn, req *http.Request) bool {
					_, _ = io.WriteString(c, tt.response)
					return false
				})
				s := newTestSession(t)
				var err error
				if stream {
					var resp *Response
					resp, err = s.Get(context.Background(), srv.URL(), Stream())
					require.NoError(t, err, "the head was fine")
					_, err = io.ReadAll(resp.Body)
					require.NoError(t, resp.Close())
				} else {
					_, err = s.Get(context.Background(), srv.URL())
				}
				require.Error(t, err, "a truncated body is never a short success")
				assert.ErrorIs(t, err, ErrInvalidResponse)
			})
		}
	}
}

func TestResponseHeaderLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limit  int64
		header int
		ok     bool
	}{
		{"under 4 KiB", 4 << 10, 2 << 10, true},
		{"over 4 KiB", 4 << 10, 8 << 10, false},
		{"over the 1 MiB default", 0, 2 << 20, false},
		{"many small headers", 16 << 10, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newBadServer(t, func(c net.Conn, req *http.Request) bool {
				var b strings.Builder
				b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
				if tt.header > 0 {
					b.WriteString("X-Big: " + strings.Repeat("a", tt.header) + "\r\n")
				} else {
					for i := range 2000 {
						b.WriteString("X-H" + strconv.Itoa(i) + ": v\r\n")
					}
				}
				b.WriteString("\r\nok")
				_, _ = io.WriteString(c, b.String())
				return false
			})
			s := newTestSession(t, WithLimits(Limits{MaxResponseHeaderBytes: tt.limit}))
			resp, err := s.Get(context.Background(), srv.URL())
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, "ok", resp.Text())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidResponse)
			assert.NotErrorIs(t, err, ErrNetwork)
		})
	}
	_, err := NewSession(WithLimits(Limits{MaxResponseHeaderBytes: -1}))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string
	}{
		{"not HTTP", "SSH-2.0-OpenSSH_9.0\r\n\r\n"},
		{"bad status", "HTTP/1.1 abc OK\r\n\r\n"},
		{"bad header line", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"},
		{"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"},
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newBadServer(t, func(c net.Conn, req *http.Request) bool {
				_, _ = io.WriteString(c, tt.response)
				return false
			})
			s := newTestSession(t)
			_, err := s.Get(context.Background(), srv.URL())
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidResponse)
		})
	}
}

// TestGzipBombIsABomb is not parallel: inflating 256 MiB under -race is
// seconds of CPU that parallel tests with deadlines should not compete with.
func TestGzipBombIsABomb(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(gzipBomb()))
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, zr)
	require.NoError(t, err)
	assert.Equal(t, int64(256<<20), n)
	t.Logf("%d KiB inflate to %d MiB", len(gzipBomb())>>10, n>>20)
}
