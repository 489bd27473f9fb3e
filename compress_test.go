package reqivo

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encode compresses b with the named coding; "deflate-raw" is deflate
// without the zlib wrapper, as some servers send it.
func encode(t testing.TB, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		gw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		require.NoError(t, err)
		w = gw
	case "deflate":
		zw, err := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
		require.NoError(t, err)
		w = zw
	case "deflate-raw":
		fw, err := flate.NewWriter(&buf, flate.BestSpeed)
		require.NoError(t, err)
		w = fw
	case "br":
		w = brotli.NewWriterLevel(&buf, brotli.BestSpeed)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
		require.NoError(t, err)
		w = zw
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// setupCodingServer serves body coded as the "coding" query parameter
// says, and echoes the Accept-Encoding it got in X-Got-Accept-Encoding.
func setupCodingServer(t testing.TB, body []byte) string {
	t.Helper()
	coded := map[string][]byte{}
	for _, c := range []string{"gzip", "deflate", "deflate-raw", "br", "zstd"} {
		coded[c] = encode(t, c, body)
	}
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		coding := r.URL.Query().Get("coding")
		w.Header().Set("X-Got-Accept-Encoding", r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "text/plain")
		if coding == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
			return
		}
		w.Header().Set("Content-Encoding", strings.TrimSuffix(coding, "-raw"))
		_, _ = w.Write(coded[coding])
	})
	return srv.URL
}

func TestCompressionDecodes(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("reqivo compresses "), 1000)
	base := setupCodingServer(t, body)
	all := WithCompression(EncodingZstd, EncodingBrotli, EncodingGzip, EncodingDeflate)
	tests := []struct {
		name       string
		opts       []Option
		coding     string
		wantAccept string
		decoded    bool
	}{
		{name: "default gzip", coding: "gzip", wantAccept: "gzip, deflate", decoded: true},
		{name: "default deflate zlib", coding: "deflate", wantAccept: "gzip, deflate", decoded: true},
		{name: "default deflate raw", coding: "deflate-raw", wantAccept: "gzip, deflate", decoded: true},
		{name: "default identity", coding: "", wantAccept: "gzip, deflate", decoded: true},
		{name: "default does not decode br", coding: "br", wantAccept: "gzip, deflate", decoded: false},
		{name: "default does not decode zstd", coding: "zstd", wantAccept: "gzip, deflate", decoded: false},
		{name: "all br", opts: []Option{all}, coding: "br", wantAccept: "zstd, br, gzip, deflate", decoded: true},
		{name: "all zstd", opts: []Option{all}, coding: "zstd", wantAccept: "zstd, br, gzip, deflate", decoded: true},
		{name: "all gzip", opts: []Option{all}, coding: "gzip", wantAccept: "zstd, br, gzip, deflate", decoded: true},
		{name: "brotli only", opts: []Option{WithCompression(EncodingBrotli)}, coding: "br", wantAccept: "br", decoded: true},
		{name: "brotli only leaves gzip", opts: []Option{WithCompression(EncodingBrotli)}, coding: "gzip", wantAccept: "br", decoded: false},
		{name: "none", opts: []Option{WithCompression()}, coding: "gzip", wantAccept: "identity", decoded: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, tt.opts...)
			for _, stream := range []bool{false, true} {
				var opts []RequestOption
				if stream {
					opts = append(opts, Stream())
				}
				resp, err := s.Get(context.Background(), base+"/?coding="+tt.coding, opts...)
				require.NoError(t, err)
				got := resp.Bytes()
				if stream {
					got, err = io.ReadAll(resp.Body)
					require.NoError(t, err)
					require.NoError(t, resp.Close())
				}
				assert.Equal(t, tt.wantAccept, resp.Header.Get("X-Got-Accept-Encoding"))
				if tt.decoded {
					assert.Equal(t, body, got)
					assert.Empty(t, resp.Header.Get("Content-Encoding"))
					assert.Equal(t, tt.coding != "", resp.Uncompressed)
				} else {
					assert.Equal(t, encode(t, tt.coding, body), got)
					assert.Equal(t, strings.TrimSuffix(tt.coding, "-raw"), resp.Header.Get("Content-Encoding"))
				}
			}
		})
	}
}

func TestCompressionBodyLimitCountsDecodedBytes(t *testing.T) {
	t.Parallel()
	// 256 KiB of zeros compresses to a few hundred bytes: the limit must
	// see the 256 KiB.
	base := setupCodingServer(t, make([]byte, 256<<10))
	s := newTestSession(t, WithLimits(Limits{MaxResponseBytes: 16 << 10}),
		WithCompression(EncodingGzip, EncodingDeflate, EncodingBrotli, EncodingZstd))
	for _, coding := range []string{"gzip", "deflate", "deflate-raw", "br", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			_, err := s.Get(context.Background(), base+"/?coding="+coding)
			assert.ErrorIs(t, err, ErrBodyTooLarge)
		})
	}
}

