// Clock: a virtual clock for a session's waits, so that tests of retries
// and Retry-After do not really sleep.

package reqivotest

import (
	"context"
	"sync"
	"time"

	"github.com/reqivo/reqivo"
)

// Clock is a virtual reqivo.Clock: Sleep returns at once and records the
// wait. Now is the real time moved on by Advance; Sleep does not move it,
// so the clock stays in step with what runs on real time (context
// deadlines, the Date a server sends) however long the skipped waits add
// up to. A Clock is safe for concurrent use by multiple goroutines.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration   // moved on by Advance
	waits  []time.Duration // what Sleep was asked for, in order
}

var _ reqivo.Clock = (*Clock)(nil)

// NewClock returns a virtual clock at the real time.
func NewClock() *Clock { return &Clock{} }

// InstantWaits returns an option that puts the session on a new virtual
// Clock: its retry waits, Retry-After included, take no time. Use NewClock
// and Clock.Option to see the waits.
func InstantWaits() reqivo.Option { return NewClock().Option() }

// Option returns an option that puts a session on c.
func (c *Clock) Option() reqivo.Option { return reqivo.WithClock(c) }

// Now returns the real time plus what Advance added.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Sleep records d and returns at once: ctx.Err() if ctx is done, else nil.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, max(d, 0))
	c.mu.Unlock()
	return ctx.Err()
}

// Advance moves Now on by d, for code that compares times (freshness,
// expiry).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Waits returns the waits Sleep was asked for, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// Waited returns the sum of the waits Sleep was asked for: how long the
// session would really have slept.
func (c *Clock) Waited() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum time.Duration
	for _, w := range c.waits {
		sum += w
	}
	return sum
}
