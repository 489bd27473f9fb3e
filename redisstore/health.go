// Health: every call to Redis bounded by the store's timeout whatever the
// client's own settings, and after a failure, calls refused at once for a
// back-off that grows while Redis stays down, then one probe.

package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is returned, without a call to Redis, while a store
// backs off after Redis failed (refused, reset, or slower than the
// store's timeout): the session goes on without it (its own cache, its
// local rate bucket) until a probe finds Redis answering again.
var ErrUnavailable = errors.New("redisstore: redis unavailable, backing off")

// Back-off after a failure: the first wait, and the longest.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// health is a store's view of its Redis.
type health struct {
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex // guards the fields below
	downUntil time.Time  // zero: up
	backoff   time.Duration
	probing   bool // a call is testing Redis after the back-off
}

func newHealth(timeout time.Duration) *health {
	return &health{timeout: timeout, now: time.Now}
}

// call runs fn against Redis within the store's timeout, or refuses it
// while backing off. fn runs in a goroutine of its own, so the bound
// holds even when the client does not honour contexts on socket reads
// (go-redis without ContextTimeoutEnabled waits out its own read timeout,
// with retries): the caller goes on at the bound, and fn ends on the
// client's timeout, its result dropped. fn must not touch the caller's
// variables.
func call[T any](ctx context.Context, h *health, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	probe, ok := h.allow()
	if !ok {
		return zero, ErrUnavailable
	}
	bctx, cancel := ctx, context.CancelFunc(func() {})
	if h.timeout > 0 {
		bctx, cancel = context.WithTimeout(ctx, h.timeout)
	}
	type result struct {
		v   T
		err error
	}
	defer cancel() // after the select: a result that came in time is taken, never raced by this cancel
	done := make(chan result, 1)
	go func() {
		v, err := fn(bctx)
		done <- result{v, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-bctx.Done():
		select {
		case r = <-done: // it came as the bound passed: take it
		default:
			r.err = bctx.Err()
		}
	}
	h.report(ctx, probe, r.err)
	return r.v, r.err
}

// allow reports whether a call may go to Redis now, and whether it is
// the probe after a back-off.
func (h *health) allow() (probe, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downUntil.IsZero() {
		return false, true
	}
	if h.probing || h.now().Before(h.downUntil) {
		return false, false
	}
	h.probing = true
	return true, true
}

// report records how a call went. Redis answering, even with an error
// of its own (a missing key, a script error), is up; a failure of the
// connection or the bound is down; the caller's own cancellation says
// nothing of Redis.
func (h *health) report(ctx context.Context, probe bool, err error) {
	var reply redis.Error
	failed := err != nil && !errors.As(err, &reply) && ctx.Err() == nil
	h.mu.Lock()
	defer h.mu.Unlock()
	if probe {
		h.probing = false
	}
	switch {
	case !failed && (probe || h.downUntil.IsZero()):
		h.downUntil, h.backoff = time.Time{}, 0
	case failed:
		if !h.downUntil.IsZero() && !probe {
			return // a call that began before the back-off: already counted
		}
		h.backoff = min(max(2*h.backoff, minBackoff), maxBackoff)
		h.downUntil = h.now().Add(h.backoff)
	}
}
