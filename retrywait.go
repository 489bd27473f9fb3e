// Retry waits: the one computation of how long the session waits before a
// request is sent again, whichever loop sends it (a hop's retries, a
// Download body that broke, an Events reconnection): backoff, Retry-After,
// an open breaker's cooldown and the deadline, all overflow-safe and
// bounded.

package reqivo

import (
	"context"
	"net/http"
	"time"
)

// maxServerWait bounds a wait a server sets for an event stream (its retry
// field, a Retry-After): a retry field of centuries waits an hour, and no
// sum of it with a backoff or a jitter can overflow a Duration.
const maxServerWait = time.Hour

// clampWait is d within [0, limit].
func clampWait(d, limit time.Duration) time.Duration {
	return max(0, min(d, limit))
}

// doubled is d doubled for each retry in a row after the first (n from 1),
// up to ceiling; d is clamped to [0, ceiling] first, so nothing overflows.
func doubled(d time.Duration, n int, ceiling time.Duration) time.Duration {
	d = clampWait(d, ceiling)
	for i := 1; i < n && 0 < d && d < ceiling; i++ {
		d = min(2*d, ceiling) // d < ceiling <= MaxInt64/2 in every use
	}
	return d
}

// retryWait is the wait before retrying attempt n (1 is the first; the
// attempts of the same call or Download counted) that got resp or err, as
// the policy p says: its backoff; a Retry-After instead, up to MaxWait; an
// open breaker's cooldown when longer. ok is false when the wait is not to
// be had (over MaxWait, or outliving ctx's deadline), with why for the
// observers when a response is the answer.
func (s *Session) retryWait(ctx context.Context, p *RetryPolicy, n int, resp *http.Response, err error) (wait time.Duration, why string, ok bool) {
	wait = p.backoff(n, s.clock.jitter)
	if resp != nil {
		if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), s.clock.now()); ok {
			if ra > p.MaxWait {
				return 0, "Retry-After " + ra.String() + " is over MaxWait " + p.MaxWait.String(), false
			}
			wait = ra
		}
	}
	if open, ok := openWait(err); ok && open > wait {
		// The host's breaker is open: the next try waits for its probe.
		if open > p.MaxWait {
			return 0, "", false
		}
		wait = open
	}
	if dl, ok := ctx.Deadline(); ok && s.clock.now().Add(wait).After(dl) {
		return 0, "the wait of " + wait.String() + " would outlive the deadline", false
	}
	return wait, "", true
}

// reconnectWait is the pause before reconnection n in a row of an event
// stream (1 is the first): the server's reconnection time base (its retry
// field, or DefaultReconnectWait), doubled for each reconnection in a row
// up to maxReconnectBackoff (or base, when longer), plus a random part of
// up to half of it; at least the Retry-After the last response carried
// (ra, 0: none). Every term is bounded by maxServerWait, so the wait is
// never negative whatever the server sends.
func (s *Session) reconnectWait(base time.Duration, n int, ra time.Duration) time.Duration {
	base = clampWait(base, maxServerWait)
	d := doubled(base, n, max(base, maxReconnectBackoff))
	if half := int64(d / 2); half > 0 {
		d += time.Duration(s.clock.jitter(half))
	}
	return max(d, clampWait(ra, maxServerWait))
}
