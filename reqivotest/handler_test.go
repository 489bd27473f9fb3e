package reqivotest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// outcome is what a parity case observes of a session's requests.
type outcome struct {
	Status   int
	Body     string
	Err      string // the first kind the error matches, "" when none
	FinalURL string
	Hops     int
	Conns    int64
}

var errKinds = []struct {
	name string
	kind error
}{
	{"ErrTooManyRedirects", reqivo.ErrTooManyRedirects},
	{"ErrRedirectLoop", reqivo.ErrRedirectLoop},
	{"ErrBodyTooLarge", reqivo.ErrBodyTooLarge},
	{"ErrReadTimeout", reqivo.ErrReadTimeout},
	{"ErrTimeout", reqivo.ErrTimeout},
	{"ErrTLS", reqivo.ErrTLS},
	{"ErrInvalidResponse", reqivo.ErrInvalidResponse},
	{"ErrNetwork", reqivo.ErrNetwork},
}

func kindOf(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range errKinds {
		if errors.Is(err, k.kind) {
			return k.name
		}
	}
	return "other: " + err.Error()
}

// observe turns a request's result into an outcome.
func observe(s *reqivo.Session, resp *reqivo.Response, err error) outcome {
	o := outcome{Err: kindOf(err), Conns: s.Stats().ConnsOpened}
	if resp != nil {
		o.Status, o.Body, o.FinalURL, o.Hops = resp.StatusCode, resp.Text(), resp.URL().Path, len(resp.History())
	}
	return o
}

type parityCase struct {
	name    string
	tls     bool
	handler func() http.Handler // a fresh one per run
	opts    []reqivo.Option
	do      func(ctx context.Context, s *reqivo.Session) outcome
	want    outcome
}

func get(path string, opts ...reqivo.RequestOption) func(context.Context, *reqivo.Session) outcome {
	return func(ctx context.Context, s *reqivo.Session) outcome {
		resp, err := s.Get(ctx, path, opts...)
		return observe(s, resp, err)
	}
}

func handlerFunc(f http.HandlerFunc) func() http.Handler {
	return func() http.Handler { return f }
}

