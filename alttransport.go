// Second transport: the seam through which a transport module (HTTP/3,
// github.com/reqivo/reqivo/h3) carries some of a session's https requests
// beside its TCP pool, which stays the session's own: the dial gate, the
// limits, the proxy and Stats keep working for every request it declines.

package reqivo

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpguts"
)

// AltTransport carries https requests beside a session's TCP pool. It is
// written by transport modules (github.com/reqivo/reqivo/h3 for HTTP/3)
// and installed with their option; applications do not implement it.
//
// The session offers it every https request that is not sent through a
// proxy and is not a WebSocket handshake (those always go over TCP), and
// shows it every response that came back over TCP for an https request.
// Its methods are called from many goroutines at once.
type AltTransport interface {
	// RoundTrip sends req and reports taken true, with the response or
	// the error of the exchange; or it declines req with taken false, and
	// then req, its body included, is untouched and goes over TCP at once.
	// A transport that could not connect declines, unless it is the only
	// way to the origin.
	RoundTrip(req *http.Request) (resp *http.Response, taken bool, err error)
	// SawTCP is shown each response to an https request that came over
	// TCP, headers only: it must not read or keep resp.Body. It is where
	// an Alt-Svc header is learned.
	SawTCP(resp *http.Response)
	// CloseIdleConnections closes the connections no request uses; the
	// session calls it on Close and as each request ends after Close.
	CloseIdleConnections()
}

// AltTransportEnv is what a session tells the AltTransport it installs.
type AltTransportEnv struct {
	// TLSConfig is a copy of the session's TLS configuration (its roots,
	// client certificates, minimum version); never nil.
	TLSConfig *tls.Config
	// Timeouts and Limits are the session's, defaults filled in:
	// Timeouts.Connect bounds a handshake, Limits.IdleConnTimeout an idle
	// connection, Limits.MaxResponseHeaderBytes the response headers.
	Timeouts Timeouts
	Limits   Limits
	// Now is the session's clock (WithClock).
	Now func() time.Time
	// ConnOpened is called once per connection the transport opens; the
	// connections count in Stats.QUICConnsOpened.
	ConnOpened func()
}

// WithAltTransport installs a second transport built by newAlt, for
// transport modules: reqivoh3.Option is the way to ask for HTTP/3. It is an
// error with WithTransport (there is no pool to fall back on) and with nil.
func WithAltTransport(newAlt func(AltTransportEnv) (AltTransport, error)) Option {
	return func(c *config) error {
		if newAlt == nil {
			return errorf(ErrInvalidOption, "nil alternative transport")
		}
		c.alt = newAlt
		return nil
	}
}

// altRouter is the RoundTripper in front of the dial gate when a second
// transport is installed: it offers the transport each https request and
// sends over TCP whatever it declines. It is safe for concurrent use by
// multiple goroutines.
type altRouter struct {
	alt   AltTransport
	tcp   http.RoundTripper                     // the dial gate in front of the pool
	proxy func(*http.Request) (*url.URL, error) // the pool's; nil: no proxy
}

// newAltRouter builds the session's second transport from c and puts it
// in front of tcp; pool is the session's own transport (never nil here).
func newAltRouter(c *config, pool *http.Transport, tcp http.RoundTripper, n *counters, now func() time.Time) (*altRouter, error) {
	if c.transport != nil {
		return nil, errorf(ErrInvalidOption, "an alternative transport (HTTP/3) needs the session's pool; it cannot be used with WithTransport")
	}
	alt, err := c.alt(AltTransportEnv{
		TLSConfig:  pool.TLSClientConfig.Clone(),
		Timeouts:   c.timeouts,
		Limits:     c.limits,
		Now:        now,
		ConnOpened: func() { n.quicConns.Add(1) },
	})
	if err != nil {
		return nil, wrapKind(ErrInvalidOption, "", err)
	}
	if alt == nil {
		return nil, errorf(ErrInvalidOption, "nil alternative transport")
	}
	return &altRouter{alt: alt, tcp: tcp, proxy: pool.Proxy}, nil
}

func (r *altRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.offered(req) {
		return r.tcp.RoundTrip(req)
	}
	if resp, taken, err := r.alt.RoundTrip(req); taken {
		return resp, err
	}
	resp, err := r.tcp.RoundTrip(req)
	if err == nil {
		r.alt.SawTCP(resp)
	}
	return resp, err
}

// offered reports whether req may go over the second transport: https,
// not a protocol upgrade (WebSockets stay on TCP), not through a proxy
// (an HTTP proxy cannot carry QUIC).
func (r *altRouter) offered(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "https" {
		return false
	}
	if httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade") || req.Header.Get("Upgrade") != "" {
		return false
	}
	if r.proxy != nil {
		if u, err := r.proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}
