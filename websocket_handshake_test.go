// Tests of the WebSocket handshake: what it carries, where, and how a
// refusal or a bad answer is reported.

package reqivo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebSocketHandshakeRefused(t *testing.T) {
	t.Parallel()
	redirected := atomic.Int64{}
	target := setupServer(t, func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) })
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/401":
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			http.Error(w, "who are you", http.StatusUnauthorized)
		case "/403":
			http.Error(w, "not you", http.StatusForbidden)
		case "/200":
			_, _ = io.WriteString(w, "plain HTTP")
		case "/302":
			http.Redirect(w, r, target.URL+"/ws", http.StatusFound)
		}
	})
	s := newTestSession(t, WithBaseURL(srv.URL), WithBearerToken("tok"))
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{path: "/401", status: http.StatusUnauthorized, body: "who are you"},
		{path: "/403", status: http.StatusForbidden, body: "not you"},
		{path: "/200", status: http.StatusOK, body: "plain HTTP"},
		{path: "/302", status: http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			_, err := s.WebSocket(wsContext(t), tt.path+"?token=secret")
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrWebSocket)
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.status, he.StatusCode)
			assert.Equal(t, http.MethodGet, he.Method)
			assert.Contains(t, string(he.Body), tt.body)
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, http.MethodGet, re.Method)
			assert.Equal(t, wsAddr(srv)+tt.path+"?token=xxxxx", re.URL)
			assert.NotContains(t, err.Error(), "secret")
			assert.Contains(t, err.Error(), "handshake refused: "+he.Status)
		})
	}
	t.Cleanup(func() { assert.Zero(t, redirected.Load(), "a redirect is not followed") })
}

func TestWebSocketHandshakeBadAnswer(t *testing.T) {
	t.Parallel()
	// A 101 without the right Sec-WebSocket-Accept.
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
		_ = brw.Flush()
	})
	s := newTestSession(t)
	_, err := s.WebSocket(wsContext(t), wsAddr(srv))
	assert.ErrorIs(t, err, ErrWebSocket)
	var he *HTTPError
	assert.False(t, errors.As(err, &he), "not a refusal")
}

func TestWebSocketNetworkError(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	_, err := s.WebSocket(wsContext(t), "ws://user:hunter2@"+closedAddr(t)+"/ws?api_key=secret")
	assert.ErrorIs(t, err, ErrNetwork)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr)
	assert.NotContains(t, err.Error(), "secret")
	assert.NotContains(t, err.Error(), "hunter2")
}

// recordingServer is a WebSocket echo server that keeps the headers of
// each handshake it accepts.
func recordingServer(t *testing.T, respond func(w http.ResponseWriter)) (*httptest.Server, <-chan http.Header) {
	t.Helper()
	got := make(chan http.Header, 10)
	echo := wsHandler(nil, serveEcho)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set-cookie" {
			http.SetCookie(w, &http.Cookie{Name: "jar", Value: "j1", Path: "/"})
			return
		}
		got <- r.Header.Clone()
		if respond != nil {
			respond(w)
		}
		echo(w, r)
	})
	return srv, got
}

func TestWebSocketHandshakeCarriesSession(t *testing.T) {
	t.Parallel()
	srv, got := recordingServer(t, func(w http.ResponseWriter) {
		w.Header().Add("Set-Cookie", "fromws=w1; Path=/")
	})
	s := newTestSession(t, WithBaseURL(srv.URL), WithBasicAuth("user", "pass"), WithHeader("X-Session", "s"))
	s.SetCookie("manual", "m1")
	s.OnRequest(func(r *http.Request) error {
		r.Header.Set("X-Hook", "h")
		return nil
	})
	ctx := wsContext(t)
	_, err := s.Get(ctx, "/set-cookie")
	require.NoError(t, err)

	ws := dialWS(t, s, "/ws", WebSocketHeader("X-Dial", "d"))
	h := <-got
	user, pass, ok := (&http.Request{Header: h}).BasicAuth()
	assert.True(t, ok)
	assert.Equal(t, "user", user)
	assert.Equal(t, "pass", pass)
	assert.Equal(t, "s", h.Get("X-Session"))
	assert.Equal(t, "d", h.Get("X-Dial"))
	assert.Equal(t, "h", h.Get("X-Hook"))
	assert.Equal(t, DefaultUserAgent, h.Get("User-Agent"))
	assert.Contains(t, h.Get("Cookie"), "manual=m1")
	assert.Contains(t, h.Get("Cookie"), "jar=j1")
	assert.Equal(t, "websocket", strings.ToLower(h.Get("Upgrade")))
	assert.Equal(t, int64(2), s.Stats().Requests)

	var names []string
	for _, c := range s.Cookies("") {
		names = append(names, c.Name)
	}
	assert.Contains(t, names, "fromws", "the handshake's Set-Cookie is in the jar")

	require.NoError(t, ws.SendText(ctx, "ok"))
	_, b, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(b))
}

