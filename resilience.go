// Resilience: the per-host guards around each attempt on the wire, a
// circuit breaker (breaker.go) and a rate limit (ratelimit.go).

package reqivo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// guard is what an attempt's host guards need once it is over; the zero
// guard (a session without a rate limit or breakers) does nothing. The
// guards report through the call's observers: the notices of a host's
// breaker and bucket belong to the request that met them.
type guard struct {
	s *Session
	// obs and ctx are the call's, to report to (not the call itself, which
	// then stays on its goroutine's stack).
	obs  *observation
	ctx  context.Context
	req  *http.Request
	key  string       // the host
	hb   *hostBreaker // nil without breakers
	done func(error)  // hb's outcome report
}

// guard runs the host's guards before attempt req: the breaker admits it
// (or it fails at once with ErrCircuitOpen, having spent no token), then
// it waits for the host's token. Call it only when the session has a rate
// limit or breakers. A refused attempt is not sent.
func (c *call) guard(req *http.Request) (guard, error) {
	s := c.s
	g := guard{s: s, obs: c.obs, ctx: c.ctx, req: req, key: hostKey(req.URL)}
	if s.breakers != nil {
		var changes []breakerChange
		var err error
		g.hb, g.done, changes, err = s.breakers.admit(g.key)
		g.changed(changes)
		if err != nil {
			s.n.circuitRejected.Add(1)
			if c.obs != nil {
				c.notify(req, Notice{Kind: NoticeBreakerRejected, Detail: err.Error()})
			}
			return guard{}, err
		}
	}
	if s.limiters != nil {
		waited, storeErr, err := s.limiters.take(req.Context(), g.key)
		if storeErr != nil {
			c.notify(req, Notice{Kind: NoticeRateStoreError, Detail: g.key + ": using the local bucket", Err: storeErr})
		}
		if waited > 0 {
			c.notify(req, Notice{Kind: NoticeRateLimitWait, Wait: waited, Detail: g.key})
		}
		if err != nil {
			g.unsent()
			return guard{}, err
		}
	}
	return g, nil
}

// changed reports the breaker's changes of state to the call's observers.
func (g guard) changed(changes []breakerChange) {
	for _, ch := range changes {
		g.obs.notice(g.ctx, g.req, Notice{Kind: ch.kind, Detail: ch.detail})
	}
}

// unsent tells the host's breaker that the attempt it admitted was never
// sent: it counts for nothing.
func (g guard) unsent() {
	if g.hb != nil {
		g.changed(g.hb.report(g.done, errExcluded))
	}
}

// after tells the host's guards how the attempt ended: its response (its
// headers) adapts the bucket, and its outcome counts for the breaker. err
// is classified.
func (g guard) after(resp *http.Response, err error) {
	s := g.s
	if s == nil {
		return
	}
	if s.limiters != nil && resp != nil {
		s.limiters.observe(g.key, resp.StatusCode, resp.Header)
	}
	if g.hb != nil {
		g.changed(g.hb.report(g.done, breakerOutcome(resp, err)))
	}
}

// breakerOutcome is what an attempt tells the host's breaker: a failure
// for a network error, a timeout or a 5xx; nothing for a request the
// caller cancelled; a success otherwise. err is classified.
func breakerOutcome(resp *http.Response, err error) error {
	if err != nil {
		if errors.Is(err, ErrCanceled) {
			return errExcluded // the caller's doing, not the host's
		}
		return errFailed
	}
	if resp.StatusCode >= 500 {
		return errFailed
	}
	return nil
}

// hostKey is the key of u's host in the per-host state (breakers, rate
// limits, retry budgets): the host as the origin check normalises it
// (lower-case ASCII, a Unicode name in its IDNA form), without the
// trailing dot of a fully qualified name, and the port, the scheme's
// default made explicit, as in "api.example.com:443". So "HOST.", "host:"
// and "host:443" share the state of "host" over https, as they share its
// server.
func hostKey(u *url.URL) string {
	return net.JoinHostPort(asciiHost(strings.TrimSuffix(u.Hostname(), ".")), originOf(u).port)
}
