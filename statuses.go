// Statuses: the values Session.Breakers and Response.CacheStatus return,
// as constants to compare against.

package reqivo

// The states of a host's circuit breaker, as Session.Breakers reports them.
const (
	BreakerClosed   = "closed"    // requests go through; failures are counted
	BreakerOpen     = "open"      // requests fail at once with ErrCircuitOpen
	BreakerHalfOpen = "half-open" // a probe request decides whether it closes
)

// What a session's cache did for a response, as Response.CacheStatus
// reports it ("" when the session has no cache).
const (
	CacheHit         = "hit"         // served from the cache, fresh
	CacheStale       = "stale"       // served from the cache, stale, as max-stale or stale-* allowed
	CacheRevalidated = "revalidated" // the stored response, confirmed by the origin with a 304
	CacheMiss        = "miss"        // the origin's response
)
