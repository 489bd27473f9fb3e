// Tests of the call pipeline: what one owner per request in flight fixed
// (issue #10) and the hardening that falls out of it (issue #18).

package reqivo

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"
)

// fastRetry retries at once: the waits are a millisecond.
var fastRetry = RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond}

// A header timeout ends that attempt only: the policy retries it (v0.1
// cancelled the whole request and logged a retry that never came).
func TestHeaderTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
		if n.Add(1) == 1 {
			return true // never answers: the attempt's header wait runs out
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	}))
	logger, logs := newTestLogger(slog.LevelWarn)
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 100 * time.Millisecond, Total: 30 * time.Second}),
		WithRetry(fastRetry), WithLogger(logger))
	resp, err := s.Get(context.Background(), srv.URL())
	require.NoError(t, err)
	assert.Equal(t, "ok", resp.Text())
	assert.Equal(t, 2, resp.Attempts())
	require.Len(t, resp.Retries(), 1)
	assert.ErrorIs(t, resp.Retries()[0].Err, ErrReadTimeout)
	assert.EqualValues(t, 2, n.Load())
	assert.Contains(t, logs.String(), "reqivo: retry")
}

// A body cut off in the middle is ErrNetwork, and a replayable request is
// retried with the whole response read again.
func TestMidBodyFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			full := strings.Repeat("x", 1000)
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
				if n.Add(1) == 1 {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+full[:300])
					return false // cut at 30%
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+full)
				return false
			}))
			s := newTestSession(t, WithRetry(fastRetry))
			if stream {
				// A streamed body is the caller's: its failure is reported,
				// not retried behind the caller's back.
				resp, err := s.Get(context.Background(), srv.URL(), Stream())
				require.NoError(t, err)
				_, err = io.ReadAll(resp.Body)
				resp.Close()
				assert.ErrorIs(t, err, ErrNetwork)
				assert.NotErrorIs(t, err, ErrInvalidResponse)
				return
			}
			resp, err := s.Get(context.Background(), srv.URL())
			require.NoError(t, err)
			assert.Equal(t, full, resp.Text())
			require.Len(t, resp.Retries(), 1)
			assert.ErrorIs(t, resp.Retries()[0].Err, ErrNetwork)

			// Without retries it is the request's error, ErrNetwork.
			n.Store(0)
			_, err = newTestSession(t).Get(context.Background(), srv.URL())
			assertRequestKind(t, err, ErrNetwork)
		})
	}
}

// A cancelled request is ErrCanceled, not ErrNetwork, and is not retried.
func TestCancelIsErrCanceledAndNotRetried(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 4)
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
		arrived <- struct{}{}
		return true
	}))
	s := newTestSession(t, WithRetry(fastRetry))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := s.Get(ctx, srv.URL())
	assertRequestKind(t, err, ErrCanceled)
	assert.NotErrorIs(t, err, ErrNetwork)
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1, s.Stats().Requests, "no retry after a cancellation")
}

// A deadline that fired makes the error a timeout for os.IsTimeout and
// url.Error, also through HTTPClient.
func TestRequestErrorTimeout(t *testing.T) {
	t.Parallel()
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool { return true }))
	s := newTestSession(t, WithTimeout(100*time.Millisecond))
	_, err := s.Get(context.Background(), srv.URL())
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.Timeout())
	assert.True(t, os.IsTimeout(err))

	_, err = s.HTTPClient().Get(srv.URL())
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout())
	assert.True(t, os.IsTimeout(err))

	_, err = s.Get(context.Background(), "http://"+closedAddr(t))
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Timeout(), "a refused connection is no timeout")
}

// A streamed error response keeps its first 4 KiB for Err, and the stream
// still yields every byte; Error states the server's reason.
func TestStreamedHTTPErrorKeepsBody(t *testing.T) {
	t.Parallel()
	body := `{"error":{"message":"prompt too long","type":"invalid_request_error"}}` + strings.Repeat(" ", 5000)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	})
	s := newTestSession(t)
	resp, err := s.Post(context.Background(), srv.URL, JSON(map[string]string{"prompt": "x"}), Stream())
	require.NoError(t, err)
	defer resp.Close()
	herr := resp.Err()
	var he *HTTPError
	require.ErrorAs(t, herr, &he)
	assert.Len(t, he.Body, 4<<10)
	assert.Equal(t, body[:4<<10], string(he.Body))
	assert.Contains(t, herr.Error(), "400 Bad Request: prompt too long")
	all, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, body, string(all), "the stream yields every byte")
}

