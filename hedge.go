// Hedged requests: another copy of an idempotent request, sent when the
// first has no response headers after a delay, the first response to come
// winning ("The Tail at Scale"; gRPC's hedging policy). The stage runs in
// place of the single send of a try, beside retries: each try of a hop may
// be hedged, and the retry policy sees the winner.

package reqivo

import (
	"context"
	"net/http"
	"time"
)

// Hedge says when a session sends more copies of an idempotent request
// (GET, HEAD, OPTIONS, or any request with an Idempotency-Key header, its
// body replayable): when no copy has response headers Delay after the
// latest copy went, another goes, up to Max copies of each try in all. The
// first response headers win, whatever their status; the other copies are
// cancelled, and their connections closed rather than reused half-read.
// A copy that fails does not win: the others go on, and when every copy
// has failed the try has failed (the retry policy decides what next).
//
// Each copy is an attempt on the wire: observers see it (AttemptInfo.Hedge
// set on the copies after the first), Stats counts it (and Stats.Hedges the
// copies after the first), and it draws on the host's retry budget (see
// WithRetryBudget), which may refuse it. A copy waits for the host's rate
// limit and breaker like any attempt.
type Hedge struct {
	// Delay is how long the latest copy waits for its response headers
	// before the next is sent, on the session's clock (WithClock). 0 sends
	// the Max copies at once. A good value is the p95 of the host's latency.
	Delay time.Duration
	// Max is the number of copies of a try in all, the first included;
	// less than 2: no hedging.
	Max int
}

// WithHedging hedges the session's idempotent requests as h says; a
// request may change it with Hedging. A negative Delay or Max is an error.
// If not set, no request is hedged.
func WithHedging(h Hedge) Option {
	return func(c *config) error {
		if err := h.check(); err != nil {
			return err
		}
		c.hedge = nil
		if h.Max >= 2 {
			c.hedge = &h
		}
		return nil
	}
}

// Hedging hedges this request as h says, in place of the session's
// WithHedging; Hedging(Hedge{}) turns hedging off for it. A negative Delay
// or Max fails the request with ErrInvalidOption.
func Hedging(h Hedge) RequestOption {
	return func(rc *requestConfig) error {
		if err := h.check(); err != nil {
			return err
		}
		rc.hedge = &h
		return nil
	}
}

func (h Hedge) check() error {
	if h.Delay < 0 || h.Max < 0 {
		return errorf(ErrInvalidOption, "negative value in Hedge")
	}
	return nil
}

// hedgeable reports whether req may be sent twice at once: an idempotent
// read, or a request with an Idempotency-Key, whose body can be replayed.
func hedgeable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if _, ok := req.Header["Idempotency-Key"]; !ok {
			return false
		}
	}
	return replayable(req)
}

// try sends try n of the hop req: once, or hedged when the request's
// hedging (or else the session's) says so and req may be.
func (c *call) try(req *http.Request, n int) (*http.Response, *watch, error) {
	h := c.s.cfg.hedge
	if c.rc.hedge != nil {
		h = c.rc.hedge
	}
	if h == nil || h.Max < 2 || !hedgeable(req) {
		return c.send(req, n)
	}
	return c.hedge(req, n, *h)
}

// hedged is how one copy's round trip ended.
type hedged struct {
	i    int // the copy, from 0
	resp *http.Response
	err  error
}

// hedge sends try n of req as h says, and returns the first copy's
// response to come (with its watch), or, when every copy failed, the last
// failure. The copies' round trips run on their own goroutines; their
// starts and ends are reported from this one.
func (c *call) hedge(req *http.Request, n int, h Hedge) (*http.Response, *watch, error) {
	// The copies' goroutines (and dropLosers', which may outlive the call)
	// run on a copy of the call: exchange and received only read it, and
	// the call itself stays on its caller's stack when nothing is hedged.
	snap := new(call)
	*snap = *c
	copies := make([]sending, 0, min(h.Max, 4))
	results := make(chan hedged, min(h.Max, 8))
	pending := 0
	launch := func(r *http.Request) error {
		a, err := c.ready(r, n, len(copies)+1)
		if err != nil {
			return err
		}
		copies = append(copies, a)
		pending++
		go func(i int) {
			resp, err := snap.exchange(a)
			results <- hedged{i: i, resp: resp, err: err}
		}(len(copies) - 1)
		return nil
	}
	if err := launch(req); err != nil {
		return nil, nil, err
	}
	delay, stop := c.hedgeDelay(h.Delay)
	defer func() { stop() }()
	for {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				stop()
				resp, w, err := c.received(copies[r.i], r.resp, nil)
				snap.dropLosers(copies, r.i, pending, results)
				return resp, w, err
			}
			_, _, err := c.received(copies[r.i], nil, r.err)
			if pending == 0 {
				// Every copy sent has failed: a failure is not slowness,
				// and the retry policy, with its backoff, decides.
				return nil, nil, err
			}
		case <-delay:
			delay = nil
			if !c.spend(req, n, nil, nil, true) {
				continue // no more copies of this try
			}
			next, err := retryRequest(req, c.ctx)
			if err == nil {
				err = launch(next)
			}
			if err != nil {
				// Refused by the host's breaker, or its body would not
				// replay: the copies in flight go on.
				continue
			}
			c.s.n.hedges.Add(1)
			if len(copies) < h.Max {
				stop()
				delay, stop = c.hedgeDelay(h.Delay)
			}
		}
	}
}

// hedgeDelay returns a channel closed once d has passed on the session's
// clock, and the func that stops the wait.
func (c *call) hedgeDelay(d time.Duration) (<-chan struct{}, context.CancelFunc) {
	fired := make(chan struct{})
	if d <= 0 {
		close(fired)
		return fired, func() {}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	sleep := c.s.clock.sleep
	go func() {
		if sleep(ctx, d) == nil {
			close(fired)
		}
	}()
	return fired, cancel
}

// armCopy is arm for a copy of a hedged try: the watch is always there,
// since its cancel is what ends a copy that lost.
func (c *call) armCopy(req *http.Request) (*http.Request, *watch) {
	if c.read > 0 {
		return c.arm(req)
	}
	ctx, cancel := context.WithCancelCause(c.ctx)
	return req.WithContext(ctx), &watch{cancel: cancel}
}

// dropLosers cancels the copies other than win, and leaves a goroutine to
// end the pending ones as they return: their failure is ErrCanceled (the
// host is not blamed), and a copy whose response came anyway has its body
// closed unread, which closes an HTTP/1 connection rather than reuse it
// half-read (and resets an HTTP/2 stream).
func (c *call) dropLosers(copies []sending, win, pending int, results <-chan hedged) {
	for i := range copies {
		if i != win {
			copies[i].w.stop()
		}
	}
	if pending == 0 {
		return
	}
	go func() {
		for ; pending > 0; pending-- {
			r := <-results
			if r.err != nil {
				c.received(copies[r.i], nil, wrapKind(ErrCanceled, "another copy answered first", r.err))
				continue
			}
			resp, _, _ := c.received(copies[r.i], r.resp, nil)
			resp.Body.Close()
		}
	}()
}
