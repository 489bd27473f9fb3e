// Tracing: the timings of a request's phases (DNS, connect, TLS, time to
// first byte), as the observer seam's record of the final attempt holds
// them (see observation.go), kept on the Response when asked for.

package reqivo

import "time"

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
	t, _ := r.timings.timings()
	t.Total = r.elapsed
	return t
}

// span is end - start, or zero when either is missing or out of order.
func span(start, end time.Time) time.Duration {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}
