package reqivo

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Compression bombs: 256 MiB of zeros (64 MiB for brotli) in a few
// hundred KiB or less. Each is built from a repeatable piece, as
// compressing 256 MiB at once would take most of a minute under -race.
var (
	// gzipBomb is one gzip member of 8 MiB of zeros, repeated 32 times (a
	// gzip stream may hold many members, and readers inflate them all).
	gzipBomb = sync.OnceValue(func() []byte {
		var member bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
		_, _ = zw.Write(make([]byte, 8<<20))
		_ = zw.Close()
		return bytes.Repeat(member.Bytes(), 32)
	})
	// deflateBomb is raw deflate: once the window is all zeros, each
	// flushed 4 MiB of zeros compresses to the same blocks, so they can be
	// repeated before the final block.
	deflateBomb = sync.OnceValue(func() []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		zeros := make([]byte, 4<<20)
		piece := func() []byte {
			_, _ = w.Write(zeros)
			_ = w.Flush()
			out := bytes.Clone(b.Bytes())
			b.Reset()
			return out
		}
		first, steady := piece(), piece()
		_ = w.Close()
		out := append(first, bytes.Repeat(steady, 63)...)
		return append(out, b.Bytes()...)
	})
	// zstdBomb is one zstd frame of 4 MiB of zeros repeated 64 times (a
	// zstd stream may hold many frames).
	zstdBomb = sync.OnceValue(func() []byte {
		var b bytes.Buffer
		zw, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(4<<20))
		_, _ = zw.Write(make([]byte, 4<<20))
		_ = zw.Close()
		return bytes.Repeat(b.Bytes(), 64)
	})
	// brotliBomb is 64 MiB of zeros at a fast level.
	brotliBomb = sync.OnceValue(func() []byte {
		var b bytes.Buffer
		bw := brotli.NewWriterLevel(&b, 1)
		zeros := make([]byte, 4<<20)
		for range 16 {
			_, _ = bw.Write(zeros)
		}
		_ = bw.Close()
		return b.Bytes()
	})
)

var bombs = []struct {
	encoding Encoding
	bomb     func() []byte
	inflated int64
	decoder  func(io.Reader) io.Reader
}{
	{EncodingGzip, gzipBomb, 256 << 20, func(r io.Reader) io.Reader { zr, _ := gzip.NewReader(r); return zr }},
	{EncodingDeflate, deflateBomb, 256 << 20, func(r io.Reader) io.Reader { return flate.NewReader(r) }},
	{EncodingZstd, zstdBomb, 256 << 20, func(r io.Reader) io.Reader {
		zr, _ := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		return zr.IOReadCloser()
	}},
	{EncodingBrotli, brotliBomb, 64 << 20, func(r io.Reader) io.Reader { return brotli.NewReader(r) }},
}

// TestCompressionBombStopsAtTheCap is not parallel: it measures the
// process's allocations.
func TestCompressionBombStopsAtTheCap(t *testing.T) {
	type testCase struct {
		name     string
		encoding Encoding
		bomb     []byte
		limit    int64
		withLen  bool // send the compressed Content-Length
	}
	var tests []testCase
	for _, b := range bombs {
		bomb := b.bomb()
		require.Less(t, len(bomb), 1<<20, "the %s bomb is small on the wire", b.encoding)
		tests = append(tests,
			testCase{string(b.encoding) + ", 1 MiB cap, chunked", b.encoding, bomb, 1 << 20, false},
			testCase{string(b.encoding) + ", 1 MiB cap, Content-Length of the compressed body", b.encoding, bomb, 1 << 20, true},
		)
	}
	tests = append(tests, testCase{"gzip, 8 MiB cap", EncodingGzip, gzipBomb(), 8 << 20, false})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", string(tt.encoding))
				w.Header().Set("Content-Type", "application/octet-stream")
				if tt.withLen {
					w.Header().Set("Content-Length", strconv.Itoa(len(tt.bomb)))
				}
				_, _ = w.Write(tt.bomb)
			})
			s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: tt.limit}),
				WithCompression(EncodingGzip, EncodingDeflate, EncodingBrotli, EncodingZstd))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := s.Get(context.Background(), srv.URL)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBodyTooLarge)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB for a cap of %d KiB", alloc>>10, tt.limit>>10)
			// The buffer doubles up to cap+1: about 2x the cap, plus the
			// decoder's window and the connection's buffers. 4x + 16 MiB
			// is generous, and far below the bomb.
			assert.Less(t, alloc, uint64(4*tt.limit+16<<20))
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
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
		// A promise of 1 GiB, then nothing: a client that read it would
		// wait for its read timeout.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
		return true
	}))
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
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 62914560\r\n\r\n0123456789")
		return false
	}))
	s := newTestSession(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Get(context.Background(), srv.URL())
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrNetwork)
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
	// A body cut off by the connection is ErrNetwork (the connection was
	// lost, as far as the client can tell); one the client cannot parse
	// is ErrInvalidResponse.
	tests := []struct {
		name     string
		response string
		kind     error
	}{
		{"shorter than Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", ErrNetwork},
		{"empty, Content-Length 5", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ErrNetwork},
		{"chunked cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-half", ErrNetwork},
		{"chunked cut between chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", ErrNetwork},
		{"chunked without the last chunk's CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", ErrNetwork},
		{"chunked bad size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", ErrInvalidResponse},
		{"gzip cut short", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(full)/2) + "\r\n\r\n" + full[:len(full)/2], ErrInvalidResponse},
		{"gzip corrupt", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip at!", ErrInvalidResponse},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += " streamed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
					_, _ = io.WriteString(c, tt.response)
					return false
				}))
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
				assert.ErrorIs(t, err, tt.kind)
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
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
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
			}))
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
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
				_, _ = io.WriteString(c, tt.response)
				return false
			}))
			s := newTestSession(t)
			_, err := s.Get(context.Background(), srv.URL())
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidResponse)
		})
	}
}

// TestCompressionBombsAreBombs checks the bombs decode to more than they
// seem: far past any cap the tests set (the full size is logged). It is not
// parallel: inflating under -race is seconds of CPU that parallel tests
// with deadlines should not compete with.
func TestCompressionBombsAreBombs(t *testing.T) {
	for _, b := range bombs {
		t.Run(string(b.encoding), func(t *testing.T) {
			const enough = 32 << 20
			n, err := io.CopyN(io.Discard, b.decoder(bytes.NewReader(b.bomb())), enough)
			require.NoError(t, err)
			assert.Equal(t, int64(enough), n)
			t.Logf("%d KiB on the wire, %d MiB inflated", len(b.bomb())>>10, b.inflated>>20)
		})
	}
}

// TestTruncatedDownloadKeepsTheOldFile: a download cut short (a lost
// connection: ErrNetwork) or corrupt is an error, and the file keeps what
// it held. (Download never decodes: it saves the body as sent, see
// TestDownloadSavesTheBodyAsSent.)
func TestTruncatedDownloadKeepsTheOldFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, response string
		kind           error
	}{
		{"short", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", ErrNetwork},
		{"chunked cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", ErrNetwork},
		{"chunked corrupt", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", ErrInvalidResponse},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
				_, _ = io.WriteString(c, tt.response)
				return false
			}))
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
			s := newTestSession(t)
			_, err := s.Download(context.Background(), srv.URL(), path)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "old", string(got))
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}
