// Circuit breakers: one per host (github.com/sony/gobreaker/v2), opened by
// failures in a row so that a host that is down is not hammered, with the
// cooldown kept on the session's clock.

package reqivo

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// CircuitBreaker configures the breaker a session keeps for each host (host
// and port, as in the URL). A breaker is closed at first. After Failures
// failed attempts in a row it opens: attempts to that host then fail at
// once with ErrCircuitOpen, and nothing is sent. After Cooldown it lets
// one probe through (half-open): a success closes it, a failure opens it
// for another Cooldown.
//
// A failure is a network error, a timeout, or a response with a status of
// 500 or more. A 4xx response is a success (the host is up), and a request
// the caller cancelled counts for nothing. The outcome is known when the
// response headers arrive: a body that breaks later does not count.
type CircuitBreaker struct {
	// Failures is the number of failures in a row that opens a host's
	// breaker. If not set, 5.
	Failures int
	// Cooldown is how long a breaker stays open before its probe. If not
	// set, 30 s.
	Cooldown time.Duration
}

// Default circuit breaker settings.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
)

// WithCircuitBreaker keeps a circuit breaker per host, as b says. With
// WithRetry, a retry refused by an open breaker waits for the end of the
// cooldown when that is within RetryPolicy.MaxWait and the request's
// deadline, and otherwise ends the retries at once with ErrCircuitOpen.
// Session.Breakers reports the state of each host's breaker, and
// WithLogger writes a record for each change of state (Warn when one
// opens, Info otherwise). The cooldown runs on the session's clock
// (WithClock), so a test can move it on.
//
// Negative values are an error. If not set, there are no breakers and
// requests pay nothing for them.
func WithCircuitBreaker(b CircuitBreaker) Option {
	return func(c *config) error {
		if b.Failures < 0 || b.Cooldown < 0 {
			return errorf(ErrInvalidOption, "negative value in CircuitBreaker")
		}
		if b.Failures == 0 {
			b.Failures = DefaultBreakerFailures
		}
		if b.Cooldown == 0 {
			b.Cooldown = DefaultBreakerCooldown
		}
		c.breaker = &b
		return nil
	}
}

// Breakers returns the state of the circuit breaker of each host the
// session has sent to, keyed by host and port ("api.example.com:443"):
// "closed", "open" or "half-open". It is empty without WithCircuitBreaker.
func (s *Session) Breakers() map[string]string {
	m := map[string]string{}
	if !s.usable() || s.breakers == nil {
		return m
	}
	s.breakers.hosts.Range(func(k, v any) bool {
		m[k.(string)] = v.(*hostBreaker).state(s.breakers.clock.now())
		return true
	})
	return m
}

// breakers holds a session's breakers, one per host, made on first use.
// It is safe for concurrent use.
type breakers struct {
	cfg   CircuitBreaker
	clock *clock // the session's: tests replace it
	log   *slog.Logger
	hosts sync.Map // host key -> *hostBreaker
}

// hostBreaker is one host's breaker. gobreaker counts the failures, trips,
// and admits one probe when half-open; it has no clock of its own to
// inject, so it is given a cooldown of a nanosecond, and the real one is
// the gate openUntil in front of it, on the session's clock.
type hostBreaker struct {
	// mu serialises every use of cb with openUntil, so that a trip (which
	// sets openUntil from cb's callback) and the gate agree.
	mu        sync.Mutex
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	openUntil time.Time
}

// errFailed and errExcluded are the outcomes given to gobreaker: a failure,
// and an attempt that counts for nothing (cancelled by the caller, or
// never sent).
var (
	errFailed   = errors.New("failed")
	errExcluded = errors.New("excluded")
)

func newBreakers(cfg CircuitBreaker, clk *clock, log *slog.Logger) *breakers {
	return &breakers{cfg: cfg, clock: clk, log: log}
}

func (bs *breakers) host(key string) *hostBreaker {
	if hb, ok := bs.hosts.Load(key); ok {
		return hb.(*hostBreaker)
	}
	hb := &hostBreaker{}
	failures := uint32(min(bs.cfg.Failures, 1<<31))
	hb.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        key,
		MaxRequests: 1,
		Timeout:     time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return err == errExcluded },
		OnStateChange: func(name string, from, to gobreaker.State) {
			// Called by cb with hb.mu held.
			if to == gobreaker.StateOpen {
				hb.openUntil = bs.clock.now().Add(bs.cfg.Cooldown)
			}
			bs.logChange(name, from, to)
		},
	})
	v, _ := bs.hosts.LoadOrStore(key, hb)
	return v.(*hostBreaker)
}

// admit asks the host's breaker to let an attempt through. It returns the
// breaker and gobreaker's function that takes the attempt's outcome (give
// it to report), or a *circuitOpenError.
func (bs *breakers) admit(key string) (*hostBreaker, func(error), error) {
	hb := bs.host(key)
	now := bs.clock.now()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if now.Before(hb.openUntil) {
		return nil, nil, &circuitOpenError{host: key, failures: bs.cfg.Failures, wait: hb.openUntil.Sub(now)}
	}
	done, err := hb.cb.Allow()
	if err != nil {
		// Half-open with its probe in flight (or open for the nanosecond
		// gobreaker keeps it): the probe decides soon.
		return nil, nil, &circuitOpenError{host: key}
	}
	return hb, done, nil
}

// report gives an admitted attempt's outcome to done, under hb.mu.
func (hb *hostBreaker) report(done func(error), outcome error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	done(outcome)
}

func (hb *hostBreaker) state(now time.Time) string {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if now.Before(hb.openUntil) {
		return gobreaker.StateOpen.String()
	}
	return hb.cb.State().String()
}

// logChange writes the record of a change of state.
func (bs *breakers) logChange(host string, from, to gobreaker.State) {
	if bs.log == nil {
		return
	}
	level := slog.LevelInfo
	if to == gobreaker.StateOpen {
		level = slog.LevelWarn
	}
	bs.log.LogAttrs(context.Background(), level, "reqivo: circuit breaker "+to.String(),
		slog.String("host", host), slog.String("from", from.String()), slog.String("to", to.String()))
}

// circuitOpenError is the error of an attempt an open breaker refused; it
// matches ErrCircuitOpen.
type circuitOpenError struct {
	host     string
	failures int
	wait     time.Duration // until the probe; 0 when the probe is in flight
}

func (e *circuitOpenError) Error() string {
	if e.wait <= 0 {
		return ErrCircuitOpen.Error() + ": " + e.host + " is being probed"
	}
	return ErrCircuitOpen.Error() + ": " + e.host + " failed " + strconv.Itoa(e.failures) + " times in a row; next probe in " + e.wait.Round(time.Millisecond).String()
}

func (e *circuitOpenError) Unwrap() error { return ErrCircuitOpen }

// openWait returns how long the breaker that refused err stays open.
func openWait(err error) (time.Duration, bool) {
	var e *circuitOpenError
	if errors.As(err, &e) {
		return e.wait, true
	}
	return 0, false
}