func parityCases(t *testing.T) []parityCase {
	return []parityCase{
		{
			name: "text",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("User-Agent"))
			}),
			do:   get("a/b?x=1&y=2"),
			want: outcome{Status: 200, Body: "GET /a/b?x=1&y=2 " + reqivo.DefaultUserAgent, FinalURL: "/a/b", Conns: 1},
		},
		{
			name: "https",
			tls:  true,
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "tls=%v", r.TLS != nil)
			}),
			do:   get("x"),
			want: outcome{Status: 200, Body: "tls=true", FinalURL: "/x", Conns: 1},
		},
		{
			name: "json body and bearer",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"auth":%q,"ct":%q,"got":%s}`, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b)
			}),
			opts: []reqivo.Option{reqivo.WithBearerToken("tok-1")},
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				resp, err := s.Post(ctx, "items", reqivo.JSON(map[string]int{"n": 1}))
				return observe(s, resp, err)
			},
			want: outcome{Status: 200, Body: `{"auth":"Bearer tok-1","ct":"application/json","got":{"n":1}}`, FinalURL: "/items", Conns: 1},
		},
		{
			name: "large upload",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				fmt.Fprint(w, n)
			}),
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				resp, err := s.Put(ctx, "up", reqivo.BodyBytes(bytes.Repeat([]byte("x"), 1<<20)))
				return observe(s, resp, err)
			},
			want: outcome{Status: 200, Body: "1048576", FinalURL: "/up", Conns: 1},
		},
		{
			name: "gzip",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				_, _ = io.WriteString(zw, "unzipped "+r.Header.Get("Accept-Encoding"))
				_ = zw.Close()
			}),
			do:   get("z"),
			want: outcome{Status: 200, Body: "unzipped gzip, deflate", FinalURL: "/z", Conns: 1},
		},
		{
			name: "redirects",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/start":
					http.Redirect(w, r, "/middle", http.StatusFound)
				case "/middle":
					http.Redirect(w, r, "/end", http.StatusTemporaryRedirect)
				default:
					fmt.Fprint(w, "end")
				}
			}),
			do:   get("start"),
			want: outcome{Status: 200, Body: "end", FinalURL: "/end", Hops: 2, Conns: 1},
		},
		{
			name: "redirect loop",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/loop", http.StatusFound)
			}),
			do:   get("loop"),
			want: outcome{Err: "ErrRedirectLoop", Conns: 1},
		},
		{
			name: "retries with Retry-After",
			handler: func() http.Handler {
				var n atomic.Int32
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if i := n.Add(1); i < 3 {
						w.Header().Set("Retry-After", "3")
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					fmt.Fprintf(w, "attempt %d", n.Load())
				})
			},
			opts: []reqivo.Option{reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}), reqivotest.InstantWaits()},
			do:   get("flaky"),
			want: outcome{Status: 200, Body: "attempt 3", FinalURL: "/flaky", Conns: 1},
		},
		{
			name: "body over the limit",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(bytes.Repeat([]byte("y"), 100))
			}),
			opts: []reqivo.Option{reqivo.WithLimits(reqivo.Limits{MaxResponseBytes: 10, MaxIdleConnsPerHost: 4})},
			do:   get("big"),
			want: outcome{Err: "ErrBodyTooLarge", Conns: 1},
		},
		{
			name: "cookies",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/login" {
					http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3", Path: "/"})
					return
				}
				fmt.Fprint(w, r.Header.Get("Cookie"))
			}),
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				if _, err := s.Get(ctx, "login"); err != nil {
					return outcome{Err: err.Error()}
				}
				resp, err := s.Get(ctx, "me")
				return observe(s, resp, err)
			},
			want: outcome{Status: 200, Body: "sid=s3", FinalURL: "/me", Conns: 1},
		},
		{
			name: "streamed body",
			handler: func() http.Handler {
				release := make(chan struct{})
				var once atomic.Bool
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/release" {
						if once.CompareAndSwap(false, true) {
							close(release)
						}
						return
					}
					fmt.Fprint(w, "first ")
					w.(http.Flusher).Flush()
					select { // a client that buffers the whole body never releases
					case <-release:
						fmt.Fprint(w, "second")
					case <-time.After(5 * time.Second):
						fmt.Fprint(w, "buffered")
					}
				})
			},
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				resp, err := s.Get(ctx, "stream", reqivo.Stream())
				if err != nil {
					return outcome{Err: err.Error()}
				}
				defer resp.Close()
				first := make([]byte, len("first "))
				if _, err := io.ReadFull(resp.Body, first); err != nil {
					return outcome{Err: err.Error()}
				}
				if _, err := s.Get(ctx, "release"); err != nil {
					return outcome{Err: err.Error()}
				}
				rest, err := io.ReadAll(resp.Body)
				return outcome{Status: resp.StatusCode, Body: string(first) + string(rest), Err: kindOf(err), Conns: s.Stats().ConnsOpened}
			},
			want: outcome{Status: 200, Body: "first second", Conns: 2},
		},
		{
			name: "download",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(bytes.Repeat([]byte("d"), 3000))
			}),
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				path := filepath.Join(t.TempDir(), "f")
				resp, err := s.Download(ctx, "file", path)
				o := observe(s, nil, err)
				if resp != nil {
					o.Status = resp.StatusCode
				}
				b, _ := os.ReadFile(path)
				o.Body = strconv.Itoa(len(b))
				return o
			},
			want: outcome{Status: 200, Body: "3000", Conns: 1},
		},
		{
			name: "head and 204",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Method", r.Method)
				w.WriteHeader(http.StatusNoContent)
			}),
			do: func(ctx context.Context, s *reqivo.Session) outcome {
				resp, err := s.Head(ctx, "h")
				o := observe(s, resp, err)
				if resp != nil {
					o.Body = resp.Header.Get("X-Method")
				}
				return o
			},
			want: outcome{Status: 204, Body: "HEAD", FinalURL: "/h", Conns: 1},
		},
		{
			name: "remote address and host",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				host, _, err := net.SplitHostPort(r.RemoteAddr)
				fmt.Fprint(w, host, " ", err, " ", strings.HasPrefix(r.Host, "127.0.0.1:"))
			}),
			do:   get("who"),
			want: outcome{Status: 200, Body: "127.0.0.1 <nil> true", FinalURL: "/who", Conns: 1},
		},
		{
			name: "handler aborts",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				panic(http.ErrAbortHandler)
			}),
			do:   get("abort"),
			want: outcome{Err: "ErrNetwork", Conns: 1},
		},
		{
			name: "malformed response",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				_ = buf.Flush()
			}),
			do:   get("short"),
			want: outcome{Err: "ErrNetwork", Conns: 1}, // a body cut short
		},
		{
			name: "timeout",
			handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}),
			do:   get("slow", reqivo.Timeout(100*time.Millisecond)),
			want: outcome{Err: "ErrTimeout", Conns: 1},
		},
	}
}

// TestHandlerParity runs each case against httptest.NewServer and then,
// with that server closed, through Handler at the same URL: both must
// give the case's outcome.
func TestHandlerParity(t *testing.T) {
	t.Parallel()
	for _, tc := range parityCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(tc.handler())
			} else {
				srv = httptest.NewServer(tc.handler())
			}
			opts := append([]reqivo.Option{reqivo.WithBaseURL(srv.URL)}, tc.opts...)
			if tc.tls {
				opts = append(opts, reqivo.WithTLSConfig(srv.Client().Transport.(*http.Transport).TLSClientConfig))
			} else {
				opts = append(opts, reqivo.WithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
			}
			s, err := reqivo.NewSession(opts...)
			require.NoError(t, err)
			overNetwork := tc.do(ctx, s)
			require.NoError(t, s.Close())
			srv.Close() // nothing may reach the network from here on

			s, err = reqivo.NewSession(append(opts, reqivotest.Handler(tc.handler()))...)
			require.NoError(t, err)
			inProcess := tc.do(ctx, s)
			require.NoError(t, s.Close())

			assert.Equal(t, tc.want, overNetwork, "over the network")
			assert.Equal(t, tc.want, inProcess, "through Handler")
		})
	}
}

func TestHandlerKeepsThePoolOptions(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		fmt.Fprint(w, r.URL.Path)
	})
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL("http://api.example.com/"),
		reqivo.WithLimits(reqivo.Limits{MaxConnsPerHost: 2}),
		reqivotest.Handler(h),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				path := fmt.Sprintf("/w%d/%d", w, i)
				resp, err := s.Get(context.Background(), path)
				if err == nil && resp.Text() != path {
					err = fmt.Errorf("got %q for %s", resp.Text(), path)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.LessOrEqual(t, s.Stats().ConnsOpened, int64(2), "MaxConnsPerHost holds through Handler")
	assert.LessOrEqual(t, most.Load(), int32(2))
	assert.EqualValues(t, 64, s.Stats().Requests)
}

func TestHandlerHTTPSDoesNotUseTheSessionRoots(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.ServerName)
	})
	// Roots that trust nothing: only Handler's own connections can work.
	s, err := reqivo.NewSession(reqivo.WithTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}), reqivotest.Handler(h))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, host := range []string{"api.example.com", "127.0.0.1", "[::1]:8443"} {
		resp, err := s.Get(context.Background(), "https://"+host+"/")
		require.NoError(t, err, host)
		assert.NotNil(t, resp.TLS, host)
	}
}

func TestHandlerRefusedWithTransport(t *testing.T) {
	t.Parallel()
	_, err := reqivo.NewSession(reqivo.WithTransport(http.DefaultTransport), reqivotest.Handler(http.NotFoundHandler()))
	assert.ErrorIs(t, err, reqivo.ErrInvalidOption)
}

func TestHandlerNilAnswersNotFound(t *testing.T) {
	t.Parallel()
	s, err := reqivo.NewSession(reqivotest.Handler(nil))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	resp, err := s.Get(context.Background(), "http://x.example/")
	require.NoError(t, err)
	assert.Equal(t, 404, resp.StatusCode)
}

func TestHandlerServesWebSockets(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte("echo "), msg...))
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	s, err := reqivo.NewSession(reqivotest.Handler(h))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	ws, err := s.WebSocket(ctx, "wss://chat.example.com/ws")
	require.NoError(t, err)
	require.NoError(t, ws.SendText(ctx, "hi"))
	_, msg, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "echo hi", string(msg))
	_ = ws.Close()
}
