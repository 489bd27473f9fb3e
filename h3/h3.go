// Package reqivoh3 gives a Reqivo session HTTP/3, on quic-go's http3.
//
//	s, err := reqivo.NewSession(reqivoh3.Option())
//
// By default an https origin moves to HTTP/3 once a response over TCP
// advertises it (Alt-Svc: h3=":443", RFC 7838 and RFC 9114), and stays
// there until the advertisement's max age ends or the origin sends
// "Alt-Svc: clear". Only alternatives on the origin's own host are
// followed. When a QUIC connection cannot be made (UDP blocked or dropped,
// no handshake within Timeouts.Connect) the request goes over TCP at once
// and the origin is not tried over QUIC again for 5 minutes, doubled at
// each failure in a row up to 48 hours, as browsers do; the caller sees
// nothing of it. With [Only], https origins speak HTTP/3 from the first
// request and a QUIC failure is the request's error.
//
// Everything above the transport is the session's and works as over TCP:
// headers, auth and its origin scoping, cookies, redirects, retries, the
// cache, streams, downloads, the observer (Response.Proto is "HTTP/3.0")
// and Stats, whose QUICConnsOpened counts the QUIC connections. WebSocket
// handshakes and requests sent through a proxy always go over TCP, and
// reqivo.WithDialContext and WithDialTLSContext shape TCP connections
// only. A GET or HEAD without a body may be sent in 0-RTT on a resumed
// connection; nothing else ever is, since 0-RTT data can be replayed.
// Session.Close closes the QUIC connections as their requests end.
//
// This module is apart from github.com/reqivo/reqivo so that quic-go never
// enters that module's dependencies.
package reqivoh3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/reqivo/reqivo"

	"github.com/reqivo/reqivo/h3/internal/altsvc"
)

// A Setting configures Option.
type Setting func(*settings)

type settings struct {
	only bool
}

// Only makes every https origin speak HTTP/3 from the first request, with
// no discovery and no fallback to TCP: a QUIC failure is the request's
// error. Requests over plain http, WebSocket handshakes and requests sent
// through a proxy still go over TCP.
func Only() Setting {
	return func(s *settings) { s.only = true }
}

// Option gives a session HTTP/3 for its https origins (see the package
// documentation). It is an error with reqivo.WithTransport, whose
// transport leaves the session no pool to fall back on.
func Option(settings ...Setting) reqivo.Option {
	return reqivo.WithAltTransport(func(env reqivo.AltTransportEnv) (reqivo.AltTransport, error) {
		return newTransport(env, settings)
	})
}

// QUIC flow-control windows, as the session's HTTP/2 ones: a stream may run
// 16 MiB ahead of its reader, a connection 64 MiB.
const (
	streamWindow = 16 << 20
	connWindow   = 64 << 20
)

// sessionTickets is how many TLS session tickets are kept for resumption
// (and 0-RTT) when the session's TLS config has no cache of its own.
const sessionTickets = 64

// transport is the session's reqivo.AltTransport. It is safe for
// concurrent use by multiple goroutines.
type transport struct {
	only       bool
	now        func() time.Time
	connect    time.Duration
	connOpened func()
	cache      *altsvc.Cache
	h3         *http3.Transport
}

func newTransport(env reqivo.AltTransportEnv, opts []Setting) (*transport, error) {
	var s settings
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("reqivoh3: nil setting")
		}
		o(&s)
	}
	tlsConf := env.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	if tlsConf.ClientSessionCache == nil {
		tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(sessionTickets)
	}
	if tlsConf.MinVersion < tls.VersionTLS13 {
		tlsConf.MinVersion = tls.VersionTLS13 // QUIC is TLS 1.3 only
	}
	t := &transport{
		only:       s.only,
		now:        env.Now,
		connect:    env.Timeouts.Connect,
		connOpened: env.ConnOpened,
		cache:      altsvc.NewCache(http3.NextProtoH3),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.connOpened == nil {
		t.connOpened = func() {}
	}
	t.h3 = &http3.Transport{
		TLSClientConfig: tlsConf,
		QUICConfig: &quic.Config{
			HandshakeIdleTimeout:           env.Timeouts.Connect,
			MaxIdleTimeout:                 env.Limits.IdleConnTimeout,
			InitialStreamReceiveWindow:     streamWindow / 4,
			MaxStreamReceiveWindow:         streamWindow,
			InitialConnectionReceiveWindow: connWindow / 4,
			MaxConnectionReceiveWindow:     connWindow,
		},
		Dial:                   t.dial,
		MaxResponseHeaderBytes: int(env.Limits.MaxResponseHeaderBytes),
	}
	return t, nil
}

