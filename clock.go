// Clock: the time a session's waits run on, replaceable so that tests of
// retries and Retry-After do not really sleep.

package reqivo

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock is the time a session's waits run on: the waits between retries
// (Retry-After included) and those of other helpers that pace requests.
// Deadlines set with contexts and timeouts are not on it: they stay on real
// time. Implementations must be safe for concurrent use by multiple
// goroutines. The reqivotest package has a virtual one.
type Clock interface {
	// Now returns the current time, as time.Now does.
	Now() time.Time
	// Sleep waits d, or until ctx is done, whichever comes first, and then
	// returns ctx.Err() if ctx is done. A d of zero or less returns at once.
	Sleep(ctx context.Context, d time.Duration) error
}

// WithClock sets the clock the session's waits run on; nil is an error.
// Jitter stays random. If not set, the real clock (time.Now and a timer).
func WithClock(c Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return errorf(ErrInvalidOption, "nil clock")
		}
		cfg.clock = c
		return nil
	}
}

// sessionClock is the clock of a session configured by c.
func sessionClock(c *config) clock {
	if c.clock == nil {
		return realClock
	}
	return clock{now: c.clock.Now, sleep: c.clock.Sleep, jitter: rand.Int64N}
}
