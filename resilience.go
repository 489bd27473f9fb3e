// Resilience: the per-host guards around each attempt on the wire, a
// circuit breaker (breaker.go) and a rate limit (ratelimit.go).

package reqivo

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// guardedSend is send for a session with a rate limit or circuit breakers.
// The host's breaker admits the attempt first (or it fails at once with
// ErrCircuitOpen, having spent no token), then the attempt waits for the
// host's token, then goes on the wire; its response adapts the bucket and
// its outcome counts for the breaker.
func (s *Session) guardedSend(req *http.Request) (*http.Response, error) {
	key := hostKey(req.URL)
	var done func(error)
	if s.breakers != nil {
		var err error
		if done, err = s.breakers.admit(key); err != nil {
			s.n.circuitRejected.Add(1)
			return nil, err
		}
	}
	if s.limiters != nil {
		if err := s.limiters.take(req.Context(), key); err != nil {
			if done != nil {
				done(errExcluded) // never sent
			}
			return nil, err
		}
	}
	resp, err := s.roundTrip(req)
	if s.limiters != nil && resp != nil {
		s.limiters.observe(key, resp.StatusCode, resp.Header)
	}
	if done != nil {
		done(breakerOutcome(req.Context(), resp, err))
	}
	return resp, err
}

// breakerOutcome is what an attempt tells the host's breaker: a failure
// for a network error, a timeout or a 5xx; nothing for a request the
// caller cancelled; a success otherwise.
func breakerOutcome(ctx context.Context, resp *http.Response, err error) error {
	if err != nil {
		if ctx.Err() == context.Canceled && !isKind(context.Cause(ctx)) {
			return errExcluded // the caller's doing, not the host's
		}
		return errFailed
	}
	if resp.StatusCode >= 500 {
		return errFailed
	}
	return nil
}

// hostKey is the key of u's host in the limits and breakers: the host and
// port, lower case, the port made explicit.
func hostKey(u *url.URL) string {
	h := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			h += ":443"
		} else {
			h += ":80"
		}
	}
	return strings.ToLower(h)
}