// RoundTrip sends req over HTTP/3 when its origin has a usable HTTP/3
// endpoint (always, with Only), and declines it otherwise. A failed
// connection declines it too, leaving its body unread, and marks the
// origin broken; with Only it is the request's error.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, bool, error) {
	host, port := origin(req)
	if !t.only {
		if _, ok := t.cache.Lookup(host, port, t.now()); !ok {
			return nil, false, nil
		}
	}
	r := *req
	var body *heldBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &heldBody{rc: req.Body}
		r.Body = body
	} else {
		// Replaying GET or HEAD is harmless, so these may ride 0-RTT;
		// anything else waits for the handshake.
		switch req.Method {
		case http.MethodGet:
			r.Method = http3.MethodGet0RTT
		case http.MethodHead:
			r.Method = http3.MethodHead0RTT
		}
	}
	resp, err := t.h3.RoundTrip(&r)
	if err != nil {
		var de *dialError
		if !t.only && errors.As(err, &de) && !body.read() {
			t.cache.Broken(host, port, t.now())
			return nil, false, nil // req's body is untouched: TCP sends it
		}
		if body != nil {
			body.release()
		}
		return nil, true, err
	}
	if body != nil {
		body.release()
	}
	resp.Request = req
	t.cache.Learn(host, port, resp.Header["Alt-Svc"], t.now())
	return resp, true, nil
}

// SawTCP learns the Alt-Svc header of a response that came over TCP.
func (t *transport) SawTCP(resp *http.Response) {
	if t.only || resp.Request == nil || resp.Request.URL == nil {
		return
	}
	if v := resp.Header["Alt-Svc"]; len(v) > 0 {
		host, port := origin(resp.Request)
		t.cache.Learn(host, port, v, t.now())
	}
}

// CloseIdleConnections closes the QUIC connections no request uses.
func (t *transport) CloseIdleConnections() { t.h3.CloseIdleConnections() }

// dialError is a QUIC connection that could not be made: the request was
// not sent, and may go over TCP.
type dialError struct{ err error }

func (e *dialError) Error() string { return "reqivoh3: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// handshakeTimeout is a QUIC handshake that did not end within
// Timeouts.Connect; a net.Error whose Timeout is true.
type handshakeTimeout struct {
	d   time.Duration
	err error
}

func (e *handshakeTimeout) Error() string {
	return fmt.Sprintf("no QUIC handshake within %v: %v", e.d, e.err)
}
func (e *handshakeTimeout) Unwrap() error   { return e.err }
func (e *handshakeTimeout) Timeout() bool   { return true }
func (e *handshakeTimeout) Temporary() bool { return true }

// errNoAlternative is a dial for an origin whose alternative went away
// (expired, cleared) after the request was routed to it.
var errNoAlternative = errors.New("no HTTP/3 endpoint known for the origin")

// dial opens a QUIC connection for the origin addr ("host:port") to its
// HTTP/3 endpoint, within Timeouts.Connect. http3.Transport calls it once
// per origin for all the requests waiting on it.
func (t *transport) dial(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &dialError{err}
	}
	port, _ := strconv.Atoi(ps)
	if !t.only {
		p, ok := t.cache.Lookup(host, port, t.now())
		if !ok {
			return nil, &dialError{errNoAlternative}
		}
		port = p
	}
	if t.connect > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.connect)
		defer cancel()
	}
	to := net.JoinHostPort(host, strconv.Itoa(port))
	trace := httptrace.ContextClientTrace(ctx) // the first waiting request's
	if trace != nil && trace.ConnectStart != nil {
		trace.ConnectStart("udp", to)
	}
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	conn, err := quic.DialAddrEarly(ctx, to, tlsConf, conf)
	if trace != nil {
		var state tls.ConnectionState
		if conn != nil {
			state = conn.ConnectionState().TLS
		}
		if trace.TLSHandshakeDone != nil {
			trace.TLSHandshakeDone(state, err)
		}
		if trace.ConnectDone != nil {
			trace.ConnectDone("udp", to, err)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = &handshakeTimeout{d: t.connect, err: err}
		}
		// A dial error, as net.Dialer's: the session classifies it as
		// one (ErrConnectTimeout, ErrNetwork).
		return nil, &dialError{&net.OpError{Op: "dial", Net: "udp", Err: err}}
	}
	t.connOpened()
	if !t.only {
		t.cache.Working(host, port)
	}
	return conn, nil
}

// origin is req's host and port, the port filled in for https.
func origin(req *http.Request) (string, int) {
	host := req.URL.Hostname()
	port, err := strconv.Atoi(req.URL.Port())
	if err != nil || port <= 0 {
		port = 443
	}
	return host, port
}

// heldBody is a request body lent to the QUIC attempt: until the attempt
// has read from it or is over, its Close is held back, so that a request
// whose connection failed can still go over TCP with its body whole.
type heldBody struct {
	rc io.ReadCloser

	mu       sync.Mutex // guards the fields below
	touched  bool       // a Read happened: the body is spent for TCP
	released bool       // the attempt is over: Close goes through
	closing  bool       // Close was called while held
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.touched = true
	b.mu.Unlock()
	return b.rc.Read(p)
}

func (b *heldBody) Close() error {
	b.mu.Lock()
	if !b.touched && !b.released {
		b.closing = true
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	return b.rc.Close()
}

// read reports whether the attempt read from the body; a nil body was not.
func (b *heldBody) read() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.touched
}

// release ends the hold: a Close held back is done now.
func (b *heldBody) release() {
	b.mu.Lock()
	closing := b.closing && !b.touched
	b.released = true
	b.mu.Unlock()
	if closing {
		_ = b.rc.Close()
	}
}