func TestCompressionCallerAcceptEncodingGetsRawBody(t *testing.T) {
	t.Parallel()
	body := []byte(strings.Repeat("raw ", 100))
	base := setupCodingServer(t, body)
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), base+"/?coding=gzip", Header("Accept-Encoding", "gzip"))
	require.NoError(t, err)
	assert.Equal(t, "gzip", resp.Header.Get("X-Got-Accept-Encoding"))
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, encode(t, "gzip", body), resp.Bytes())
}

func TestCompressionBadData(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", r.URL.Query().Get("coding"))
		_, _ = w.Write([]byte("this is not compressed at all, not even close"))
	})
	s := newTestSession(t, WithCompression(EncodingGzip, EncodingDeflate, EncodingBrotli, EncodingZstd))
	for _, coding := range []string{"gzip", "deflate", "br", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			_, err := s.Get(context.Background(), srv.URL+"/?coding="+coding)
			assert.ErrorIs(t, err, ErrInvalidResponse)
			var re *RequestError
			assert.ErrorAs(t, err, &re)
		})
	}
}

func TestCompressionTruncatedGzip(t *testing.T) {
	t.Parallel()
	full := encode(t, "gzip", bytes.Repeat([]byte("abc"), 1000))
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(full[:len(full)/2])
	})
	s := newTestSession(t)
	_, err := s.Get(context.Background(), srv.URL)
	assert.ErrorIs(t, err, ErrInvalidResponse)
}

func TestCompressionEmptyBodies(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/chunked-empty":
			w.(http.Flusher).Flush()
		}
	})
	s := newTestSession(t)
	for _, tc := range []struct{ name, method, path string }{
		{"head", http.MethodHead, "/"},
		{"204", http.MethodGet, "/204"},
		{"empty", http.MethodGet, "/"},
		{"chunked empty", http.MethodGet, "/chunked-empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Request(context.Background(), tc.method, srv.URL+tc.path)
			require.NoError(t, err)
			assert.Empty(t, resp.Bytes())
		})
	}
}

func TestCompressionHTTPBin(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	for _, path := range []string{"/gzip", "/deflate"} {
		t.Run(path, func(t *testing.T) {
			var got struct {
				Gzipped  bool `json:"gzipped"`
				Deflated bool `json:"deflated"`
			}
			resp, err := s.Get(context.Background(), path)
			require.NoError(t, err)
			require.NoError(t, resp.JSON(&got))
			assert.True(t, got.Gzipped || got.Deflated)
		})
	}
}

func TestWithCompressionInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		encs []Encoding
	}{
		{"unknown", []Encoding{"lzma"}},
		{"empty name", []Encoding{""}},
		{"twice", []Encoding{EncodingGzip, EncodingGzip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(WithCompression(tc.encs...))
			assert.ErrorIs(t, err, ErrInvalidOption)
		})
	}
}

// Closing a streamed, decoded body from another goroutine while a Read
// waits on the wire is the usual way to abort a stream: the Read ends,
// and nothing races (the decoder is released only once no Read runs),
// with every layer of the body stack on (log, progress, read timeout).
func TestDecodedBodyCloseDuringRead(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("reqivo streams "), 4000)
	for _, coding := range []string{"gzip", "deflate", "br", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			t.Parallel()
			coded := encode(t, coding, body)
			stop := make(chan struct{})
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", coding)
				_, _ = w.Write(coded[:len(coded)/2])
				w.(http.Flusher).Flush()
				select { // stall: the client's next Read waits on the wire
				case <-stop:
				case <-r.Context().Done():
				}
			})
			defer close(stop)
			logger, _ := newTestLogger(slog.LevelDebug)
			s := newTestSession(t, WithCompression(EncodingZstd, EncodingBrotli, EncodingGzip, EncodingDeflate),
				WithLogger(logger), WithTimeouts(Timeouts{Read: time.Minute, Total: 2 * time.Minute}))
			resp, err := s.Get(context.Background(), srv.URL, Stream(), OnDownloadProgress(func(int64, int64) {}))
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, resp.Body)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the Read reach the stall (the test holds without it)
			require.NoError(t, resp.Close())
			select {
			case err := <-done:
				assert.Error(t, err, "the aborted read fails")
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not end the Read")
			}
		})
	}
}