func TestHTTPErrorReason(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 250)
	tests := []struct{ name, body, want string }{
		{"problem detail", `{"type":"about:blank","title":"Bad","detail":"the id is unknown"}`, "the id is unknown"},
		{"problem title", `{"title":"Out of credit"}`, "Out of credit"},
		{"message", `{"message":"Not Found","documentation_url":"x"}`, "Not Found"},
		{"error string", `{"error":"invalid_grant"}`, "invalid_grant"},
		{"nested error", `{"error":{"message":"model overloaded"}}`, "model overloaded"},
		{"control bytes escaped", `{"message":"a\nFAKE: line\u001b[31m"}`, `a\nFAKE: line\x1b[31m`},
		{"cut at 200", `{"message":"` + long + `"}`, strings.Repeat("é", 200) + "..."},
		{"not JSON", `<html>oops</html>`, ""},
		{"no reason", `{"code":42}`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &HTTPError{StatusCode: 400, Status: "400 Bad Request", Method: "GET", URL: "http://h/x", Body: []byte(tt.body)}
			want := "reqivo: GET http://h/x: 400 Bad Request"
			if tt.want != "" {
				want += ": " + tt.want
			}
			assert.Equal(t, want, e.Error())
		})
	}
}

// tlsAlertServer is an httptest TLS server configured by cfg that counts
// the connections it accepts.
func tlsAlertServer(t *testing.T, cfg func(*tls.Config)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ErrorLog = discardLogger()
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.TLS = &tls.Config{}
	cfg(srv.TLS)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// A TLS alert from the server arrives over TCP as a *net.OpError ("remote
// error"): it is ErrTLS, and no retry changes it.
func TestTLSAlertIsErrTLSNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func(*tls.Config)
		client func(*tls.Config)
	}{
		{"protocol version", func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }},
		{"client certificate required, TLS 1.2", func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert; c.MaxVersion = tls.VersionTLS12 }, func(*tls.Config) {}},
		{"client certificate required, TLS 1.3", func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert }, func(*tls.Config) {}},
		{"no cipher in common", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
		}, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, conns := tlsAlertServer(t, tt.server)
			cfg := tlsConfigWithRoots(srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
			tt.client(cfg)
			s := newTestSession(t, WithTLSConfig(cfg), WithRetry(fastRetry))
			_, err := s.Get(context.Background(), srv.URL)
			assertRequestKind(t, err, ErrTLS)
			var op *net.OpError
			if errors.As(err, &op) {
				assert.Contains(t, []string{"remote error", "local error"}, op.Op)
			}
			assert.EqualValues(t, 1, conns.Load(), "not retried")
		})
	}
}

// A Range request does not ask for compression: a coding would shift the
// bytes the range names (as net/http).
func TestRangeRequestAsksNoCompression(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t)
	e := getEcho(t, s, srv.URL, Header("Range", "bytes=0-3"))
	assert.Empty(t, e.Header.Get("Accept-Encoding"))
	e = getEcho(t, s, srv.URL)
	assert.Equal(t, "gzip, deflate", e.Header.Get("Accept-Encoding"))
}

// A Retry-After over MaxWait ends the retries with that response, and the
// Warn record says why.
func TestRetryAfterOverMaxWaitIsLogged(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	logger, logs := newTestLogger(slog.LevelWarn)
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3, MaxWait: time.Second}), WithLogger(logger))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.EqualValues(t, 1, n.Load())
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "reqivo: not retrying", recs[0]["msg"])
	assert.Contains(t, recs[0]["reason"], "Retry-After 2m0s is over MaxWait 1s")
}

// Closing a session while a stream is read over HTTP/2 closes that
// connection once the body is closed, not after the pool's idle timeout.
func TestCloseWithStreamInFlightClosesH2Connection(t *testing.T) {
	t.Parallel()
	var closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "streamed")
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := tlsConfigWithRoots(srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
	s, err := NewSession(WithTLSConfig(cfg))
	require.NoError(t, err)
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	assert.Equal(t, 2, resp.ProtoMajor)
	require.NoError(t, s.Close())
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "streamed", string(b), "Close does not cut a stream in flight")
	require.NoError(t, resp.Close())
	require.Eventually(t, func() bool { return closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
		"the h2 connection closes with the request")
}

// The WebSocket handshake is bounded like any request's wait for headers
// (#18.3): a server that never answers the upgrade fails it with
// ErrReadTimeout, even with no total deadline.
func TestWebSocketHandshakeReadTimeout(t *testing.T) {
	t.Parallel()
	srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool { return true }))
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 100 * time.Millisecond}), WithTimeout(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := s.WebSocket(ctx, "ws://"+strings.TrimPrefix(srv.URL(), "http://"))
	assertRequestKind(t, err, ErrReadTimeout)
	assert.NoError(t, ctx.Err(), "the read timeout, not the test's deadline")
}

