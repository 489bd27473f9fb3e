// Circuit breakers: one per host (github.com/sony/gobreaker/v2), opened by
// failures in a row so that a host that is down is not hammered, with the
// cooldown kept on the session's clock.

package reqivo

import (
	"errors"
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
// Session.Breakers reports the state of each host's breaker. Each change
// of state is a Notice to the session's observers (NoticeBreakerOpen,
// NoticeBreakerHalfOpen, NoticeBreakerClosed), reported by the request
// that caused it: the attempt whose failure opened the breaker, the probe
// admitted when the cooldown ended, the probe whose outcome closed or
// reopened it. An attempt refused by an open breaker is a
// NoticeBreakerRejected. WithLogger writes them (Warn when a breaker
// opens, Info when it probes or closes). The cooldown runs on the
// session's clock (WithClock), so a test can move it on.
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
// session has sent to recently, keyed by host and port, normalised
// ("api.example.com:443"): "closed", "open" or "half-open". It is empty
// without WithCircuitBreaker.
//
// A host's breaker is forgotten once it has gone unused for five minutes
// (on the session's clock), so that a session sending to many hosts does
// not keep a breaker for each for good; a forgotten breaker starts closed
// again, its count of failures at zero. An open breaker is kept for its
// whole cooldown and then five minutes more, and one whose probe is in
// flight until the probe ends: forgetting cannot cut a cooldown short.
func (s *Session) Breakers() map[string]string {
	m := map[string]string{}
	if !s.usable() || s.breakers == nil {
		return m
	}
	now := s.breakers.clock.now()
	s.breakers.hosts.each(func(k string, hb *hostBreaker) {
		m[k] = hb.state(now)
	})
	return m
}

// breakers holds a session's breakers, one per host, made on first use.
// It is safe for concurrent use.
type breakers struct {
	cfg   CircuitBreaker
	clock *clock // the session's: tests replace it
	hosts hostTable[*hostBreaker]
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
	// st is cb's state as of its last change, read without asking cb
	// (which would change it: see state).
	st gobreaker.State
	// changes are the changes of state made by the admit or report under
	// way, for it to report.
	changes []breakerChange
	// used is when an attempt was last admitted; inflight counts the
	// admitted attempts not yet reported; dropped is set once the breaker
	// is evicted from its table (see evict).
	used     time.Time
	inflight int
	dropped  bool
}

// breakerChange is a change of a breaker's state, as a Notice reports it.
type breakerChange struct {
	kind   NoticeKind
	detail string
}

// errFailed and errExcluded are the outcomes given to gobreaker: a failure,
// and an attempt that counts for nothing (cancelled by the caller, or
// never sent).
var (
	errFailed   = errors.New("failed")
	errExcluded = errors.New("excluded")
)

func newBreakers(cfg CircuitBreaker, clk *clock) *breakers {
	return &breakers{cfg: cfg, clock: clk}
}

func (bs *breakers) host(key string, now time.Time) *hostBreaker {
	return bs.hosts.get(key, now, func() *hostBreaker {
		hb := bs.newHost(key)
		hb.used = now
		return hb
	})
}

// evict drops hb from its table if it is closed and unused for hostIdle,
// or open and past its cooldown by hostIdle, with no attempt in flight.
func (hb *hostBreaker) evict(now time.Time) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.inflight > 0 || hb.st == gobreaker.StateHalfOpen || now.Sub(latest(hb.used, hb.openUntil)) < hostIdle {
		return false
	}
	hb.dropped = true
	return true
}

func (bs *breakers) newHost(key string) *hostBreaker {
	hb := &hostBreaker{}
	failures := uint32(min(bs.cfg.Failures, 1<<31))
	hb.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        key,
		MaxRequests: 1,
		Timeout:     time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return err == errExcluded },
		OnStateChange: func(name string, from, to gobreaker.State) {
			// Called by cb with hb.mu held, within admit or report.
			hb.st = to
			ch := breakerChange{detail: name}
			switch to {
			case gobreaker.StateOpen:
				hb.openUntil = bs.clock.now().Add(bs.cfg.Cooldown)
				ch.kind = NoticeBreakerOpen
				if from == gobreaker.StateHalfOpen {
					ch.detail += ": the probe failed; next probe in " + bs.cfg.Cooldown.String()
				} else {
					ch.detail += ": " + strconv.Itoa(bs.cfg.Failures) + " failures in a row; next probe in " + bs.cfg.Cooldown.String()
				}
			case gobreaker.StateHalfOpen:
				ch.kind, ch.detail = NoticeBreakerHalfOpen, name+": cooldown over; probing"
			default:
				ch.kind, ch.detail = NoticeBreakerClosed, name+": the probe succeeded"
			}
			hb.changes = append(hb.changes, ch)
		},
	})
	return hb
}

// admit asks the host's breaker to let an attempt through. It returns the
// breaker and gobreaker's function that takes the attempt's outcome (give
// it to report), or a *circuitOpenError; and the changes of state the
// admission made (the end of a cooldown), for the attempt to report.
func (bs *breakers) admit(key string) (*hostBreaker, func(error), []breakerChange, error) {
	now := bs.clock.now()
	hb := bs.host(key, now)
	hb.mu.Lock()
	for hb.dropped {
		// Evicted between the lookup and the lock: a new one is made.
		hb.mu.Unlock()
		hb = bs.host(key, now)
		hb.mu.Lock()
	}
	defer hb.mu.Unlock()
	hb.used = now
	if now.Before(hb.openUntil) {
		return nil, nil, nil, &circuitOpenError{host: key, failures: bs.cfg.Failures, wait: hb.openUntil.Sub(now)}
	}
	done, err := hb.cb.Allow()
	changes := hb.takeChanges()
	if err != nil {
		// Half-open with its probe in flight (or open for the nanosecond
		// gobreaker keeps it): the probe decides soon.
		return nil, nil, changes, &circuitOpenError{host: key}
	}
	hb.inflight++
	return hb, done, changes, nil
}

// report gives an admitted attempt's outcome to done, under hb.mu, and
// returns the changes of state it made.
func (hb *hostBreaker) report(done func(error), outcome error) []breakerChange {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.inflight--
	done(outcome)
	return hb.takeChanges()
}

// takeChanges returns the changes recorded since the last call. hb.mu is
// held.
func (hb *hostBreaker) takeChanges() []breakerChange {
	ch := hb.changes
	hb.changes = nil
	return ch
}

// state is the breaker's state at now, as Breakers reports it. It does
// not ask cb, whose State moves an open breaker on to half-open: a change
// that belongs to the next request, which reports it.
func (hb *hostBreaker) state(now time.Time) string {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	switch {
	case now.Before(hb.openUntil):
		return gobreaker.StateOpen.String()
	case hb.st == gobreaker.StateOpen:
		return gobreaker.StateHalfOpen.String() // the cooldown is over: the next attempt is the probe
	}
	return hb.st.String()
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
