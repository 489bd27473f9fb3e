// Pool: the tuned *http.Transport a session owns, its limits and its
// counters.

package reqivo

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Limits bounds the connection pool and the size of responses. A zero field
// keeps its default.
type Limits struct {
	// MaxConnsPerHost caps connections per host, dialing, active and idle
	// together. If not set, no limit.
	MaxConnsPerHost int
	// MaxIdleConns caps idle connections across all hosts. If not set, 256.
	MaxIdleConns int
	// MaxIdleConnsPerHost caps idle connections kept per host. If not set,
	// 64 (net/http's default of 2 makes concurrent clients churn
	// connections).
	MaxIdleConnsPerHost int
	// IdleConnTimeout is how long an idle connection is kept. If not set,
	// 90 s.
	IdleConnTimeout time.Duration
	// MaxResponseBytes caps a buffered response body, counted after
	// decompression. If not set (0), 64 MiB; negative means no limit.
	MaxResponseBytes int64
	// MaxResponseHeaderBytes caps the response headers. If not set, 1 MiB.
	MaxResponseHeaderBytes int64
	// MaxEventBytes caps one Server-Sent Event (its data) and one line of
	// an event stream or a JSON Lines stream; over it is ErrBodyTooLarge.
	// If not set, 1 MiB. Negative is an error.
	MaxEventBytes int64
}

// Default limits.
const (
	DefaultMaxIdleConns           = 256
	DefaultMaxIdleConnsPerHost    = 64
	DefaultIdleConnTimeout        = 90 * time.Second
	DefaultMaxResponseBytes       = 64 << 20
	DefaultMaxResponseHeaderBytes = 1 << 20
)

// DefaultLimits returns the limits a session has unless WithLimits is given.
func DefaultLimits() Limits {
	return Limits{
		MaxIdleConns:           DefaultMaxIdleConns,
		MaxIdleConnsPerHost:    DefaultMaxIdleConnsPerHost,
		IdleConnTimeout:        DefaultIdleConnTimeout,
		MaxResponseBytes:       DefaultMaxResponseBytes,
		MaxResponseHeaderBytes: DefaultMaxResponseHeaderBytes,
		MaxEventBytes:          DefaultMaxEventBytes,
	}
}

func (l Limits) withDefaults() (Limits, error) {
	if l.MaxConnsPerHost < 0 || l.MaxIdleConns < 0 || l.MaxIdleConnsPerHost < 0 || l.IdleConnTimeout < 0 || l.MaxResponseHeaderBytes < 0 || l.MaxEventBytes < 0 {
		return l, errorf(ErrInvalidOption, "negative limit in Limits")
	}
	d := DefaultLimits()
	if l.MaxIdleConns == 0 {
		l.MaxIdleConns = d.MaxIdleConns
	}
	if l.MaxIdleConnsPerHost == 0 {
		l.MaxIdleConnsPerHost = d.MaxIdleConnsPerHost
	}
	if l.IdleConnTimeout == 0 {
		l.IdleConnTimeout = d.IdleConnTimeout
	}
	if l.MaxResponseBytes == 0 {
		l.MaxResponseBytes = d.MaxResponseBytes
	}
	if l.MaxResponseHeaderBytes == 0 {
		l.MaxResponseHeaderBytes = d.MaxResponseHeaderBytes
	}
	if l.MaxEventBytes == 0 {
		l.MaxEventBytes = d.MaxEventBytes
	}
	return l, nil
}

// Stats are a session's counters since it was made.
type Stats struct {
	Requests    int64 // requests sent on the wire, retries and redirect hops included
	ConnsOpened int64 // TCP connections dialed (0 with WithTransport: the session cannot see them)
	// RateLimitWait is the time requests spent waiting for rate-limit
	// tokens (WithRateLimit), added up over all requests.
	RateLimitWait time.Duration
	// CircuitRejected counts the attempts an open circuit breaker refused
	// (WithCircuitBreaker); none of them was sent.
	CircuitRejected int64
	// CacheHits, CacheMisses and CacheRevalidations count, with
	// WithCache, hops answered from the cache (stale ones included), hops
	// that went to the origin, and stored responses the origin confirmed
	// with a 304.
	CacheHits, CacheMisses, CacheRevalidations int64
	// QUICConnsOpened counts the QUIC connections opened for HTTP/3
	// (WithAltTransport, installed by reqivoh3.Option).
	QUICConnsOpened int64
	// Hedges counts the hedged copies sent (WithHedging), beyond the
	// first copy of each try; Requests counts them too.
	Hedges int64
	// RetryBudgetRefused counts the retries and hedges the host's retry
	// budget refused (WithRetryBudget); none of them was sent.
	RetryBudgetRefused int64
}

// counters are the atomics behind Stats.
type counters struct {
	requests        atomic.Int64
	conns           atomic.Int64
	rateWait        atomic.Int64 // nanoseconds
	circuitRejected atomic.Int64
	cacheHits       atomic.Int64
	cacheMisses     atomic.Int64
	cacheRevalidate atomic.Int64
	quicConns       atomic.Int64
	hedges          atomic.Int64
	budgetRefused   atomic.Int64
}

// HTTP/2 receive windows: how much a server may send ahead of the reader,
// per stream and per connection. Go's defaults are 4 MiB and 1 GiB, so 64
// streams whose readers stall may buffer 256 MiB; these let one stream run
// further ahead on a long fat link (16 MiB in flight at 100 ms and 1.3
// Gbit/s) and cap what one connection buffers at 64 MiB.
const (
	h2StreamWindow = 16 << 20
	h2ConnWindow   = 64 << 20
)

// newTransport builds the session's pool from http.DefaultTransport's
// settings (never modifying it) with c's limits, timeouts, TLS and proxy.
func newTransport(c *config, n *counters) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dial, dialTLS := c.dial, c.dialTLS
	if c.inProcess != nil {
		dial, dialTLS = c.inProcess.dial, c.inProcess.dialTLS
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: c.timeouts.Connect, KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = trackDials(countDials(dial, n))
	if dialTLS != nil {
		t.DialTLSContext = countDials(dialTLS, n)
	}
	t.TLSHandshakeTimeout = c.timeouts.Connect
	// No ResponseHeaderTimeout: the wait for headers is bounded per
	// attempt by the session (see headerWait), and only when the total
	// deadline does not already bound it, which saves a timer per request.
	t.MaxConnsPerHost = c.limits.MaxConnsPerHost
	t.MaxIdleConns = c.limits.MaxIdleConns
	t.MaxIdleConnsPerHost = c.limits.MaxIdleConnsPerHost
	t.IdleConnTimeout = c.limits.IdleConnTimeout
	t.MaxResponseHeaderBytes = c.limits.MaxResponseHeaderBytes
	t.ForceAttemptHTTP2 = true
	t.HTTP2 = &http.HTTP2Config{
		MaxReceiveBufferPerStream:     h2StreamWindow,
		MaxReceiveBufferPerConnection: h2ConnWindow,
	}
	if c.tlsConfig != nil {
		t.TLSClientConfig = c.tlsConfig.Clone()
	} else {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch {
	case c.inProcess != nil: // every request goes to the in-process server
		t.Proxy = nil
	case c.proxySet:
		if c.proxy == nil {
			t.Proxy = nil
		} else {
			t.Proxy = http.ProxyURL(c.proxy)
		}
	default:
		t.Proxy = http.ProxyFromEnvironment
	}
	return t
}

// countingTransport counts the requests that reach the wire.
type countingTransport struct {
	next http.RoundTripper
	n    *counters
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.requests.Add(1)
	return t.next.RoundTrip(req)
}