// Fragments are never sent, and never shown: not in errors, not in logs,
// not in a logged Location (#18.2).
func TestFragmentsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "SeCrEtFrAg"
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			w.Header().Set("Location", "/end#access_token="+secret)
			w.WriteHeader(http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	logger, logs := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(logger))
	resp, err := s.Get(context.Background(), srv.URL+"/start#access_token="+secret)
	require.NoError(t, err)
	herr := resp.Err()
	require.Error(t, herr)
	var he *HTTPError
	require.ErrorAs(t, herr, &he)
	_, err = s.Get(context.Background(), "http://"+closedAddr(t)+"/x#access_token="+secret)
	require.Error(t, err)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	for _, shown := range []string{herr.Error(), he.URL, err.Error(), re.URL, logs.String(), RedactURL("http://h/#" + secret)} {
		assert.NotContains(t, shown, secret)
	}
	assert.Contains(t, logs.String(), "/end", "the Location is logged, without its fragment")
}

// Look-alike hosts are other origins (#18.1): credentials meant for the
// base URL's origin never go to a host the transport dials under another
// name.
func TestLookalikeHostsAreOtherOrigins(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("https://api.example.com/v1")
	require.NoError(t, err)
	same := []string{
		"https://API.example.com/x",
		"https://api.example.com:443/x",
		"https://ａｐｉ.example.com/x", // fullwidth: IDNA maps it to the same name the transport dials
	}
	other := []string{
		"https://apİ.example.com/x", // U+0130: ToLower says "api", IDNA says xn--api-bec
		"https://api.example.com./x",
		"https://api.example.com:8443/x",
		"http://api.example.com/x",
		"https://api.example.com.evil.test/x",
		"https://[::1]/x",
		"https://xn--api-bec.example.com.evil/x",
	}
	for _, raw := range same {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, originOf(base), originOf(u), raw)
	}
	for _, raw := range other {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		assert.NotEqual(t, originOf(base), originOf(u), raw)
	}
	// End to end: a redirect to a look-alike of the base URL's host gets
	// no bearer token, cookie or X-Api-Key. Every name is dialled to the
	// one loopback server.
	var got atomic.Value
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			w.Header().Set("Location", "http://ap\u0130.example.com:"+r.Host[strings.LastIndex(r.Host, ":")+1:]+"/next")
			w.WriteHeader(http.StatusFound)
			return
		}
		got.Store(r.Header.Clone())
	})
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	dialer := &net.Dialer{}
	s := newTestSession(t, WithBaseURL("http://api.example.com:"+port), WithBearerToken("tok"), WithHeader("X-Api-Key", "k"),
		WithTransport(&http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
		}}))
	s.SetCookie("sid", "c")
	resp, err := s.Get(context.Background(), "/start")
	require.NoError(t, err)
	require.Len(t, resp.History(), 1)
	h := got.Load().(http.Header)
	assert.Empty(t, h.Get("Authorization"))
	assert.Empty(t, h.Get("Cookie"))
	assert.Empty(t, h.Get("X-Api-Key"))
}

// Fuzz the origin comparison: two URLs are one origin only if the
// transport would dial the same host and port under the same scheme.
func FuzzOriginOf(f *testing.F) {
	for _, s := range []string{"api.example.com", "apİ.example.com", "API.example.com", "ａｐｉ.example.com", "xn--api-bec.example.com", "[::1]", "127.0.0.1", "a.b."} {
		f.Add("https", s, "", "https", "api.example.com", "")
	}
	f.Fuzz(func(t *testing.T, scheme1, host1, port1, scheme2, host2, port2 string) {
		u1 := &url.URL{Scheme: scheme1, Host: host1}
		u2 := &url.URL{Scheme: scheme2, Host: host2}
		if port1 != "" {
			u1.Host += ":" + port1
		}
		if port2 != "" {
			u2.Host += ":" + port2
		}
		if checkAbsolute(u1) != nil || checkAbsolute(u2) != nil {
			return
		}
		if originOf(u1) != originOf(u2) {
			return
		}
		// Same origin: the transport's view must agree.
		d1, d2 := dialName(u1), dialName(u2)
		if d1 != d2 {
			t.Fatalf("%q and %q compare as one origin, but the transport dials %q and %q", u1, u2, d1, d2)
		}
	})
}

// dialName is what net/http dials for u: the host in IDNA ASCII form,
// lower case, and the port (the scheme's default when none).
func dialName(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(asciiHostForDial(u.Hostname()), port)
}

// asciiHostForDial is the host net/http dials (transport.go's idnaASCII,
// written again here so the fuzz checks originOf against it), lower-cased
// as DNS compares names.
func asciiHostForDial(h string) string {
	ascii := true
	for _, r := range h {
		if r >= 0x80 {
			ascii = false
		}
	}
	if !ascii {
		if v, err := idna.Lookup.ToASCII(h); err == nil {
			h = v
		}
	}
	return strings.ToLower(h)
}
