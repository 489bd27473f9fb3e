// Tracing: the timings of a request's phases (DNS, connect, TLS, time to
// first byte), collected with net/http/httptrace when asked for.

package reqivo

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"
)

// Timings are the phases of a request's final attempt, as net/http/httptrace
// saw them. Response.Timings returns them when the session has WithTrace or
// the request has Trace; otherwise every field is zero.
type Timings struct {
	// DNS is the name lookup; zero for a reused connection or an IP
	// address.
	DNS time.Duration
	// Connect is the TCP connect; zero for a reused connection.
	Connect time.Duration
	// TLS is the TLS handshake; zero for a reused connection or plain HTTP.
	TLS time.Duration
	// TimeToFirstByte runs from the start of the final attempt (asking the
	// pool for a connection) to the first byte of the response, so it
	// includes DNS, Connect and TLS.
	TimeToFirstByte time.Duration
	// Total is the whole request, as Response.Elapsed: redirects, retries
	// and (unless streamed) the body read included.
	Total time.Duration
	// ConnReused reports whether the final attempt ran on a pooled
	// connection.
	ConnReused bool
}

// WithTrace collects Timings for every request of the session. If not set,
// only requests with the Trace option collect them, and the others pay
// nothing for it.
func WithTrace() Option {
	return func(c *config) error {
		c.trace = true
		return nil
	}
}

// Trace collects Timings for this request: see Response.Timings.
func Trace() RequestOption {
	return func(rc *requestConfig) error {
		rc.extras().trace = true
		return nil
	}
}

// Timings returns the phases of the request, or zero Timings if neither
// WithTrace nor Trace asked for them.
func (r *Response) Timings() Timings {
	if r.timings == nil {
		return Timings{}
	}
	t := r.timings.timings()
	t.Total = r.elapsed
	return t
}

// tracer records the httptrace events of one request; each attempt starts
// over (GetConn). Dials may report from other goroutines, hence the mutex.
type tracer struct {
	mu sync.Mutex // guards ev
	ev traceEvents
}

// traceEvents are the times of one attempt's events.
type traceEvents struct {
	getConn, firstByte,
	dnsStart, dnsDone,
	connStart, connDone,
	tlsStart, tlsDone time.Time
	reused bool
}

// withTracer returns ctx with a tracer hooked into it.
func withTracer(ctx context.Context) (context.Context, *tracer) {
	t := &tracer{}
	ct := &httptrace.ClientTrace{
		GetConn: func(string) {
			t.mu.Lock()
			t.ev = traceEvents{getConn: time.Now()}
			t.mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			t.mu.Lock()
			t.ev.reused = info.Reused
			t.mu.Unlock()
		},
		DNSStart: func(httptrace.DNSStartInfo) { t.mark(&t.ev.dnsStart, true) },
		DNSDone:  func(httptrace.DNSDoneInfo) { t.mark(&t.ev.dnsDone, false) },
		ConnectStart: func(string, string) {
			t.mark(&t.ev.connStart, true)
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.mark(&t.ev.connDone, true)
			}
		},
		TLSHandshakeStart: func() { t.mark(&t.ev.tlsStart, true) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				t.mark(&t.ev.tlsDone, false)
			}
		},
		GotFirstResponseByte: func() { t.mark(&t.ev.firstByte, false) },
	}
	return httptrace.WithClientTrace(ctx, ct), t
}

// mark sets *at to now; with first, only if it is not set yet (a dial may
// try several addresses: the first start and first success count).
func (t *tracer) mark(at *time.Time, first bool) {
	now := time.Now()
	t.mu.Lock()
	if !first || at.IsZero() {
		*at = now
	}
	t.mu.Unlock()
}

func (t *tracer) timings() Timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &t.ev
	out := Timings{ConnReused: e.reused}
	if !e.reused {
		out.DNS = span(e.dnsStart, e.dnsDone)
		out.Connect = span(e.connStart, e.connDone)
		out.TLS = span(e.tlsStart, e.tlsDone)
	}
	out.TimeToFirstByte = span(e.getConn, e.firstByte)
	return out
}

// span is end - start, or zero when either is missing or out of order.
func span(start, end time.Time) time.Duration {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}