func TestWebSocketHandshakeAuthScope(t *testing.T) {
	t.Parallel()
	base, _ := recordingServer(t, nil)
	other, got := recordingServer(t, nil)

	t.Run("another origin gets no credentials", func(t *testing.T) {
		s := newTestSession(t, WithBaseURL(base.URL), WithBearerToken("secret-token"), WithHeader("X-Session", "s"))
		s.SetCookie("manual", "m1")
		dialWS(t, s, wsAddr(other)) // same host, another port
		h := <-got
		assert.Empty(t, h.Get("Authorization"))
		assert.Empty(t, h.Get("Cookie"))
		assert.Equal(t, "s", h.Get("X-Session"), "plain session headers still go")
	})

	t.Run("no base URL: the dialled host gets them", func(t *testing.T) {
		s := newTestSession(t, WithBearerToken("tok"))
		s.SetCookie("manual", "m1")
		dialWS(t, s, wsAddr(other))
		h := <-got
		assert.Equal(t, "Bearer tok", h.Get("Authorization"))
		assert.Equal(t, "manual=m1", h.Get("Cookie"))
	})

	t.Run("a per-dial Authorization wins", func(t *testing.T) {
		s := newTestSession(t, WithBearerToken("tok"))
		dialWS(t, s, wsAddr(other), WebSocketHeader("Authorization", "Token mine"))
		assert.Equal(t, "Token mine", (<-got).Get("Authorization"))
	})
}

func TestWebSocketInvalidInput(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ws := wsAddr(srv) + "/ws"
	tests := []struct {
		name    string
		base    bool
		url     string
		opts    []WebSocketOption
		setup   func(s *Session)
		wantErr error
	}{
		{name: "empty URL, no base", url: "", wantErr: ErrInvalidURL},
		{name: "ftp", url: "ftp://127.0.0.1/x", wantErr: ErrInvalidURL},
		{name: "ws without host", url: "ws:///path", wantErr: ErrInvalidURL},
		{name: "wss without host", url: "wss://", wantErr: ErrInvalidURL},
		{name: "unparsable", url: "ws://[::1", wantErr: ErrInvalidURL},
		{name: "relative without base", url: "/ws", wantErr: ErrInvalidURL},
		{name: "scheme-relative with base", base: true, url: "//evil.example/ws", wantErr: ErrInvalidURL},
		{name: "nil option", url: ws, opts: []WebSocketOption{nil}, wantErr: ErrInvalidOption},
		{name: "zero max message", url: ws, opts: []WebSocketOption{MaxMessageBytes(0)}, wantErr: ErrInvalidOption},
		{name: "negative max message", url: ws, opts: []WebSocketOption{MaxMessageBytes(-1)}, wantErr: ErrInvalidOption},
		{name: "empty subprotocol", url: ws, opts: []WebSocketOption{Subprotocols("")}, wantErr: ErrInvalidOption},
		{name: "subprotocol with space", url: ws, opts: []WebSocketOption{Subprotocols("a b")}, wantErr: ErrInvalidOption},
		{name: "handshake header", url: ws, opts: []WebSocketOption{WebSocketHeader("sec-websocket-key", "x")}, wantErr: ErrInvalidOption},
		{name: "upgrade header", url: ws, opts: []WebSocketOption{WebSocketHeader("Upgrade", "h2c")}, wantErr: ErrInvalidOption},
		{name: "CRLF in dial header", url: ws, opts: []WebSocketOption{WebSocketHeader("X-A", "a\r\nX-B: b")}, wantErr: ErrInvalidHeader},
		{name: "bad dial header name", url: ws, opts: []WebSocketOption{WebSocketHeader("X A", "a")}, wantErr: ErrInvalidHeader},
		{name: "CRLF in session header", url: ws, setup: func(s *Session) { s.SetHeader("X-A", "a\nb") }, wantErr: ErrInvalidHeader},
		{name: "bad session cookie", url: ws, setup: func(s *Session) { s.SetCookie("c", "a;b") }, wantErr: ErrInvalidHeader},
		{name: "hook refuses", url: ws, setup: func(s *Session) {
			s.OnRequest(func(*http.Request) error { return errorf(ErrInvalidHeader, "hook says no") })
		}, wantErr: ErrInvalidHeader},
		{name: "hook adds CRLF", url: ws, setup: func(s *Session) {
			s.OnRequest(func(r *http.Request) error { r.Header.Set("X-A", "a\r\nb"); return nil })
		}, wantErr: ErrInvalidHeader},
		{name: "closed session", url: ws, setup: func(s *Session) { _ = s.Close() }, wantErr: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.base {
				opts = append(opts, WithBaseURL(srv.URL))
			}
			s := newTestSession(t, opts...)
			if tt.setup != nil {
				tt.setup(s)
			}
			w, err := s.WebSocket(wsContext(t), tt.url, tt.opts...)
			assert.Nil(t, w)
			assert.ErrorIs(t, err, tt.wantErr)
			var re *RequestError
			assert.ErrorAs(t, err, &re)
		})
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
}

func TestWebSocketTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(wsHandler(nil, serveEcho))
	srv.EnableHTTP2 = true // the handshake must still go over HTTP/1.1
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	s := newTestSession(t, WithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv)+"/secure")
	require.NoError(t, ws.SendText(ctx, "over TLS"))
	_, got, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "over TLS", string(got))

	// An https URL is dialled as wss.
	ws = dialWS(t, s, srv.URL+"/secure")
	require.NoError(t, ws.Send(ctx, []byte{1}))

	untrusting := newTestSession(t)
	_, err = untrusting.WebSocket(ctx, wsAddr(srv))
	assert.ErrorIs(t, err, ErrTLS)
}

func TestWebSocketProxy(t *testing.T) {
	t.Parallel()
	type seen struct {
		uri     string
		upgrade string
	}
	got := make(chan seen, 1)
	proxy := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{uri: r.RequestURI, upgrade: r.Header.Get("Upgrade")}
		http.Error(w, "no tunnels here", http.StatusForbidden)
	})
	s := newTestSession(t, WithProxy(proxy.URL))
	// The target is never contacted: the proxy answers.
	_, err := s.WebSocket(wsContext(t), "ws://127.0.0.1:9/chat")
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusForbidden, he.StatusCode)
	sw := <-got
	assert.Equal(t, "http://127.0.0.1:9/chat", sw.uri, "sent to the proxy in absolute form")
	assert.Equal(t, "websocket", sw.upgrade)
}

func TestWebSocketThroughMiddleware(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	var seen atomic.Value
	mw := func(next http.RoundTripper) http.RoundTripper {
		return wsRoundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen.Store(r.URL.Path + " " + r.Header.Get("Upgrade"))
			return next.RoundTrip(r)
		})
	}
	s := newTestSession(t, WithBaseURL(bin.URL), WithMiddleware(mw))
	ctx := wsContext(t)
	ws := dialWS(t, s, "/websocket/echo")
	assert.Equal(t, "/websocket/echo websocket", seen.Load())
	require.NoError(t, ws.SendText(ctx, "through middleware"))
	_, got, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "through middleware", string(got))
}

func TestWebSocketZeroValue(t *testing.T) {
	t.Parallel()
	var ws WebSocket
	ctx := wsContext(t)
	assert.ErrorIs(t, ws.Send(ctx, nil), ErrWebSocket)
	assert.ErrorIs(t, ws.SendText(ctx, ""), ErrWebSocket)
	assert.ErrorIs(t, ws.Ping(ctx), ErrWebSocket)
	_, _, err := ws.Receive(ctx)
	assert.ErrorIs(t, err, ErrWebSocket)
	assert.ErrorIs(t, ws.Close(), ErrWebSocket)
	assert.Equal(t, "", ws.Subprotocol())
}

// wsRoundTripFunc is a RoundTripper made of a function.
type wsRoundTripFunc func(*http.Request) (*http.Response, error)

func (f wsRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
